"""A scripted device behind the Connection seam, shipped with the library for tests (as httpx
ships MockTransport and invoke MockContext): the sweep engine's faults run in milliseconds,
with no sshd, no processes and no real sleeps.

    clock = FakeClock()
    fleet = FakeFleet(clock)
    fleet.add("nano", trials=[ok(), drop_link(after=1, busy_s=30), agent_exits()])
    run_sweep(cells, store, settings,
              seams=Seams(connect=fleet.connect, clock=clock.monotonic, sleep=clock.sleep))

A FakeDevice plays a device with the agent on it. It answers the workdir lookup and the probe in
one command (fleet.PROBE), takes files (put, the sha256 check, the rename), runs `agent serve`
(hello; facts for a probe; one trial per run request, scripted by the next cue of `trials`,
`ok()` once they are used up), spools every trial and answers `fetch` and `busy`. Each cue
says what the trial does:

    ok(metrics=None)               trial_start, result, trial_end ok
    fail(error)                    the agent reports the trial failed (the host does not retry)
    process_dies()                 the trial's process dies: error kind "died" (the host retries)
    drop_link(after=1, finished=True, busy_s=0.0, down_for=0)
                                   the link drops after `after` records of the trial, and the
                                   next `down_for` connects fail (None: every one after it)
    agent_exits(after=1, finished=False, busy_s=0.0)
                                   the agent process exits mid-trial, the link stays up
    silent(after=1, finished=True, busy_s=0.0)
                                   the agent stops talking: reads time out (on the clock)

With a fault, `finished` says whether the device still completes the trial: its spool then
gets the whole trial once `busy_s` more seconds have passed on the clock (`busy` says "busy"
until then); otherwise the trial's process died too and the spool keeps the first `after`
records. Connecting can fail too: `device.unreachable(times)` (DeviceError, `times` times or
always with None) and `device.refuse_host_key()` (UserError, as an unknown host key).

Waiting is virtual: a read that would block advances the FakeClock by its timeout and raises
TimeoutError at once; FakeClock.sleep advances the clock and records the wait.
"""

import hashlib
import json
import posixpath
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

from ..errors import DeviceError, LinkLost, UserError
from .base import Channel, Connection, Result

DEFAULT_FACTS = {
    "board": "fake board",
    "arch": "aarch64",
    "cpus": 4,
    "python": "3.6.15",
    "simulated": True,
    "runtimes": {"onnxruntime": {"version": "1.10.0", "providers": ["CPUExecutionProvider"]}},
}
DEFAULT_METRICS = {
    "iterations": 20,
    "latency_p50_ms": 1.0,
    "latency_mean_ms": 1.0,
    "latency_p99_ms": 1.2,
    "throughput_ips": 1000.0,
    "peak_rss_mb": 50.0,
}


class FakeClock:
    """Virtual monotonic time: `sleep` advances it at once and records the wait."""

    def __init__(self, start: float = 1000.0):
        self._now = start
        self._lock = threading.Lock()
        self.sleeps: List[float] = []

    def monotonic(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += max(0.0, seconds)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)


# -- the script of a trial ------------------------------------------------------------------
@dataclass(frozen=True)
class Cue:
    outcome: str = "ok"  # ok | failed | died: how the trial itself ends
    error: Optional[str] = None
    metrics: Optional[dict] = None
    fault: Optional[str] = None  # None | "drop_link" | "agent_exits" | "silent"
    after: int = 1  # records sent before the fault
    finished: bool = True  # the device completes the trial despite the fault
    busy_s: float = 0.0  # ... this long after the fault, on the clock
    down_for: Optional[int] = 0  # connects that fail after the fault; None: all of them


def ok(metrics: dict = None) -> Cue:
    return Cue(metrics=metrics)


def fail(error: str = "the runtime refused the model") -> Cue:
    return Cue(outcome="failed", error=error)


def process_dies() -> Cue:
    return Cue(outcome="died", error="trial process died with status -9")


def drop_link(
    after: int = 1, finished: bool = True, busy_s: float = 0.0, down_for: Optional[int] = 0, then: Cue = None
) -> Cue:
    return _faulty(then or ok(), "drop_link", after, finished, busy_s, down_for)


def agent_exits(after: int = 1, finished: bool = False, busy_s: float = 0.0, then: Cue = None) -> Cue:
    return _faulty(then or ok(), "agent_exits", after, finished, busy_s)


