"""The fleet over real SSH: simulated devices are real OpenSSH sshd processes on 127.0.0.1
(and, as root, in network namespaces so a link can be cut). Started and stopped by the tests."""

import csv
import io
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from edgebench.orchestrator import testfleet

from .conftest import MODELS, trial_started, wait_for

pytestmark = pytest.mark.skipif(
    not shutil.which("sshd") and not Path(testfleet.SSHD).exists() and os.environ.get("CI") != "true",
    reason="OpenSSH server not installed",
)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    root = tmp_path_factory.mktemp("fleet")
    devices = testfleet.start(root, 3)
    yield root, devices
    testfleet.stop(root)
    for device in devices:  # stopped: exactly the PIDs we started are gone
        assert (
            not Path("/proc/%d" % device.pid).exists()
            or b"sshd" not in Path("/proc/%d/cmdline" % device.pid).read_bytes()
        )


@pytest.fixture
def fleet_env(fleet, tmp_path, monkeypatch):
    root, _ = fleet
    monkeypatch.setenv("EDGEBENCH_INVENTORY", str(root / "inventory.yaml"))
    monkeypatch.setenv("EDGEBENCH_KNOWN_HOSTS", str(root / "known_hosts"))
    monkeypatch.setenv("EDGEBENCH_DB", "sqlite:///%s" % (tmp_path / "fleet.db"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path


def edgebench(*args, cwd=None, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "edgebench.orchestrator.cli", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        timeout=300,
        cwd=cwd,
        **kwargs,
    )


def query(db: Path, sql: str) -> list:
    """Rows of `sql`, or none while the controller has not created the tables yet."""
    if not db.exists():
        return []
    try:
        with sqlite3.connect(db) as conn:
            return conn.execute(sql).fetchall()
    except sqlite3.OperationalError:
        return []


def ok_trials_per_cell(db: Path) -> Counter:
    return Counter(
        query(
            db,
            "select t.device, t.model_sha256, t.backend, t.batch from trials t "
            "join metrics m on m.trial_id = t.id where t.status = 'ok'",
        )
    )


def test_sweep_over_three_sshd_devices_stores_each_cell_once(fleet_env):
    proc = edgebench("sweep", MODELS, "--group", "fleet", "--batch", "1,2", "--quick")
    assert proc.returncode == 0, proc.stderr
    cells = ok_trials_per_cell(fleet_env / "fleet.db")
    assert len(cells) == 12 and set(cells.values()) == {1}
    assert {device for device, *_ in cells} == {"sim01", "sim02", "sim03"}
    rows = list(csv.DictReader(io.StringIO(edgebench("results", "--format", "csv").stdout)))
    assert len(rows) == 12 and all(r["status"] == "ok" for r in rows)


def test_every_scenario_runs_on_sshd_devices_and_stores_its_figures(fleet_env):
    scenarios = [
        "--scenario",
        "offline,stream,server",
        "--fps",
        "15",
        "--qps",
        "40",
        "--latency-target-ms",
        "50",
    ]
    model = MODELS / "dws_cnn.onnx"
    proc = edgebench(
        "sweep", model, "--device", "sim01", "--device", "sim02", *scenarios, "--max-batch", "4", "--quick"
    )
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(io.StringIO(edgebench("results", "--format", "csv").stdout)))
    found = sorted((r["device"], r["scenario"], r["status"]) for r in rows)
    assert found == sorted((d, s, "ok") for d in ("sim01", "sim02") for s in ("offline", "stream", "server"))
    by = {(r["device"], r["scenario"]): r for r in rows}
    assert all(
        by[(d, "stream")]["sustained_fps"] and by[(d, "server")]["goodput_qps"] for d in ("sim01", "sim02")
    )
    assert all(by[(d, "offline")]["offline_batch"] == "4" for d in ("sim01", "sim02"))
    assert "| stream" in proc.stdout and "| server" in proc.stdout  # the scenario table


def test_unknown_host_key_is_refused_until_trusted(fleet_env, monkeypatch):
    known = fleet_env / "known_hosts"
    known.write_text("")
    monkeypatch.setenv("EDGEBENCH_KNOWN_HOSTS", str(known))
    proc = edgebench("probe", "--device", "sim01")
    assert proc.returncode == 2
    line = proc.stderr.strip()
    assert (
        "sim01" in line
        and "unknown host key" in line
        and "SHA256:" in line
        and "edgebench trust sim01" in line
    )
    assert len(line.splitlines()) == 1
    trusted = edgebench("trust", "sim01")
    assert trusted.returncode == 0 and "SHA256:" in trusted.stdout and "recorded" in trusted.stdout
    assert edgebench("probe", "--device", "sim01").returncode == 0
    assert "already trusted" in edgebench("trust", "sim01").stdout


def test_changed_host_key_is_refused(fleet_env, monkeypatch, fleet):
    root, devices = fleet
    known = fleet_env / "known_hosts"
    other_key = (Path(devices[1].dir) / "host_ed25519.pub").read_text().split()[:2]
    known.write_text("[127.0.0.1]:%d %s %s\n" % (devices[0].port, *other_key))  # sim02's key for sim01
    monkeypatch.setenv("EDGEBENCH_KNOWN_HOSTS", str(known))
    proc = edgebench("probe", "--device", "sim01")
    assert proc.returncode == 2 and "CHANGED" in proc.stderr


def test_deploy_again_moves_no_model_bytes(fleet_env):
    first = edgebench("deploy", "--group", "fleet", "--model", MODELS)
    assert first.returncode == 0, first.stderr
    second = edgebench("deploy", "--group", "fleet", "--model", MODELS)
    assert second.returncode == 0, second.stderr
    assert "sent models/" not in second.stdout and second.stdout.count(": 0 bytes sent") == 3


def test_probe_all_stores_facts_and_lists_unreachable(fleet_env, fleet):
    root, _ = fleet
    inventory = fleet_env / "with-dead.yaml"
    text = (root / "inventory.yaml").read_text()
    dead_port = testfleet._free_port()  # nothing listens there
    inventory.write_text(
        text + "  dead:\n    connection: ssh\n    host: 127.0.0.1\n    port: %d\n" % dead_port
    )
    proc = edgebench("probe", "--all", "--json", "--inventory", inventory)
    assert proc.returncode == 1
    assert "unreachable: dead" in proc.stderr
    with sqlite3.connect(fleet_env / "fleet.db") as conn:
        stored = dict(conn.execute("select name, facts_at is not null from devices").fetchall())
    assert stored == {"sim01": 1, "sim02": 1, "sim03": 1}


def test_controller_killed_mid_sweep_then_resume_stores_every_cell_once(fleet_env):
    db = fleet_env / "fleet.db"
    controller = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edgebench.orchestrator.cli",
            "sweep",
            str(MODELS),
            "--group",
            "fleet",
            "--batch",
            "1,2",
            "--min-seconds",
            "1",
            "--repeats",
            "1",
            "--min-iters",
            "20",
            "--warmup",
            "3",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:  # wait until the sweep is well under way
            if sum(ok_trials_per_cell(db).values()) >= 3:
                break
            time.sleep(0.1)
        else:
            pytest.fail("sweep made no progress")
    finally:
        os.kill(controller.pid, signal.SIGKILL)
        controller.wait()
    before = sum(ok_trials_per_cell(db).values())
    assert before < 12
    proc = edgebench("sweep", "--resume")
    assert proc.returncode == 0, proc.stderr
    assert "resuming sweep" in proc.stderr
    cells = ok_trials_per_cell(db)
    assert len(cells) == 12 and set(cells.values()) == {1}
    with sqlite3.connect(db) as conn:
        assert conn.execute("select count(distinct sweep_id) from trials").fetchone()[0] == 1
        assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"


@pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")
def test_a_fleet_in_namespaces_takes_slots_another_fleet_does_not_hold(tmp_path):
    """Namespace names and addresses are the machine's: a second test run's fleet holds some."""
    held = None
    for slot in range(1, testfleet.NETNS_SLOTS + 1):  # hold the first free slot, as another run would
        name = "%s%d" % (testfleet.NETNS_PREFIX, slot)
        if subprocess.run(["ip", "netns", "add", name], stderr=subprocess.DEVNULL).returncode == 0:
            held = name
            break
    assert held, "no free namespace slot on this machine"
    root = tmp_path / "nsfleet"
    try:
        (device,) = testfleet.start(root, 1, netns=True)
        assert device.netns != held and device.netns.startswith(testfleet.NETNS_PREFIX)
        env = dict(
            os.environ,
            EDGEBENCH_INVENTORY=str(root / "inventory.yaml"),
            EDGEBENCH_KNOWN_HOSTS=str(root / "known_hosts"),
            XDG_CACHE_HOME=str(tmp_path / "cache"),
            EDGEBENCH_DB="sqlite:///%s" % (tmp_path / "ns.db"),
        )
        proc = edgebench("probe", "--device", device.name, "--json", env=env)
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["python"]
        testfleet.stop(root)
        listed = subprocess.run(["ip", "netns", "list"], stdout=subprocess.PIPE, text=True).stdout.split()
        assert device.netns not in listed and held in listed  # its own stopped, the other's kept
    finally:
        if (root / "fleet.json").exists():  # a fleet started, even partly, is stopped
            testfleet.stop(root)
        subprocess.run(["ip", "netns", "del", held], stderr=subprocess.DEVNULL)


@pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")
def test_cut_link_mid_trial_still_stores_every_cell_once(tmp_path, monkeypatch):
    root = tmp_path / "nsfleet"
    devices = testfleet.start(root, 2, netns=True)
    controller = None
    try:
        monkeypatch.setenv("EDGEBENCH_INVENTORY", str(root / "inventory.yaml"))
        monkeypatch.setenv("EDGEBENCH_KNOWN_HOSTS", str(root / "known_hosts"))
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
        db = tmp_path / "cut.db"
        monkeypatch.setenv("EDGEBENCH_DB", "sqlite:///%s" % db)
        stderr = tmp_path / "controller.err"  # a file, so that the test can read it while the sweep runs
        with stderr.open("w") as err_file:
            controller = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "edgebench.orchestrator.cli",
                    "sweep",
                    str(MODELS),
                    "--group",
                    "fleet",
                    "--min-seconds",
                    "8",
                    "--repeats",
                    "1",
                    "--min-iters",
                    "20",
                    "--warmup",
                    "3",
                ],
                stdout=subprocess.DEVNULL,
                stderr=err_file,
                text=True,
            )
        # Cut sim01's link while its first trial is measuring; restore it once the controller
        # has seen the link go and failed to reconnect (polled, not a fixed wait).
        wait_for(
            lambda: trial_started(Path(devices[0].dir) / "work"),
            timeout_s=120,
            what="a trial to start measuring on sim01",
        )
        testfleet.set_link(devices[0], up=False)
        try:
            wait_for(
                lambda: (
                    controller.poll() is not None
                    or all(
                        note in stderr.read_text() for note in ("sim01: link lost", "sim01: reconnecting in")
                    )
                ),
                what="the controller to notice the cut link and fail to reconnect",
            )
        finally:
            testfleet.set_link(devices[0], up=True)
        controller.wait(timeout=600)  # a guard against a hang, not a time limit
        err = stderr.read_text()
        assert controller.returncode == 0, err
        assert "link lost" in err
        cells = ok_trials_per_cell(db)
        assert len(cells) == 4 and set(cells.values()) == {1}
        with sqlite3.connect(db) as conn:
            assert conn.execute("select count(*) from trials").fetchone()[0] == 4  # nothing measured twice
    finally:
        if controller is not None and controller.poll() is None:  # the test failed midway
            controller.kill()
            controller.wait()
        testfleet.stop(root)


