"""A test fleet: N simulated devices, each a real OpenSSH `sshd` started by us.

Without network namespaces every device listens on its own 127.0.0.1 port. With
`netns=True` (root only) every device gets its own network namespace and address
(10.231.N.2, reached through a veth pair; N the first slot no other fleet on the machine
holds), so a test can cut one device's link with `ip link set ebhN down`. `jump_hosts=N` adds N more sshd on 127.0.0.1, jump1..jumpN, named in
DIR/ssh_config, to reach devices through a ProxyJump chain. `emulate=["rpi4"]` makes devices
emulated: their python is an aarch64 CPython under qemu-user (`emulation.py`). Everything
started is recorded in DIR/fleet.json and stopped by PID.
"""

import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import List, Optional

from . import emulation, simboards
from .errors import UserError

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
READY_DEADLINE_S = 15.0
# onnxruntime's aarch64 wheel segfaults at import under qemu: an emulated device runs TVM.
EMULATED_BACKENDS = "tvm, null"
NETNS_PREFIX = "eb"
NETNS_SLOTS = 250  # eb1..eb250, each with its 10.231.N.0/24
C_LOCALE = dict(os.environ, LC_ALL="C")  # `ip` says "File exists" in English: a taken slot is read from it


@dataclass
class SimDevice:
    name: str
    host: str
    port: int
    pid: int
    dir: str
    netns: Optional[str] = None
    host_veth: Optional[str] = None
    board: Optional[str] = None  # a simulated board (jetson-nano, rpi4), or None
    telemetry: Optional[dict] = None  # its inventory telemetry settings
    role: str = "device"  # or "jump": a jump host, not in the inventory
    emulated: Optional[str] = None  # an emulated board (rpi4: aarch64 under qemu-user), or None
    python: Optional[str] = None  # its own python (an emulated one's wrapper), else the fleet's


def _run(argv: List[str]) -> None:
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=C_LOCALE)
    if proc.returncode != 0:
        raise UserError("test fleet: %s failed: %s" % (" ".join(argv), proc.stderr.strip()))


def _keygen(path: Path) -> None:
    if not path.exists():
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "edgebench-testfleet", "-f", str(path)])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ipv6_loopback() -> bool:
    """Whether this machine has ::1 (jump hosts then listen there too)."""
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def _free_port_both() -> int:
    """A port free on 127.0.0.1 and on ::1."""
    for _ in range(50):
        port = _free_port()
        try:
            with socket.socket(socket.AF_INET6) as s:
                s.bind(("::1", port))
            return port
        except OSError:
            continue
    raise UserError("test fleet: no port free on both 127.0.0.1 and ::1")


def _sshd_config(
    dev_dir: Path,
    host: str,
    port: int,
    authorized_keys: Path,
    sysroot: Optional[Path],
    jump: bool = False,
    also_v6: bool = False,
    light_shell: bool = False,
) -> Path:
    config = dev_dir / "sshd_config"
    setenv = ["EDGEBENCH_SYSROOT=%s" % sysroot] if sysroot else []
    # bash reads ~/.bashrc for a command run by sshd only while SHLVL < 2: starting at 1 keeps a
    # heavy rc (pyenv init: ~0.1 s) out of every command, as on a board with a plain shell.
    setenv += ["SHLVL=1"] if light_shell else []
    extra = ["SetEnv %s" % " ".join(setenv)] if setenv else []  # sshd keeps only the first SetEnv line
    # A jump host logs each channel it forwards (debug1: "server_request_direct_tcpip: ...
    # target 127.0.0.1 port N"), so that a test can tell which way a connection went.
    extra += ["AllowTcpForwarding yes", "LogLevel DEBUG1"] if jump else ["LogLevel ERROR"]
    extra += ["ListenAddress ::1"] if also_v6 else []
    config.write_text(
        "\n".join(
            extra
            + [
                "Port %d" % port,
                "ListenAddress %s" % host,
                "HostKey %s" % (dev_dir / "host_ed25519"),
                "PidFile %s" % (dev_dir / "sshd.pid"),
                "AuthorizedKeysFile %s" % authorized_keys,
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "StrictModes no",
                "PermitRootLogin prohibit-password",
                "Subsystem sftp internal-sftp",
                "MaxSessions 64",
                "MaxStartups 200",
                # A host that vanished (cut link, killed controller) leaves no session behind for long.
                "ClientAliveInterval 5",
                "ClientAliveCountMax 2",
            ]
        )
        + "\n"
    )
    return config


