"""The SSH transport on fabric: ssh_config aliases, ProxyJump chains (in ssh's order, IPv6 hops
included), ProxyCommand, strict host keys on every hop, and `trust` through the same route.

The route tests need no server. The others run over a test fleet of real sshd on 127.0.0.1
(and ::1): one device and two jump hosts, started and stopped by PID here."""

import csv
import getpass
import io
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import paramiko
import pytest

from edgebench.orchestrator import testfleet
from edgebench.orchestrator.errors import LinkLost, UserError
from edgebench.orchestrator.transport import hostkeys
from edgebench.orchestrator.transport.ssh import SSHConnection, parse_hop, route_to

from .conftest import MODELS, wait_for

needs_sshd = pytest.mark.skipif(
    not shutil.which("sshd") and not Path(testfleet.SSHD).exists() and os.environ.get("CI") != "true",
    reason="OpenSSH server not installed",
)


def device(name, ssh_alias=None, host=None, user=None, port=None, identity_file=None):
    return SimpleNamespace(
        name=name,
        ssh_alias=ssh_alias,
        host=host,
        user=user,
        port=port,
        identity_file=identity_file,
        source="inventory.yaml:3",
        connection="ssh",
    )


# --- routes, resolved by fabric from an ssh_config: no server needed ---------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("jump1", {"user": None, "host": "jump1", "port": None}),
        ("alice@jump1:2222", {"user": "alice", "host": "jump1", "port": 2222}),
        ("[::1]:2222", {"user": None, "host": "::1", "port": 2222}),
        ("bob@[::1]:22", {"user": "bob", "host": "::1", "port": 22}),
        ("[fe80::1]", {"user": None, "host": "fe80::1", "port": None}),
        ("ssh://carol@h3:2203", {"user": "carol", "host": "h3", "port": 2203}),
        ("ssh://[::1]:2204", {"user": None, "host": "::1", "port": 2204}),
    ],
)
def test_proxyjump_hops_are_read_as_ssh_writes_them(text, expected):
    assert parse_hop(text) == expected


@pytest.mark.parametrize("text", ["[::1", "[::1]x", "[]:22", "[::1]:port"])
def test_a_malformed_bracketed_hop_is_a_user_error(text):
    with pytest.raises(UserError, match="ProxyJump hop"):
        parse_hop(text)


@pytest.fixture
def ssh_config(tmp_path, monkeypatch):
    def write(text):
        path = tmp_path / "ssh_config"
        path.write_text(text)
        monkeypatch.setenv("EDGEBENCH_SSH_CONFIG", str(path))
        monkeypatch.setenv("EDGEBENCH_KNOWN_HOSTS", str(tmp_path / "known_hosts"))
        return path

    return write


def test_a_proxyjump_chain_is_opened_in_ssh_order_with_each_hops_own_settings(ssh_config):
    ssh_config(
        "Host jump1\n  HostName 192.0.2.1\n  Port 2201\n  User alice\n  IdentityFile /keys/one\n"
        "Host ::1\n  IdentityFile /keys/six\n"
        "Host board\n  HostName 10.0.0.5\n  User pi\n  IdentityFile /keys/board\n"
        "  ProxyJump jump1,bob@[::1]:2202,ssh://carol@h3:2203\n"
    )
    route = route_to(device("board", ssh_alias="board")).route()
    # ssh's order: jump1 is reached directly, then [::1]:2202 through it, then h3, then the board.
    assert [(h.user, h.host, h.port) for h in route] == [
        ("alice", "192.0.2.1", 2201),
        ("bob", "::1", 2202),
        ("carol", "h3", 2203),
        ("pi", "10.0.0.5", 22),
    ]
    assert [h.jump_host for h in route] == ["jump1", "bob@[::1]:2202", "ssh://carol@h3:2203", None]
    assert [h.connect_kwargs["key_filename"] for h in route] == [
        ["/keys/one"],
        ["/keys/six"],
        [],
        ["/keys/board"],
    ]
    assert [h.connect_kwargs["look_for_keys"] for h in route] == [False, False, True, False]
    assert [h.entry for h in route] == ["[192.0.2.1]:2201", "[::1]:2202", "[h3]:2203", "10.0.0.5"]


def test_inventory_fields_win_over_the_ssh_config(ssh_config):
    ssh_config("Host board\n  HostName 10.0.0.5\n  User pi\n  Port 2222\n  IdentityFile /keys/board\n")
    target = route_to(device("board", ssh_alias="board", user="ubuntu", port=22, identity_file="~/id"))
    assert (target.user, target.host, target.port) == ("ubuntu", "10.0.0.5", 22)
    assert target.connect_kwargs["key_filename"] == [os.path.expanduser("~/id"), "/keys/board"]
    assert target.gateway is None and target.route() == [target]


