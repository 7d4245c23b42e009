"""Fleet fan-out (orchestrator/fleet.py, display.py): probe and deploy over many devices, a
bounded number at once, one connection and (with the agent there) one command per device, a
summary line instead of a bar per device. Through the fake transport; the probe's one command
also runs for real, under this Python and under the agent's oldest (3.6)."""

import base64
import io
import json
import struct
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from rich.console import Console

from edgebench.orchestrator import fleet
from edgebench.orchestrator.agent_build import build_agent
from edgebench.orchestrator.deploy import agent_relpath
from edgebench.orchestrator.cli import _fleet_facts_table
from edgebench.orchestrator.display import (
    MANY_DEVICES,
    LiveProgress,
    compact_names,
    fleet_line,
    fleet_summary,
)
from edgebench.orchestrator.fleet import BackgroundStore, DeviceResult, deploy_devices, probe_all
from edgebench.orchestrator.inventory import Device
from edgebench.orchestrator.sweep.plan import plan
from edgebench.orchestrator.sweep.progress import Outcome
from edgebench.orchestrator.transport import ssh
from edgebench.orchestrator.transport.fake import FakeFleet

PYTHON36 = Path("/root/.pyenv/versions/3.6.15/bin/python")
WAIT_S = 60.0  # a generous deadline for threads meeting; never reached when all is well


@pytest.fixture(autouse=True)
def agent_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "cache"))


class Stored:
    """A store stand-in: the facts written, by device name (from the fan-out's threads)."""

    def __init__(self):
        self.facts, self._lock = {}, threading.Lock()

    def upsert_device(self, device, facts=None):
        with self._lock:
            self.facts[device.name] = facts


def devices(fake: FakeFleet, count: int, unreachable=()) -> list:
    found = []
    for index in range(1, count + 1):
        name = "dev%02d" % index
        fake.add(name)
        if name in unreachable:
            fake.devices[name].unreachable()
        found.append(Device(name=name, connection="ssh", host="fake", python="python3", workdir="~/eb"))
    return found


class CountedConnects:
    """`connect` that counts the connections open at once. The first `parallel` wait for one
    another, so the fan-out must reach that many at once (and, bounded, no more)."""

    def __init__(self, fake: FakeFleet, parallel: int):
        self.fake, self.open, self.most = fake, 0, 0
        self._lock = threading.Lock()
        self._meet = threading.Barrier(parallel, timeout=WAIT_S)

    def __call__(self, device, accept_new=False):
        conn = self.fake.connect(device, accept_new)
        with self._lock:
            self.open += 1
            self.most = max(self.most, self.open)
        self._meet.wait()
        closing = conn.close

        def close():
            with self._lock:
                self.open -= 1
            closing()

        conn.close = close
        return conn


def probe_commands(fake: FakeFleet, name: str) -> list:
    return [argv for argv in fake.devices[name].commands if argv[2:3] == [fleet.PROBE]]


def test_probe_all_holds_at_most_parallel_connections_and_connects_each_device_once():
    fake = FakeFleet()
    fleet_devices = devices(fake, 64)
    deploy_devices(fleet_devices, [], connect=fake.connect)  # the agent is on every device
    counted, stored = CountedConnects(fake, 8), Stored()
    results = probe_all(fleet_devices, stored, parallel=8, connect=counted)
    assert all(r.ok for r in results) and counted.most == 8 and counted.open == 0
    assert [r.device.name for r in results] == [d.name for d in fleet_devices]  # the devices' order
    assert set(stored.facts) == {d.name for d in fleet_devices}
    assert all(fake.devices[d.name].connects == 2 for d in fleet_devices)  # deploy's, the probe's


def test_a_probe_is_one_command_once_the_agent_is_there():
    fake = FakeFleet()
    (device,) = devices(fake, 1)
    first = fleet.probe_device(device, connect=fake.connect)  # no agent yet: sent, then probed
    commands = fake.devices["dev01"].commands
    assert first["board"] == "fake board" and len(probe_commands(fake, "dev01")) == 2
    assert any(argv[0] == "put" for argv in commands)
    commands.clear()
    again = fleet.probe_device(device, connect=fake.connect)
    assert again == first and commands == probe_commands(fake, "dev01") and len(commands) == 1


def test_the_summary_line_counts_devices_done_and_unreachable():
    fake = FakeFleet()
    fleet_devices = devices(fake, 64, unreachable={"dev07", "dev40"})
    console = Console(file=io.StringIO(), width=100)  # not a terminal: the last state, once
    with fleet_line("probed", len(fleet_devices), console) as line:
        results = probe_all(fleet_devices, Stored(), connect=fake.connect, done=line.done)
    assert console.file.getvalue() == "probed 64/64, 2 unreachable\n"
    assert sorted(r.device.name for r in results if not r.ok) == ["dev07", "dev40"]


