"""Two controllers aimed at one device: the device's lock says who holds it, and the second
controller waits for it (--on-busy wait, the default) or skips the device's runs (--on-busy
skip), which `sweep --resume` runs later. The device is the real `local` one, with real agents;
the first controller is played by the test holding the lock as a real agent does (its holder
written into it), or is a second real sweep."""

import os
import subprocess
import sys
import threading

import pytest

from edgebench.agent.lock import DeviceLock, device_busy
from edgebench.orchestrator import session
from edgebench.orchestrator.inventory import load_inventory
from edgebench.orchestrator.modelinfo import inspect_model
from edgebench.orchestrator.store import Store
from edgebench.orchestrator.store.schema import Trial
from edgebench.orchestrator.sweep import FleetOptions, Progress, Settings, plan, resume_plan, run_sweep
from edgebench.orchestrator.transport.base import Result

from .conftest import THREAD_ENV, wait_for

ALICE = {"host": "lab-pc", "user": "alice", "pid": 4242, "sweep": "3f2a9c"}
ALICE_WORDS = "sweep 3f2a9c from alice@lab-pc (pid 4242) since "
RUNS = 2
# Short trials: the harness alone, a few milliseconds timed.
SETTINGS = dict(quick=True, repeats=RUNS, timing={"min_s": 0.01, "min_iters": 5, "warmup_iters": 0})


class Notes(Progress):
    def __init__(self):
        self.lines = []

    def note(self, device, message):
        self.lines.append("%s: %s" % (device, message))

    def said(self, text):
        return [line for line in list(self.lines) if text in line]


@pytest.fixture(scope="module")
def place(tmp_path_factory):
    """One device workdir and cache for the module: the agent is built and the device's
    runtimes probed once (importing them the first time takes seconds)."""
    root = tmp_path_factory.mktemp("on-busy")
    inventory = root / "inventory.yaml"
    inventory.write_text(
        "version: 1\ndevices:\n  local:\n    connection: local\n    workdir: %s\n"
        "    backends: [onnxruntime, null]\n" % (root / "device")
    )
    return root


@pytest.fixture
def workspace(place, tmp_path, monkeypatch):
    env = {
        "EDGEBENCH_INVENTORY": str(place / "inventory.yaml"),
        "EDGEBENCH_DB": "sqlite:///%s" % (tmp_path / "edgebench.db"),
        "XDG_CACHE_HOME": str(place / "cache"),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)

    class Workspace:
        db_url = env["EDGEBENCH_DB"]
        inventory = place / "inventory.yaml"

        @staticmethod
        def edgebench(*args):
            return subprocess.run(
                [sys.executable, "-m", "edgebench.orchestrator.cli", *args],
                cwd=tmp_path,
                env=dict(os.environ, COLUMNS="200", **THREAD_ENV),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                timeout=300,  # a guard against a hang, not a time limit
            )

    return Workspace


@pytest.fixture
def local(workspace):
    return load_inventory(workspace.inventory).device("local")


@pytest.fixture
def alice_holds(local):
    """Another controller's trial holding the device, as its agent would."""
    lock = DeviceLock(local.workdir, holder=dict(ALICE, trial="a1", deadline_s=600.0)).acquire()
    yield lock
    lock.__exit__()


def sweep(local, store, on_busy, notes, resume_id=None, cells=None):
    cells = cells if cells is not None else plan([local], [], ["null"], [1], repeats=RUNS)
    return run_sweep(
        cells,
        store,
        Settings(**SETTINGS),
        FleetOptions(on_busy=on_busy),
        progress=notes,
        resume_id=resume_id,
    )


def trials(store, sweep_id=None):
    with store.Session() as s:
        query = s.query(Trial)
        if sweep_id:
            query = query.filter(Trial.sweep_id == sweep_id)
        return query.all()


