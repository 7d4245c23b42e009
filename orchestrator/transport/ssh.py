"""SSH transport on paramiko: one connection per device, reused for a whole sweep.

Why the socket options (DESIGN.md, measured here): TCP_NODELAY saves ~40 ms per new session
(Nagle / delayed ACK); keepalive plus TCP_USER_TIMEOUT notices a dead link in about 4 s,
where paramiko alone hangs for minutes. Every blocking call has a timeout.
"""
import getpass
import logging
import os
import shlex
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

import paramiko

from ..errors import DeviceError, LinkLost, UserError
from . import hostkeys
from .base import Connection, PumpedChannel, Result

CONNECT_TIMEOUT_S = 10.0
KEEPALIVE_S = 2
TCP_USER_TIMEOUT_MS = 4000


@dataclass
class Target:
    hostname: str
    port: int
    username: str
    key_filenames: List[str]
    proxy_jump: Optional[str]


def ssh_config() -> paramiko.SSHConfig:
    path = Path(os.environ.get("EDGEBENCH_SSH_CONFIG") or Path.home() / ".ssh" / "config")
    return paramiko.SSHConfig.from_path(str(path)) if path.exists() else paramiko.SSHConfig()


def resolve_target(device, config: paramiko.SSHConfig = None) -> Target:
    """Inventory fields win over ~/.ssh/config, which wins over defaults (as with `ssh`)."""
    config = config or ssh_config()
    looked = config.lookup(device.ssh_alias or device.host)
    keys = [os.path.expanduser(device.identity_file)] if device.identity_file else \
        [os.path.expanduser(k) for k in looked.get("identityfile", [])]
    return Target(hostname=looked.get("hostname", device.ssh_alias or device.host),
                  port=int(device.port or looked.get("port", 22)),
                  username=device.user or looked.get("user") or getpass.getuser(),
                  key_filenames=keys, proxy_jump=looked.get("proxyjump"))


def tuned_socket(hostname: str, port: int, timeout: float) -> socket.socket:
    try:
        sock = socket.create_connection((hostname, port), timeout=timeout)
    except OSError as exc:
        raise DeviceError("cannot reach %s:%d: %s" % (hostname, port, exc.strerror or exc)) from None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (("TCP_KEEPIDLE", 2), ("TCP_KEEPINTVL", 1), ("TCP_KEEPCNT", 2),
                        ("TCP_USER_TIMEOUT", TCP_USER_TIMEOUT_MS)):
        if hasattr(socket, name):  # Linux; other systems keep their defaults
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)
    return sock


def _jump_socket(jump: str, target: Target, timeout: float, accept_new: bool):
    """ProxyJump: a direct-tcpip channel through the jump host's own SSH connection."""
    from types import SimpleNamespace
    host, _, port = jump.rpartition("@")[2].partition(":")
    user = jump.split("@")[0] if "@" in jump else None
    jump_device = SimpleNamespace(name="%s (jump host)" % jump, ssh_alias=None, host=host, port=int(port) if port else None,
                                  user=user, identity_file=None)
    jump_conn = SSHConnection(jump_device, accept_new=accept_new, timeout=timeout)
    channel = jump_conn.client.get_transport().open_channel(
        "direct-tcpip", (target.hostname, target.port), ("127.0.0.1", 0), timeout=timeout)
    return channel, jump_conn


def _quiet_paramiko() -> None:
    """paramiko logs transport-thread noise ("Socket exception") to stderr through logging's
    last-resort handler; the errors that matter reach the user as exceptions instead."""
    logger = logging.getLogger("paramiko")
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())


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
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise BrokenPipeError(str(exc)) from None

    def close(self, timeout: float = 5.0) -> Optional[int]:
        try:
            self._chan.shutdown_write()
        except (OSError, EOFError, paramiko.SSHException):
            pass
        status = self._chan.exit_status if self._chan.status_event.wait(timeout) else None
        self._chan.close()
        return status


