"""Ingest rate of raw latency samples into a fresh SQLite store (target: 1 M samples/s).

Measured: N trials' records (trial_start, a result carrying 100k latencies by default,
trial_end), as a device sends them, applied by `Store.ingest`, the call the sweep's writer
thread makes; once alone, and once after `records.validate`, the host's check of each record
before it is stored. The samples go to one compressed float64 array per trial
(`latency_samples`). For reference, the same samples in a one-row-per-sample table (trial id,
iteration, latency) in a fresh SQLite file, in WAL mode with synchronous=NORMAL as the store:
stdlib `executemany` with tuples, SQLAlchemy `exec_driver_sql` with tuples, and SQLAlchemy Core
`insert()` with dicts; and the JSON list the store kept before. Each line gives samples per
second and the bytes on disk per sample. Nothing is asserted.

  .venv/bin/python benchmarks/ingest.py [--trials 20] [--samples 100000] [--repeat 1]
"""

import argparse
import json
import random
import sqlite3
import tempfile
import time
from pathlib import Path

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, create_engine, event, insert

from edgebench.agent.protocol import make_record
from edgebench.orchestrator.inventory import Device
from edgebench.orchestrator.records import validate
from edgebench.orchestrator.store import Store
from edgebench.orchestrator.store.samples import trial_samples
from edgebench.orchestrator.sweep import Cell

TARGET = 1_000_000  # samples/s, issue 12


def latencies(count: int, seed: int) -> list:
    """Latencies in ms as the agent makes them: differences of two perf_counter() readings (an
    uptime of hours, ns ticks) times 1000, through JSON; about 0.7 ms, a few percent of spread."""
    rng = random.Random(seed)
    clock = 3600.0 * 5 + rng.random()
    samples = []
    for _ in range(count):
        start = clock
        clock += round(rng.lognormvariate(-7.26, 0.1) * 1e9) / 1e9
        samples.append((clock - start) * 1000.0)
    return json.loads(json.dumps(samples))


