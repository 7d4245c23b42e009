"""The sweep engine's faults through the fake transport (orchestrator/transport/fake.py): lost
links, dead and silent agents, retries, --fail-fast and resume, on a virtual clock. No sshd,
no processes, no real sleeps; tests/test_fleet.py runs the same paths over real SSH. The tests
marked `both_stores` store into SQLite and into PostgreSQL (tests/conftest.py)."""

import json

import pytest

from edgebench.orchestrator.errors import UserError
from edgebench.orchestrator.fleet import deploy_devices, probe_all
from edgebench.orchestrator.inventory import Device
from edgebench.orchestrator.modelinfo import ModelInfo, sha256_of
from edgebench.orchestrator.store import Store
from edgebench.orchestrator.store.schema import Sweep, Trial
from edgebench.orchestrator.sweep import (
    Backoff,
    FleetOptions,
    Progress,
    Seams,
    Settings,
    make_job,
    plan,
    resume_plan,
    run_sweep,
    trial_timeout,
)
from edgebench.orchestrator.transport.fake import (
    FakeClock,
    FakeFleet,
    SpooledTrial,
    agent_exits,
    drop_link,
    fail,
    ok,
    process_dies,
    silent,
    trial_lines,
)

from .conftest import STORE_KINDS, store_url

# The tests that write most kinds of store rows (trials of every status, resumes, runs): run
# against each kind of database; the rest use SQLite.
both_stores = pytest.mark.parametrize("bench", STORE_KINDS, indirect=True)


@pytest.fixture(scope="session")
def agent_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def built_agent_once(agent_cache, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(agent_cache))  # the agent zipapp is built once


class Notes(Progress):
    def __init__(self, clock):
        self.clock, self.notes, self.finished_at = clock, [], []

    def note(self, device, message):
        self.notes.append("%s: %s" % (device, message))

    def finished(self, outcome):
        self.finished_at.append(self.clock.monotonic())

    def said(self, text) -> bool:
        return any(text in note for note in self.notes)


class Bench:
    """A store, a fake fleet on a fake clock, and models made of a few bytes each."""

    def __init__(self, tmp_path, url):
        self.tmp = tmp_path
        self.clock = FakeClock()
        self.fleet = FakeFleet(self.clock)
        self.store = Store(url)
        self.progress = Notes(self.clock)
        self.seams = Seams(connect=self.fleet.connect, clock=self.clock.monotonic, sleep=self.clock.sleep)

    def model(self, name: str) -> ModelInfo:
        path = self.tmp / (name + ".onnx")
        path.write_bytes(("model %s" % name).encode())
        return ModelInfo(
            path=path,
            name=name,
            sha256=sha256_of(path),
            size_bytes=path.stat().st_size,
            params=10,
            precision="fp32",
            inputs=(("input", ("N", 3, 8, 8)),),
            opset=17,
        )

    def device(self, name: str, *trials):
        self.fleet.add(name, trials)
        return Device(
            name=name,
            connection="ssh",
            host="fake",
            python="python3",
            workdir="~/eb",
            backends=("onnxruntime", "null"),
        )

    def cells(self, devices, models=None, backend="onnxruntime", batches=(1,)):
        return plan(devices, models if models is not None else [self.model("m1")], [backend], list(batches))

    def sweep(self, cells, resume_id=None, settings=None, **fleet_options):
        return run_sweep(
            cells,
            self.store,
            settings or Settings(quick=True),
            FleetOptions(**fleet_options),
            progress=self.progress,
            resume_id=resume_id,
            seams=self.seams,
        )

    def trials(self) -> list:
        with self.store.Session() as s:
            return [(t.status, t.error) for t in s.query(Trial).order_by(Trial.created_at, Trial.id)]

    def runs(self, name: str) -> int:
        return sum(1 for r in self.fleet.devices[name].requests if r["op"] == "run")