def _wait_ready(host: str, port: int, proc: subprocess.Popen, log: Path) -> None:
    """Polls for sshd's banner with a deadline; no fixed sleeps."""
    deadline = time.monotonic() + READY_DEADLINE_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise UserError(
                "test fleet: sshd on %s:%d exited: %s" % (host, port, log.read_text().strip()[-300:])
            )
        try:
            with socket.create_connection((host, port), timeout=1) as s:
                if s.recv(64).startswith(b"SSH-"):
                    return
        except OSError:
            time.sleep(0.05)
    raise UserError("test fleet: sshd on %s:%d not ready after %.0f s" % (host, port, READY_DEADLINE_S))


def _make_netns(index: int) -> tuple:
    """A namespace, veth pair and /24 of a free slot (the first from `index` up): names and
    addresses are the whole machine's, and another fleet (a second test run) may hold some.
    `ip netns add` fails on a name already taken, so it is what reserves a slot."""
    for slot in range(index, NETNS_SLOTS + 1):
        ns = "%s%d" % (NETNS_PREFIX, slot)
        added = subprocess.run(
            ["ip", "netns", "add", ns],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=C_LOCALE,
        )
        if added.returncode != 0:
            if "exists" in added.stderr:
                continue  # another fleet's
            raise UserError("test fleet: ip netns add %s failed: %s" % (ns, added.stderr.strip()))
        try:
            return _link_netns(ns, slot)
        except UserError as exc:
            subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)
            if "exists" not in str(exc):
                raise
    raise UserError(
        "test fleet: no free network namespace slot (%s1..%s%d all taken)"
        % ((NETNS_PREFIX,) * 2 + (NETNS_SLOTS,))
    )


def _link_netns(ns: str, slot: int) -> tuple:
    host_veth, dev_veth = "ebh%d" % slot, "ebd%d" % slot
    host_ip, dev_ip = "10.231.%d.1" % slot, "10.231.%d.2" % slot
    _run(["ip", "link", "add", host_veth, "type", "veth", "peer", "name", dev_veth])
    try:
        _run(["ip", "link", "set", dev_veth, "netns", ns])
        _run(["ip", "addr", "add", host_ip + "/24", "dev", host_veth])
        _run(["ip", "link", "set", host_veth, "up"])
        _run(["ip", "-n", ns, "addr", "add", dev_ip + "/24", "dev", dev_veth])
        _run(["ip", "-n", ns, "link", "set", dev_veth, "up"])
        _run(["ip", "-n", ns, "link", "set", "lo", "up"])
    except UserError:
        subprocess.run(["ip", "link", "del", host_veth], stderr=subprocess.DEVNULL)
        raise
    return ns, host_veth, dev_ip


def _start_device(
    root: Path,
    index: int,
    authorized_keys: Path,
    netns: bool,
    board: Optional[str],
    python: str,
    role: str = "device",
    light_shell: bool = False,
) -> SimDevice:
    name = "sim%02d" % index if role == "device" else "%s%d" % (role, index)
    dev_dir = root / name
    (dev_dir / "work").mkdir(parents=True, exist_ok=True)
    sysroot = dev_dir / "sysroot" if board else None
    telemetry = simboards.make_board(board, sysroot, python) if board else None
    _keygen(dev_dir / "host_ed25519")
    ns = host_veth = None
    also_v6 = role == "jump" and ipv6_loopback()  # for ProxyJump hops written [::1]:port
    if netns:
        ns, host_veth, host = _make_netns(index)
        port = 22
    else:
        host, port = "127.0.0.1", _free_port_both() if also_v6 else _free_port()
    config = _sshd_config(
        dev_dir,
        host,
        port,
        authorized_keys,
        sysroot,
        jump=role == "jump",
        also_v6=also_v6,
        light_shell=light_shell,
    )
    log = dev_dir / "sshd.log"
    argv = [SSHD, "-D", "-e", "-f", str(config)]
    if ns:
        argv = ["ip", "netns", "exec", ns] + argv
    device = SimDevice(name, host, port, -1, str(dev_dir), ns, host_veth, board, telemetry, role)
    try:
        with open(log, "w") as log_file:
            proc = subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
        device.pid = proc.pid
        _wait_ready(host, port, proc, log)
        if also_v6:
            _wait_ready("::1", port, proc, log)
    except BaseException:  # not recorded in fleet.json yet: stopped here, its namespace with it
        stop_device(device)
        raise
    return device