def silent(after: int = 1, finished: bool = True, busy_s: float = 0.0, then: Cue = None) -> Cue:
    return _faulty(then or ok(), "silent", after, finished, busy_s)


def _faulty(
    base: Cue, fault: str, after: int, finished: bool, busy_s: float, down_for: Optional[int] = 0
) -> Cue:
    return Cue(base.outcome, base.error, base.metrics, fault, after, finished, busy_s, down_for)


def _line(record_type: str, **fields) -> str:
    return json.dumps(dict({"v": 1, "type": record_type}, **fields), separators=(",", ":"))


def trial_lines(cue: Cue, job: dict) -> List[str]:
    """What the agent would send for this job, scripted by `cue`."""
    trial_id = job.get("trial_id")
    lines = [_line("trial_start", trial_id=trial_id, job=job, agent_version="fake")]
    if cue.outcome == "ok":
        lines.append(
            _line(
                "result",
                trial_id=trial_id,
                metrics=dict(cue.metrics or DEFAULT_METRICS),
                env={"runtime": "fake"},
                samples_ms=[1.0, 1.0, 1.2],
            )
        )
    else:
        lines.append(
            _line(
                "error",
                trial_id=trial_id,
                kind="died" if cue.outcome == "died" else "runtime",
                error=cue.error,
            )
        )
    lines.append(
        _line("trial_end", trial_id=trial_id, status="ok" if cue.outcome == "ok" else "failed", agent_s=0.5)
    )
    return lines


@dataclass
class SpooledTrial:
    lines: List[str]
    visible: int  # lines in the spool now
    done_at: Optional[float] = None  # clock time the rest arrives; None: never


# -- the device -----------------------------------------------------------------------------
_DROP, _EXIT, _SILENT = object(), object(), object()
_FAULTS = {"drop_link": _DROP, "agent_exits": _EXIT, "silent": _SILENT}


@dataclass
class FakeDevice:
    name: str
    clock: FakeClock
    trials: List[Cue] = field(default_factory=list)
    facts: dict = field(default_factory=lambda: dict(DEFAULT_FACTS))
    files: Dict[str, bytes] = field(default_factory=dict)  # remote path -> content
    spool: Dict[str, SpooledTrial] = field(default_factory=dict)  # trial id -> its records
    requests: List[dict] = field(default_factory=list)  # what serve was asked, in order
    commands: List[list] = field(default_factory=list)  # every argv run or opened
    connects: int = 0  # connections opened
    _unreachable: int = 0  # connects still to fail; -1: all
    _host_key_refused: bool = False

    def __post_init__(self):
        self.lock = threading.RLock()

    # What goes wrong on connecting.
    def unreachable(self, times: Optional[int] = None) -> "FakeDevice":
        self._unreachable = -1 if times is None else times
        return self

    def reachable(self) -> "FakeDevice":
        self._unreachable = 0
        return self

    def refuse_host_key(self) -> "FakeDevice":
        self._host_key_refused = True
        return self

    def connect(self, device=None, accept_new: bool = False) -> "FakeConnection":
        with self.lock:
            if self._host_key_refused and not accept_new:
                raise UserError(
                    "device '%s': unknown host key (fake); run: edgebench trust %s" % (self.name, self.name)
                )
            if self._unreachable:
                self._unreachable -= 1 if self._unreachable > 0 else 0
                raise DeviceError("cannot reach %s: connection refused (fake)" % self.name)
            self.connects += 1
        return FakeConnection(self)

    # The device's side of the agent.
    def busy(self) -> bool:
        now = self.clock.monotonic()
        return any(t.done_at is not None and now < t.done_at for t in self.spool.values())

    def spooled(self, trial_id: str) -> List[str]:
        trial = self.spool.get(trial_id)
        if trial is None:
            return []
        if trial.done_at is not None and self.clock.monotonic() >= trial.done_at:
            trial.visible = len(trial.lines)
        return trial.lines[: trial.visible]

    def next_cue(self) -> Cue:
        return self.trials.pop(0) if self.trials else ok()

    def run_trial(self, job: dict) -> list:
        """Spools the trial as scripted; returns what the channel sends (lines, then a fault)."""
        cue = self.next_cue()
        lines = trial_lines(cue, job)
        trial_id = job.get("trial_id")
        if cue.fault is None:
            self.spool[trial_id] = SpooledTrial(lines, len(lines))
            return list(lines)
        done_at = self.clock.monotonic() + cue.busy_s if cue.finished else None
        self.spool[trial_id] = SpooledTrial(lines, cue.after, done_at)
        if cue.down_for != 0:
            self.unreachable(cue.down_for)
        return lines[: cue.after] + [_FAULTS[cue.fault]]

    def answer(self, request: dict) -> list:
        with self.lock:
            self.requests.append(request)
            op = request.get("op")
            if op == "run":
                return self.run_trial(request.get("job") or {})
            if op == "probe":
                return [_line("facts", facts=self.facts)]
            if op == "ping":
                return [_line("pong")]
            if op == "exit":
                return [_line("bye"), _EXIT]
            return [_line("error", trial_id=None, kind="bad_request", error="unknown op %r" % (op,))]


