"""How long the command line takes to answer: `--help`, `devices` and an argument error, beside
`python -c pass` (the interpreter's own start) and the 0.25 s target.

Each command runs RUNS times (in rounds of one run of each) as a user runs it (the `edgebench` script of this interpreter's
environment, in a subprocess, output discarded); the medians are printed, with the median CPU
time (user + system) of the process: on a shared machine the wall time moves with the load,
the CPU time much less. Python writes and then reuses its bytecode caches (__pycache__), as an
installed edgebench would: PYTHONDONTWRITEBYTECODE is cleared for the runs, and one untimed run
of each command comes first.

  .venv/bin/python benchmarks/cli_startup.py [--runs N]
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 0.25
RUNS = 15


def script() -> str:
    found = Path(sys.executable).with_name("edgebench")
    if not found.exists():
        sys.exit("no edgebench script beside %s: pip install -e . in this environment" % sys.executable)
    return str(found)


def commands(edgebench: str):
    return [
        ("python -c pass", [sys.executable, "-c", "pass"], False),
        ("edgebench --help", [edgebench, "--help"], True),
        ("edgebench devices", [edgebench, "devices"], True),
        ("edgebench run --batch abc (argument error)", [edgebench, "run", "--batch", "abc"], True),
    ]


def timed(argv, env) -> tuple:
    """(wall seconds, CPU seconds) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=RUNS, help="Runs of each command (default: %d)." % RUNS)
    runs = parser.parse_args().runs
    edgebench = script()
    with tempfile.TemporaryDirectory(prefix="edgebench-startup-") as tmp:
        inventory = Path(tmp, "inventory.yaml")
        inventory.write_text("version: 1\ndevices:\n  local: {connection: local, workdir: %s/dev}\n" % tmp)
        env = dict(os.environ, EDGEBENCH_INVENTORY=str(inventory), COLUMNS="100")
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        load = os.getloadavg()[0]
        print("%d runs each; load average %.1f on %d CPUs" % (runs, load, os.cpu_count() or 0))
        print("%-44s %10s %10s %10s  %s" % ("command", "median s", "min s", "CPU s", "target"))
        measured = commands(edgebench)
        for _name, argv, _judged in measured:
            timed(argv, env)  # bytecode caches written, files in the page cache
        # Rounds of one run of each command: a burst of load elsewhere falls on all of them.
        rounds = [[timed(argv, env) for _name, argv, _judged in measured] for _ in range(runs)]
        for index, (name, _argv, judged) in enumerate(measured):
            walls, cpus = zip(*(round_[index] for round_ in rounds))
            median = statistics.median(walls)
            verdict = ("ok" if median < TARGET_S else "SLOWER") + " (< %.2f s)" % TARGET_S if judged else ""
            print(
                "%-44s %10.3f %10.3f %10.3f  %s"
                % (name, median, min(walls), statistics.median(cpus), verdict)
            )
        print("load average after: %.1f" % os.getloadavg()[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
