"""SSH transport: fabric's `Connection` under the Connection seam, one per device, reused for a
whole sweep.

fabric (with paramiko's SSHConfig) resolves what `ssh` would: the ssh_config files
($EDGEBENCH_SSH_CONFIG alone, like `ssh -F`; else ~/.ssh/config and /etc/ssh/ssh_config), an
alias's HostName, User, Port, IdentityFile and ConnectTimeout, `ProxyCommand`, and opens a route
hop by hop (a direct-tcpip channel through each jump host). `Hop` is fabric's Connection with
edgebench's rules on every hop of the route, jump hosts included:

- host keys are checked strictly against known_hosts (hostkeys.py): an unknown key is refused
  unless --accept-new, a changed key always (fabric alone would add any key);
- the first hop's TCP socket is tuned: TCP_NODELAY saves ~40 ms per new session (Nagle /
  delayed ACK); keepalive plus TCP_USER_TIMEOUT notice a dead link in about 4 s, where paramiko
  alone hangs for minutes; every hop sends SSH keepalives;
- every blocking call has a timeout: TCP connect, banner, authentication, each channel open
  (the jump hosts' direct-tcpip channels too), commands and SFTP.

Two things fabric 3.2 gets wrong are corrected here, in `Hop.get_gateway` and
`Hop.derive_shorthand`: it opens a `ProxyJump a,b` chain in reverse (b first, then a, where ssh
goes through a to b), and reads a hop written `[::1]:2222` as a host named "[::1]:2222".

Commands and the agent's long-lived channel are paramiko channels on the connection's transport,
not fabric's `run` (an invoke Runner): they keep the timeout and link-loss semantics below.
"""

import logging
import math
import os
import shlex
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

import fabric
import fabric.connection
import paramiko

from ..errors import DeviceError, LinkLost, UserError
from . import hostkeys
from .base import Connection, PumpedChannel, Result

CONNECT_TIMEOUT_S = 10.0
KEEPALIVE_S = 2
TCP_USER_TIMEOUT_MS = 4000
SFTP_TIMEOUT_S = 120.0
SYSTEM_SSH_CONFIG = "/etc/ssh/ssh_config"
MAX_HOPS = 10  # a ProxyJump that leads back to itself (a `Host *` rule) ends here
LINK_ERRORS = (paramiko.SSHException, OSError, EOFError)


def ssh_config_files() -> List[str]:
    """$EDGEBENCH_SSH_CONFIG alone if set (like `ssh -F`), else ssh's own two, where present."""
    path = os.environ.get("EDGEBENCH_SSH_CONFIG")
    if path:
        if not os.path.isfile(os.path.expanduser(path)):
            raise UserError("EDGEBENCH_SSH_CONFIG=%s: no such file" % path)
        return [os.path.expanduser(path)]
    return [p for p in (os.path.expanduser("~/.ssh/config"), SYSTEM_SSH_CONFIG) if os.path.isfile(p)]


def _command_label(argv) -> str:
    """A command as one short line for a message: a program passed inline (`python3 -c` with
    the probe) is named by its first words, not printed whole."""
    text = shlex.join(argv)
    return text if len(text) <= 120 and "\n" not in text else text.replace("\n", " ")[:100] + "\u2026"


class ParsedOnce:
    """What files parse to, kept while their content stays the same (read again on each use: a
    few kB, where a file's time may not change between two quick writes): a fan-out over many
    devices parses known_hosts and the ssh_config once, not per device. The value is shared by
    threads and must not be changed by them."""

    def __init__(self, parse):
        self._parse, self._lock, self._kept = parse, threading.Lock(), {}

    def get(self, paths: Sequence[str]):
        key, stamp = tuple(paths), tuple(_stamp(path) for path in paths)
        with self._lock:
            kept = self._kept.get(key)
        if kept is not None and kept[0] == stamp:
            return kept[1]
        value = self._parse(paths)
        with self._lock:
            self._kept[key] = (stamp, value)
        return value