@pytest.fixture
def bench(request, tmp_path):
    b = Bench(tmp_path, store_url(getattr(request, "param", "sqlite"), request, tmp_path))
    yield b
    b.store.close()


def statuses(outcomes) -> list:
    return [o.status for o in outcomes]


# -- the plain path -------------------------------------------------------------------------
@both_stores
def test_every_cell_runs_once_per_device_and_the_facts_are_stored(bench):
    devices = [bench.device("nano"), bench.device("pi")]
    sweep_id, outcomes = bench.sweep(bench.cells(devices, [bench.model("a"), bench.model("b")]))
    assert statuses(outcomes) == ["ok"] * 4
    assert bench.runs("nano") == bench.runs("pi") == 2 and bench.fleet.devices["nano"].connects == 1
    assert [s for s, _ in bench.trials()] == ["ok"] * 4
    with bench.store.Session() as s:
        assert s.get(Sweep, sweep_id).status == "ok"
    assert bench.clock.sleeps == []


def test_the_job_carries_only_its_backends_options(bench):
    nano = bench.device("nano")
    settings = Settings(quick=True, backend_options={"threads": 2, "providers": ["CPUExecutionProvider"]})
    bench.sweep(bench.cells([nano]) + bench.cells([nano], backend="null"), settings=settings)
    jobs = [r["job"] for r in bench.fleet.devices["nano"].requests if r["op"] == "run"]
    assert jobs[0]["backend_options"] == {
        "intra_op_threads": 2,
        "providers": ["CPUExecutionProvider"],
        "provider_options": {},
    }
    assert (
        jobs[0]["model"].endswith(".onnx") and jobs[1]["backend_options"] == {} and jobs[1]["model"] is None
    )


@both_stores
def test_a_device_without_the_runtime_fails_its_cells_at_once_and_nothing_is_pushed(bench):
    nano = bench.device("nano", ok(), ok())
    bench.fleet.devices["nano"].facts = dict(
        bench.fleet.devices["nano"].facts, runtimes={"onnxruntime": None, "numpy": {"version": "1.19.4"}}
    )
    _, outcomes = bench.sweep(bench.cells([nano], batches=(1, 2)) + bench.cells([nano], backend="null"))
    assert sorted(statuses(outcomes)) == ["failed", "failed", "ok"]
    expected = (
        "nano cannot run backend onnxruntime: onnxruntime is not installed there (it has: numpy 1.19.4); "
        "install it on the device: pip3 install onnxruntime"
    )
    assert all(o.error.startswith(expected) for o in outcomes if o.cell.backend == "onnxruntime")
    assert sorted((s, e[: len(expected)] if e else "") for s, e in bench.trials()) == [
        ("failed", expected),
        ("failed", expected),
        ("ok", ""),
    ]
    pushed = bench.fleet.devices["nano"].files
    assert not any("/models/" in path for path in pushed)  # no model went to the device
    assert bench.runs("nano") == 1  # only the null cell ran


# -- a lost link ----------------------------------------------------------------------------
@both_stores
def test_link_lost_mid_trial_the_devices_spool_settles_it(bench):
    nano = bench.device("nano", drop_link(after=1))
    _, outcomes = bench.sweep(bench.cells([nano]))
    assert statuses(outcomes) == ["ok"] and bench.trials() == [("ok", None)]
    assert bench.runs("nano") == 1  # nothing measured twice
    assert bench.progress.said("nano: link lost") and bench.fleet.devices["nano"].connects == 2


def test_link_lost_while_the_device_still_measures_waits_with_backoff(bench):
    nano = bench.device("nano", drop_link(after=1, busy_s=5.0))
    _, outcomes = bench.sweep(bench.cells([nano]))
    assert statuses(outcomes) == ["ok"] and bench.runs("nano") == 1
    assert bench.clock.sleeps == [0.5, 1.0, 2.0, 4.0]  # until the device's trial ended at +5 s