class SSHConnection(Connection):
    def __init__(self, device, accept_new: bool = False, timeout: float = CONNECT_TIMEOUT_S):
        self.name = device.name
        self.device = device
        self.target = resolve_target(device)
        self.known_hosts = hostkeys.known_hosts_path()
        self._jump = None
        self._sftp = None
        self.client = self._connect(accept_new, timeout)

    def _connect(self, accept_new: bool, timeout: float) -> paramiko.SSHClient:
        t = self.target
        if t.proxy_jump:
            sock, self._jump = _jump_socket(t.proxy_jump, t, timeout, accept_new)
        else:
            sock = tuned_socket(t.hostname, t.port, timeout)
        try:
            return self._handshake(sock, accept_new, timeout)
        except BaseException:
            if self._jump is not None:
                self._jump.close()  # the jump host's connection is ours too
            raise

    def _handshake(self, sock, accept_new: bool, timeout: float) -> paramiko.SSHClient:
        t = self.target
        _quiet_paramiko()
        client = paramiko.SSHClient()
        if self.known_hosts.exists():
            client.load_host_keys(str(self.known_hosts))
        client.set_missing_host_key_policy(hostkeys.AcceptNew(self.known_hosts) if accept_new else hostkeys.RefuseUnknown())
        try:
            client.connect(t.hostname, port=t.port, username=t.username, key_filename=t.key_filenames or None,
                           sock=sock, timeout=timeout, banner_timeout=timeout, auth_timeout=timeout,
                           allow_agent=True, look_for_keys=not t.key_filenames)
        except hostkeys.UnknownHostKey as exc:
            client.close()
            raise hostkeys.HostKeyError(hostkeys.unknown_key_message(self.name, exc.entry, exc.key, self.known_hosts)) from None
        except paramiko.BadHostKeyException as exc:
            client.close()
            entry = hostkeys.host_entry(t.hostname, t.port)
            raise hostkeys.HostKeyError(hostkeys.changed_key_message(self.name, entry, exc, self.known_hosts)) from None
        except paramiko.AuthenticationException as exc:
            client.close()
            raise UserError("device '%s': SSH authentication failed for %s@%s:%d (%s); check user and identity_file in %s"
                            % (self.name, t.username, t.hostname, t.port, exc, getattr(self.device, "source", "the inventory"))) from None
        except (paramiko.SSHException, OSError, EOFError) as exc:
            client.close()
            raise DeviceError("cannot open SSH to %s:%d: %s" % (t.hostname, t.port, exc)) from None
        client.get_transport().set_keepalive(KEEPALIVE_S)
        return client

    def alive(self) -> bool:
        transport = self.client.get_transport()
        return transport is not None and transport.is_active()

    def _session(self, timeout: float) -> paramiko.Channel:
        try:
            return self.client.get_transport().open_session(timeout=timeout)
        except (paramiko.SSHException, OSError, EOFError, AttributeError) as exc:
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
            raise DeviceError("%s: command timed out after %.0f s: %s" % (self.name, timeout, shlex.join(argv))) from None
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise LinkLost("SSH connection to %s lost during %s: %s" % (self.name, argv[0], exc)) from None
        finally:
            chan.close()
        if status == -1:  # no exit status: the connection died, not the command
            raise LinkLost("SSH connection to %s lost during %s" % (self.name, shlex.join(argv)))
        return Result(list(argv), status, stdout, stderr)

    def sftp(self) -> paramiko.SFTPClient:
        if self._sftp is None:
            self._sftp = self.client.open_sftp()
            self._sftp.get_channel().settimeout(120.0)
        return self._sftp

    def put(self, local: str, remote: str) -> None:
        tmp = "%s.tmp-%d" % (remote, os.getpid())
        made = self.run(["mkdir", "-p", os.path.dirname(remote)], timeout=30)
        if not made.ok:
            raise DeviceError("%s: cannot create %s: %s" % (self.name, os.path.dirname(remote), made.tail()))
        try:
            self.sftp().put(local, tmp, confirm=True)
            self.sftp().posix_rename(tmp, remote)
        except (OSError, paramiko.SSHException, EOFError) as exc:
            raise LinkLost("copy of %s to %s:%s failed: %s" % (local, self.name, remote, exc)) from None

    def get(self, remote: str, local: str) -> None:
        try:
            self.sftp().get(remote, local)
        except (OSError, paramiko.SSHException, EOFError) as exc:
            raise DeviceError("copy of %s:%s failed: %s" % (self.name, remote, exc)) from None

    def open_channel(self, argv: Sequence[str]) -> SSHChannel:
        chan = self._session(CONNECT_TIMEOUT_S)
        try:
            chan.exec_command(shlex.join(argv))
        except (paramiko.SSHException, OSError, EOFError) as exc:
            chan.close()
            raise LinkLost("SSH connection to %s lost starting %s: %s" % (self.name, argv[0], exc)) from None
        return SSHChannel(chan)

    def close(self) -> None:
        for closable in (self._sftp, self.client, self._jump):
            if closable is not None:
                try:
                    closable.close()
                except Exception:  # closing a dead connection may raise anything; it is gone either way
                    pass