def _stamp(path: str) -> Optional[bytes]:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def _parse_ssh_config(paths: Sequence[str]) -> paramiko.SSHConfig:
    ssh_config = paramiko.SSHConfig()
    for path in paths:
        try:
            with open(path) as f:
                ssh_config.parse(f)
        except (OSError, UnicodeDecodeError, paramiko.ssh_exception.ConfigParseError) as exc:
            raise UserError("cannot read the ssh_config %s: %s" % (path, exc)) from None
    return ssh_config


def _parse_known_hosts(paths: Sequence[str]) -> tuple:
    """known_hosts' entries (paramiko's `load` compares each line with every earlier one)."""
    return tuple(hostkeys.load_known_hosts(Path(paths[0]))._entries)


SSH_CONFIGS = ParsedOnce(_parse_ssh_config)
KNOWN_HOSTS = ParsedOnce(_parse_known_hosts)


def fabric_config(timeout: float = CONNECT_TIMEOUT_S) -> fabric.Config:
    """fabric's configuration: the ssh_config files parsed once (given to fabric as an object,
    which its clones copy; a fabric Config that loads the files itself parses them again on
    every clone, once per hop) and nothing else (no fabric.yaml, no environment)."""
    return fabric.Config(
        lazy=True,
        ssh_config=SSH_CONFIGS.get(ssh_config_files()),
        overrides={"timeouts": {"connect": max(1, math.ceil(timeout))}},
    )


def parse_hop(text: str) -> dict:
    """One ProxyJump hop as ssh writes it: [user@]host[:port], [user@][IPv6]:port or
    ssh://[user@]host[:port]; fabric's own parser for all but the bracketed address."""
    if text.startswith("ssh://"):
        text = text[len("ssh://") :].rstrip("/")
    user, at, hostport = text.rpartition("@")
    if not hostport.startswith("["):
        return fabric.connection.derive_shorthand(text)
    host, bracket, rest = hostport[1:].partition("]")
    if not bracket or not host or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
        raise UserError("ProxyJump hop %r: expected [user@][address]:port" % text)
    return {"user": (user or None) if at else None, "host": host, "port": int(rest[1:]) if rest else None}


def tuned_socket(hostname: str, port: int, timeout: float) -> socket.socket:
    try:
        sock = socket.create_connection((hostname, port), timeout=timeout)
    except OSError as exc:
        raise DeviceError("cannot reach %s:%d: %s" % (hostname, port, exc.strerror or exc)) from None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (
        ("TCP_KEEPIDLE", 2),
        ("TCP_KEEPINTVL", 1),
        ("TCP_KEEPCNT", 2),
        ("TCP_USER_TIMEOUT", TCP_USER_TIMEOUT_MS),
    ):
        if hasattr(socket, name):  # Linux; other systems keep their defaults
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)
    return sock


def _quiet_paramiko() -> None:
    """paramiko logs transport-thread noise ("Socket exception") to stderr through logging's
    last-resort handler; the errors that matter reach the user as exceptions instead."""
    logger = logging.getLogger("paramiko")
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())


@dataclass(frozen=True)
class Rules:
    """What every hop of one device's route shares."""

    device: str  # the inventory's device name, for messages
    source: str  # where the device is declared, for messages
    known_hosts: Path
    accept_new: bool
    timeout: float


