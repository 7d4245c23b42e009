"""The emulated Raspberry Pi 4 end to end: `edgebench testfleet start 1 --emulate rpi4` (a real
sshd whose python is an aarch64 CPython under qemu-user), probed, then swept with `null` and with
`tvm` (dws_cnn cross-compiled for the Cortex-A72 on this host); every row is tagged emulated and
TVM's outputs match ONNX Runtime's on this host. One model, --quick, one run: emulation is slow.

The aarch64 sysroot is built once in the user's own cache (a minute the first time), not in the
test's temporary one."""

import csv
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from edgebench.orchestrator import testfleet

from .conftest import MODELS

pytestmark = pytest.mark.skipif(
    shutil.which("qemu-aarch64-static") is None and os.environ.get("CI") != "true",
    reason="qemu-aarch64-static not installed (apt-get install qemu-user-static)",
)
# Read before any test points XDG_CACHE_HOME at a temporary folder.
SYSROOT_CACHE = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
MODEL = MODELS / "dws_cnn.onnx"
EMULATOR = "qemu-aarch64-static -cpu cortex-a72"


def edgebench(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "edgebench.orchestrator.cli", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        timeout=600,
        env=dict(os.environ, COLUMNS="200", **(env or {})),
    )


@pytest.fixture(scope="module")
def emulated_pi(tmp_path_factory):
    """One emulated rpi4 (sim01), stopped by the PIDs the fleet recorded, even half started."""
    root = tmp_path_factory.mktemp("emulated")
    started = edgebench(
        "testfleet", "start", "1", "--dir", root, "--emulate", "rpi4", env={"XDG_CACHE_HOME": SYSROOT_CACHE}
    )
    try:
        assert started.returncode == 0, started.stderr
        yield root, started.stdout
    finally:
        if (root / "fleet.json").exists():
            devices = testfleet.load(root)
            testfleet.stop(root)
            for device in devices:
                assert (
                    not Path("/proc/%d" % device.pid).exists()
                    or device.dir.encode() not in Path("/proc/%d/cmdline" % device.pid).read_bytes()
                )


@pytest.fixture
def pi_env(emulated_pi, tmp_path, monkeypatch):
    root, _ = emulated_pi
    monkeypatch.setenv("EDGEBENCH_INVENTORY", str(root / "inventory.yaml"))
    monkeypatch.setenv("EDGEBENCH_KNOWN_HOSTS", str(root / "known_hosts"))
    monkeypatch.setenv("EDGEBENCH_DB", "sqlite:///%s" % (tmp_path / "pi.db"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path


def results() -> list:
    proc = edgebench("results", "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    return list(csv.DictReader(io.StringIO(proc.stdout)))


def test_the_fleet_says_the_device_is_emulated_and_what_it_runs(emulated_pi):
    root, printed = emulated_pi
    assert "sim01: sshd pid" in printed and "emulated rpi4 (aarch64 under qemu-user)" in printed
    entry = (root / "inventory.yaml").read_text()
    assert "backends: [tvm, null]" in entry and "target: rpi4" in entry and "platform: generic" in entry


def test_probe_reports_aarch64_and_the_emulator(pi_env):
    proc = edgebench("probe", "--device", "sim01", "--json")
    assert proc.returncode == 0, proc.stderr
    facts = json.loads(proc.stdout)
    assert facts["arch"] == "aarch64" and facts["emulated"] == EMULATOR
    assert facts["runtimes"]["tvm"]["version"] and facts["runtimes"]["onnxruntime"] is None
    with sqlite3.connect(pi_env / "pi.db") as db:  # the device's row is tagged too
        assert db.execute("select name, emulated from devices").fetchall() == [("sim01", 1)]


def test_null_then_tvm_sweeps_store_ok_rows_tagged_emulated_whose_outputs_match(pi_env):
    for backend in ("null", "tvm"):
        proc = edgebench("sweep", MODEL, "--device", "sim01", "--backend", backend, "--quick")
        assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {r["backend"]: r for r in results()}
    assert set(rows) == {"null", "tvm"}
    for row in rows.values():
        assert row["status"] == "ok" and row["emulated"] == "True" and float(row["latency_p50_ms"]) > 0
    tvm = rows["tvm"]
    # dws_cnn compiled for the Cortex-A72, run in the aarch64 TVM runtime under qemu, against
    # ONNX Runtime fp32 on this host (the same seeded input)
    assert tvm["outputs_match"] == "True", tvm["output_check_note"]
    assert float(tvm["output_max_abs_error"]) < 1e-4
    table = edgebench("report", "--table", "device").stdout
    assert "sim01 (emulated)" in table and "say nothing about a Pi" in table