def test_ssh_config_alias_and_proxyjump(fleet_env, fleet, monkeypatch):
    root, devices = fleet
    config = fleet_env / "ssh_config"
    config.write_text(
        "Host jumpbox\n  HostName 127.0.0.1\n  Port %d\n  User root\n  IdentityFile %s\n\n"
        "Host behind-jump\n  HostName 127.0.0.1\n  Port %d\n  User root\n  IdentityFile %s\n  ProxyJump jumpbox\n\n"
        "Host direct\n  HostName 127.0.0.1\n  Port %d\n  User root\n  IdentityFile %s\n"
        % (
            devices[0].port,
            root / "id_ed25519",
            devices[1].port,
            root / "id_ed25519",
            devices[2].port,
            root / "id_ed25519",
        )
    )
    monkeypatch.setenv("EDGEBENCH_SSH_CONFIG", str(config))
    inventory = fleet_env / "aliases.yaml"
    inventory.write_text(
        "devices:\n"
        + "".join(
            "  %s:\n    connection: ssh\n    ssh_alias: %s\n    python: %s\n    workdir: %s\n"
            % (name, name, sys.executable, fleet_env / name)
            for name in ("direct", "behind-jump")
        )
    )
    proc = edgebench("probe", "--all", "--json", "--inventory", inventory)
    assert proc.returncode == 0, proc.stderr
    assert set(__import__("json").loads(proc.stdout)) == {"direct", "behind-jump"}


