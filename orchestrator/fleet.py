"""Fleet-wide operations that are not sweeps: probe and deploy, all devices in parallel.
`connect` is injected (default: the inventory's transport; tests pass transport/fake.py's)."""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import List, Optional

from . import backends
from .deploy import artifacts_for, prepare
from .errors import DeviceError
from .session import start_session
from .transport import connect


@dataclass
class DeviceResult:
    device: object
    ok: bool
    value: object = None  # facts (probe) or DeployReport (deploy)
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


def probe_device(device, accept_new: bool = False, connect=connect) -> dict:
    with connect(device, accept_new=accept_new) as conn:
        return _facts(conn, device)


def _facts(conn, device) -> dict:
    _, session = start_session(conn, device.python, device.workdir)
    try:
        return session.probe(device.telemetry)
    finally:
        session.close()


def probe_all(
    devices, store, parallel: int = 16, accept_new: bool = False, connect=connect
) -> List[DeviceResult]:
    results = _in_parallel(devices, lambda d: probe_device(d, accept_new, connect), parallel)
    for result in results:
        if result.ok:
            store.upsert_device(result.device, facts=result.value)
    return results


def deploy_device(device, models, accept_new: bool = False, connect=connect, note=None):
    """The agent, and each model as the artifact of each backend the device lists (and its
    eval set), sent where the device lacks them; compiled artifacts for the device's target
    (`note(message)` hears of each compile). Returns the DeployReport."""
    artifacts = artifacts_for(models, device.backends)
    with connect(device, accept_new=accept_new) as conn:
        files = prepare(conn, device.python, device.workdir, artifacts, device.target)
        files.ensure_agent()
        facts = _facts(conn, device) if artifacts else None
        for model, backend in artifacts:
            missing = backends.missing_runtime(backend, device.name, facts)
            if missing:  # nothing compiled or sent for a runtime the device lacks
                if missing not in files.report.refused:
                    files.report.refused.append(missing)
                continue
            files.ensure_model(model, backend, target=device.target, note=note)
        for model in dict.fromkeys(model for model, _ in artifacts):
            files.ensure_eval_set(model)
    return files.report


def deploy_devices(
    devices, models, parallel: int = 8, accept_new: bool = False, connect=connect, note=None
) -> List[DeviceResult]:
    """`note(device, message)` hears of each compile (they take seconds)."""
    if models:  # a compiled backend on a device without a target: refused before anything moves
        for device, backend in ((d, b) for d in devices for b in d.backends if b in backends.BACKENDS):
            backends.get(backend).target_for(device)

    def one(device):
        told = (lambda message: note(device.name, message)) if note else None
        return deploy_device(device, models, accept_new, connect, told)

    return _in_parallel(devices, one, parallel)