def test_link_lost_then_unreachable_reconnects_with_backoff(bench):
    nano = bench.device("nano", drop_link(after=2, down_for=3))
    _, outcomes = bench.sweep(bench.cells([nano]))
    assert statuses(outcomes) == ["ok"]
    assert bench.clock.sleeps == [0.5, 1.0, 2.0]
    assert bench.progress.said("reconnecting in 0.5 s") and bench.progress.said("reconnecting in 2.0 s")


@both_stores
def test_unreachable_for_longer_than_a_trial_marks_it_lost_and_resume_fetches_it(bench):
    nano = bench.device("nano", drop_link(after=1, down_for=None))
    cells = bench.cells([nano], [bench.model("a"), bench.model("b")])
    start = bench.clock.monotonic()
    sweep_id, outcomes = bench.sweep(cells)
    assert statuses(outcomes) == ["lost", "failed"]  # the next cell finds the device gone too
    assert "resume fetches it later" in bench.trials()[0][1]
    # The host gave up after the trial's timeout (virtual time), its waits capped at 10 s.
    job = make_job("t", cells[0], "x", Settings(quick=True))
    assert bench.progress.finished_at[0] - start <= trial_timeout(job) and max(bench.clock.sleeps) == 10.0
    bench.fleet.devices["nano"].reachable()
    cells_left, settings = resume_plan(
        bench.store,
        bench.store.sweep(sweep_id),
        _Inventory([nano]),
        {str(c.model.path): c.model for c in cells}.get,
    )
    assert len(cells_left) == 2
    _, resumed = bench.sweep(cells_left, resume_id=sweep_id, settings=settings)
    # The lost trial came from the spool (an outcome marked recovered); only "b" ran again.
    assert statuses(resumed) == ["ok", "ok"] and [o.recovered for o in resumed] == [True, False]
    assert bench.runs("nano") == 2
    assert sorted(s for s, _ in bench.trials()) == ["failed", "ok", "ok"]


# -- a dead agent, a dying trial process, a silent agent ------------------------------------
@both_stores
def test_dead_agent_fails_the_trial_and_a_retry_runs_it_again(bench):
    nano = bench.device("nano", agent_exits(after=1))
    _, outcomes = bench.sweep(bench.cells([nano]), retries=1)
    assert statuses(outcomes) == ["ok"]
    assert bench.trials() == [("failed", "the agent stopped before finishing the trial"), ("ok", None)]
    assert bench.progress.said("agent exited: Killed")


def test_dead_agent_without_retries_is_a_failed_cell(bench):
    nano = bench.device("nano", agent_exits(after=0))
    _, outcomes = bench.sweep(bench.cells([nano]))
    assert statuses(outcomes) == ["failed"] and outcomes[0].error == "the trial never started on the device"


def test_dead_agent_whose_trial_finished_anyway_is_not_run_twice(bench):
    nano = bench.device("nano", agent_exits(after=1, finished=True, busy_s=1.0))
    _, outcomes = bench.sweep(bench.cells([nano]), retries=3)
    assert statuses(outcomes) == ["ok"] and bench.runs("nano") == 1


def test_a_trial_process_that_dies_is_retried(bench):
    nano = bench.device("nano", process_dies())
    _, outcomes = bench.sweep(bench.cells([nano]), retries=1)
    assert statuses(outcomes) == ["ok"]
    assert [s for s, _ in bench.trials()] == ["failed", "ok"] and "died" in bench.trials()[0][1]


def test_a_failure_the_agent_reports_is_not_retried(bench):
    nano = bench.device("nano", fail("NoSuchProvider"))
    _, outcomes = bench.sweep(bench.cells([nano]), retries=2)
    assert (
        statuses(outcomes) == ["failed"] and outcomes[0].error == "NoSuchProvider" and bench.runs("nano") == 1
    )


