"""Early exit's accuracy-latency curve: a student with two early exits on digits, run as separate
ONNX pieces in ONNX Runtime on this machine's CPU.

Builds the student (`edgebench models build --recipe early-exit --dataset digits`, about a
minute and a half on 2 cores) into DIR/digits_early_exit/ unless a manifest is already there,
then sweeps the exit threshold with `agent/earlyexit.py`: every eval sample is run alone
(batch 1) through the pieces, stopping at the first exit confident enough, in several rounds
with the configurations' order rotated. Prints, per threshold, accuracy, the share of samples
leaving at each exit and their accuracy there, mean, p50 and p99 latency per sample and the
speed-up (of the mean) over the network without exits run as the same pieces; then that network's figures,
the same network as one ONNX graph, one graph holding every exit, and each piece timed alone.
Usage:

  .venv/bin/python benchmarks/early_exit.py [--dir results/early_exit] [--rebuild]
      [--criterion max_softmax|margin|entropy] [--thresholds 0.5,0.9,...] [--rounds 5] [--threads 1]
"""

import argparse
import os
import sys
from pathlib import Path

from edgebench.agent.earlyexit import CRITERIA, load_manifest, open_model, sweep

DEFAULT_THRESHOLDS = "0.5,0.7,0.8,0.9,0.95,0.99,0.999,1.01"


def thresholds_from(text: str) -> list:
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise SystemExit("--thresholds: %r is not a comma-separated list of numbers" % text) from None
    if not values or min(values) < 0:
        raise SystemExit("--thresholds: give numbers >= 0 (scores are in [0, 1]; above 1 never exits)")
    return values


def built_folder(directory: Path, rebuild: bool, threads: int) -> Path:
    """The early-exit student's folder, built first when it has no manifest (or asked to)."""
    folder = directory / "digits_early_exit"
    if rebuild or not (folder / "manifest.json").is_file():
        try:
            from edgebench.pipeline.build import build_models
        except ImportError as exc:
            raise SystemExit(
                "building the student needs the train extra (%s): bash scripts/setup.sh test,train" % exc
            )
        directory.mkdir(parents=True, exist_ok=True)
        build_models(recipe="early-exit", dataset="digits", out=directory, threads=threads)
    return folder


def load_eval_set(manifest: dict):
    import numpy

    with numpy.load(os.path.join(manifest["folder"], manifest["eval_set"]["file"])) as data:
        return data["x"], data["y"]


def percent(value) -> str:
    return "–" if value is None else "%.1f" % (100 * value)


def print_curve(curve: dict, manifest: dict, threads: int) -> None:
    exits = curve["exits"]
    print(
        "early exit on digits (%s, %d eval samples, batch 1, %d rounds; onnxruntime CPU, %d thread(s)); "
        "criterion %s" % (manifest["folder"], curve["samples"], curve["rounds"], threads, curve["criterion"])
    )
    header = "%9s %10s %24s %24s %9s %9s %9s %9s" % (
        "threshold",
        "accuracy %",
        "exit shares %",
        "accuracy at exit %",
        "mean ms",
        "p50 ms",
        "p99 ms",
        "speed-up",
    )
    print("%9s %10s %24s %24s" % ("", "", "/".join(exits), "/".join(exits)))
    print(header)
    for row in curve["rows"]:
        print(
            "%9g %10s %24s %24s %9.4f %9.4f %9.4f %8.2fx"
            % (
                row["threshold"],
                percent(row["accuracy"]),
                "/".join(percent(v) for v in row["exit_shares"]),
                "/".join(percent(v) for v in row["exit_accuracy"]),
                row["mean_ms"],
                row["p50_ms"],
                row["p99_ms"],
                row["speedup"],
            )
        )
    full = curve["full"]
    print(
        "full model as pieces, exit heads skipped: accuracy %s%%, mean %.4f ms, p50 %.4f ms, p99 %.4f ms "
        "(speed-up 1.00x)" % (percent(full["accuracy"]), full["mean_ms"], full["p50_ms"], full["p99_ms"])
    )
    for name, figures in sorted(curve["graphs"].items()):
        print(
            "one graph, %-28s mean %.4f ms, p50 %.4f ms, p99 %.4f ms"
            % (
                manifest["graphs"][name]["file"] + ":",
                figures["mean_ms"],
                figures["p50_ms"],
                figures["p99_ms"],
            )
        )
    for figure in ("mean_ms", "p50_ms"):
        print(
            "pieces timed one by one (%s): %s; total %.4f ms"
            % (
                figure.replace("_ms", " ms"),
                ", ".join("%s %.4f" % (name, value[figure]) for name, value in curve["pieces"].items()),
                curve["pieces_total"][figure],
            )
        )
    print(
        "each head on every sample (accuracy %%): %s"
        % ", ".join("%s %s" % (name, percent(v)) for name, v in zip(exits, curve["exit_accuracy"]))
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dir", type=Path, default=Path("results/early_exit"), help="where the student is built or reused"
    )
    parser.add_argument(
        "--rebuild", action="store_true", help="build the student again even if DIR holds one"
    )
    parser.add_argument("--criterion", default="max_softmax", choices=CRITERIA, help="exit confidence score")
    parser.add_argument(
        "--thresholds", default=DEFAULT_THRESHOLDS, help="comma-separated; above 1 never exits"
    )
    parser.add_argument("--rounds", type=int, default=5, help="passes over the eval set per configuration")
    parser.add_argument(
        "--threads", type=int, default=1, help="onnxruntime intra-op threads (and torch's for a build)"
    )
    args = parser.parse_args()
    if args.rounds < 1 or args.threads < 1:
        parser.error("--rounds and --threads must be at least 1")
    thresholds = thresholds_from(args.thresholds)
    manifest = load_manifest(str(built_folder(args.dir, args.rebuild, args.threads)))
    x, y = load_eval_set(manifest)
    model, graphs = open_model(
        manifest, "onnxruntime", {"intra_op_threads": args.threads, "inter_op_threads": 1}
    )
    curve = sweep(model, x, y, thresholds, args.criterion, args.rounds, graphs)
    print_curve(curve, manifest, args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