# -- the transport --------------------------------------------------------------------------
def _workdir(path: str) -> str:
    return posixpath.normpath(path.replace("~", "/home/fake", 1) if path.startswith("~") else path)


def _programs() -> tuple:
    from ..deploy import OPEN, SHA256  # the programs deploy sends, recognised by their text

    return OPEN, SHA256


def _probe_program() -> str:
    from ..fleet import PROBE  # the probe in one command, recognised by its text

    return PROBE


class FakeChannel(Channel):
    """`agent serve` (or the workdir lookup that becomes it) on a FakeDevice."""

    def __init__(self, conn: "FakeConnection", lines: Sequence = (), serving: bool = True):
        self.conn, self.device = conn, conn.device
        self.outbox: deque = deque(lines)
        self.serving = serving  # takes requests; False once the agent has exited
        self.silent = False
        self.status: Optional[int] = None

    def send_line(self, line: str) -> None:
        if not self.conn.alive():
            raise BrokenPipeError("link down (fake)")
        if not self.serving:
            raise BrokenPipeError("the agent has exited (fake)")
        if not self.silent:
            self.outbox.extend(self.device.answer(json.loads(line)))

    def read_line(self, timeout: float) -> Optional[str]:
        item = self.outbox.popleft() if self.outbox and not self.silent else None
        if isinstance(item, str):
            return item
        if item is _DROP:
            self.conn.drop()
        elif item is _EXIT:
            self.serving, self.status = False, self.status if self.status is not None else -9
        elif item is _SILENT:
            self.silent = True
        if self.conn.alive() and self.serving:  # nothing comes: wait out the timeout, virtually
            self.device.clock.advance(timeout)
            raise TimeoutError("no output from the agent for %.0f s" % timeout)
        return None

    def stderr_tail(self, lines: int = 5) -> str:
        return "Killed" if self.status == -9 else ""

    def link_alive(self) -> bool:
        return self.conn.alive()

    def close(self, timeout: float = 5.0) -> Optional[int]:
        if self.serving:
            self.serving, self.status = False, 0
        return self.status