def test_the_summary_line_is_live_on_a_terminal_and_absent_for_one_device():
    fake = FakeFleet()
    fleet_devices = devices(fake, 3)
    console = Console(file=io.StringIO(), width=100, force_terminal=True)
    with fleet_line("deployed", 3, console, failure="failed") as line:
        deploy_devices(fleet_devices, [], connect=fake.connect, done=line.done)
    assert "deployed 3/3" in console.file.getvalue()
    quiet = Console(file=io.StringIO())
    with fleet_line("probed", 1, quiet) as line:
        probe_all(fleet_devices[:1], Stored(), connect=fake.connect, done=line.done)
    assert quiet.file.getvalue() == ""
    assert fleet_summary("probed", 41, 64, 0) == "probed 41/64"


def test_device_names_are_shortened_only_where_nothing_between_them_is_missing():
    assert compact_names(["sim%02d" % i for i in range(1, 65)]) == "sim01 – sim64"
    names = ["nano01", "nano02", "nano04", "pi4", "nano05", "nano06", "nano07", "x", "a9", "a10", "a11"]
    assert compact_names(names) == "nano01, nano02, nano04, pi4, nano05 – nano07, x, a9, a10, a11"
    assert compact_names(["n1", "n2"]) == "n1, n2" and compact_names(["solo"]) == "solo"


def fleet_facts(python):
    runtimes = {"onnxruntime": {"version": "1.16.3"}, "tvm": None}
    return {
        "os": "Debian",
        "arch": "aarch64",
        "cpus": 4,
        "memory_total_mb": 3956.0,
        "python": python,
        "runtimes": runtimes,
    }


def printed_fleet_table(pythons) -> list:
    results = [
        DeviceResult(Device(name="nano%02d" % i, connection="ssh"), True, fleet_facts(python))
        for i, python in enumerate(pythons, 1)
    ]
    console = Console(file=io.StringIO(), width=80)
    console.print(_fleet_facts_table(results))
    return console.file.getvalue().splitlines()


def test_devices_alike_share_a_column_and_the_odd_one_has_its_own():
    lines = printed_fleet_table(["3.8.10" if i == 7 else "3.6.9" for i in range(1, 13)])
    assert "12 devices" in lines[0]
    assert "nano01 – nano06, nano08 – nano12 (11)" in lines[2] and "nano07" in lines[2]
    cells = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]] for line in lines[4:-1]}
    assert cells["python"] == ["3.6.9", "3.8.10"] and cells["arch"] == ["aarch64", "aarch64"]
    assert cells["runtimes"] == ["onnxruntime 1.16.3"] * 2  # an absent runtime is not listed
    assert cells["power"] == ["–", "–"] and cells["memory MB"] == ["3956", "3956"]


def test_many_kinds_of_device_are_a_row_each():
    lines = printed_fleet_table(["3.%d" % i for i in range(1, 6)])
    assert "5 devices" in lines[0] and "power" in lines[3]  # every column in 80 characters
    rows = [line for line in lines if line.startswith("│ nano")]
    assert [row.split("│")[1].strip() for row in rows] == ["nano%02d" % i for i in range(1, 6)]


def test_a_sweep_over_many_devices_shows_one_summary_not_a_bar_each(tmp_path):
    fake = FakeFleet()
    fleet_devices = devices(fake, MANY_DEVICES + 2)
    cells = plan(fleet_devices, [], ["null"], [1, 2])
    console = Console(file=io.StringIO(), width=120, force_terminal=True)
    with LiveProgress(cells, console) as shown:
        for cell in cells:
            shown.started(cell)
            unreachable = cell.device.name == "dev01"
            error = "device unreachable: connection refused (fake)" if unreachable else None
            shown.finished(Outcome(cell, None, "failed" if unreachable else "ok", error))
    text = console.file.getvalue()
    assert "10/10 devices done, 0 working, 1 unreachable" in text and "20/20" in text
    assert "dev02" not in text  # no bar of its own


def test_the_store_opens_while_the_devices_are_probed():
    fake = FakeFleet()
    fleet_devices = devices(fake, 4)
    stored, opened = Stored(), threading.Event()

    def open_store():
        opened.set()
        return stored

    results = probe_all(fleet_devices, BackgroundStore(open_store), connect=fake.connect)
    assert opened.is_set() and all(r.ok for r in results) and len(stored.facts) == 4

    def cannot_open():
        raise OSError("no such database")

    failing = BackgroundStore(cannot_open)
    with pytest.raises(OSError, match="no such database"):
        failing.get()


def run_probe_program(python: str, workdir: Path, agent: Path) -> subprocess.CompletedProcess:
    argv = [python, "-c", fleet.PROBE, str(workdir), agent_relpath(agent), str(agent.stat().st_size), "{}"]
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)