def test_silent_agent_is_settled_from_the_spool(bench):
    nano = bench.device("nano", silent(after=1))
    cells = bench.cells([nano])
    start = bench.clock.monotonic()
    _, outcomes = bench.sweep(cells)
    assert statuses(outcomes) == ["ok"] and bench.runs("nano") == 1
    assert bench.progress.said("agent silent")
    # The host waited out the trial's timeout: on the fake clock, not in real time.
    assert bench.clock.monotonic() - start >= trial_timeout(
        make_job("t", cells[0], "x", Settings(quick=True))
    )


def test_silent_agent_whose_trial_died_is_retried(bench):
    nano = bench.device("nano", silent(after=1, finished=False))
    _, outcomes = bench.sweep(bench.cells([nano]), retries=1)
    assert statuses(outcomes) == ["ok"]
    assert bench.trials() == [("failed", "the agent stopped before finishing the trial"), ("ok", None)]


# -- the sweep as a whole -------------------------------------------------------------------
@both_stores
def test_fail_fast_stops_every_queue_at_the_first_failure(bench):
    nano = bench.device("nano", fail("bad model"))
    cells = bench.cells([nano], [bench.model("a"), bench.model("b")])
    _, outcomes = bench.sweep(cells, fail_fast=True)
    assert statuses(outcomes) == ["failed", "skipped"] and "--fail-fast" in outcomes[1].error
    assert bench.runs("nano") == 1 and len(bench.trials()) == 1


def test_without_fail_fast_the_sweep_goes_on(bench):
    nano = bench.device("nano", fail("bad model"))
    _, outcomes = bench.sweep(bench.cells([nano], [bench.model("a"), bench.model("b")]))
    assert statuses(outcomes) == ["failed", "ok"]


def test_an_unreachable_device_fails_only_its_own_cells(bench):
    nano, pi = bench.device("nano"), bench.device("pi")
    bench.fleet.devices["pi"].unreachable()
    _, outcomes = bench.sweep(bench.cells([nano, pi]))
    by_device = {o.cell.device.name: o for o in outcomes}
    assert by_device["nano"].status == "ok"
    assert by_device["pi"].status == "failed" and "device unreachable" in by_device["pi"].error
    assert bench.clock.sleeps == []


@both_stores
def test_an_unknown_host_key_stops_the_sweep_before_anything_is_stored(bench):
    nano, pi = bench.device("nano"), bench.device("pi")
    bench.fleet.devices["pi"].refuse_host_key()
    with pytest.raises(UserError, match="unknown host key"):
        bench.sweep(bench.cells([nano, pi]))
    with bench.store.Session() as s:
        assert s.query(Sweep).count() == 0 and s.query(Trial).count() == 0


@both_stores
def test_resume_after_a_killed_controller_ingests_the_spool_and_runs_only_the_rest(bench):
    nano = bench.device("nano")
    cells = bench.cells([nano], [bench.model("a"), bench.model("b")])
    settings = Settings(quick=True)
    # What a controller killed mid-trial leaves: a stored plan, one trial "running" that the
    # device finished and spooled, one cell never started.
    sweep_id = bench.store.create_sweep(dict(settings.as_dict(), plan=[c.to_plan() for c in cells]))
    bench.store.upsert_device(nano)
    for cell in cells:
        bench.store.upsert_model(cell.model)
    trial_id = bench.store.create_trial(sweep_id, cells[0], settings.as_dict())
    bench.store.set_status(trial_id, "running")
    lines = trial_lines(ok(), {"trial_id": trial_id})
    bench.fleet.devices["nano"].spool[trial_id] = SpooledTrial(lines, len(lines))
    _, outcomes = bench.sweep(cells, resume_id=sweep_id)
    assert statuses(outcomes) == ["ok", "ok"] and [o.cell for o in outcomes] == cells
    assert [o.recovered for o in outcomes] == [True, False]  # the first from the spool, not run again
    assert bench.runs("nano") == 1 and [s for s, _ in bench.trials()] == ["ok", "ok"]
    assert bench.progress.said("fetching spool of unfinished trial %s" % trial_id)


