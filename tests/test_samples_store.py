"""Raw latency samples in the store: one compressed float64 array per trial, read back exactly,
in bulk and as a long frame; stores made before the array table keep their JSON samples. The
tests taking `store` run on SQLite and on PostgreSQL (`db_url`, tests/conftest.py)."""

import random
import sqlite3
import struct

import pytest
from sqlalchemy import func, select, update

from edgebench.agent.protocol import make_record
from edgebench.agent.trial import run_trial
from edgebench.orchestrator.inventory import Device
from edgebench.orchestrator.records import validate
from edgebench.orchestrator.store import Store, db, samples
from edgebench.orchestrator.store.db import StoreError
from edgebench.orchestrator.store.samples import SAMPLE_COLUMNS, samples_frame, trial_samples
from edgebench.orchestrator.store.schema import LatencySamples, Metrics, Trial
from edgebench.orchestrator.sweep import Cell

# Values a float64 codec gets wrong first: subnormals, extremes, the sign of zero, long reprs.
AWKWARD = [0.1, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, -0.0, 0.6469270010711625, 1e-9]


def measured_like(count: int, seed: int = 0) -> list:
    """Latencies as the agent computes them: two perf_counter() readings apart, times 1000."""
    rng = random.Random(seed)
    clock, out = 18000.0 + rng.random(), []
    for _ in range(count):
        start = clock
        clock += round(rng.lognormvariate(-7.26, 0.1) * 1e9) / 1e9
        out.append((clock - start) * 1000.0)
    return out


def bits(values) -> list:
    return [struct.pack("<d", v) for v in values]


@pytest.fixture
def store(db_url):
    s = Store(db_url)
    yield s
    s.close()


def new_trials(store, count: int) -> list:
    device = Device(name="local", connection="local")
    store.upsert_device(device)
    sweep_id = store.create_sweep({"quick": True})
    return [store.create_trial(sweep_id, Cell(device, None, "null", 1, run=i + 1), {}) for i in range(count)]


def ingest_trial(store, trial_id: str, values: list) -> None:
    metrics = {"iterations": len(values), "latency_p50_ms": 1.0}
    for record in (
        make_record("trial_start", trial_id=trial_id, agent_version="test"),
        make_record("result", trial_id=trial_id, metrics=metrics, env={}, samples_ms=values),
        make_record("trial_end", trial_id=trial_id, status="ok", agent_s=1.0),
    ):
        store.ingest(validate(record))


def test_samples_come_back_bit_for_bit(store):
    values = AWKWARD + measured_like(1000)
    [trial_id] = new_trials(store, 1)
    ingest_trial(store, trial_id, values)
    back = trial_samples(store, [trial_id])[trial_id]
    assert back.dtype == "float64" and back.flags.writeable
    assert bits(back.tolist()) == bits(values)


def test_a_trial_keeps_one_compact_array_and_no_json(store):
    values = measured_like(20_000)
    [trial_id] = new_trials(store, 1)
    ingest_trial(store, trial_id, values)
    ingest_trial(store, trial_id, values[:10])  # applied again: changes nothing
    with store.Session() as s:
        rows = s.execute(
            select(LatencySamples.trial_id, LatencySamples.count, func.length(LatencySamples.data))
        ).all()
        json_samples = s.execute(select(Metrics.samples_ms)).all()
    assert [(trial_id, len(values))] == [tuple(row[:2]) for row in rows]
    assert rows[0][2] < 0.75 * 8 * len(values)  # measured latencies: about 0.54 of raw float64
    assert [tuple(row) for row in json_samples] == [(None,)]
    assert len(trial_samples(store, [trial_id])[trial_id]) == len(values)


def test_many_trials_are_read_back_in_the_order_asked(store, monkeypatch):
    monkeypatch.setattr(samples, "IDS_PER_QUERY", 4)  # several queries' worth of trials
    ids = new_trials(store, 11)
    stored = {trial_id: measured_like(10 + i, seed=i) for i, trial_id in enumerate(ids)}
    for trial_id, values in stored.items():
        ingest_trial(store, trial_id, values)
    asked = list(reversed(ids)) + ["no-such-trial"]
    got = trial_samples(store, asked)
    assert list(got) == list(reversed(ids))
    assert all(got[trial_id].tolist() == stored[trial_id] for trial_id in ids)
    assert list(trial_samples(store, ids[0])) == [ids[0]]  # one id given as a string

    frame = samples_frame(store)
    assert list(frame.columns) == list(SAMPLE_COLUMNS)
    assert len(frame) == sum(map(len, stored.values()))
    for trial_id, rows in frame.groupby("trial_id", sort=False):
        assert rows["latency_ms"].tolist() == stored[trial_id]
        assert rows["iteration"].tolist() == list(range(len(stored[trial_id])))
    first = frame.iloc[0]
    assert (first["device"], first["model"], first["backend"], first["scenario"]) == (
        "local",
        "(none)",
        "null",
        "single-stream",
    )
    assert not first["simulated"] and not first["emulated"]