def test_proxycommand_and_proxyjump_none_come_from_the_ssh_config(ssh_config):
    ssh_config(
        "Host piped\n  HostName 10.0.0.7\n  ProxyCommand nc -x proxy %h %p\n"
        "Host direct\n  HostName 10.0.0.8\n  ProxyJump none\n"
        "Host *\n  ProxyJump bastion\n"
    )
    piped = route_to(device("piped", ssh_alias="piped"))
    assert piped.gateway == "nc -x proxy 10.0.0.7 22" and piped.route() == [piped]
    assert route_to(device("direct", ssh_alias="direct")).gateway is None
    # `Host *` names bastion as its own jump host too: bastion is reached directly.
    via = route_to(device("x", host="10.0.0.9")).route()
    assert [h.host for h in via] == ["bastion", "10.0.0.9"] and via[0].gateway is None


def test_a_proxyjump_loop_is_a_user_error(ssh_config):
    ssh_config("Host a\n  ProxyJump b\nHost b\n  ProxyJump a\n")
    with pytest.raises(UserError, match="more than 10 hops"):
        route_to(device("a", ssh_alias="a"))


def test_a_missing_ssh_config_is_a_user_error(monkeypatch, tmp_path):
    monkeypatch.setenv("EDGEBENCH_SSH_CONFIG", str(tmp_path / "nope"))
    with pytest.raises(UserError, match="EDGEBENCH_SSH_CONFIG"):
        route_to(device("a", ssh_alias="a"))


def test_fingerprint_is_openssh_s(tmp_path):
    if not shutil.which("ssh-keygen"):
        pytest.skip("ssh-keygen not installed")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")], check=True)
    key = paramiko.Ed25519Key.from_private_key_file(str(tmp_path / "k"))
    listed = subprocess.run(
        ["ssh-keygen", "-l", "-f", str(tmp_path / "k.pub")], stdout=subprocess.PIPE, text=True, check=True
    ).stdout.split()[1]
    assert hostkeys.fingerprint(key) == listed and listed.startswith("SHA256:")


# --- over real sshd: one device behind two jump hosts ---------------------------------------


@pytest.fixture(scope="module")
def jump_fleet(tmp_path_factory):
    root = tmp_path_factory.mktemp("jumpfleet")
    devices = testfleet.start(root, 1, jump_hosts=2)
    jumps = {j.name: j for j in testfleet.load(root) if j.role == "jump"}
    yield root, devices[0], jumps
    started = testfleet.load(root)
    testfleet.stop(root)
    for sshd in started:  # stopped: exactly the PIDs we started are gone
        assert (
            not Path("/proc/%d" % sshd.pid).exists()
            or sshd.dir.encode() not in Path("/proc/%d/cmdline" % sshd.pid).read_bytes()
        )


@pytest.fixture
def behind(jump_fleet, tmp_path, monkeypatch):
    """`behind`: the fleet's device, reached as `ProxyJump jump1,jump2` (an inventory entry
    with an ssh_alias), with its own known_hosts, store and cache."""
    root, dev, _ = jump_fleet
    config = tmp_path / "ssh_config"
    config.write_text(
        (root / "ssh_config").read_text()
        + "Host behind\n  HostName 127.0.0.1\n  Port %d\n  IdentityFile %s\n  ProxyJump jump1,jump2\n\n"
        % (dev.port, root / "id_ed25519")
    )
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(
        "version: 1\ndevices:\n  behind:\n    connection: ssh\n    ssh_alias: behind\n"
        "    python: %s\n    workdir: %s\n    backends: [onnxruntime, null]\n"
        % (sys.executable, tmp_path / "work")
    )
    known = tmp_path / "known_hosts"
    shutil.copyfile(root / "known_hosts", known)
    for name, value in (
        ("EDGEBENCH_SSH_CONFIG", config),
        ("EDGEBENCH_INVENTORY", inventory),
        ("EDGEBENCH_KNOWN_HOSTS", known),
        ("EDGEBENCH_DB", "sqlite:///%s" % (tmp_path / "jump.db")),
        ("XDG_CACHE_HOME", tmp_path / "cache"),
    ):
        monkeypatch.setenv(name, str(value))
    return SimpleNamespace(root=root, device=dev, config=config, known=known, path=tmp_path)


def edgebench(*args):
    return subprocess.run(
        [sys.executable, "-m", "edgebench.orchestrator.cli", *map(str, args)],
        env=dict(os.environ, COLUMNS="400"),  # one line per host key
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        timeout=300,
    )