# -- probe and deploy through the same seam -------------------------------------------------
@both_stores
def test_probe_all_stores_facts_and_lists_the_unreachable(bench):
    nano, pi = bench.device("nano"), bench.device("pi")
    bench.fleet.devices["pi"].unreachable()
    results = probe_all([nano, pi], bench.store, connect=bench.fleet.connect)
    assert [r.ok for r in results] == [True, False] and "connection refused" in results[1].error
    assert results[0].value["board"] == "fake board"


def test_deploy_sends_each_artifact_once(bench):
    nano = bench.device("nano")
    models = [bench.model("a"), bench.model("b")]
    (first,) = deploy_devices([nano], models, connect=bench.fleet.connect)
    (again,) = deploy_devices([nano], models, connect=bench.fleet.connect)
    assert sorted(path for path, _ in first.value.sent if path.startswith("models/")) == sorted(
        "models/%s.onnx" % m.sha256 for m in models
    )
    assert again.value.sent == [] and len(again.value.skipped) == 3  # the agent and two models


def test_an_artifact_that_fails_to_compile_fails_its_cells_and_the_sweep_goes_on(bench):
    pi = bench.fleet.add("pi", [ok()])
    pi.facts = dict(pi.facts, runtimes={"tvm": {"version": "0.27.0"}, "numpy": {"version": "2.4"}})
    device = Device(
        name="pi", connection="ssh", host="fake", workdir="~/eb", backends=("tvm", "null"), target="rpi4"
    )
    broken = bench.model("not_onnx")  # a few bytes: no compiler reads it
    cells = bench.cells([device], [broken], backend="tvm", batches=(1, 2)) + bench.cells(
        [device], backend="null"
    )
    _, outcomes = bench.sweep(cells)
    assert sorted(statuses(outcomes)) == ["failed", "failed", "ok"]
    errors = {o.error for o in outcomes if o.cell.backend == "tvm"}
    assert len(errors) == 1 and errors.pop().startswith(("TVM cannot import", "the tvm backend needs TVM"))
    assert not any("/models/" in path for path in pi.files)  # nothing was pushed for it
    assert [s for s, _ in bench.trials()].count("failed") == 2  # stored, with the reason


def test_deploy_sends_nothing_for_a_runtime_the_device_lacks_and_says_why(bench):
    nano = bench.device("nano")
    bench.fleet.devices["nano"].facts = dict(
        bench.fleet.devices["nano"].facts, runtimes={"onnxruntime": None}
    )
    (result,) = deploy_devices([nano], [bench.model("a"), bench.model("b")], connect=bench.fleet.connect)
    assert result.ok and not any(path.startswith("models/") for path, _ in result.value.sent)
    assert result.value.refused == [
        "nano cannot run backend onnxruntime: onnxruntime is not installed there (it has: no runtime "
        "edgebench knows); install it on the device: pip3 install onnxruntime (on a Jetson, the "
        "onnxruntime-gpu wheel for its JetPack)"
    ]


# -- the one backoff ------------------------------------------------------------------------
def test_backoff_doubles_up_to_its_cap_and_stops_before_the_deadline():
    clock = FakeClock(0.0)
    backoff = Backoff(Seams(clock=clock.monotonic, sleep=clock.sleep), deadline=30.0, first_s=1.0, max_s=8.0)
    attempts = list(backoff.attempts())
    assert clock.sleeps == [1.0, 2.0, 4.0, 8.0, 8.0] and len(attempts) == 6 and clock.monotonic() == 23.0
    assert not backoff.expired() and not backoff.can_wait()


class _Inventory:
    def __init__(self, devices):
        self.by_name = {d.name: d for d in devices}

    def device(self, name):
        return self.by_name[name]