def test_skip_names_the_holder_and_leaves_the_runs_to_a_resume(workspace, local, alice_holds):
    store, notes = Store(workspace.db_url), Notes()
    sweep_id, outcomes = sweep(local, store, "skip", notes)
    assert [o.status for o in outcomes] == ["skipped"] * RUNS
    assert all("local was busy with " + ALICE_WORDS in o.error for o in outcomes)
    (line,) = notes.said("busy with")
    assert line.startswith("local: busy with " + ALICE_WORDS)
    assert "skipping its runs (--on-busy skip; `edgebench sweep --resume %s`" % sweep_id in line
    # One request reached the agent; the device's other runs were not sent.
    (stored,) = trials(store, sweep_id)
    assert stored.status == "skipped" and "alice@lab-pc (pid 4242)" in stored.error
    assert store.sweep(sweep_id).status == "partial"
    assert device_busy(local.workdir)  # alice's trial was left alone

    alice_holds.__exit__()
    cells, settings = resume_plan(
        store, store.sweep(sweep_id), load_inventory(workspace.inventory), inspect_model
    )
    assert len(cells) == RUNS
    _, resumed = sweep(local, store, "skip", Notes(), resume_id=sweep_id, cells=cells)
    assert [o.status for o in resumed] == ["ok"] * RUNS
    assert sorted(t.status for t in trials(store, sweep_id)) == ["ok"] * RUNS + ["skipped"]


def test_wait_says_who_holds_the_device_and_runs_every_cell_once_after_release(workspace, local, alice_holds):
    store, notes, done = Store(workspace.db_url), Notes(), {}
    controller = threading.Thread(target=lambda: done.update(result=sweep(local, store, "wait", notes)))
    controller.start()
    wait_for(lambda: notes.said("busy with"), what="the controller to say the device is busy")
    (line,) = notes.said("busy with")
    assert line.startswith("local: busy with " + ALICE_WORDS) and line.endswith("; waiting (--on-busy wait)")
    assert not [t for t in trials(store) if t.status == "ok"]  # nothing measured beside alice's trial
    alice_holds.__exit__()
    controller.join()
    sweep_id, outcomes = done["result"]
    assert [o.status for o in outcomes] == ["ok"] * RUNS
    stored = trials(store, sweep_id)
    assert [t.status for t in stored] == ["ok"] * RUNS
    assert sorted(t.run for t in stored) == list(range(1, RUNS + 1))  # every run once


def test_two_controllers_waiting_on_one_device_both_finish_every_cell_once(workspace, local, alice_holds):
    store, results, notes = Store(workspace.db_url), {}, {"a": Notes(), "b": Notes()}
    controllers = [
        threading.Thread(
            target=lambda name=name: results.update({name: sweep(local, store, "wait", notes[name])})
        )
        for name in notes
    ]
    for controller in controllers:
        controller.start()
    wait_for(
        lambda: all(n.said("busy with " + ALICE_WORDS) for n in notes.values()),
        what="both controllers to find the device busy",
    )
    alice_holds.__exit__()
    for controller in controllers:
        controller.join()
    for name, (sweep_id, outcomes) in results.items():
        assert [o.status for o in outcomes] == ["ok"] * RUNS, name
        assert sorted(t.run for t in trials(store, sweep_id) if t.status == "ok") == list(range(1, RUNS + 1))
    assert len(trials(store)) == 2 * RUNS  # nothing failed, nothing measured twice


def test_the_command_line_skips_with_the_holder_named_and_exit_1(workspace, local, alice_holds):
    proc = workspace.edgebench("run", "--backend", "null", "--quick", "--on-busy", "skip")
    assert proc.returncode == 1, proc.stderr
    assert "local: busy with " + ALICE_WORDS in proc.stderr
    assert "0 run(s) ok, 0 failed, 1 not run" in proc.stderr
    alice_holds.__exit__()
    resumed = workspace.edgebench("sweep", "--resume", "--on-busy", "skip")
    assert resumed.returncode == 0, resumed.stderr
    assert "1 run(s) ok, 0 failed, 0 not run" in resumed.stderr


def test_the_host_reads_busy_from_the_first_line_of_the_agents_answer():
    class Answers:
        def __init__(self, stdout):
            self.stdout = stdout

        def run(self, argv, timeout):
            return Result(argv, 0, self.stdout, "")

    holder = '{"user": "alice", "agent_pid": 1}\n'
    assert session.device_busy(Answers("busy\n" + holder), "python3", "agent.pyz", "~/.edgebench")
    assert session.device_busy(Answers("busy\n"), "python3", "agent.pyz", "~/.edgebench")
    assert not session.device_busy(Answers("idle\n"), "python3", "agent.pyz", "~/.edgebench")


def test_on_busy_takes_wait_or_skip(workspace):
    proc = workspace.edgebench("run", "--backend", "null", "--on-busy", "later")
    assert proc.returncode == 2
    assert proc.stderr.strip() == "edgebench: error: --on-busy: 'later' is not one of wait, skip"
