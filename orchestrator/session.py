"""One long-lived agent per device per sweep: trials are requests on an open channel, so a
trial costs a message, not a new process or SSH session (docs/DESIGN.md)."""

import getpass
import json
import os
import socket
import time
from typing import Callable, List, Optional

from edgebench.agent.protocol import ProtocolError, decode_record

from .errors import AgentSilent, DeviceError, LinkLost
from .records import MAX_LINE_BYTES, MalformedRecord, validate
from .transport import Channel, Connection

HELLO_TIMEOUT_S = 60.0


def agent_argv(python: str, agent_path: str, workdir: str, *command: str) -> List[str]:
    return [python, agent_path, "--workdir", workdir, *command]


def parse_record(line: str) -> dict:
    """A line from the device as a validated record; MalformedRecord otherwise."""
    if len(line) > MAX_LINE_BYTES:
        raise MalformedRecord("record of %d bytes (limit %d)" % (len(line), MAX_LINE_BYTES))
    try:
        return validate(decode_record(line))
    except ProtocolError as exc:
        raise MalformedRecord(str(exc)) from None


class AgentSession:
    def __init__(self, channel: Channel):
        """`channel` runs `agent serve` (see `start_session`)."""
        self.channel = channel
        self.warnings: List[str] = []  # malformed records, reported and left out
        try:
            self.hello = self._expect("hello", HELLO_TIMEOUT_S)
        except BaseException:
            self.channel.close(timeout=1.0)  # never leave an agent behind
            raise

    def _read_line(self, timeout: float) -> str:
        try:
            line = self.channel.read_line(timeout)
        except TimeoutError as exc:
            if not self.channel.link_alive():
                raise LinkLost("link lost (%s)" % exc) from None
            raise AgentSilent("agent silent: %s" % exc) from None
        if line is None:
            if not self.channel.link_alive():
                raise LinkLost("link lost while the agent was running")
            raise DeviceError("agent exited: %s" % (self.channel.stderr_tail() or "no message"))
        return line

    def _next_record(self, timeout: float) -> dict:
        """The next well-formed record; malformed ones are noted in `warnings` and skipped."""
        while True:
            line = self._read_line(timeout)
            try:
                return parse_record(line)
            except MalformedRecord as exc:
                self.warnings.append("malformed record from agent (%s): %.120s" % (exc, line))

    def _expect(self, record_type: str, timeout: float) -> dict:
        record = self._next_record(timeout)
        if record["type"] == "error" and record.get("error"):
            raise DeviceError(record["error"])  # the agent's own one-line reason
        if record["type"] != record_type:
            raise DeviceError(
                "expected %s from agent, got %s: %s" % (record_type, record["type"], record.get("error", ""))
            )
        return record

    def _send(self, request: dict) -> None:
        try:
            self.channel.send_line(json.dumps(request))
        except (BrokenPipeError, OSError) as exc:
            if not self.channel.link_alive():
                raise LinkLost("link lost: %s" % exc) from None
            raise DeviceError("agent closed its input: %s %s" % (exc, self.channel.stderr_tail())) from None

    def probe(self, telemetry: dict = None, timeout: float = 60.0) -> dict:
        """Device facts; `telemetry` is the inventory's settings (which power sensor, ...)."""
        self._send({"op": "probe", "telemetry": telemetry or {}})
        return self._expect("facts", timeout)["facts"]

    def run_trial(
        self, job: dict, on_record: Callable[[dict], None], timeout: float, claim: Optional[dict] = None
    ) -> tuple:
        """Sends one job; hands each record of that trial to `on_record` as it arrives (`busy`
        ones too, while the device's lock is held by another trial). Returns (final status,
        host seconds from request to trial_end). `timeout` bounds the silence between two
        records. `claim` (see `claim` below): who we are, and whether to wait for a busy device."""
        start = time.monotonic()
        self._send(dict(claim or {}, op="run", job=job))
        while True:
            record = self._next_record(timeout)
            if record.get("trial_id") != job["trial_id"]:
                self.warnings.append(
                    "record for another trial (%r) while running %s"
                    % (record.get("trial_id"), job["trial_id"])
                )
                continue
            on_record(record)
            if record["type"] == "trial_end":
                return record["status"], time.monotonic() - start

    def close(self) -> Optional[int]:
        try:
            self._send({"op": "exit"})
        except DeviceError:
            pass
        return self.channel.close()


def start_session(
    conn: Connection, python: str, workdir: str, artifacts=(), target=None, options=None
) -> tuple:
    """(DeviceFiles, AgentSession): the agent is sent first only if the device lacks it.
    `artifacts`: (model, backend) pairs whose presence on the device is looked up too (compiled
    ones under the names the device's `target` and the backends' `options` give them)."""
    from .deploy import open_device

    files, channel = open_device(conn, python, workdir, artifacts, target, options)
    if channel is None:
        agent_path = files.ensure_agent()
        channel = conn.open_channel(agent_argv(python, agent_path, files.workdir, "serve"))
    return files, AgentSession(channel)


def fetch_spool(conn: Connection, python: str, agent_path: str, workdir: str, trial_id: str) -> tuple:
    """A trial's records as the device spooled them: (records, malformed-line messages).
    An empty list means the device has none (yet)."""
    result = conn.run(agent_argv(python, agent_path, workdir, "fetch", trial_id), timeout=60)
    records, problems = [], []
    if not result.ok:
        return records, problems
    for number, line in enumerate(result.stdout.splitlines(), 1):
        try:
            records.append(parse_record(line))
        except MalformedRecord as exc:
            problems.append("spool line %d: %s" % (number, exc))
    return records, problems


def device_busy(conn: Connection, python: str, agent_path: str, workdir: str) -> bool:
    """Whether a trial holds the device's lock (the agent prints the holder on a second line)."""
    result = conn.run(agent_argv(python, agent_path, workdir, "busy"), timeout=60)
    lines = result.stdout.splitlines() if result.ok else []
    return bool(lines) and lines[0].strip() == "busy"


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name anywhere (a container without one): the uid says who
        return str(os.getuid())


def controller() -> dict:
    """This controller: recorded with each sweep it starts and in each device lock it takes."""
    return {"host": socket.gethostname(), "user": _user(), "pid": os.getpid()}


def claim(sweep_id: str, on_busy: str = "wait") -> dict:
    """What a run request adds about this controller: the agent writes it into the device's
    lock, so that another controller finding the device busy can say who holds it; and
    whether to wait for a busy device or skip the trial."""
    return {"controller": dict(controller(), sweep=sweep_id), "on_busy": on_busy}


def resumable_here(settings: dict, status: str) -> bool:
    """Whether `sweep --resume` without an id may take a sweep that did not finish: one this
    user started on this host (or one stored before sweeps named who started them), and not
    one still running in a live process here (another terminal's). On a shared store the
    others' sweeps are theirs to resume, by id."""
    started_by = (settings or {}).get("controller")
    if not isinstance(started_by, dict):
        return True
    here = controller()
    if (started_by.get("host"), started_by.get("user")) != (here["host"], here["user"]):
        return False
    return not running_here(settings, status)


def running_here(settings: dict, status: str) -> bool:
    """Whether a live process on this host runs the sweep now (it started or resumed it)."""
    by = (settings or {}).get("controller")
    return (
        status == "running"
        and isinstance(by, dict)
        and by.get("host") == socket.gethostname()
        and _alive(by.get("pid"))
    )


def _alive(pid) -> bool:
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
