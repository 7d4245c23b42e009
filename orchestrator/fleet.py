"""Fleet-wide operations that are not sweeps: probe, deploy, trust; all devices in parallel."""
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import List, Optional

import paramiko

from .deploy import prepare
from .errors import DeviceError, UserError
from .session import start_session
from .transport import connect
from .transport import hostkeys


@dataclass
class DeviceResult:
    device: object
    ok: bool
    value: object = None        # facts (probe) or DeployReport (deploy)
    error: Optional[str] = None


def _in_parallel(devices, work, parallel: int) -> List[DeviceResult]:
    """Runs `work(device)` on every device; a device failure is its own result, not the end.
    A user error (unknown host key, ...) still stops the command."""
    def one(device):
        try:
            return DeviceResult(device, True, work(device))
        except DeviceError as exc:
            return DeviceResult(device, False, error=str(exc))
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        return list(pool.map(one, devices))


def probe_device(device, accept_new: bool = False) -> dict:
    with connect(device, accept_new=accept_new) as conn:
        _, session = start_session(conn, device.python, device.workdir)
        try:
            return session.probe(device.telemetry)
        finally:
            session.close()


def probe_all(devices, store, parallel: int = 16, accept_new: bool = False) -> List[DeviceResult]:
    results = _in_parallel(devices, lambda d: probe_device(d, accept_new), parallel)
    for result in results:
        if result.ok:
            store.upsert_device(result.device, facts=result.value)
    return results


def deploy_devices(devices, models, parallel: int = 8, accept_new: bool = False) -> List[DeviceResult]:
    def deploy_one(device):
        with connect(device, accept_new=accept_new) as conn:
            files = prepare(conn, device.python, device.workdir, models)
            files.ensure_agent()
            for model in models:
                files.ensure_model(model)
                files.ensure_eval_set(model)
        return files.report
    return _in_parallel(devices, deploy_one, parallel)


def trust(device) -> tuple:
    """Fetches the device's host key and records it in known_hosts. Returns (entry, key type,
    fingerprint, already_known)."""
    from .transport.ssh import resolve_target, tuned_socket
    if device.connection != "ssh":
        raise UserError("device '%s' is %s: there is no host key to trust" % (device.name, device.connection))
    target = resolve_target(device)
    path = hostkeys.known_hosts_path()
    entry = hostkeys.host_entry(target.hostname, target.port)
    sock = tuned_socket(target.hostname, target.port, 10.0)
    transport = paramiko.Transport(sock)
    try:
        transport.start_client(timeout=10.0)
        key = transport.get_remote_server_key()
    except (paramiko.SSHException, OSError) as exc:
        raise DeviceError("cannot read the host key of %s: %s" % (device.name, exc)) from None
    finally:
        transport.close()
    known = hostkeys.load_known_hosts(path).lookup(entry) or {}
    if key.get_name() in known:
        if known[key.get_name()] != key:
            raise UserError("device '%s': host key for %s CHANGED (now %s); if the device was reinstalled, remove "
                            "its line from %s first" % (device.name, entry, hostkeys.fingerprint(key), path))
        return entry, key.get_name(), hostkeys.fingerprint(key), True
    hostkeys.record_host_key(path, entry, key)
    return entry, key.get_name(), hostkeys.fingerprint(key), False