def _known_hosts_line(device: SimDevice) -> str:
    entry = device.host if device.port == 22 else "[%s]:%d" % (device.host, device.port)
    key_type, key = (Path(device.dir) / "host_ed25519.pub").read_text().split()[:2]
    return "%s %s %s\n" % (entry, key_type, key)


def _ssh_config_text(root: Path, jumps: List[SimDevice]) -> str:
    """Host blocks for the jump hosts; a test adds its own device hosts with ProxyJump."""
    return "".join(
        "Host %s\n  HostName %s\n  Port %d\n  User %s\n  IdentityFile %s\n\n"
        % (j.name, j.host, j.port, getpass.getuser(), root / "id_ed25519")
        for j in jumps
    )


def _inventory_text(root: Path, devices: List[SimDevice], python: str) -> str:
    lines = [
        "# Test fleet made by `edgebench testfleet start` (simulated devices: real sshd, this host).",
        "version: 1",
        "devices:",
    ]
    for d in devices:
        lines += [
            "  %s:" % d.name,
            "    connection: ssh",
            "    host: %s" % d.host,
            "    port: %d" % d.port,
            "    user: %s" % getpass.getuser(),
            "    identity_file: %s" % (root / "id_ed25519"),
            "    python: %s" % (d.python or python),
            "    workdir: %s" % (Path(d.dir) / "work"),
            "    platform: %s" % (d.board or "generic"),
            "    groups: [fleet%s]"
            % (", simulated-boards" if d.board else ", emulated" if d.emulated else ""),
            "    backends: [%s]" % (EMULATED_BACKENDS if d.emulated else "onnxruntime, null"),
        ]
        if d.emulated:  # no Pi sysfs: the platform stays generic; TVM compiles for the board
            lines += ["    target: %s" % d.emulated]
        else:  # it runs on this host, simulated board or not: TVM compiles for this CPU
            lines += ["    target: native"]
        if d.telemetry:
            lines += ["    telemetry: %s" % json.dumps(d.telemetry)]
    return "\n".join(lines) + "\n"


def start(
    root: Path,
    count: int,
    netns: bool = False,
    python: str = sys.executable,
    trust: bool = True,
    boards: List[str] = (),
    jump_hosts: int = 0,
    emulate: List[str] = (),
    light_shell: bool = False,
) -> List[SimDevice]:
    """Starts `count` devices under `root`; writes inventory.yaml, known_hosts, fleet.json.
    `light_shell`: commands skip the login shell's ~/.bashrc (`SetEnv SHLVL=1`).
    `boards` gives the first devices simulated boards (jetson-nano, rpi4), in order; `emulate`
    makes the devices after those emulated (rpi4), building the aarch64 sysroot on first use.
    `jump_hosts` more sshd (jump1, ...) are named in DIR/ssh_config. Returns the devices."""
    for board in boards:
        if board not in simboards.BOARDS:
            raise UserError("test fleet: unknown board %r (have: %s)" % (board, ", ".join(simboards.BOARDS)))
    emulated_pythons = _emulated_pythons(count, len(boards), emulate)
    emulated_kinds = [None] * len(boards) + list(emulate)  # the devices after the boards
    root = Path(root).resolve()
    if (root / "fleet.json").exists():
        raise UserError("test fleet: %s already holds a fleet; stop it first" % root)
    if netns and os.geteuid() != 0:
        raise UserError("test fleet: --netns needs root (network namespaces)")
    root.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation folder
    _keygen(root / "id_ed25519")
    authorized = root / "authorized_keys"
    shutil.copyfile(root / "id_ed25519.pub", authorized)
    devices: List[SimDevice] = []
    jumps: List[SimDevice] = []
    try:
        for index in range(1, count + 1):
            board = boards[index - 1] if index <= len(boards) else None
            kind = emulated_kinds[index - 1] if index <= len(emulated_kinds) else None
            device = _start_device(root, index, authorized, netns, board, python, light_shell=light_shell)
            if kind:
                device.emulated, device.python = kind, emulated_pythons[kind]
            devices.append(device)
        for index in range(1, jump_hosts + 1):
            jumps.append(_start_device(root, index, authorized, False, None, python, role="jump"))
    finally:
        _write_state(root, devices + jumps)  # even a partial fleet can be stopped
    (root / "known_hosts").write_text("".join(_known_hosts_line(d) for d in devices + jumps) if trust else "")
    (root / "inventory.yaml").write_text(_inventory_text(root, devices, python))
    if jumps:
        (root / "ssh_config").write_text(_ssh_config_text(root, jumps))
    return devices