def trial_records(trial_id: str, samples: list) -> list:
    metrics = {"iterations": len(samples), "latency_p50_ms": sorted(samples)[len(samples) // 2]}
    return [
        make_record("trial_start", trial_id=trial_id, agent_version="bench"),
        make_record("result", trial_id=trial_id, metrics=metrics, env={}, samples_ms=samples),
        make_record("trial_end", trial_id=trial_id, status="ok", agent_s=1.0),
    ]


def new_store(folder: Path) -> tuple:
    """A fresh store with `trials` pending trials of the null backend (no model needed)."""
    path = folder / "store.db"
    store = Store("sqlite:///%s" % path)
    device = Device(name="bench", connection="local")
    store.upsert_device(device)
    return store, path, device, store.create_sweep({"benchmark": "ingest"})


def time_store_ingest(folder: Path, samples: list, trials: int, checked: bool) -> tuple:
    store, path, device, sweep_id = new_store(folder)
    ids = [store.create_trial(sweep_id, Cell(device, None, "null", 1, run=i + 1), {}) for i in range(trials)]
    records = [record for trial_id in ids for record in trial_records(trial_id, samples)]
    start = time.perf_counter()
    for record in records:
        store.ingest(validate(record) if checked else record)
    elapsed = time.perf_counter() - start
    kept = trial_samples(store, ids)
    assert sum(len(v) for v in kept.values()) == trials * len(samples), "samples lost"
    assert kept[ids[0]].tolist() == samples, "samples changed"
    store.close()
    return elapsed, path


def fresh_sqlite(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def per_sample_rows(trial_id: str, samples: list):
    return [(trial_id, i, value) for i, value in enumerate(samples)]


def time_executemany(folder: Path, samples: list, trials: int) -> tuple:
    path = folder / "rows-executemany.db"
    conn = fresh_sqlite(path)
    conn.execute("CREATE TABLE samples (trial_id TEXT, iteration INTEGER, latency_ms REAL)")
    start = time.perf_counter()
    for t in range(trials):
        with conn:  # one transaction per trial, as one result record
            conn.executemany("INSERT INTO samples VALUES (?, ?, ?)", per_sample_rows("t%d" % t, samples))
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed, path


def sqlalchemy_table(path: Path):
    engine = create_engine("sqlite:///%s" % path)

    @event.listens_for(engine, "connect")
    def pragmas(dbapi_connection, _record):
        dbapi_connection.execute("PRAGMA journal_mode=WAL")
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")

    table = Table(
        "samples",
        MetaData(),
        Column("trial_id", String(64)),
        Column("iteration", Integer),
        Column("latency_ms", Float),
    )
    table.metadata.create_all(engine)
    return engine, table


def time_driver_sql(folder: Path, samples: list, trials: int) -> tuple:
    path = folder / "rows-driver-sql.db"
    engine, _ = sqlalchemy_table(path)
    start = time.perf_counter()
    for t in range(trials):
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO samples VALUES (?, ?, ?)", per_sample_rows("t%d" % t, samples))
    elapsed = time.perf_counter() - start
    engine.dispose()
    return elapsed, path


def time_core_dicts(folder: Path, samples: list, trials: int) -> tuple:
    path = folder / "rows-core-dicts.db"
    engine, table = sqlalchemy_table(path)
    start = time.perf_counter()
    for t in range(trials):
        rows = [{"trial_id": "t%d" % t, "iteration": i, "latency_ms": v} for i, v in enumerate(samples)]
        with engine.begin() as conn:
            conn.execute(insert(table), rows)
    elapsed = time.perf_counter() - start
    engine.dispose()
    return elapsed, path


def time_json_column(folder: Path, samples: list, trials: int) -> tuple:
    """The layout before: the samples as one JSON list per trial (metrics.samples_ms)."""
    path = folder / "json-column.db"
    conn = fresh_sqlite(path)
    conn.execute("CREATE TABLE metrics (trial_id TEXT PRIMARY KEY, samples_ms TEXT)")
    start = time.perf_counter()
    for t in range(trials):
        with conn:
            conn.execute("INSERT INTO metrics VALUES (?, ?)", ("t%d" % t, json.dumps(samples)))
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed, path


def on_disk(path: Path) -> int:
    """The store's bytes once its write-ahead log is folded in."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path.stat().st_size


METHODS = (
    ("Store.ingest (compressed array per trial)", lambda f, s, n: time_store_ingest(f, s, n, checked=False)),
    ("records.validate + Store.ingest", lambda f, s, n: time_store_ingest(f, s, n, checked=True)),
    ("row per sample: sqlite3 executemany, tuples", time_executemany),
    ("row per sample: SQLAlchemy exec_driver_sql, tuples", time_driver_sql),
    ("row per sample: SQLAlchemy Core insert(), dicts", time_core_dicts),
    ("JSON list per trial (the layout before)", time_json_column),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--samples", type=int, default=100_000, help="latency samples per trial")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each method; the fastest is shown")
    args = parser.parse_args()
    samples = latencies(args.samples, seed=1)
    total = args.trials * args.samples
    print(
        "%d trials x %d samples = %d samples into fresh SQLite files (WAL, synchronous=NORMAL)"
        % (args.trials, args.samples, total)
    )
    print("%-52s %14s %10s %14s" % ("method", "samples/s", "seconds", "bytes/sample"))
    for name, method in METHODS:
        best = None
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory(prefix="edgebench-ingest-") as tmp:
                elapsed, path = method(Path(tmp), samples, args.trials)
                size = on_disk(path)
            best = min(best or (elapsed, size), (elapsed, size))
        elapsed, size = best
        print("%-52s %14s %10.2f %14.1f" % (name, "{:,.0f}".format(total / elapsed), elapsed, size / total))
    print("target: %s samples/s through Store.ingest" % "{:,}".format(TARGET))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