class FakeConnection(Connection):
    def __init__(self, device: FakeDevice):
        self.device, self.name = device, device.name
        self._alive = True

    def drop(self) -> None:
        """Cuts this link (the device lives on; a new connection reaches it)."""
        self._alive = False

    def alive(self) -> bool:
        return self._alive

    def close(self) -> None:
        self._alive = False

    def _check_link(self, argv: Sequence[str]) -> None:
        if not self._alive:
            raise LinkLost("connection to %s lost during %s (fake)" % (self.name, argv[0] if argv else "?"))
        with self.device.lock:
            self.device.commands.append(list(argv))

    # Connection
    def run(self, argv: Sequence[str], timeout: float = 60.0) -> Result:
        self._check_link(argv)
        with self.device.lock:
            code, out, err = self._execute(list(argv))
        return Result(list(argv), code, out, err)

    def put(self, local: str, remote: str) -> None:
        self._check_link(["put", remote])
        with open(local, "rb") as f, self.device.lock:
            self.device.files[remote] = f.read()

    def get(self, remote: str, local: str) -> None:
        self._check_link(["get", remote])
        with self.device.lock:
            if remote not in self.device.files:
                raise DeviceError("copy of %s:%s failed: no such file (fake)" % (self.name, remote))
            content = self.device.files[remote]
        with open(local, "wb") as f:
            f.write(content)

    def open_channel(self, argv: Sequence[str]) -> FakeChannel:
        self._check_link(argv)
        argv = list(argv)
        with self.device.lock:
            if argv[1:2] == ["-c"] and argv[2] == _programs()[0]:
                answer, serve = self._lookup(argv[3:])
                hello = [_line("hello", agent_version="fake", python="3.6.15")] if serve else []
                return FakeChannel(self, [answer] + hello, serving=serve)
            if argv[4:5] == ["serve"] and self._agent_there(argv[1]):
                return FakeChannel(self, [_line("hello", agent_version="fake", python="3.6.15")])
        channel = FakeChannel(self, [], serving=False)
        channel.status = 127
        return channel

    # The device's programs, by their argv.
    def _lookup(self, args: list) -> tuple:
        """deploy.OPEN: (the answer line, whether it goes on as `agent serve`)."""
        workdir, agent_rel, size, wanted = _workdir(args[0]), args[1], int(args[2]), args[3:]
        files = self.device.files
        paths = {rel: posixpath.join(workdir, rel) for rel in [agent_rel] + wanted}
        present = {rel: len(files[path]) if path in files else False for rel, path in paths.items()}
        return json.dumps({"workdir": workdir, "files": present}), size >= 0 and present[agent_rel] == size

    def _probe(self, args: list) -> tuple:
        """fleet.PROBE: the facts record, or the workdir lookup while the agent is not there."""
        workdir, agent_rel, size, telemetry = _workdir(args[0]), args[1], int(args[2]), json.loads(args[3])
        agent = self.device.files.get(posixpath.join(workdir, agent_rel))
        if agent is None or len(agent) != size:
            return 0, json.dumps({"workdir": workdir, "files": {}}) + "\n", ""
        return 0, self.device.answer({"op": "probe", "telemetry": telemetry})[0] + "\n", ""

    def _agent_there(self, path: str) -> bool:
        return path in self.device.files

    def _execute(self, argv: list) -> tuple:
        files = self.device.files
        if argv[1:2] == ["-c"]:
            open_program, sha_program = _programs()
            if argv[2] == open_program:
                return 0, self._lookup(argv[3:])[0] + "\n", ""
            if argv[2] == sha_program and argv[3] in files:
                return 0, hashlib.sha256(files[argv[3]]).hexdigest() + "\n", ""
            if argv[2] == _probe_program():
                return self._probe(argv[3:])
            return 1, "", "fake device: no such program or file"
        if argv[:2] == ["mv", "-f"] and argv[2] in files:
            files[argv[3]] = files.pop(argv[2])
            return 0, "", ""
        if argv[:2] == ["rm", "-f"]:
            files.pop(argv[2], None)
            return 0, "", ""
        if argv[:2] == ["mkdir", "-p"]:
            return 0, "", ""
        if len(argv) >= 5 and argv[2] == "--workdir":
            return self._agent_command(argv)
        return 127, "", "fake device: command not found: %s" % argv[0]

    def _agent_command(self, argv: list) -> tuple:
        if not self._agent_there(argv[1]):
            return 2, "", "python: can't open file '%s'" % argv[1]
        if argv[4] == "busy":
            return 0, "busy\n" if self.device.busy() else "idle\n", ""
        if argv[4] == "fetch" and len(argv) > 5:
            lines = self.device.spooled(argv[5])
            return (
                (0, "".join(line + "\n" for line in lines), "")
                if argv[5] in self.device.spool
                else (1, "", "edgebench-agent: no spool for trial %s" % argv[5])
            )
        return 2, "", "fake agent: unknown command %s" % argv[4]


class FakeFleet:
    """Fake devices by name; `connect` is the connection factory the engine takes."""

    def __init__(self, clock: FakeClock = None):
        self.clock = clock or FakeClock()
        self.devices: Dict[str, FakeDevice] = {}

    def add(self, name: str, trials: Sequence[Cue] = (), **kwargs) -> FakeDevice:
        self.devices[name] = FakeDevice(name, self.clock, list(trials), **kwargs)
        return self.devices[name]

    def connect(self, device, accept_new: bool = False) -> FakeConnection:
        if device.name not in self.devices:
            raise DeviceError("cannot reach %s: no such fake device" % device.name)
        return self.devices[device.name].connect(device, accept_new=accept_new)
