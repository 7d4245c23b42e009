"""Fleet orchestration figures over simulated devices (real sshd on this host).

Prints, in one run:
  1. a sweep of 2 models x 2 batch sizes over 3 devices: the parallel wall time against the
     sum of the per-device times (target: parallel <= 0.5 x serial sum);
  2. `edgebench probe --all` over 16 devices against one single probe (target: <= 3x);
  3. orchestration overhead per trial: host-observed trial time minus the agent's own time
     (target: <= 10 ms).
The simulated devices share this machine's CPUs, so their latencies are not device figures:
this measures edgebench's orchestration, not the models.

  .venv/bin/python benchmarks/fleet.py
"""

import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from edgebench.orchestrator import testfleet

REPO = Path(__file__).resolve().parent.parent


def edgebench(env, *args) -> float:
    """Runs the CLI as a user would; returns its wall time in seconds."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "edgebench.orchestrator.cli", *map(str, args)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit("edgebench %s failed: %s" % (" ".join(map(str, args)), proc.stderr.strip()[-500:]))
    return elapsed


def fleet_env(root: Path, tmp: str) -> dict:
    return dict(
        os.environ,
        EDGEBENCH_INVENTORY=str(root / "inventory.yaml"),
        EDGEBENCH_KNOWN_HOSTS=str(root / "known_hosts"),
        XDG_CACHE_HOME=tmp + "/cache",
        EDGEBENCH_DB="sqlite:///%s/bench.db" % tmp,
    )


def trial_times(db: str):
    with sqlite3.connect(db) as conn:
        return conn.execute("select device, host_s, agent_s from trials where status = 'ok'").fetchall()


def sweep_figures(tmp: str) -> None:
    root = Path(tmp) / "fleet3"
    testfleet.start(root, 3)
    try:
        env = fleet_env(root, tmp)
        edgebench(
            env, "deploy", "--group", "fleet", "--model", REPO / "models"
        )  # not part of the sweep's time
        wall = edgebench(
            env,
            "sweep",
            REPO / "models",
            "--group",
            "fleet",
            "--batch",
            "1,2",
            "--threads",
            "1",
            "--min-seconds",
            "1",
            "--repeats",
            "1",
            "--min-iters",
            "50",
            "--warmup",
            "5",
        )
        rows = trial_times(tmp + "/bench.db")
        per_device = {}
        for device, host_s, _ in rows:
            per_device[device] = per_device.get(device, 0.0) + host_s
        serial = sum(per_device.values())
        print("1. sweep, 3 devices x 2 models x 2 batch sizes = %d trials" % len(rows))
        for device, seconds in sorted(per_device.items()):
            print("   %s: %.2f s of trials" % (device, seconds))
        print(
            "   parallel wall time (whole command): %.2f s; serial sum of per-device times: %.2f s"
            % (wall, serial)
        )
        print(
            "   ratio %.2f (target <= 0.50): %s" % (wall / serial, "ok" if wall <= 0.5 * serial else "MISSED")
        )
        overheads = sorted((host_s - agent_s) * 1000.0 for _, host_s, agent_s in rows)
        print()
        print(
            "3. orchestration overhead per trial (host-observed minus agent's own time), %d trials:"
            % len(overheads)
        )
        print(
            "   median %.2f ms, max %.2f ms (target <= 10 ms): %s"
            % (
                statistics.median(overheads),
                overheads[-1],
                "ok" if statistics.median(overheads) <= 10 else "MISSED",
            )
        )
    finally:
        testfleet.stop(root)


def probe_figures(tmp: str) -> None:
    root = Path(tmp) / "fleet16"
    testfleet.start(root, 16)
    try:
        env = fleet_env(root, tmp)
        edgebench(env, "deploy", "--all")  # the agent is in place on every device, as in normal use
        single = min(edgebench(env, "probe", "--device", "sim01") for _ in range(3))
        fleet = min(edgebench(env, "probe", "--all") for _ in range(3))
        print()
        print("2. probe (best of 3 runs of the whole command)")
        print(
            "   one device: %.2f s; --all over 16 devices: %.2f s; ratio %.2f (target <= 3): %s"
            % (single, fleet, fleet / single, "ok" if fleet <= 3 * single else "MISSED")
        )
    finally:
        testfleet.stop(root)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        sweep_figures(tmp)
        probe_figures(tmp)


if __name__ == "__main__":
    main()