# -- repeated runs --------------------------------------------------------------------------
@both_stores
def test_each_cell_runs_repeats_times_as_separate_trials_numbered_by_run(bench):
    nano = bench.device("nano")
    cells = plan([nano], [bench.model("a"), bench.model("b")], ["onnxruntime"], [1], repeats=3, seed=7)
    _, outcomes = bench.sweep(cells)
    assert statuses(outcomes) == ["ok"] * 6 and bench.runs("nano") == 6
    with bench.store.Session() as s:
        stored = sorted((t.model_sha256, t.run) for t in s.query(Trial))
    shas = sorted({c.model.sha256 for c in cells})
    assert stored == [(sha, run) for sha in shas for run in (1, 2, 3)]
    jobs = [r["job"]["trial_id"] for r in bench.fleet.devices["nano"].requests if r["op"] == "run"]
    assert len(set(jobs)) == 6  # every run its own trial, its own process on the device


@both_stores
def test_resume_runs_only_the_runs_without_an_ok_trial(bench):
    nano = bench.device("nano")
    cells = plan([nano], [bench.model("a")], ["onnxruntime"], [1], repeats=3, seed=1)
    settings = Settings(quick=True, repeats=3)
    sweep_id = bench.store.create_sweep(dict(settings.as_dict(), plan=[c.to_plan() for c in cells]))
    bench.store.upsert_device(nano)
    bench.store.upsert_model(cells[0].model)
    first = bench.store.create_trial(sweep_id, cells[0], settings.as_dict())
    bench.store.ingest({"type": "trial_start", "trial_id": first})
    bench.store.fail_trial(first, "killed")
    done = bench.store.create_trial(sweep_id, cells[1], settings.as_dict())
    for line in trial_lines(ok(), {"trial_id": done}):
        bench.store.ingest(json.loads(line))
    with bench.store.Session() as s:
        stored = s.get(Sweep, sweep_id)
    inventory = type("Inventory", (), {"device": staticmethod(lambda name: nano)})()
    todo, resumed = resume_plan(bench.store, stored, inventory, lambda path: cells[0].model)
    assert [c.run for c in todo] == [cells[0].run, cells[2].run] and resumed.repeats == 3
    _, outcomes = bench.sweep(todo, resume_id=sweep_id)
    assert statuses(outcomes) == ["ok", "ok"] and bench.runs("nano") == 2


@both_stores
def test_a_sweep_stored_before_repeats_resumes_with_one_run_per_cell(bench):
    """A store made by an older edgebench: plan entries without `run`, trials whose run is NULL."""
    nano = bench.device("nano")
    a, b = bench.model("a"), bench.model("b")
    cells = plan([nano], [a, b], ["onnxruntime"], [1])
    old_plan = [{k: v for k, v in c.to_plan().items() if k not in ("run", "runs")} for c in cells]
    old_settings = {k: v for k, v in Settings(quick=True).as_dict().items() if k != "repeats"}
    sweep_id = bench.store.create_sweep(dict(old_settings, plan=old_plan))
    bench.store.upsert_device(nano)
    for model in (a, b):
        bench.store.upsert_model(model)
    done = bench.store.create_trial(sweep_id, cells[0], old_settings)
    for line in trial_lines(ok(), {"trial_id": done}):
        bench.store.ingest(json.loads(line))
    with bench.store.Session() as s:
        s.get(Trial, done).run = None  # as an older edgebench left it
        s.commit()
        stored = s.get(Sweep, sweep_id)
    assert bench.store.ok_cell_keys(sweep_id) == {cells[0].key}  # NULL read as run 1
    inventory = type("Inventory", (), {"device": staticmethod(lambda name: nano)})()
    models = {str(m.path): m for m in (a, b)}
    todo, settings = resume_plan(bench.store, stored, inventory, lambda path: models[path])
    assert [(c.model.name, c.run, c.runs) for c in todo] == [("b", 1, 1)] and settings.repeats == 1
