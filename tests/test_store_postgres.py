"""What a shared store must take that a laptop's SQLite file forgave: controllers adding the same
device and model at once, what PostgreSQL refuses (NaN in JSON, NUL in text, a value longer
than its column), moments read back alike, and a password never shown. Each test runs on
SQLite and on PostgreSQL (`db_url`, tests/conftest.py)."""

import math
import re
import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from edgebench.agent.protocol import make_record
from edgebench.orchestrator.inventory import Device
from edgebench.orchestrator.modelinfo import inspect_model
from edgebench.orchestrator.store import Store, results_frame
from edgebench.orchestrator.store.db import StoreError, store_where
from edgebench.orchestrator.store.queries import trial_telemetry
from edgebench.orchestrator.store.schema import Device as DeviceRow
from edgebench.orchestrator.store.schema import Model as ModelRow
from edgebench.orchestrator.store.schema import Sweep, Trial
from edgebench.orchestrator.sweep import Cell

from .conftest import MODELS

PASSWORD = "pg-secret-4711"


@pytest.fixture
def store(db_url):
    s = Store(db_url)
    yield s
    s.close()


def stale_reads_of(monkeypatch, kind, readers: int):
    """Holds the first `readers` lookups of a `kind` row until all of them are made: each
    controller finds the row missing before any of them has added it."""
    everyone_looked = threading.Barrier(readers, timeout=60)
    held = []
    original = Session.get

    def get(self, entity, ident, **kwargs):
        found = original(self, entity, ident, **kwargs)
        if entity is kind and len(held) < readers:
            held.append(ident)
            everyone_looked.wait()
        return found

    monkeypatch.setattr(Session, "get", get)


def at_once(*writes) -> None:
    """Runs each write in its own thread (a controller each) and raises what any of them raised."""
    failures = []

    def run(write):
        try:
            write()
        except Exception as exc:  # handed to the test below
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(write,)) for write in writes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a write never finished"
    if failures:
        raise failures[0]


def count(store, kind) -> int:
    with store.Session() as s:
        return s.scalar(select(func.count()).select_from(kind))


def test_two_controllers_adding_the_same_device_at_once_make_one_row(db_url, monkeypatch):
    first, second = Store(db_url), Store(db_url)  # two processes' stores: two write locks
    device = Device(name="nano01", connection="local")
    stale_reads_of(monkeypatch, DeviceRow, readers=2)
    at_once(
        lambda: first.upsert_device(device, {"board": "a"}),
        lambda: second.upsert_device(device, {"board": "b"}),
    )
    assert count(first, DeviceRow) == 1
    with first.Session() as s:
        assert s.get(DeviceRow, "nano01").facts in ({"board": "a"}, {"board": "b"})  # the later one's
    first.close()
    second.close()


def test_two_controllers_adding_the_same_model_at_once_make_one_row(db_url, monkeypatch):
    first, second = Store(db_url), Store(db_url)
    model = inspect_model(MODELS / "dws_cnn.onnx")
    stale_reads_of(monkeypatch, ModelRow, readers=2)
    at_once(lambda: first.upsert_model(model), lambda: second.upsert_model(model))
    assert count(first, ModelRow) == 1
    first.close()
    second.close()


def new_trial(store) -> str:
    device = Device(name="local", connection="local")
    store.upsert_device(device)
    sweep_id = store.create_sweep({"quick": True})
    return store.create_trial(sweep_id, Cell(device, None, "null", 1), {})


def test_what_a_device_may_send_is_stored_on_any_database(store):
    """NaN in the telemetry (the host's JSON parser takes it from a device) is null, a NUL in
    an error text a visible mark, an overlong agent version cut to its column."""
    trial_id = new_trial(store)
    telemetry = {"power": [[0.0, 1500.0], [0.1, math.nan]], "before": {"thermal_c": math.inf}}
    for record in (
        make_record("trial_start", trial_id=trial_id, agent_version="9." * 40),
        make_record("error", trial_id=trial_id, error="stderr: \x00\x01 garbage", kind="x"),
        make_record("result", trial_id=trial_id, metrics={"iterations": 3}, env={}, telemetry=telemetry),
        make_record("trial_end", trial_id=trial_id, status="failed"),
    ):
        store.ingest(record)
    series = trial_telemetry(store, trial_id)
    assert series["power"] == [[0.0, 1500.0], [0.1, None]] and series["before"] == {"thermal_c": None}
    with store.Session() as s:
        trial = s.get(Trial, trial_id)
        assert trial.error == "stderr: \ufffd\x01 garbage" and trial.status == "failed"
        assert trial.agent_version == ("9." * 40)[:32]


def test_moments_read_back_as_naive_utc_on_any_database(store):
    trial_id = new_trial(store)
    store.fail_trial(trial_id, "broke")
    with store.Session() as s:
        trial = s.get(Trial, trial_id)
        sweep = s.get(Sweep, trial.sweep_id)
    for moment in (trial.created_at, trial.finished_at, sweep.created_at):
        assert moment.tzinfo is None
    assert trial.created_at <= trial.finished_at
    frame = results_frame(store)
    assert frame["created_at"].dt.tz is None and frame["finished_at"].dt.tz is None


def test_a_password_in_the_url_is_never_shown(db_url):
    """In the store's name for messages, and in the one-line error of a database that is not there."""
    if not db_url.startswith("postgresql"):
        pytest.skip("an SQLite URL has no password")
    with_password = db_url.replace("edgebench@", "edgebench:%s@" % PASSWORD)
    store = Store(with_password)
    assert PASSWORD not in store.where and "***" in store.where
    store.close()
    missing = re.sub(r"/\w+$", "/no_such_database", with_password)
    with pytest.raises(StoreError) as caught:
        Store(missing, create=False)
    message = str(caught.value)
    assert PASSWORD not in message and store_where(missing) in message
    assert 'database "no_such_database" does not exist' in message and "\n" not in message