class Hop(fabric.Connection):
    """fabric's Connection to the device or to a jump host on its way, under edgebench's rules."""

    # Real attributes, not config keys (fabric's Connection proxies unknown attributes).
    rules: Optional[Rules] = None
    jump_host: Optional[str] = None  # the ProxyJump hop as written; None for the device itself

    def __init__(
        self,
        host: str,
        rules: Rules,
        jump_host: Optional[str] = None,
        key_filenames=(),
        depth: int = 0,
        **kwargs,
    ):
        self.rules, self.jump_host = rules, jump_host  # before fabric's __init__: it builds the route
        self._set(_depth=depth)
        t = rules.timeout
        super().__init__(
            host,
            connect_kwargs={
                "key_filename": list(key_filenames),
                "banner_timeout": t,
                "auth_timeout": t,
                "channel_timeout": t,
            },
            **kwargs,
        )
        # With an IdentityFile (inventory or ssh_config): those keys only; else ~/.ssh/id_* too.
        # ssh-agent always.
        keys = self.connect_kwargs.get("key_filename")
        self.connect_kwargs.update(allow_agent=True, look_for_keys=not keys)
        self.client.set_missing_host_key_policy(
            hostkeys.AcceptNew(rules.known_hosts) if rules.accept_new else hostkeys.RefuseUnknown()
        )
        # known_hosts as parsed once; each client gets its own list (`trust` adds to it).
        # (paramiko's HostKeys has kept its entries in `_entries` since 1.x.)
        self.client.get_host_keys()._entries.extend(KNOWN_HOSTS.get([str(rules.known_hosts)]))

    def derive_shorthand(self, host_string):
        return parse_hop(host_string)

    def get_gateway(self):
        """ssh's order: `ProxyJump a,b` reaches a directly (through a's own ProxyJump, if any),
        b through a, and this host through b. ProxyCommand and the rest: fabric's."""
        jumps = self.ssh_config.get("proxyjump")
        if jumps is None:
            return super().get_gateway()
        options = list(self.ssh_config)  # in the ssh_config's order: as in ssh, the first of the two wins
        if "proxycommand" in options and options.index("proxycommand") < options.index("proxyjump"):
            return self.ssh_config["proxycommand"]
        if jumps.strip().lower() == "none":
            return None
        if self._depth >= MAX_HOPS:
            raise UserError(
                "device '%s': ProxyJump leads through more than %d hops (a loop in the "
                "ssh_config?)" % (self.rules.device, MAX_HOPS)
            )
        gateway = None
        for hop in (h.strip() for h in jumps.split(",")):
            if parse_hop(hop)["host"] in (self.original_host, self.host):
                return None  # a wildcard rule that names this very host as its own jump host
            kwargs = {"gateway": gateway} if gateway is not None else {}
            gateway = Hop(
                hop, self.rules, jump_host=hop, depth=self._depth + 1, config=self.config.clone(), **kwargs
            )
        return gateway

    @property
    def entry(self) -> str:
        """This hop's name in known_hosts."""
        return hostkeys.host_entry(self.host, int(self.port))

    @property
    def what(self) -> Optional[str]:
        return "jump host %s" % self.jump_host if self.jump_host else None

    def _which(self) -> str:
        return " (%s)" % self.what if self.what else ""

    def _at(self) -> str:
        """host:port, and which jump host, for messages."""
        return "%s:%d%s" % (self.host, int(self.port), self._which())

    def route(self) -> List["Hop"]:
        """The hops from the first one reached to this one."""
        hops, hop = [], self
        while isinstance(hop, Hop):
            hops.insert(0, hop)
            hop = hop.gateway
        return hops

    def open(self):
        if self.is_connected:
            return None
        _quiet_paramiko()
        sock = None
        if not self.gateway:  # the first hop: our socket; a later one: fabric's channel through the last
            sock = self._tuned_socket(self.connect_timeout or self.rules.timeout)
            self.connect_kwargs["sock"] = sock
        try:
            result = super().open()
        except hostkeys.UnknownHostKey as exc:
            self._abort(sock)
            raise hostkeys.HostKeyError(
                hostkeys.unknown_key_message(
                    self.rules.device, exc.entry, exc.key, self.rules.known_hosts, self.what
                )
            ) from None
        except paramiko.BadHostKeyException as exc:
            self._abort(sock)
            raise hostkeys.HostKeyError(
                hostkeys.changed_key_message(
                    self.rules.device,
                    self.entry,
                    exc.key,
                    exc.expected_key,
                    self.rules.known_hosts,
                    self.what,
                )
            ) from None
        except paramiko.AuthenticationException as exc:
            self._abort(sock)
            where = (
                "check User and IdentityFile of %s in the ssh_config" % self.jump_host
                if self.jump_host
                else "check user and identity_file in %s" % self.rules.source
            )
            raise UserError(
                "device '%s': SSH authentication failed for %s@%s (%s); %s"
                % (self.rules.device, self.user, self._at(), exc, where)
            ) from None
        except LINK_ERRORS as exc:
            self._abort(sock)
            raise DeviceError("cannot open SSH to %s: %s" % (self._at(), exc)) from None
        finally:
            self.connect_kwargs.pop("sock", None)
        self.transport.set_keepalive(KEEPALIVE_S)
        return result

    def _tuned_socket(self, timeout: float) -> socket.socket:
        try:
            return tuned_socket(self.host, int(self.port), timeout)
        except DeviceError as exc:
            raise DeviceError("%s%s" % (exc, self._which())) from None

    def _abort(self, sock) -> None:
        self.client.close()
        if sock is not None:
            sock.close()

    def server_key(self) -> paramiko.PKey:
        """This hop's host key, by key exchange alone (no login), over the same route as `open`."""
        timeout = self.rules.timeout
        if self.gateway:
            try:
                sock = self.open_gateway()  # logs in to the hops before this one
            except LINK_ERRORS as exc:
                raise DeviceError("cannot reach %s: %s" % (self._at(), exc)) from None
        else:
            sock = self._tuned_socket(timeout)
        transport = paramiko.Transport(sock)
        transport.banner_timeout = transport.handshake_timeout = timeout
        try:
            transport.start_client(timeout=timeout)
            return transport.get_remote_server_key()
        except LINK_ERRORS as exc:
            raise DeviceError("cannot read the host key of %s: %s" % (self._at(), exc)) from None
        finally:
            transport.close()

    def close_route(self) -> None:
        """Closes this hop and every jump host before it (fabric's close leaves gateways open)."""
        for hop in reversed(self.route()):
            for closable in (hop._sftp, hop.client):
                if closable is not None:
                    try:
                        closable.close()
                    except Exception:  # closing a dead connection may raise anything; it is gone either way
                        pass
            hop._sftp = None