def log_lines(jump) -> list:
    return (Path(jump.dir) / "sshd.log").read_text().splitlines()


def forwarded_ports(jump, since: int = 0) -> set:
    """The ports this jump host opened direct-tcpip channels to, from its sshd's debug log
    after its line `since`."""
    return {
        int(line.rsplit("port", 1)[1])
        for line in log_lines(jump)[since:]
        if "server_request_direct_tcpip" in line
    }


@needs_sshd
def test_two_hop_proxyjump_probes_and_sweeps_through_jump1_then_jump2(behind, jump_fleet):
    _, dev, jumps = jump_fleet
    marks = {name: len(log_lines(jump)) for name, jump in jumps.items()}
    probe = edgebench("probe", "--device", "behind", "--json")
    assert probe.returncode == 0, probe.stderr
    assert "agent_version" in json.loads(probe.stdout)  # the device's facts, from its agent
    sweep = edgebench("sweep", MODELS / "dws_cnn.onnx", "--device", "behind", "--batch", "1,2", "--quick")
    assert sweep.returncode == 0, sweep.stderr
    rows = list(csv.DictReader(io.StringIO(edgebench("results", "--format", "csv").stdout)))
    assert [(r["device"], r["batch"], r["status"]) for r in rows] == [
        ("behind", "1", "ok"),
        ("behind", "2", "ok"),
    ]
    # The way ssh goes: jump1 forwarded only to jump2, and jump2 only to the device.
    assert forwarded_ports(jumps["jump1"], marks["jump1"]) == {jumps["jump2"].port}
    assert forwarded_ports(jumps["jump2"], marks["jump2"]) == {dev.port}


@needs_sshd
def test_every_hop_keeps_the_tuned_socket_timeouts_and_keepalive(behind, jump_fleet, monkeypatch):
    _, dev, jumps = jump_fleet
    keepalives = {}
    set_keepalive = paramiko.Transport.set_keepalive
    monkeypatch.setattr(
        paramiko.Transport,
        "set_keepalive",
        lambda t, interval: (keepalives.__setitem__(t, interval), set_keepalive(t, interval)),
    )
    conn = SSHConnection(device("behind", ssh_alias="behind"), timeout=7.0)
    try:
        assert conn.route == [
            "127.0.0.1:%d" % p for p in (jumps["jump1"].port, jumps["jump2"].port, dev.port)
        ]
        hops = conn.fabric.route()
        first = hops[0].transport.sock
        assert isinstance(first, socket.socket)
        assert first.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        assert first.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        if hasattr(socket, "TCP_USER_TIMEOUT"):
            assert first.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 4000
        for hop in hops[1:]:  # later hops ride a channel through the previous one
            assert isinstance(hop.transport.sock, paramiko.Channel)
        for hop in hops:
            t = hop.transport
            assert (t.banner_timeout, t.auth_timeout, t.channel_timeout) == (7.0, 7.0, 7.0)
            assert keepalives[t] == 2
        assert conn.run(["echo", "through"]).stdout == "through\n"
        channel = conn.open_channel(["cat"])
        channel.send_line("hello")
        assert channel.read_line(timeout=30) == "hello"
        # The first hop's connection goes: everything behind it goes with it.
        hops[0].client.close()
        wait_for(
            lambda: not conn.alive() and not channel.link_alive(),
            timeout_s=30,
            what="the loss of jump1 to reach the device's connection",
        )
        with pytest.raises(LinkLost):
            conn.run(["true"])
        channel.close(timeout=1)
    finally:
        conn.close()
    assert not any(hop.is_connected for hop in conn.fabric.route())


@needs_sshd
def test_unknown_jump_host_key_is_refused_until_trust_records_the_route(behind, jump_fleet):
    root, dev, jumps = jump_fleet
    device_line = "[127.0.0.1]:%d %s\n" % (
        dev.port,
        " ".join((Path(dev.dir) / "host_ed25519.pub").read_text().split()[:2]),
    )
    behind.known.write_text(device_line)  # the device is trusted, its jump hosts are not
    proc = edgebench("probe", "--device", "behind")
    assert proc.returncode == 2
    line = proc.stderr.strip()
    assert len(line.splitlines()) == 1
    assert "unknown host key for [127.0.0.1]:%d (jump host jump1)" % jumps["jump1"].port in line
    assert "SHA256:" in line and "edgebench trust behind" in line
    assert behind.known.read_text() == device_line  # nothing recorded by a refusal

    trusted = edgebench("trust", "behind")
    assert trusted.returncode == 0, trusted.stderr
    lines = trusted.stdout.strip().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith(
        "behind, jump host jump1: [127.0.0.1]:%d ssh-ed25519 SHA256:" % jumps["jump1"].port
    )
    assert lines[1].startswith(
        "behind, jump host jump2: [127.0.0.1]:%d ssh-ed25519 SHA256:" % jumps["jump2"].port
    )
    assert "recorded" in lines[0] and "recorded" in lines[1]
    assert lines[2].startswith("behind: [127.0.0.1]:%d" % dev.port) and lines[2].endswith("already trusted")
    assert edgebench("probe", "--device", "behind").returncode == 0
    assert edgebench("trust", "behind").stdout.count("already trusted") == 3