def test_a_frame_of_a_sweep_holds_only_its_ok_trials(store):
    kept, failed = new_trials(store, 2)
    other = new_trials(store, 1)[0]  # another sweep
    for trial_id in (kept, other):
        ingest_trial(store, trial_id, [1.0, 2.0])
    store.fail_trial(failed, "it broke")
    frame = samples_frame(store, _sweep_of(store, kept))
    assert set(frame["trial_id"]) == {kept}
    assert samples_frame(store, "no-such-sweep").empty


def _sweep_of(store, trial_id):
    with store.Session() as s:
        return s.get(Trial, trial_id).sweep_id


def test_the_agents_samples_arrive_whole(store):
    """A real agent trial (the null backend, asked to keep its samples) through the host's
    record check and ingest: as many samples as the agent counted iterations, unchanged."""
    [trial_id] = new_trials(store, 1)
    records = []
    assert run_trial(
        {"trial_id": trial_id, "backend": "null", "quick": True, "keep_samples": True}, records.append
    )
    for record in records:
        store.ingest(validate(record))
    [result] = [r for r in records if r["type"] == "result"]
    back = trial_samples(store, [trial_id])[trial_id]
    assert len(back) == result["metrics"]["iterations"] > 0
    assert back.tolist() == result["samples_ms"]
    assert len(samples_frame(store)) == result["metrics"]["iterations"]


def older_store(tmp_path, samples_ms: list) -> tuple:
    """A store as an edgebench before the array table left it: one ok trial whose samples are
    JSON in metrics.samples_ms, and no latency_samples table."""
    url = "sqlite:///%s" % (tmp_path / "old.db")
    store = Store(url)
    [trial_id] = new_trials(store, 1)
    with store.writing() as s:
        s.add(Metrics(trial_id=trial_id, iterations=len(samples_ms), samples_ms=samples_ms))
        s.get(Trial, trial_id).status = "ok"
    store.close()
    with sqlite3.connect(tmp_path / "old.db") as conn:
        conn.execute("drop table latency_samples")
        conn.execute("drop table edgebench_schema_version")  # nor did it record a schema revision
    return url, trial_id


def tables(path) -> set:
    with sqlite3.connect(path) as conn:
        return {row[0] for row in conn.execute("select name from sqlite_master where type = 'table'")}


def test_an_older_store_gets_the_table_in_place_and_keeps_its_json_samples(tmp_path):
    old_values = [0.5, 0.25, 0.75]
    url, old_trial = older_store(tmp_path, old_values)
    assert "latency_samples" not in tables(tmp_path / "old.db")
    store = Store(url)
    assert "latency_samples" in tables(tmp_path / "old.db")
    [new_trial] = new_trials(store, 1)
    ingest_trial(store, new_trial, [1.5, 2.5])
    got = trial_samples(store, [old_trial, new_trial])
    assert got[old_trial].tolist() == old_values and got[new_trial].tolist() == [1.5, 2.5]
    frame = samples_frame(store)
    assert frame.groupby("trial_id")["latency_ms"].apply(list).to_dict() == {
        old_trial: old_values,
        new_trial: [1.5, 2.5],
    }
    store.close()


def test_an_older_store_read_only_asks_for_an_upgraded_copy_and_is_left_as_it_was(tmp_path, monkeypatch):
    url, old_trial = older_store(tmp_path, [0.5, 0.25])
    monkeypatch.setattr(db, "_writable", lambda path: False)  # a folder this user cannot write
    with pytest.raises(db.StoreOutdated, match="old.db has schema revision 0006 .*copy it to a folder"):
        Store(url, create=False)
    assert "latency_samples" not in tables(tmp_path / "old.db")  # nothing was written


def test_a_damaged_array_is_one_line_naming_the_trial(store):
    [trial_id] = new_trials(store, 1)
    ingest_trial(store, trial_id, [1.0, 2.0])
    with store.writing() as s:
        s.execute(update(LatencySamples).values(data=b"\x00\xff"))
    with pytest.raises(StoreError, match="trial %s: samples do not decompress" % trial_id):
        trial_samples(store, [trial_id])
