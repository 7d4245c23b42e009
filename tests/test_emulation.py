"""The emulated Pi without qemu: the wrapper it runs, the sysroot cache and its failures, the
test fleet's checks, and the emulated tag through the store and the tables. The real thing
(qemu, the aarch64 sysroot, a sweep over sshd) is tests/test_emulated_pi.py."""

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from edgebench.agent.protocol import make_record
from edgebench.orchestrator import emulation, testfleet
from edgebench.orchestrator.errors import UserError
from edgebench.orchestrator.inventory import Device
from edgebench.orchestrator.report import tables
from edgebench.orchestrator.store import Store, results_frame
from edgebench.orchestrator.sweep import Cell

# Fake tools: each logs its argv to CALLS, one JSON line per call.
FAKE_QEMU = """#!/bin/sh
{python} -c 'import json, os, sys; print(json.dumps({{"argv": sys.argv[1:], "env": dict(os.environ)}}))' "$0" "$@"
"""
FAKE_TOOL = """#!/bin/sh
{python} -c 'import json, sys; open(sys.argv[1], "a").write(json.dumps(sys.argv[2:]) + "\\n")' {calls} "$0" "$@"
{body}
"""
# apt-get download writes one .deb per package; dpkg -x lays out what the sysroot needs.
APT_OK = 'for p in "$@"; do case "$p" in -*|*=*|update|download) ;; *) touch "$p.deb";; esac; done'
APT_OFFLINE = (
    'echo "E: Failed to fetch http://example.invalid/InRelease  Could not resolve host" >&2; exit 100'
)
DPKG_OK = 'mkdir -p "$3/usr/bin" && touch "$3/usr/bin/python3.11"'