def _emulated_pythons(count: int, boards: int, emulate: List[str]) -> dict:
    """{kind: its python} for the emulated devices, checked and built before any sshd starts."""
    if emulate and len(emulate) > count - boards:
        raise UserError(
            "test fleet: %d device(s) cannot hold %d simulated board(s) and %d emulated device(s); "
            "raise COUNT" % (count, boards, len(emulate))
        )
    return {kind: emulation.device_python(kind) for kind in dict.fromkeys(emulate)}


def _write_state(root: Path, devices: List[SimDevice]) -> None:
    (root / "fleet.json").write_text(json.dumps([asdict(d) for d in devices], indent=1))


def load(root: Path) -> List[SimDevice]:
    """Every sshd of the fleet: its devices, then its jump hosts (`role`)."""
    state = Path(root) / "fleet.json"
    if not state.exists():
        raise UserError("test fleet: no fleet in %s" % root)
    return [SimDevice(**d) for d in json.loads(state.read_text())]


def _is_our_sshd(pid: int, dev_dir: str) -> bool:
    try:
        cmdline = Path("/proc/%d/cmdline" % pid).read_bytes().decode(errors="replace")
    except OSError:
        return False
    return dev_dir in cmdline


def _children(pid: int) -> List[int]:
    """PIDs whose parent is `pid` (sshd's per-connection processes start their own sessions,
    so a process group does not reach them)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _descendants(pid: int) -> List[int]:
    result = []
    for child in _children(pid):
        result += _descendants(child) + [child]
    return result


def stop_device(device: SimDevice, timeout: float = 10.0) -> None:
    """Stops one device's sshd and every process under it, by the PIDs we recorded and found."""
    if _is_our_sshd(device.pid, device.dir):
        for pid in _descendants(device.pid) + [device.pid]:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        while _is_our_sshd(device.pid, device.dir) and time.monotonic() < deadline:
            try:
                if os.waitpid(device.pid, os.WNOHANG)[0]:
                    break
            except ChildProcessError:
                time.sleep(0.05)
    if device.netns:
        subprocess.run(["ip", "netns", "del", device.netns], stderr=subprocess.DEVNULL)
        subprocess.run(["ip", "link", "del", device.host_veth], stderr=subprocess.DEVNULL)


def stop(root: Path) -> int:
    """Stops every sshd of the fleet; returns how many were devices (not jump hosts)."""
    started = load(root)
    for device in started:
        stop_device(device)
    (Path(root) / "fleet.json").unlink()
    return sum(1 for d in started if d.role == "device")


def set_link(device: SimDevice, up: bool) -> None:
    """Cuts or restores a namespaced device's link (the host side of its veth)."""
    if not device.host_veth:
        raise UserError("test fleet: %s has no namespace link to cut (start with --netns)" % device.name)
    _run(["ip", "link", "set", device.host_veth, "up" if up else "down"])