@needs_sshd
def test_changed_jump_host_key_is_refused_even_with_accept_new(behind, jump_fleet):
    root, dev, jumps = jump_fleet
    lines = (root / "known_hosts").read_text().splitlines()
    jump1_key = next(line for line in lines if ":%d " % jumps["jump1"].port in line).split()[1:]
    swapped = [
        line
        if ":%d " % jumps["jump2"].port not in line
        else "[127.0.0.1]:%d %s" % (jumps["jump2"].port, " ".join(jump1_key))
        for line in lines
    ]
    behind.known.write_text("\n".join(swapped) + "\n")  # jump1's key on jump2's line
    for args in (
        ("probe", "--device", "behind"),
        ("probe", "--device", "behind", "--accept-new"),
        ("trust", "behind"),
    ):
        proc = edgebench(*args)
        assert proc.returncode == 2, args
        assert "CHANGED" in proc.stderr and "(jump host jump2)" in proc.stderr, args


@needs_sshd
def test_accept_new_records_jump_host_keys(behind):
    behind.known.write_text("")
    assert edgebench("probe", "--device", "behind").returncode == 2
    proc = edgebench("probe", "--device", "behind", "--accept-new")
    assert proc.returncode == 0, proc.stderr
    assert len(hostkeys.load_known_hosts(behind.known).keys()) == 3


@needs_sshd
def test_ipv6_hops_in_brackets(behind, jump_fleet):
    if not testfleet.ipv6_loopback():
        pytest.skip("no ::1 on this machine")
    root, dev, jumps = jump_fleet
    behind.config.write_text(
        behind.config.read_text()
        + (
            "Host ::1\n  IdentityFile %s\n\n"
            "Host v6\n  HostName 127.0.0.1\n  Port %d\n  IdentityFile %s\n  ProxyJump %s@[::1]:%d,ssh://[::1]:%d\n"
            % (
                root / "id_ed25519",
                dev.port,
                root / "id_ed25519",
                getpass.getuser(),
                jumps["jump1"].port,
                jumps["jump2"].port,
            )
        )
    )
    inventory = behind.path / "v6.yaml"
    inventory.write_text(
        "devices:\n  v6:\n    connection: ssh\n    ssh_alias: v6\n    python: %s\n    workdir: %s\n"
        % (sys.executable, behind.path / "work6")
    )
    trusted = edgebench("trust", "v6", "--inventory", inventory)
    assert trusted.returncode == 0, trusted.stderr
    assert (
        "[::1]:%d" % jumps["jump1"].port in trusted.stdout
        and "[::1]:%d" % jumps["jump2"].port in trusted.stdout
    )
    probe = edgebench("probe", "--device", "v6", "--inventory", inventory)
    assert probe.returncode == 0, probe.stderr


@needs_sshd
def test_proxycommand_through_openssh(behind, jump_fleet):
    if not shutil.which("ssh"):
        pytest.skip("OpenSSH client not installed")
    root, dev, jumps = jump_fleet
    jump = jumps["jump1"]
    behind.config.write_text(
        behind.config.read_text()
        + (
            "Host piped\n  HostName 127.0.0.1\n  Port %d\n  IdentityFile %s\n"
            "  ProxyCommand ssh -F none -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=%s"
            " -i %s -p %d %s@127.0.0.1 -W %%h:%%p\n"
            % (
                dev.port,
                root / "id_ed25519",
                root / "known_hosts",
                root / "id_ed25519",
                jump.port,
                getpass.getuser(),
            )
        )
    )
    inventory = behind.path / "piped.yaml"
    inventory.write_text(
        "devices:\n  piped:\n    connection: ssh\n    ssh_alias: piped\n    python: %s\n"
        "    workdir: %s\n" % (sys.executable, behind.path / "work-piped")
    )
    mark = len(log_lines(jump))
    probe = edgebench("probe", "--device", "piped", "--inventory", inventory)
    assert probe.returncode == 0, probe.stderr
    assert forwarded_ports(jump, mark) == {dev.port}
