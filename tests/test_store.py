"""The results store: WAL mode, idempotent ingest on the trial id, null stays null. The tests
taking `db_url` run on SQLite and on PostgreSQL (tests/conftest.py)."""

import sqlite3
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from edgebench.agent.protocol import make_record
from edgebench.orchestrator.inventory import Device
from edgebench.orchestrator.modelinfo import inspect_model
from edgebench.orchestrator.store import Store, results_frame
from edgebench.orchestrator.store.schema import Metrics
from edgebench.orchestrator.sweep import Cell

from .conftest import MODELS


def make_store(tmp_path):
    return Store("sqlite:///%s" % (tmp_path / "r.db"))


def records_for(trial_id):
    metrics = {
        "iterations": 50,
        "latency_p50_ms": 1.25,
        "latency_p99_ms": 2.0,
        "peak_rss_mb": 80.0,
        "model_size_mb": 2.1,
        "throughput_ips": 800.0,
    }
    return [
        make_record("trial_start", trial_id=trial_id, agent_version="9.9"),
        make_record(
            "result", trial_id=trial_id, metrics=metrics, env={"runtime": "x"}, samples_ms=[1.25] * 50
        ),
        make_record("trial_end", trial_id=trial_id, status="ok"),
    ]


def new_trial(store):
    device = Device(name="local", connection="local")
    model = inspect_model(MODELS / "dws_cnn.onnx")
    store.upsert_device(device)
    store.upsert_model(model)
    sweep_id = store.create_sweep({"quick": True})
    return store.create_trial(sweep_id, Cell(device, model, "onnxruntime", 1), {})


