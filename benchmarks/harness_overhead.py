"""How much does edgebench's harness add to what it measures?

Prints, in one run:
  1. the null backend's cost per iteration (µs): edgebench timing nothing;
  2. for each model, edgebench's median latency next to a plain Python loop timing the same
     onnxruntime session (same threads, same seeded input), and the difference in percent.
     Target: edgebench within 3% of the plain loop.

Both sides run in rounds that alternate (plain, edgebench, plain, ...) so that drift of the
machine (frequency, neighbours) hits both alike; the figure per side is the median of its
rounds' medians. Usage:

  .venv/bin/python benchmarks/harness_overhead.py [--models models/] [--threads 1]
                                                  [--seconds 3] [--rounds 3]
"""

import argparse
import csv
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

REPO = Path(__file__).resolve().parent.parent
TARGET_PCT = 3.0


def edgebench(env, *args):
    proc = subprocess.run(
        [sys.executable, "-m", "edgebench.orchestrator.cli", *map(str, args)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if proc.returncode != 0:
        sys.exit("edgebench %s failed: %s" % (" ".join(map(str, args)), proc.stderr.strip()))
    return proc.stdout


def last_result(env) -> dict:
    rows = list(csv.DictReader(io.StringIO(edgebench(env, "results", "--format", "csv"))))
    return rows[-1]


def plain_loop_median_ms(model: Path, threads: int, seconds: float) -> float:
    """The reference: what anyone would write to time a session by hand."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(str(model), sess_options=so, providers=["CPUExecutionProvider"])
    feed = {"input": np.random.RandomState(0).standard_normal((1, 3, 32, 32)).astype("float32")}
    for _ in range(10):
        sess.run(None, feed)
    times = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        sess.run(None, feed)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000.0


def edgebench_median_ms(env, model: Path, threads: int, seconds: float) -> float:
    edgebench(
        env,
        "run",
        "--model",
        model,
        "--threads",
        threads,
        "--min-seconds",
        seconds,
        "--warmup",
        10,
        "--repeats",
        1,
    )
    return float(last_result(env)["latency_p50_ms"])


def null_overhead_us(env) -> tuple:
    edgebench(env, "run", "--backend", "null", "--min-seconds", 1, "--min-iters", 100000, "--repeats", 1)
    row = last_result(env)
    per_sample_us = float(row["latency_p50_ms"]) * 1000.0
    per_iteration_us = 1e6 / float(row["throughput_ips"])  # the whole loop body, wall time
    return per_sample_us, per_iteration_us, int(row["iterations"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=Path, default=REPO / "models")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=3.0, help="timed seconds per round and side")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        inventory = Path(tmp) / "inventory.yaml"
        inventory.write_text("devices:\n  local:\n    connection: local\n    workdir: %s/device\n" % tmp)
        env = dict(
            os.environ,
            EDGEBENCH_INVENTORY=str(inventory),
            XDG_CACHE_HOME=tmp + "/cache",
            EDGEBENCH_DB="sqlite:///%s/bench.db" % tmp,
        )

        sample_us, iteration_us, n = null_overhead_us(env)
        print("null backend (harness alone), %d iterations:" % n)
        print("  timed interval per iteration (median): %.3f µs" % sample_us)
        print("  whole loop body per iteration (wall):  %.3f µs" % iteration_us)
        print()
        print(
            "median latency per inference, batch 1, %d thread(s), %d rounds x %.1f s per side"
            % (args.threads, args.rounds, args.seconds)
        )
        print("%-16s %12s %14s %9s %s" % ("model", "plain (ms)", "edgebench (ms)", "diff", "target"))
        worst = 0.0
        for model in sorted(args.models.glob("*.onnx")):
            plain, bench = [], []
            for _ in range(args.rounds):
                plain.append(plain_loop_median_ms(model, args.threads, args.seconds))
                bench.append(edgebench_median_ms(env, model, args.threads, args.seconds))
            p, b = statistics.median(plain), statistics.median(bench)
            diff = (b - p) / p * 100.0
            worst = max(worst, abs(diff))
            print(
                "%-16s %12.4f %14.4f %+8.2f%% %s"
                % (model.stem, p, b, diff, "ok" if abs(diff) <= TARGET_PCT else "MISSED (<= 3%)")
            )
        print()
        print("worst difference: %.2f%% (target <= %.0f%%)" % (worst, TARGET_PCT))


if __name__ == "__main__":
    main()