def test_the_probe_program_asks_for_the_agent_then_probes_from_it_unpacked(tmp_path):
    # The agent's oldest Python where there is one (and no runtimes to import: quick).
    python = str(PYTHON36) if PYTHON36.exists() else sys.executable
    agent = build_agent()
    workdir = tmp_path / "work"
    missing = run_probe_program(python, workdir, agent)
    assert missing.returncode == 0 and json.loads(missing.stdout) == {"workdir": str(workdir), "files": {}}
    (workdir / "agents").mkdir()
    (workdir / agent_relpath(agent)).write_bytes(agent.read_bytes())
    for _ in range(2):  # unpacks it, then uses what it unpacked
        probed = run_probe_program(python, workdir, agent)
        assert probed.returncode == 0, probed.stderr
        record = json.loads(probed.stdout.splitlines()[-1])
        assert record["type"] == "facts" and record["facts"]["python"] == python_version(python)
    assert (workdir / agent_relpath(agent)[: -len(".pyz")] / "edgebench_agent" / "probe.py").is_file()
    assert [p.name for p in (workdir / "agents").iterdir() if ".tmp-" in p.name] == []


def test_an_agent_that_cannot_be_unpacked_fails_the_probe_and_leaves_nothing_half_made(tmp_path):
    python = str(PYTHON36) if PYTHON36.exists() else sys.executable
    agent = build_agent()
    workdir = tmp_path / "work"
    (workdir / "agents").mkdir(parents=True)
    damaged = bytearray(agent.read_bytes())  # the right size; a member's data damaged halfway
    middle = len(damaged) // 2
    damaged[middle : middle + 64] = bytes(64)
    (workdir / agent_relpath(agent)).write_bytes(bytes(damaged))
    failed = run_probe_program(python, workdir, agent)
    assert failed.returncode != 0 and ("CRC" in failed.stderr or "zlib" in failed.stderr), failed.stderr
    assert sorted(p.name for p in (workdir / "agents").iterdir()) == [agent_relpath(agent).split("/")[-1]]


@pytest.mark.parametrize("python", [sys.executable, str(PYTHON36)])
def test_the_probe_imports_no_more_than_it_uses(tmp_path, python):
    """64 devices import the probe at once on a fleet: what only a trial needs (subprocess, the
    tegrastats and vcgencmd parsers) stays out of it on a board without those programs, once the
    runtimes' versions are cached; under this Python and the agent's oldest (3.6)."""
    if not Path(python).exists():
        pytest.skip("no %s here" % python)
    workdir = tmp_path / "work"
    (workdir / "agents").mkdir(parents=True)
    agent = build_agent()
    (workdir / agent_relpath(agent)).write_bytes(agent.read_bytes())
    program = fleet.PROBE.replace(
        "sys.exit(main(w, sys.argv[4]))",
        "main(w, sys.argv[4]); print(json.dumps(sorted(sys.modules)))",
    ).replace("import os,sys", "import os,sys,json")
    argv = [python, "-c", program, str(workdir), agent_relpath(agent), str(agent.stat().st_size), "{}"]
    for _ in range(2):  # the first imports the runtimes to learn their versions; later ones read them
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
        assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert json.loads(lines[-2])["type"] == "facts"
    imported = set(json.loads(lines[-1]))
    assert "edgebench_agent.probe" in imported
    left_out = {
        "subprocess",
        "platform",  # which imports subprocess on 3.6
        "edgebench_agent.telemetry.tegrastats",
        "edgebench_agent.telemetry.vcgencmd",
    }
    assert imported & left_out == set()


def python_version(python: str) -> str:
    return subprocess.run(
        [python, "-c", "import platform; print(platform.python_version())"],
        stdout=subprocess.PIPE,
        universal_newlines=True,
    ).stdout.strip()


def known_hosts_line(entry: str, seed: int) -> str:
    """An ed25519 key line (32 bytes of its own) for `entry`."""
    blob = b"".join(struct.pack(">I", len(part)) + part for part in (b"ssh-ed25519", bytes([seed]) * 32))
    return "%s ssh-ed25519 %s\n" % (entry, base64.b64encode(blob).decode())


def test_known_hosts_is_parsed_once_and_read_again_when_it_changes(tmp_path, monkeypatch):
    known = tmp_path / "known_hosts"
    known.write_text("".join(known_hosts_line("[10.0.0.%d]:22%02d" % (i, i), i) for i in range(1, 65)))
    monkeypatch.setenv("EDGEBENCH_KNOWN_HOSTS", str(known))
    board = Device(name="b", connection="ssh", host="10.0.0.7", port=2207)
    first, second = ssh.route_to(board), ssh.route_to(board)
    assert ssh.KNOWN_HOSTS.get([str(known)]) is ssh.KNOWN_HOSTS.get([str(known)])  # parsed once
    key = first.client.get_host_keys().lookup("[10.0.0.7]:2207")["ssh-ed25519"]
    assert key == second.client.get_host_keys().lookup("[10.0.0.7]:2207")["ssh-ed25519"]
    known.write_text(
        known.read_text().replace(
            known_hosts_line("[10.0.0.7]:2207", 7), known_hosts_line("[10.0.0.7]:2207", 99)
        )
    )
    changed = ssh.route_to(board).client.get_host_keys().lookup("[10.0.0.7]:2207")["ssh-ed25519"]
    assert changed != key  # the same size, written at once: still seen
