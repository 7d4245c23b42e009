"""Host keys: strict checking against known_hosts; never accept a key silently.

The known_hosts file is $EDGEBENCH_KNOWN_HOSTS, else ~/.ssh/known_hosts (OpenSSH's format, so
`ssh` and edgebench agree about what is trusted). Every hop of a route is checked, jump hosts
included.
"""

import os
from pathlib import Path
from typing import Optional

import paramiko

from ..errors import UserError


class HostKeyError(UserError):
    """An unknown or changed host key: the user must decide, not edgebench."""


def known_hosts_path() -> Path:
    return Path(os.environ.get("EDGEBENCH_KNOWN_HOSTS") or Path.home() / ".ssh" / "known_hosts")


def host_entry(hostname: str, port: int) -> str:
    """known_hosts names a non-standard port as [host]:port."""
    return hostname if port == 22 else "[%s]:%d" % (hostname, port)


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's form, SHA256:base64 without padding (paramiko's own `PKey.fingerprint`)."""
    return key.fingerprint


def load_known_hosts(path: Path) -> paramiko.HostKeys:
    keys = paramiko.HostKeys()
    if path.exists():
        keys.load(str(path))
    return keys


def record_host_key(path: Path, entry: str, key: paramiko.PKey) -> None:
    """Appends one line; existing lines (the user's) are kept as they are."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write("%s %s %s\n" % (entry, key.get_name(), key.get_base64()))


def check_or_record(
    path: Path, entry: str, key: paramiko.PKey, device: str, hop: Optional[str] = None
) -> bool:
    """`edgebench trust`: True if known_hosts already holds `key` for `entry`; records it if
    known_hosts holds no key of its type for `entry`; refuses a different key of that type."""
    known = load_known_hosts(path).lookup(entry) or {}
    expected = known.get(key.get_name())
    if expected is None:
        record_host_key(path, entry, key)
        return False
    if expected != key:
        raise HostKeyError(changed_key_message(device, entry, key, expected, path, hop))
    return True


class UnknownHostKey(Exception):
    def __init__(self, entry: str, key: paramiko.PKey):
        super().__init__(entry)
        self.entry, self.key = entry, key


class RefuseUnknown(paramiko.MissingHostKeyPolicy):
    def missing_host_key(self, client, hostname, key):
        raise UnknownHostKey(hostname, key)


class AcceptNew(paramiko.MissingHostKeyPolicy):
    """--accept-new: like OpenSSH's StrictHostKeyChecking=accept-new: an unknown key is
    recorded; a changed key is still refused (paramiko raises BadHostKeyException)."""

    def __init__(self, path: Path):
        self.path = path

    def missing_host_key(self, client, hostname, key):
        record_host_key(self.path, hostname, key)


def _whose(entry: str, hop: Optional[str]) -> str:
    return "%s (%s)" % (entry, hop) if hop else entry


def unknown_key_message(
    device: str, entry: str, key: paramiko.PKey, path: Path, hop: Optional[str] = None
) -> str:
    """`hop` names a jump host on the way to the device ("jump host jump1"); None: the device."""
    return (
        "device '%s': unknown host key for %s (%s %s); check it, then run `edgebench trust %s` "
        "to record it in %s, or pass --accept-new"
        % (device, _whose(entry, hop), key.get_name(), fingerprint(key), device, path)
    )


def changed_key_message(
    device: str,
    entry: str,
    key: paramiko.PKey,
    expected: paramiko.PKey,
    path: Path,
    hop: Optional[str] = None,
) -> str:
    return (
        "device '%s': host key for %s CHANGED (now %s %s, expected %s); someone may be intercepting "
        "the connection. If the host was reinstalled, remove its line from %s and run `edgebench trust %s`"
        % (device, _whose(entry, hop), key.get_name(), fingerprint(key), fingerprint(expected), path, device)
    )
