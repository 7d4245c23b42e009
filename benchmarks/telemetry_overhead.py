"""What does watching cost? Latency with the sampler process on and off.

For one small model on this machine (`local`), with a simulated sensor tree
(EDGEBENCH_SYSROOT: an INA219 read every 20 ms, thermal zones and CPU clocks every 250 ms),
runs agent trials in rounds that alternate the order (on, off, off, on, ...) so drift of the
machine falls on both alike, each trial in its own process. Prints p50 and p99 per side and
the median of the rounds' paired differences with its 95% interval. Target: p50 within 1%,
p99 within 3%; "met" only when the whole interval lies within the target.

  .venv/bin/python benchmarks/telemetry_overhead.py [--model models/examples/dws_cnn.onnx]
        [--threads 1] [--seconds 3] [--rounds 12] [--interval-ms 20]
"""

import argparse
import json
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGETS_PCT = {"p50": 1.0, "p99": 3.0}


def sensor_tree(root: Path) -> dict:
    """An INA219 on the board input (hwmon, µW), two thermal zones, four CPUs."""
    files = {
        "sys/class/hwmon/hwmon0/name": "ina219",
        "sys/class/hwmon/hwmon0/in1_input": "5104",
        "sys/class/hwmon/hwmon0/curr1_input": "612",
        "sys/class/hwmon/hwmon0/power1_input": "3123648",
    }
    for n, (kind, temp) in enumerate((("cpu-thermal", 48800), ("gpu-thermal", 41000))):
        files["sys/class/thermal/thermal_zone%d/type" % n] = kind
        files["sys/class/thermal/thermal_zone%d/temp" % n] = str(temp)
    for n in range(4):
        files["sys/devices/system/cpu/cpu%d/cpufreq/scaling_cur_freq" % n] = "1500000"
        files["sys/devices/system/cpu/cpu%d/cpufreq/scaling_governor" % n] = "ondemand"
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    return {"power": "ina2xx_hwmon", "total_rail": "ina219-hwmon0"}


def trial(model: Path, threads: int, seconds: float, telemetry: dict, root: Path, workdir: Path) -> dict:
    job = {
        "trial_id": "overhead",
        "backend": "onnxruntime",
        "model": str(model),
        "min_s": seconds,
        "backend_options": {"intra_op_threads": threads, "inter_op_threads": 1},
        "telemetry": telemetry,
        "keep_samples": False,
    }
    proc = subprocess.run(
        [sys.executable, "-m", "agent", "--workdir", str(workdir), "run", "-"],
        input=json.dumps(job),
        cwd=REPO,
        env={"EDGEBENCH_SYSROOT": str(root), "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    records = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    results = [r for r in records if r["type"] == "result"]
    if not results:
        sys.exit(
            "trial failed: %s" % ([r.get("error") for r in records if r["type"] == "error"] or proc.stderr)
        )
    return results[0]["metrics"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=REPO / "models" / "examples" / "dws_cnn.onnx")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--interval-ms", type=int, default=20)
    args = parser.parse_args()
    root, workdir = Path(tempfile.mkdtemp()), Path(tempfile.mkdtemp())
    try:
        on = dict(sensor_tree(root), interval_ms=args.interval_ms, idle_s=0.5)
        sides = {"on": on, "off": {"off": True}}
        runs = {"on": [], "off": []}
        for n in range(args.rounds):
            order = ("on", "off") if n % 2 == 0 else ("off", "on")
            for side in order:
                m = trial(args.model, args.threads, args.seconds, sides[side], root, workdir)
                runs[side].append(m)
                extra = (
                    "  power samples %d, largest gap %.1f ms, reliable %s"
                    % (m["power_samples"], m["power_max_gap_ms"], m["energy_reliable"])
                    if side == "on"
                    else ""
                )
                print(
                    "round %d %-3s p50 %.4f ms  p99 %.4f ms%s"
                    % (n + 1, side, m["latency_p50_ms"], m["latency_p99_ms"], extra),
                    flush=True,
                )
    finally:
        shutil.rmtree(root)
        shutil.rmtree(workdir)
    print(
        "\n%s, %d thread(s), %g s per trial, %d rounds, power every %d ms"
        % (args.model.name, args.threads, args.seconds, args.rounds, args.interval_ms)
    )
    for stat, target in TARGETS_PCT.items():
        print(verdict(stat, target, runs["off"], runs["on"]))


def verdict(stat: str, target: float, off_runs: list, on_runs: list) -> str:
    """Rounds are pairs (on and off back to back), so the figure is the median of the pairs'
    differences, with a distribution-free 95% interval of that median: processes differ by
    more than the effect, and one median of each side would hide it."""
    key = "latency_%s_ms" % stat
    diffs = sorted((on[key] - off[key]) / off[key] * 100.0 for off, on in zip(off_runs, on_runs))
    off = statistics.median(m[key] for m in off_runs)
    on = statistics.median(m[key] for m in on_runs)
    low, high = median_interval(diffs)
    if low is None:
        judged = "too few rounds for an interval (6 at least)"
    elif -target <= low and high <= target:
        judged = "met"
    elif low > target or high < -target:
        judged = "NOT met"
    else:
        judged = "not settled at %d rounds: the interval spans the target" % len(diffs)
    interval = "" if low is None else ", 95%% interval [%+.2f%%, %+.2f%%]" % (low, high)
    return "%s: off %.4f ms, on %.4f ms (medians); paired difference %+.2f%%%s; target within %g%%: %s" % (
        stat,
        off,
        on,
        statistics.median(diffs),
        interval,
        target,
        judged,
    )


def median_interval(ordered: list):
    """Ranks n/2 -/+ 1.96 sqrt(n)/2 (as agent/stats.py); None below 6 values."""
    n = len(ordered)
    if n < 6:
        return None, None
    half = 1.959963984540054 * math.sqrt(n) / 2.0
    lo = max(int(math.floor(n / 2.0 - half)), 1)
    hi = min(int(math.ceil(n / 2.0 + half)) + 1, n)
    return ordered[lo - 1], ordered[hi - 1]


if __name__ == "__main__":
    main()