def write_tool(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    path.chmod(0o755)
    return path


@pytest.fixture
def tools(tmp_path, monkeypatch):
    """PATH holding only fake qemu-aarch64-static, apt-get and dpkg (and sh)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    calls = tmp_path / "calls.jsonl"
    write_tool(folder, "qemu-aarch64-static", FAKE_QEMU.format(python=sys.executable))
    write_tool(folder, "apt-get", FAKE_TOOL.format(python=sys.executable, calls=calls, body=APT_OK))
    write_tool(folder, "dpkg", FAKE_TOOL.format(python=sys.executable, calls=calls, body=DPKG_OK))
    for tool in ("touch", "mkdir"):
        (folder / tool).symlink_to(shutil.which(tool))
    monkeypatch.setenv("PATH", str(folder))  # no real qemu, apt-get or dpkg
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(emulation, "_fetch_wheels", lambda work, requirements: [])

    class Tools:
        bin = folder

        @staticmethod
        def calls():
            return [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []

    return Tools


def test_the_wrapper_runs_the_aarch64_python_under_qemu_and_names_itself(tmp_path):
    """The agent starts its children through EDGEBENCH_PYTHON: it must be the wrapper itself."""
    sysroot = tmp_path / "a sysroot"  # a space: every path is quoted
    sysroot.mkdir()
    qemu = write_tool(tmp_path, "qemu-aarch64-static", FAKE_QEMU.format(python=sys.executable))
    wrapper = write_tool(sysroot, "python", emulation.wrapper_text(str(qemu), sysroot))
    seen = json.loads(subprocess.check_output([str(wrapper), "-c", "print('hi there')"], text=True))
    assert seen["argv"] == [
        str(qemu),
        "-cpu",
        "cortex-a72",
        "-L",
        str(sysroot),
        str(sysroot / "usr/bin/python3.11"),
        "-c",
        "print('hi there')",
    ]
    assert seen["env"]["EDGEBENCH_PYTHON"] == str(wrapper)
    assert seen["env"]["EDGEBENCH_EMULATOR"] == "qemu-aarch64-static -cpu cortex-a72"
    assert seen["env"]["PYTHONPATH"] == str(sysroot / "site-packages")


def test_without_qemu_the_error_says_what_to_install(tools):
    (tools.bin / "qemu-aarch64-static").unlink()
    with pytest.raises(UserError, match=r"qemu-aarch64-static not found.*apt-get install qemu-user-static"):
        emulation.ensure_sysroot()


def test_without_dpkg_the_error_names_it(tools):
    (tools.bin / "dpkg").unlink()
    with pytest.raises(UserError, match=r"dpkg not found.*Debian"):
        emulation.ensure_sysroot()


def test_offline_the_error_is_one_line_and_no_half_built_sysroot_stays(tools, tmp_path):
    write_tool(
        tools.bin, "apt-get", FAKE_TOOL.format(python=sys.executable, calls="/dev/null", body=APT_OFFLINE)
    )
    with pytest.raises(UserError) as caught:
        emulation.ensure_sysroot()
    message = str(caught.value)
    assert "\n" not in message and "apt-get update" in message and "Could not resolve host" in message
    assert list((tmp_path / "cache" / "edgebench" / "aarch64-sysroot").iterdir()) == []


def test_the_sysroot_is_built_once_from_arm64_packages_then_reused(tools):
    first = emulation.ensure_sysroot()
    calls = tools.calls()
    apt = [c for c in calls if c[0].endswith("apt-get")]
    assert [c[-1] for c in apt][0] == "update" and "APT::Architectures=arm64" in apt[0]
    assert apt[1][apt[1].index("download") + 1 :] == list(emulation.DEBS)
    assert sum(1 for c in calls if c[0].endswith("dpkg")) == len(emulation.DEBS)
    assert (first / "python").read_text().startswith("#!/bin/sh")
    assert os.access(first / "python", os.X_OK)
    assert json.loads((first / "manifest.json").read_text())["debs"] == sorted(
        "%s.deb" % name for name in emulation.DEBS
    )
    assert emulation.ensure_sysroot() == first and tools.calls() == calls  # cached: no tool ran again
    assert [p.name for p in first.parent.iterdir()] == [first.name]  # no build folder left


def test_the_device_runtime_follows_the_hosts_tvm():
    """What the host's TVM compiled must load in the device's TVM runtime."""
    from importlib import metadata

    pins = emulation.wheel_requirements()
    try:
        assert "apache-tvm==%s" % metadata.version("apache-tvm") in pins
    except metadata.PackageNotFoundError:
        assert "apache-tvm==0.27.0.post1" in pins
    assert not any(p.startswith("onnxruntime") for p in pins)  # its aarch64 wheel segfaults under qemu


def test_fleet_refuses_an_unknown_kind_or_too_few_devices_before_starting_anything(tools, tmp_path):
    with pytest.raises(UserError, match=r"cannot emulate 'pi5' \(can: rpi4\)"):
        testfleet.start(tmp_path / "f1", 1, emulate=["pi5"])
    with pytest.raises(UserError, match=r"1 device\(s\) cannot hold 1 simulated board\(s\) and 1 emulated"):
        testfleet.start(tmp_path / "f2", 1, boards=["rpi4"], emulate=["rpi4"])
    assert not (tmp_path / "f1" / "fleet.json").exists() and not (tmp_path / "f2").exists()


def test_an_emulated_devices_inventory_entry(tmp_path):
    device = testfleet.SimDevice("sim02", "127.0.0.1", 2222, 1, str(tmp_path / "sim02"))
    device.emulated, device.python = "rpi4", "/cache/aarch64-sysroot/k/python"
    entry = testfleet._inventory_text(tmp_path, [device], "/usr/bin/python3").split("  sim02:\n")[1]
    assert "    python: /cache/aarch64-sysroot/k/python\n" in entry
    assert "    platform: generic\n" in entry  # no Pi sysfs behind it
    assert "    backends: [tvm, null]\n" in entry and "    target: rpi4\n" in entry


# ---------------------------------------------------------------- store and tables

EMULATOR = "qemu-aarch64-static -cpu cortex-a72"


def emulated_trial(store, emulated=EMULATOR):
    device = Device(name="pi", connection="ssh")
    store.upsert_device(device, {"arch": "aarch64", "emulated": emulated})
    sweep_id = store.create_sweep({"quick": True})
    trial_id = store.create_trial(sweep_id, Cell(device, None, "null", 1), {})
    metrics = {"iterations": 10, "latency_p50_ms": 0.5, "emulated": emulated}
    for record in (
        make_record("trial_start", trial_id=trial_id, agent_version="9"),
        make_record("result", trial_id=trial_id, metrics=metrics, env={}),
        make_record("trial_end", trial_id=trial_id, status="ok"),
    ):
        store.ingest(record)
    return trial_id


def test_an_emulated_devices_trials_are_stored_emulated(tmp_path):
    store = Store("sqlite:///%s" % (tmp_path / "r.db"))
    emulated_trial(store)
    emulated_trial(store, emulated=None)
    assert list(results_frame(store)["emulated"]) == [True, False]
    store.close()
    with sqlite3.connect(tmp_path / "r.db") as conn:
        assert conn.execute("select emulated from devices").fetchall() == [(0,)]  # the latest probe


def test_an_older_store_gets_the_emulated_column_in_place(tmp_path):
    store = Store("sqlite:///%s" % (tmp_path / "r.db"))
    emulated_trial(store, emulated=None)
    store.close()
    with sqlite3.connect(tmp_path / "r.db") as old:  # as a store made before emulation existed
        old.execute("ALTER TABLE trials DROP COLUMN emulated")
        old.execute("ALTER TABLE devices DROP COLUMN emulated")
        old.execute("DROP TABLE edgebench_schema_version")  # nor did it record a schema revision
    upgraded = Store("sqlite:///%s" % (tmp_path / "r.db"))
    assert list(results_frame(upgraded)["emulated"]) == [False]  # NULL there: read as not emulated
    emulated_trial(upgraded)
    assert list(results_frame(upgraded)["emulated"]) == [False, True]
    upgraded.close()


def row(**overrides):
    values = dict(
        trial_id="t1",
        sweep_id="s1",
        device="sim01",
        model="dws_cnn",
        backend="tvm",
        precision="fp32",
        batch=1,
        status="ok",
        latency_p50_ms=12.0,
        finished_at="2024-05-01T10:00:00Z",
        simulated=False,
        emulated=True,
    )
    values.update(overrides)
    return values


@pytest.mark.parametrize("fmt", tables.FORMATS)
def test_tables_mark_emulated_rows_and_say_their_latencies_say_nothing_about_a_pi(fmt):
    df = pd.DataFrame([row(), row(trial_id="t2", device="local", emulated=False)])
    table = tables.device_table(df)
    assert list(table["Device"]) == ["local", "sim01 (emulated)"]
    out = tables.render(table, fmt)
    assert "say nothing about a Pi" in out and "not real measurements" not in out
    assert list(tables.model_table(df)["Model"]) == ["dws_cnn", "dws_cnn (emulated)"]


def test_no_emulated_note_without_emulated_rows():
    out = tables.render(tables.device_table(pd.DataFrame([row(emulated=False)])), "markdown")
    assert "emulated" not in out
