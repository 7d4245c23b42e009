"""How long does the model pipeline take to build?

Runs the same build as tests/test_pipeline_build.py (demo recipe on digits, seed 0, widths
0.125, 2 teacher and 2 student epochs, 2 pruning steps, 1 fine-tuning epoch) into a temporary
folder and prints its wall time against the target of 120 s, then the five variants it wrote.
The test checks what the build writes; this script reports how long it took (a duration
measured on a shared machine is a figure, not a pass/fail test). Usage:

  .venv/bin/python benchmarks/pipeline_build.py [--threads 1] [--rounds 1]
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

try:
    import torch  # noqa: F401  (the `train` extra)
except ImportError:
    sys.exit("the model pipeline needs torch: bash scripts/setup.sh test,train")

from edgebench.pipeline.build import VARIANTS, build_models, list_model_cards

TARGET_S = 120.0
# The configuration of tests/test_pipeline_build.py.
SMALL = dict(
    teacher_width=0.125,
    student_width=0.125,
    teacher_epochs=2,
    student_epochs=2,
    prune_steps=2,
    fine_tune_epochs=1,
)


def build_once(threads: int) -> tuple:
    """One build into a fresh folder: (wall seconds, model card rows)."""
    with tempfile.TemporaryDirectory(prefix="edgebench-build-") as tmp:
        start = time.perf_counter()
        build_models(
            recipe="demo", dataset="digits", out=Path(tmp), seed=0, progress=False, threads=threads, **SMALL
        )
        seconds = time.perf_counter() - start
        rows = {row["name"]: row for row in list_model_cards(Path(tmp))}
        return seconds, [rows["digits_%s" % variant] for variant in VARIANTS]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--threads", type=int, default=1, help="torch intra-op threads (default 1, as the tests)"
    )
    parser.add_argument("--rounds", type=int, default=1, help="builds to time; the median is reported")
    args = parser.parse_args()

    print(
        "model pipeline build: demo recipe, digits, %s; %d thread(s)"
        % (", ".join("%s=%s" % item for item in sorted(SMALL.items())), args.threads)
    )
    times, cards = [], []
    for n in range(1, args.rounds + 1):
        seconds, cards = build_once(args.threads)
        times.append(seconds)
        print("  round %d: %.1f s" % (n, seconds), flush=True)
    median = statistics.median(times)
    verdict = "ok" if median <= TARGET_S else "over the target"
    print(
        "build wall time (median of %d): %.1f s; target <= %.0f s: %s"
        % (len(times), median, TARGET_S, verdict)
    )
    print("%-32s %-10s %10s %10s" % ("variant", "precision", "params", "accuracy"))
    for row in cards:
        accuracy = row.get("host_accuracy")
        print(
            "%-32s %-10s %10d %10s"
            % (
                row["name"],
                row.get("precision") or "",
                row.get("params") or 0,
                "%.3f" % accuracy if accuracy is not None else "–",
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