def test_simulated_nano_and_pi_store_power_and_energy_marked_simulated(tmp_path, monkeypatch):
    root = tmp_path / "boards"
    testfleet.start(root, 2, boards=["jetson-nano", "rpi4"])
    try:
        monkeypatch.setenv("EDGEBENCH_INVENTORY", str(root / "inventory.yaml"))
        monkeypatch.setenv("EDGEBENCH_KNOWN_HOSTS", str(root / "known_hosts"))
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
        monkeypatch.setenv("EDGEBENCH_DB", "sqlite:///%s" % (tmp_path / "boards.db"))
        probe = edgebench("probe", "--group", "fleet")
        assert "sim01: power from tegrastats" in probe.stdout and "SIMULATED" in probe.stdout
        assert "NVIDIA Jetson Nano Developer Kit" in probe.stdout and "32.7.1" in probe.stdout
        proc = edgebench("sweep", MODELS / "dws_cnn.onnx", "--group", "fleet", "--quick")
        assert proc.returncode == 0, proc.stderr
        rows = {
            r["device"]: r
            for r in csv.DictReader(io.StringIO(edgebench("results", "--format", "csv").stdout))
        }
        nano, pi = rows["sim01"], rows["sim02"]
        # Replayed Nano lines carry POM_5V_IN 1750, 3014 and 2003 mW: the mean lies between.
        assert 1750 <= float(nano["power_mw"]) <= 3014 and float(nano["energy_mj"]) > 0
        assert abs(float(pi["power_mw"]) - 3123.648) < 1e-6  # INA219 power1_input 3123648 µW
        assert nano["simulated"] == "True" and pi["simulated"] == "True"
        table = edgebench("report", "--table", "device").stdout
        assert (
            "sim01 (simulated)" in table and "Energy (mJ/inf)" in table and "not real measurements" in table
        )
        trial = nano["trial_id"]
        series = edgebench("results", "--trial", trial, "--telemetry")
        assert (
            series.returncode == 0
            and series.stdout.startswith("t_s,power_mw,phase")
            and ",timed" in series.stdout
        )
        plot = edgebench("plot", "power", "--trial", trial, "--out", tmp_path / "power.png")
        assert plot.returncode == 0 and (tmp_path / "power.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        testfleet.stop(root)