def route_to(device, accept_new: bool = False, timeout: float = CONNECT_TIMEOUT_S) -> Hop:
    """The device's route, not yet opened. Inventory fields win over the ssh_config, which wins
    over defaults (as with `ssh`)."""
    rules = Rules(
        device=device.name,
        source=str(getattr(device, "source", None) or "the inventory"),
        known_hosts=hostkeys.known_hosts_path(),
        accept_new=accept_new,
        timeout=timeout,
    )
    keys = [os.path.expanduser(device.identity_file)] if device.identity_file else []
    return Hop(
        device.ssh_alias or device.host,
        rules,
        key_filenames=keys,
        user=device.user or None,
        port=int(device.port) if device.port else None,
        config=fabric_config(timeout),
    )


@dataclass
class SeenKey:
    """A host key that `trust` read: the device's, or a jump host's on its way."""

    device: str
    hop: Optional[str]  # "jump host jump1", or None for the device itself
    entry: str
    key: paramiko.PKey
    known: bool  # already in known_hosts (else just recorded)

    @property
    def fingerprint(self) -> str:
        return hostkeys.fingerprint(self.key)


def trust(device, timeout: float = CONNECT_TIMEOUT_S) -> List[SeenKey]:
    """`edgebench trust`: reads the host key of every hop to the device (jump hosts first)
    through the same settings as a connection, and records in known_hosts those it lacks. A
    changed key is refused. A jump host is logged in to, its key checked, to reach the next hop;
    the device is not logged in to."""
    if device.connection != "ssh":
        raise UserError("device '%s' is %s: there is no host key to trust" % (device.name, device.connection))
    target = route_to(device, timeout=timeout)
    seen = []
    try:
        for hop in target.route():
            key = hop.server_key()
            known = hostkeys.check_or_record(target.rules.known_hosts, hop.entry, key, device.name, hop.what)
            hop.client.get_host_keys().add(hop.entry, key.get_name(), key)  # the next hop logs in to this one
            seen.append(SeenKey(device.name, hop.what, hop.entry, key, known))
    finally:
        target.close_route()
    return seen


class SSHChannel(PumpedChannel):
    STREAM_ERRORS = (OSError, EOFError, paramiko.SSHException)

    def __init__(self, chan: paramiko.Channel):
        self._chan = chan
        self._start_pumps(chan.makefile("r"), chan.makefile_stderr("r"))

    def link_alive(self) -> bool:
        transport = self._chan.get_transport()
        return transport is not None and transport.is_active()

    def send_line(self, line: str) -> None:
        try:
            self._chan.sendall((line if line.endswith("\n") else line + "\n").encode())
        except LINK_ERRORS as exc:
            raise BrokenPipeError(str(exc)) from None

    def close(self, timeout: float = 5.0) -> Optional[int]:
        try:
            self._chan.shutdown_write()
        except LINK_ERRORS:
            pass
        status = self._chan.exit_status if self._chan.status_event.wait(timeout) else None
        self._chan.close()
        return status


