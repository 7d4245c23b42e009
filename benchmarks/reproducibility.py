"""Do edgebench's intervals hold when the sweep is run again?

Runs the same sweep twice, one right after the other, on `local` (by default the two shipped
models at batch 1, 2, 4 and 8 with one thread: eight cells), each into the same fresh store,
and prints per cell both latency figures (p50, ms) with their 95% intervals and whether the
two intervals overlap; then the share of cells that overlap and the median half-width of the
intervals (% of the figure). With repeats > 1 the figure is the median of the runs' medians
and the interval the between-run t interval; with --repeats 1 it is the one run's median and
its within-run interval (what edgebench printed before repeats existed), for contrast.
Target: at least 90% of cells overlap with the default settings.

  .venv/bin/python benchmarks/reproducibility.py [--repeats K] [--models models]
        [--batch 1,2,4,8] [--threads 1] [-- other sweep options, e.g. --min-seconds 3]
"""

import argparse
import io
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parent.parent
CELL = ["model", "backend", "batch"]


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


def sweep(db: str, args) -> tuple:
    """Runs one sweep; returns (its id, seconds it took)."""
    command = ["sweep", args.models, "--device", "local", "--batch", args.batch, "--threads", args.threads]
    command += ["--no-accuracy", "--db", db] + (["--repeats", args.repeats] if args.repeats else [])
    started = time.monotonic()
    edgebench(*command, *args.sweep_args)
    results = pd.read_csv(io.StringIO(edgebench("results", "--format", "csv", "--db", db)))
    return results["sweep_id"].iloc[-1], time.monotonic() - started


def cell_figures(db: str, sweep_id: str) -> pd.DataFrame:
    """Per cell: runs, figure and interval as edgebench reports them."""
    frame = pd.read_csv(io.StringIO(edgebench("results", "--format", "csv", "--sweep", sweep_id, "--db", db)))
    frame = frame[frame["status"] == "ok"].groupby(CELL, as_index=False).first()
    between = frame["runs"] > 1
    frame["figure"] = frame["latency_p50_runs_ms"]
    frame["low"] = frame["latency_p50_runs_ci95_low_ms"].where(between, frame["latency_p50_ci95_low_ms"])
    frame["high"] = frame["latency_p50_runs_ci95_high_ms"].where(between, frame["latency_p50_ci95_high_ms"])
    frame["kind"] = ["between runs" if b else "within one run" for b in between]
    return frame[CELL + ["runs", "figure", "low", "high", "kind", "runs_unstable"]]


def half_width_pct(row, side: str) -> float:
    return 100.0 * (row["high" + side] - row["low" + side]) / 2.0 / row["figure" + side]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", default=None, help="runs per cell (default: edgebench's default)")
    parser.add_argument("--models", default="models")
    parser.add_argument("--batch", default="1,2,4,8")
    parser.add_argument("--threads", default="1")
    parser.add_argument("sweep_args", nargs="*", help="more sweep options, after --")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = "sqlite:///%s/reproducibility.db" % tmp
        first, first_s = sweep(db, args)
        second, second_s = sweep(db, args)
        a, b = cell_figures(db, first), cell_figures(db, second)
    both = a.merge(b, on=CELL, suffixes=("_1", "_2"))
    both["overlap"] = (both["low_1"] <= both["high_2"]) & (both["low_2"] <= both["high_1"])
    print(
        "sweeps %s (%.0f s) and %s (%.0f s); %s" % (first, first_s, second, second_s, both["kind_1"].iloc[0])
    )
    print(
        "%-14s %5s %4s  %-36s %-36s %s"
        % ("model", "batch", "runs", "sweep 1 p50 ms [95%]", "sweep 2", "overlap")
    )
    for _, row in both.iterrows():
        shown = [
            "%.4g [%.4g, %.4g]%s"
            % (
                row["figure" + s],
                row["low" + s],
                row["high" + s],
                " unstable" if str(row["runs_unstable" + s]).lower() == "true" else "",
            )
            for s in ("_1", "_2")
        ]
        print(
            "%-14s %5d %4d  %-36s %-36s %s"
            % (
                row["model"],
                row["batch"],
                row["runs_1"],
                shown[0],
                shown[1],
                "yes" if row["overlap"] else "NO",
            )
        )
    widths = [half_width_pct(row, s) for _, row in both.iterrows() for s in ("_1", "_2")]
    share = 100.0 * both["overlap"].mean()
    print("overlapping cells: %d of %d (%.0f%%; target >= 90%%)" % (both["overlap"].sum(), len(both), share))
    print("median half-width of the intervals: %.2f%% of the figure" % statistics.median(widths))


if __name__ == "__main__":
    main()
