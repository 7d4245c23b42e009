"""Goodput of each batching policy under server load, on this machine.

Measures one model's single-stream latency on `local` first (its capacity at batch 1 is
1000 / p50 queries/s), then runs the server scenario (seeded Poisson arrivals, latency from
each query's scheduled time) at three loads, by default 0.5x, 1x and 2x that capacity, with
each batching policy: fixed batch 1, fixed batch --max-batch, timeout, AIMD and the paper's
latency-aware policy, under one latency target (default: 5x the single-stream p50). Prints,
per load and policy: scheduled and completed qps, goodput (queries/s within the target), p50
and p99 latency, the queueing and compute split of the median, LoadGen's validity and the
batch sizes it ran (size:count; the sizes over time stay in the trial's metrics).

  .venv/bin/python benchmarks/batching.py [--model models/examples/dws_cnn.onnx] [--max-batch 8]
        [--loads 0.5,1,2] [--target-ms MS] [--seconds 3] [--threads 1]

Every run is `edgebench run --scenario server` into a temporary store, as a user would.
"""

import argparse
import io
import json
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parent.parent


def edgebench(*args) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "edgebench.orchestrator.cli", *map(str, args)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    if proc.returncode != 0:
        sys.exit("edgebench %s failed with exit status %d" % (" ".join(map(str, args)), proc.returncode))
    return proc.stdout


def last_trial(db: str) -> dict:
    """The last trial's columns, and its batch-size histogram from the stored metrics."""
    frame = pd.read_json(io.StringIO(edgebench("results", "--format", "json", "--db", db)))
    found = frame.iloc[-1].to_dict()
    with sqlite3.connect(db[len("sqlite:///") :]) as conn:
        (extra,) = conn.execute(
            "select extra from metrics where trial_id = ?", (found["trial_id"],)
        ).fetchone()
    found["batch_histogram"] = json.loads(extra or "{}").get("batch_histogram") or {}
    return found


def single_stream_p50(args, db: str) -> float:
    common = ["--model", args.model, "--threads", args.threads, "--no-accuracy", "--repeats", 1]
    edgebench("run", *common, "--min-seconds", args.seconds, "--db", db)
    return float(last_trial(db)["latency_p50_ms"])


def policies(max_batch: int) -> list:
    """(label, the run options that choose it)."""
    return [
        ("fixed 1", ["--batching", "fixed", "--batch", 1, "--max-batch", 1]),
        ("fixed %d" % max_batch, ["--batching", "fixed", "--batch", max_batch, "--max-batch", max_batch]),
        ("timeout", ["--batching", "timeout", "--max-batch", max_batch]),
        ("aimd", ["--batching", "aimd", "--max-batch", max_batch]),
        ("latency-aware", ["--batching", "latency-aware", "--max-batch", max_batch]),
    ]


def server_run(args, db: str, qps: float, target_ms: float, chosen: list) -> dict:
    edgebench(
        "run",
        "--model",
        args.model,
        "--threads",
        args.threads,
        "--no-accuracy",
        "--repeats",
        1,
        "--scenario",
        "server",
        "--qps",
        "%.3f" % qps,
        "--latency-target-ms",
        "%.3f" % target_ms,
        "--max-queue-delay-ms",
        "%.3f" % (target_ms / 4),
        "--min-seconds",
        args.seconds,
        *chosen,
        "--db",
        db,
    )
    return last_trial(db)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(REPO / "models" / "examples" / "dws_cnn.onnx"))
    parser.add_argument("--max-batch", type=int, default=8)
    parser.add_argument("--loads", default="0.5,1,2", help="multiples of the batch-1 capacity")
    parser.add_argument("--target-ms", type=float, default=None, help="default: 5x the single-stream p50")
    parser.add_argument("--seconds", type=float, default=3.0, help="timed window of each run")
    parser.add_argument("--threads", default="1")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        db = "sqlite:///%s/batching.db" % folder
        p50 = single_stream_p50(args, db)
        capacity, target = 1000.0 / p50, args.target_ms or 5 * p50
        print(
            "%s: single-stream p50 %.3f ms, so %.0f queries/s at batch 1; latency target %.2f ms"
            % (Path(args.model).stem, p50, capacity, target)
        )
        rows = []
        for load in [float(x) for x in args.loads.split(",")]:
            for label, chosen in policies(args.max_batch):
                found = server_run(args, db, load * capacity, target, chosen)
                rows.append(row_of(load, load * capacity, label, found))
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)  # progress
        print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".2f"))


def row_of(load: float, qps: float, label: str, found: dict) -> dict:
    return {
        "load": "%gx" % load,
        "qps asked": qps,
        "policy": label,
        "qps scheduled": found.get("qps_scheduled"),
        "qps completed": found.get("qps_completed"),
        "goodput (q/s)": found.get("goodput_qps"),
        "p50 (ms)": found.get("latency_p50_ms"),
        "p99 (ms)": found.get("latency_p99_ms"),
        "queueing p50 (ms)": found.get("queueing_p50_ms"),
        "compute p50 (ms)": found.get("compute_p50_ms"),
        "valid": {True: "yes", False: "no"}.get(_flag(found.get("server_valid")), "?"),
        "batches (size:count)": " ".join(
            "%s:%s" % kv for kv in sorted(found["batch_histogram"].items(), key=lambda kv: int(kv[0]))
        ),
    }


def _flag(value):
    """A stored flag as pandas reads it back from JSON (True, 1.0, None)."""
    return None if value is None or value != value else bool(value)


if __name__ == "__main__":
    main()
