"""Fleet-wide operations that are not sweeps: probe and deploy across devices, a bounded number
at once (`parallel`), one connection per device. `connect` is injected (default: the
inventory's transport; tests pass transport/fake.py's); `done(result)` hears of each device as
it finishes (display.py's summary line). What every device shares (the agent's zipapp and its
hash) is worked out once, before the fan-out."""

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional

from edgebench.agent.protocol import ProtocolError, decode_record

from . import backends
from .agent_build import build_agent
from .deploy import UNPACK, DeviceFiles, agent_relpath, artifacts_for, prepare
from .errors import DeviceError
from .transport import connect

# Devices worked on at once: enough to hide each device's round trips and Python start-up
# behind the others', few enough that the controller's CPU (an SSH handshake each) keeps up.
DEFAULT_PARALLEL = 32
PROBE_TIMEOUT_S = 120.0  # a first probe imports every runtime it finds: seconds on a small board

# The probe in one command, run by the device's Python (3.6+): resolve the workdir; when the
# agent is there (argv[3] is its size) import its probe in this very process and print the
# facts record; else print the workdir lookup of deploy.OPEN, so that the agent is sent and the
# probe run again. No `serve`, no second Python, no round trips. The probe imports from the
# zipapp unpacked once beside it (WORKDIR/agents/edgebench-agent-HASH/, into a temporary
# folder, then renamed): Python cannot cache what it compiles from a zip (a probe took 72 ms
# of CPU here from the zip, 46 ms unpacked, 29 ms of them Python's own start).
PROBE = (
    "import os,sys\n"
    "w=os.path.abspath(os.path.expanduser(sys.argv[1])); a=os.path.join(w, sys.argv[2]); d=a[:-4]\n"
    "if not (os.path.isfile(a) and not os.path.islink(a) and os.path.getsize(a) == int(sys.argv[3])):\n"
    " import json; os.makedirs(w, exist_ok=True); print(json.dumps({'workdir': w, 'files': {}})); sys.exit(0)\n"
    + UNPACK
    + "sys.path.insert(0, d); from edgebench_agent.probe import main; sys.exit(main(w, sys.argv[4]))\n"
)


@dataclass
class DeviceResult:
    device: object
    ok: bool
    value: object = None  # facts (probe) or DeployReport (deploy)
    error: Optional[str] = None


Done = Optional[Callable[[DeviceResult], None]]


def _in_parallel(devices, work, parallel: int, done: Done = None) -> List[DeviceResult]:
    """Runs `work(device)` on every device, at most `parallel` at once; a device failure is its
    own result, not the end. A user error (unknown host key, ...) still stops the command.
    Results in the devices' order."""

    def one(device):
        try:
            result = DeviceResult(device, True, work(device))
        except DeviceError as exc:
            result = DeviceResult(device, False, error=str(exc))
        if done is not None:
            done(result)
        return result

    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(devices)))) as pool:
        return list(pool.map(one, devices))


def probe_device(device, accept_new: bool = False, connect=connect, agent: Optional[Path] = None) -> dict:
    """The device's facts over one connection, by one command when it has the agent."""
    agent = agent or build_agent()
    with connect(device, accept_new=accept_new) as conn:
        return probe_facts(conn, device, agent)


def probe_facts(conn, device, agent: Path) -> dict:
    """The facts from `agent` (the local zipapp), sent first if the device lacks it."""
    line = _probe_line(conn, device, agent)
    answer = _json_object(line)
    if "workdir" in answer and "type" not in answer:  # the agent is not there: send it, ask again
        DeviceFiles(conn, device.python, line).ensure_agent()
        line = _probe_line(conn, device, agent)
    try:
        record = decode_record(line)
    except ProtocolError as exc:
        raise DeviceError(
            "%s: unexpected answer to the probe (%s): %.200s" % (conn.name, exc, line)
        ) from None
    if record["type"] != "facts" or not isinstance(record.get("facts"), dict):
        raise DeviceError("%s: expected the facts from the probe, got: %.200s" % (conn.name, line))
    return record["facts"]


def _probe_line(conn, device, agent: Path) -> str:
    argv = [
        device.python,
        "-c",
        PROBE,
        device.workdir,
        agent_relpath(agent),
        str(agent.stat().st_size),
        json.dumps(device.telemetry or {}),
    ]
    result = conn.run(argv, timeout=PROBE_TIMEOUT_S)
    if not result.ok:
        raise DeviceError("%s: probe failed: %s" % (conn.name, result.tail()))
    lines = result.stdout.strip().splitlines()
    return lines[-1] if lines else ""  # the answer is the last line: a runtime may print before it


def _json_object(line: str) -> dict:
    try:
        answer = json.loads(line)
    except ValueError:
        answer = None
    return answer if isinstance(answer, dict) else {}


class BackgroundStore:
    """The store, opened in a thread while the first devices are probed (importing SQLAlchemy
    costs the controller as much as probing a few devices); each write waits until it is open."""

    def __init__(self, open_store: Callable[[], object]):
        opener = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store")
        self._store = opener.submit(open_store)
        opener.shutdown(wait=False)

    def get(self):
        """The open store; raises what opening it raised."""
        return self._store.result()

    def upsert_device(self, device, facts: Optional[dict] = None) -> None:
        self.get().upsert_device(device, facts=facts)


def probe_all(
    devices,
    store,
    parallel: int = DEFAULT_PARALLEL,
    accept_new: bool = False,
    connect=connect,
    done: Done = None,
) -> List[DeviceResult]:
    """Probes `devices`, storing each one's facts as they come (the writes overlap the probes
    still under way)."""
    agent = build_agent()

    def probe_and_store(device) -> dict:
        facts = probe_device(device, accept_new, connect, agent)
        store.upsert_device(device, facts=facts)
        return facts

    return _in_parallel(devices, probe_and_store, parallel, done)


def deploy_device(device, models, accept_new: bool = False, connect=connect, note=None):
    """The agent, and each model as the artifact of each backend the device lists (and its
    eval set), sent where the device lacks them; compiled artifacts for the device's target
    (`note(message)` hears of each compile). Returns the DeployReport."""
    artifacts = artifacts_for(models, device.backends)
    with connect(device, accept_new=accept_new) as conn:
        files = prepare(conn, device.python, device.workdir, artifacts, device.target)
        files.ensure_agent()
        facts = probe_facts(conn, device, build_agent()) if artifacts else None
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
    devices,
    models,
    parallel: int = DEFAULT_PARALLEL,
    accept_new: bool = False,
    connect=connect,
    note=None,
    done: Done = None,
) -> List[DeviceResult]:
    """`note(device, message)` hears of each compile (they take seconds)."""
    if models:  # a compiled backend on a device without a target: refused before anything moves
        for device, backend in ((d, b) for d in devices for b in d.backends if b in backends.BACKENDS):
            backends.get(backend).target_for(device)
    build_agent()  # once, before the fan-out: the devices then share one zipapp, built once

    def one(device):
        told = (lambda message: note(device.name, message)) if note else None
        return deploy_device(device, models, accept_new, connect, told)

    return _in_parallel(devices, one, parallel, done)