def test_sqlite_store_runs_in_wal_mode(tmp_path):
    make_store(tmp_path).close()
    with sqlite3.connect(tmp_path / "r.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_ingesting_the_same_records_twice_stores_them_once(db_url):
    store = Store(db_url)
    trial_id = new_trial(store)
    for record in records_for(trial_id) * 2:
        store.ingest(record)
    frame = results_frame(store)
    assert len(frame) == 1
    row = frame.iloc[0]
    assert row["status"] == "ok" and row["latency_p50_ms"] == 1.25 and row["iterations"] == 50
    with store.Session() as s:
        assert s.scalar(select(func.count()).select_from(Metrics)) == 1


def test_unmeasured_metrics_are_null_not_zero(db_url):
    store = Store(db_url)
    trial_id = new_trial(store)
    for record in records_for(trial_id):
        store.ingest(record)
    row = results_frame(store).iloc[0]
    for column in ("power_mw", "energy_mj", "accuracy", "latency_p90_ms"):
        assert row[column] is None or row[column] != row[column], column  # None or NaN


def test_a_failed_trial_keeps_its_first_error(db_url):
    store = Store(db_url)
    trial_id = new_trial(store)
    store.ingest(make_record("error", trial_id=trial_id, error="first", kind="x"))
    store.ingest(make_record("error", trial_id=trial_id, error="second", kind="x"))
    store.ingest(make_record("trial_end", trial_id=trial_id, status="failed"))
    store.ingest(make_record("trial_end", trial_id=trial_id, status="ok"))  # late duplicate
    row = results_frame(store).iloc[0]
    assert row["status"] == "failed" and row["error"] == "first"


def test_records_for_unknown_trials_are_ignored(db_url):
    store = Store(db_url)
    for record in records_for("not-a-trial"):
        store.ingest(record)
    assert len(results_frame(store)) == 0


def test_doubts_and_conditions_come_back_from_what_the_agent_sent(db_url):
    from edgebench.orchestrator.store.queries import trial_conditions, trial_telemetry

    store = Store(db_url)
    device = Device(name="local", connection="local")
    model = inspect_model(MODELS / "dws_cnn.onnx")
    store.upsert_device(device)
    store.upsert_model(model)
    settings = {"cooldown_c": 45.0, "cooldown_timeout_s": 600.0, "pin_clocks": True, "nvpmodel_mode": 0}
    trial_id = store.create_trial(
        store.create_sweep(settings), Cell(device, model, "onnxruntime", 4), settings
    )
    applied = {"cooldown": {"target_c": 45.0, "waited_s": 12.5}, "clocks": {"method": "jetson_clocks"}}
    metrics = {
        "iterations": 50,
        "latency_p50_ms": 8.0,
        "energy_reliable": False,
        "power_samples": 6,
        "power_max_gap_ms": 171.0,
        "power_coverage": 0.62,
        "throttled": True,
        "throttle_reason": "cpu clock dropped",
        "accuracy": 0.5,
        "accuracy_samples": 2,
        "conditions": applied,
    }
    for record in (
        make_record("trial_start", trial_id=trial_id),
        make_record("result", trial_id=trial_id, metrics=metrics, env={}),
        make_record("trial_end", trial_id=trial_id, status="ok"),
    ):
        store.ingest(record)
    row = results_frame(store).iloc[0]
    assert row["latency_p50_per_sample_ms"] == 2.0 and row["accuracy_n"] == 2
    assert (round(row["accuracy_ci95_low"], 4), round(row["accuracy_ci95_high"], 4)) == (0.0945, 0.9055)
    series = trial_telemetry(store, trial_id)
    assert (series["energy_reliable"], series["power_samples"], series["throttled"]) == (False, 6, True)
    assert trial_conditions(store, trial_id) == {"requested": settings, "applied": applied}


# -- opening a store with care (store/db.py) -----------------------------------------------
def _beside(path) -> list:
    return sorted(p.name for p in path.parent.iterdir())


def test_a_damaged_store_is_named_and_nothing_is_made_beside_it(tmp_path):
    from edgebench.orchestrator.store.db import StoreError

    store = make_store(tmp_path)
    new_trial(store)
    store.close()
    store_file = tmp_path / "r.db"
    data = store_file.read_bytes()
    before = _beside(store_file)
    # A page overwritten in the middle: the header still promises the right size.
    middle = len(data) // 2 // 4096 * 4096
    store_file.write_bytes(data[:middle] + b"\xff" * 4096 + data[middle + 4096 :])
    with pytest.raises(StoreError, match="r.db is damaged"):
        Store("sqlite:///%s" % store_file, create=False)
    store_file.write_bytes(data[: len(data) // 2])
    with pytest.raises(StoreError, match=r"r.db is damaged \(\d+ bytes, its header says \d+"):
        Store("sqlite:///%s" % store_file)
    assert _beside(store_file) == before  # no -wal, -shm or -journal left


def test_a_store_in_a_read_only_folder_is_read_as_it_is(tmp_path, monkeypatch):
    """As root a folder is never read-only: the check is faked, SQLite's side is real."""
    from edgebench.orchestrator.store import db
    from edgebench.orchestrator.store.db import StoreError

    store = make_store(tmp_path)
    new_trial(store)
    store.close()
    monkeypatch.setattr(db, "_writable", lambda path: False)
    before = _beside(tmp_path / "r.db")
    reader = Store("sqlite:///%s" % (tmp_path / "r.db"), create=False)
    assert len(results_frame(reader)) == 1
    reader.close()
    with pytest.raises(StoreError, match="r.db cannot be written here"):
        Store("sqlite:///%s" % (tmp_path / "r.db"))
    with pytest.raises(StoreError, match="cannot create results store .*new.db: .* is not writable"):
        Store("sqlite:///%s" % (tmp_path / "sub" / "new.db"))
    assert _beside(tmp_path / "r.db") == before


def test_an_older_store_in_a_read_only_folder_says_why_it_cannot_be_read(tmp_path, monkeypatch):
    from edgebench.orchestrator.store import db
    from edgebench.orchestrator.store.db import StoreOutdated

    store = make_store(tmp_path)
    new_trial(store)
    store.close()
    old = sqlite3.connect(str(tmp_path / "r.db"))
    old.execute("ALTER TABLE trials DROP COLUMN run")  # as a store made before repeats existed,
    old.execute("DROP TABLE edgebench_schema_version")  # which recorded no schema revision
    old.close()
    monkeypatch.setattr(db, "_writable", lambda path: False)
    with pytest.raises(
        StoreOutdated, match=r"r.db has schema revision 0003 .*cannot be upgraded where it is"
    ):
        Store("sqlite:///%s" % (tmp_path / "r.db"), create=False)
    monkeypatch.undo()
    with pytest.raises(StoreOutdated, match=r"run edgebench db upgrade --db sqlite:///.*r.db"):
        Store("sqlite:///%s" % (tmp_path / "r.db"), create=False)  # only read: never upgraded
    upgraded = Store("sqlite:///%s" % (tmp_path / "r.db"), create=False, write=True)  # a writer upgrades it
    assert list(results_frame(upgraded)["run"]) == [1]
    upgraded.close()


def test_a_lock_held_past_the_busy_timeout_is_one_line_and_later_writes_do_not_wait(tmp_path, monkeypatch):
    from edgebench.orchestrator.store.db import StoreLocked

    store = make_store(tmp_path)
    monkeypatch.setenv("EDGEBENCH_DB_BUSY_S", "0")
    waiting = Store("sqlite:///%s" % (tmp_path / "r.db"))  # opened while the store is free
    holder = sqlite3.connect(str(tmp_path / "r.db"), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreLocked) as caught:
            waiting.create_sweep({"quick": True})
        message = str(caught.value)
        assert "r.db stayed locked" in message and "edgebench sweep --resume" in message
        assert "INSERT" not in message and "\n" not in message
        with pytest.raises(StoreLocked):
            waiting.create_sweep({"quick": True})  # at once: the store gave up on this lock
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    store.close()


@pytest.fixture
def live_pid():
    """The pid of a live process of ours (another terminal's controller), stopped after."""
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    yield child.pid
    child.stdin.close()
    child.wait()


def test_resume_without_an_id_takes_the_latest_sweep_this_controller_left_unfinished(tmp_path, live_pid):
    """On a store shared by several controllers, the others' sweeps are theirs to resume."""
    import time as clock

    from edgebench.orchestrator import session

    store = make_store(tmp_path)
    here = session.controller()
    started = {}
    for name, who, status in (
        ("mine, interrupted", dict(here, pid=2**22 + 17), "interrupted"),  # a pid no process has
        ("before sweeps named their controller", None, "partial"),
        ("mine, killed mid-run", dict(here, pid=2**22 + 19), "running"),
        ("another terminal's, running", dict(here, pid=live_pid), "running"),
        ("bob's", dict(here, user="bob-%s" % here["user"]), "partial"),
        ("another host's", dict(here, host="elsewhere-%s" % here["host"]), "running"),
    ):
        settings = {"quick": True, **({"controller": who} if who else {})}
        started[name] = store.create_sweep(settings)
        if status != "running":
            store.finish_sweep(started[name], status)
        clock.sleep(0.002)  # created_at orders them
    chosen = store.sweep(eligible=session.resumable_here)
    assert chosen.id == started["mine, killed mid-run"]
    assert store.sweep().id == started["another host's"]  # without the rule: someone else's
    store.close()


def test_a_sweep_being_resumed_is_not_resumed_again_from_another_terminal(tmp_path, live_pid):
    from edgebench.orchestrator import session

    store = make_store(tmp_path)
    here = session.controller()
    sweep_id = store.create_sweep({"quick": True, "controller": dict(here, pid=2**22 + 17)})
    store.finish_sweep(sweep_id, "interrupted")
    other_terminal = dict(here, pid=live_pid)
    assert store.claim_sweep(sweep_id, other_terminal, session.running_here) is None  # it resumes it
    assert store.sweep(eligible=session.resumable_here) is None  # so this terminal finds nothing
    assert store.claim_sweep(sweep_id, here, session.running_here) == other_terminal  # nor can take it
    assert store.sweep(sweep_id).status == "running"
    store.close()


def test_resume_says_whose_sweeps_are_left_when_none_is_this_controllers(workspace):
    from edgebench.orchestrator import session

    store = Store(workspace.db_url)
    store.create_sweep({"quick": True, "controller": dict(session.controller(), host="lab-pc-of-bob")})
    store.close()
    proc = workspace.edgebench("sweep", "--resume")
    assert proc.returncode == 0, proc.stderr
    assert "nothing to resume: every sweep started here in" in proc.stderr
    assert "1 other unfinished sweep(s) (running, or another user's or host's): give the id" in proc.stderr


def test_resuming_by_id_a_sweep_another_live_controller_runs_is_refused(workspace, live_pid):
    from edgebench.orchestrator import session

    store = Store(workspace.db_url)
    sweep_id = store.create_sweep({"quick": True, "controller": dict(session.controller(), pid=live_pid)})
    store.close()
    proc = workspace.edgebench("sweep", "--resume", sweep_id)
    assert proc.returncode == 2
    assert "sweep %s is running now in pid %d" % (sweep_id, live_pid) in proc.stderr