class SSHConnection(Connection):
    def __init__(self, device, accept_new: bool = False, timeout: float = CONNECT_TIMEOUT_S):
        self.name = device.name
        self.device = device
        self._sftp = None
        self.fabric = route_to(device, accept_new=accept_new, timeout=timeout)
        try:
            self.fabric.open()
        except BaseException:
            self.fabric.close_route()  # the jump hosts' connections are ours too
            raise

    @property
    def route(self) -> List[str]:
        """Where the connection goes, as host:port, first hop first."""
        return ["%s:%d" % (hop.host, int(hop.port)) for hop in self.fabric.route()]

    def alive(self) -> bool:
        return self.fabric.is_connected

    def _session(self, timeout: float) -> paramiko.Channel:
        try:
            return self.fabric.transport.open_session(timeout=timeout)
        except (*LINK_ERRORS, AttributeError) as exc:
            raise LinkLost("SSH connection to %s lost: %s" % (self.name, exc)) from None

    def run(self, argv: Sequence[str], timeout: float = 60.0) -> Result:
        chan = self._session(timeout)
        chan.settimeout(timeout)
        try:
            chan.exec_command(shlex.join(argv))
            stdout = chan.makefile("rb").read().decode("utf-8", "replace")
            stderr = chan.makefile_stderr("rb").read().decode("utf-8", "replace")
            status = chan.recv_exit_status()
        except socket.timeout:
            raise DeviceError(
                "%s: command timed out after %.0f s: %s" % (self.name, timeout, _command_label(argv))
            ) from None
        except LINK_ERRORS as exc:
            raise LinkLost("SSH connection to %s lost during %s: %s" % (self.name, argv[0], exc)) from None
        finally:
            chan.close()
        if status == -1:  # no exit status: the connection died, not the command
            raise LinkLost("SSH connection to %s lost during %s" % (self.name, _command_label(argv)))
        return Result(list(argv), status, stdout, stderr)

    def sftp(self) -> paramiko.SFTPClient:
        """Our own SFTP session: fabric's `sftp()` would reopen a lost connection unasked."""
        if self._sftp is None:
            self._sftp = self.fabric.client.open_sftp()
            self._sftp.get_channel().settimeout(SFTP_TIMEOUT_S)
        return self._sftp

    def put(self, local: str, remote: str) -> None:
        tmp = "%s.tmp-%d" % (remote, os.getpid())
        made = self.run(["mkdir", "-p", os.path.dirname(remote)], timeout=30)
        if not made.ok:
            raise DeviceError("%s: cannot create %s: %s" % (self.name, os.path.dirname(remote), made.tail()))
        try:
            self.sftp().put(local, tmp, confirm=True)
            self.sftp().posix_rename(tmp, remote)
        except LINK_ERRORS as exc:
            raise LinkLost("copy of %s to %s:%s failed: %s" % (local, self.name, remote, exc)) from None

    def get(self, remote: str, local: str) -> None:
        try:
            self.sftp().get(remote, local)
        except LINK_ERRORS as exc:
            raise DeviceError("copy of %s:%s failed: %s" % (self.name, remote, exc)) from None

    def open_channel(self, argv: Sequence[str]) -> SSHChannel:
        chan = self._session(CONNECT_TIMEOUT_S)
        try:
            chan.exec_command(shlex.join(argv))
        except LINK_ERRORS as exc:
            chan.close()
            raise LinkLost("SSH connection to %s lost starting %s: %s" % (self.name, argv[0], exc)) from None
        return SSHChannel(chan)

    def close(self) -> None:
        if self._sftp is not None:
            try:
                self._sftp.close()
            except Exception:  # closing a dead connection may raise anything; it is gone either way
                pass
            self._sftp = None
        self.fabric.close_route()
