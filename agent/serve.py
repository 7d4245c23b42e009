"""`serve`: one agent for a whole sweep. Requests arrive as JSON lines on stdin and each is
answered with records on stdout, so a trial costs no new SSH session.

Each trial runs in a child process (`run -`): its peak RSS is its own (not the largest model
seen so far in this process), a crash inside a runtime kills only the child, and the child
spools its records itself, so they survive this process and the link.
"""

import json
import os
import platform
import signal
import subprocess
import threading
import time

from . import AGENT_VERSION, conditions, sysroot
from .child import agent_command
from .errorlog import log_exception, one_line
from .probe import collect_facts, runtime_cache
from .protocol import ProtocolError, decode, encode, make_record
from .lock import HELD_ENV, DeviceBusy, DeviceLock, LockTimeout, describe_holder
from .spool import Tee

TRIAL_END_PREFIX = '{"v":1,"type":"trial_end"'
LOAD_ALLOWANCE_S = 300.0
# Backends that build on the device before the first timed call: a TensorRT engine of a large
# model takes many minutes on a Jetson Nano.
BUILD_ALLOWANCE_S = {"tensorrt": 1800.0}
MAX_WAIT_S = 86400.0
# Who a controller says it is, in a run request's "controller" (written into the device's lock).
CONTROLLER_KEYS = ("host", "user", "pid", "sweep")


def child_command(workdir):
    """This same agent as a child: `edgebench-agent --workdir W run -`."""
    return agent_command(["--workdir", workdir, "run", "-"])


def _with_agent_time(line, received):
    """The child's own time becomes trial_s; agent_s covers the whole request, the child's
    start and exit included, so the host can tell its own overhead from the agent's."""
    record = decode(line)
    record["trial_s"] = record.get("agent_s")
    record["agent_s"] = time.monotonic() - received
    return encode(record)


def trial_deadline_s(job):
    """How long a trial process may take before it is killed: its own timing cap, warm-up, the
    cool-down wait it was asked for and an allowance for loading (a runtime that deadlocks must not hold the device forever)."""
    job = job if isinstance(job, dict) else {}
    cooldown = _seconds(job.get("cooldown_timeout_s"), 600.0) if job.get("cooldown_c") is not None else 0.0
    return (
        _seconds(job.get("max_s"), 120.0)
        + _seconds(job.get("warmup_s"), 1.0)
        + BUILD_ALLOWANCE_S.get(job.get("backend"), LOAD_ALLOWANCE_S)
        + cooldown
        + _search_s(job)
    )


def _search_s(job):
    """--find-max-qps runs the server scenario once per bisection step, and once more."""
    if not job.get("find_max_qps"):
        return 0.0
    from .scenario_trial import FIND_STEPS

    each = max(_seconds(job.get("max_s"), 120.0), _seconds(job.get("duration_s") or job.get("min_s"), 2.0))
    return (FIND_STEPS + 1) * each  # a step may run to max_s (a slow rate, a slow device)


def _seconds(value, default):
    """A duration from a job: NaN, an infinity, a negative or a non-number (a job stored by an
    older host) is the default; more than a day is a day (threading.Timer refuses huge values)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return default
    if value != value or value <= 0:  # NaN is the one value unequal to itself
        return default
    return min(value, MAX_WAIT_S)


def _kill_group(child):
    try:
        os.killpg(child.pid, signal.SIGKILL)  # the child's own session: it, perf, tegrastats
    except OSError:
        pass


def _controller(value):
    """Who the host says it is (host, user, pid, sweep): plain values, kept short, since they
    are written into the lock and shown to other controllers."""
    kept = {}
    for key in CONTROLLER_KEYS:
        item = value.get(key) if isinstance(value, dict) else None
        if isinstance(item, str):
            kept[key] = item[:100]
        elif isinstance(item, int) and not isinstance(item, bool):
            kept[key] = item
    return kept


def _holder(controller, trial_id, job):
    """What this trial writes into the lock: the controller, the trial, how long it may hold it."""
    holder = dict(controller, deadline_s=trial_deadline_s(job))
    if isinstance(trial_id, str):
        holder["trial"] = trial_id[:128]
    return holder


def _same_sweep(holder, controller):
    """The holder is a trial of our own sweep (left running by a lost link or by an earlier
    controller of it): it is waited for even under skip, it is ours."""
    return bool(holder and controller.get("sweep") and holder.get("sweep") == controller["sweep"])


def _busy_reporter(tee, trial_id, controller, on_busy):
    """Tells the host who holds the device (a `busy` record, not spooled: it is about the
    device, not the trial); gives way under skip."""

    def report(holder, waited_s):
        skip = on_busy == "skip" and not _same_sweep(holder, controller)
        record = make_record(
            "busy", trial_id=trial_id, holder=holder, waited_s=waited_s, on_busy="skip" if skip else "wait"
        )
        tee.relay(encode(record))
        if skip:
            raise DeviceBusy(holder)

    return report


def _end_with_error(tee, trial_id, received, kind, error, status="failed"):
    tee.emit(make_record("error", trial_id=trial_id, kind=kind, error=error))
    tee.emit(make_record("trial_end", trial_id=trial_id, status=status, agent_s=time.monotonic() - received))


def _take_lock(job, tee, trial_id, received, controller, on_busy):
    """The device's lock, or None when the trial will not run (its end already sent)."""
    lock = DeviceLock(tee.workdir, timeout_s=trial_deadline_s(job), holder=_holder(controller, trial_id, job))
    try:
        return lock.acquire(_busy_reporter(tee, trial_id, controller, on_busy))
    except LockTimeout as exc:
        _end_with_error(tee, trial_id, received, "busy", str(exc))
    except DeviceBusy as exc:
        reason = "not run: the device is busy with %s (--on-busy skip)" % describe_holder(exc.args[0])
        _end_with_error(tee, trial_id, received, "busy", reason, "skipped")
    return None


def run_in_child(job, tee, controller=None, on_busy="wait"):
    """One trial in a child process. `controller` (host, user, pid, sweep) is written into the
    device's lock for others to read; `on_busy`: "wait" for the device, or "skip" (the trial
    ends "skipped" at once) when another sweep holds it."""
    received = time.monotonic()
    trial_id = job.get("trial_id") if isinstance(job, dict) else None
    lock = _take_lock(job, tee, trial_id, received, _controller(controller), on_busy)
    if lock is None:
        return
    try:
        env = dict(os.environ, **{HELD_ENV: "1"})
        child = subprocess.Popen(
            child_command(tee.workdir),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            universal_newlines=True,
            pass_fds=(lock.fileno(),),
            env=env,
            start_new_session=True,
        )
        lock.name_holder(child.pid)  # the lock lives as long as the trial process now
    finally:
        lock.__exit__()  # the child holds the lock now, as long as it lives
    watchdog = threading.Timer(trial_deadline_s(job), _kill_group, (child,))
    watchdog.daemon = True
    watchdog.start()
    child.stdin.write(json.dumps(job))
    child.stdin.close()
    end_line = None
    for line in child.stdout:
        if line.startswith(TRIAL_END_PREFIX):
            end_line = line  # held until the child has exited: its teardown is the agent's time too
        else:
            tee.relay(line)
    child.stdout.close()
    status = child.wait()
    conditions.restore_pending(tee.workdir)  # a killed trial could not restore pinned clocks itself
    timed_out = not watchdog.is_alive() and end_line is None
    watchdog.cancel()
    if end_line is not None:
        tee.relay(_with_agent_time(end_line, received))
        return
    # The child died mid-trial: say so, in the stream and in the spool.
    if timed_out:
        _end_with_error(
            tee, trial_id, received, "timeout", "trial process killed after %.0f s" % trial_deadline_s(job)
        )
    else:
        _end_with_error(tee, trial_id, received, "died", "trial process died with status %s" % status)


def _answer(request, tee, out):
    """Handles one request; returns False when the host asked to stop."""
    op = request.get("op")
    if op == "run":
        run_in_child(request.get("job"), tee, request.get("controller"), request.get("on_busy"))
    elif op == "probe":
        facts = collect_facts(sysroot.root(), runtime_cache(tee.workdir), request.get("telemetry"))
        tee.relay(encode(make_record("facts", facts=facts)))
    elif op == "ping":
        tee.relay(encode(make_record("pong")))
    elif op == "exit":
        tee.relay(encode(make_record("bye")))
        return False
    else:
        tee.relay(
            encode(
                make_record(
                    "error",
                    trial_id=None,
                    kind="bad_request",
                    error="unknown op %r; valid: run, probe, ping, exit" % (op,),
                )
            )
        )
    return True


def _internal_error(request, exc, tee):
    """The host gets a one-line reason (and, for a trial, its end: it is not running); the
    traceback goes to the agent's log, never into a stored error."""
    reason = "agent error: %s" % one_line(exc, log_exception(tee.workdir))
    job = request.get("job") if request.get("op") == "run" else None
    trial_id = job.get("trial_id") if isinstance(job, dict) else None
    tee.emit(make_record("error", trial_id=trial_id, kind="crash", error=reason))
    if request.get("op") == "run":
        tee.emit(make_record("trial_end", trial_id=trial_id, status="failed", agent_s=0.0))


def serve(inp, out, workdir):
    tee = Tee(out, workdir)
    conditions.restore_pending(workdir)  # left pinned by an agent that was killed
    tee.relay(encode(make_record("hello", agent_version=AGENT_VERSION, python=platform.python_version())))
    keep_going = True
    while keep_going:
        line = inp.readline()
        if not line:
            break  # the host closed stdin (or the link is gone): the sweep is over
        if not line.strip():
            continue
        try:
            request = decode(line)
        except ProtocolError as exc:
            tee.relay(encode(make_record("error", trial_id=None, kind="bad_request", error=str(exc))))
            continue
        try:
            keep_going = _answer(request, tee, out)
        except Exception as exc:  # one request failed, not the agent: say why in one line
            _internal_error(request, exc, tee)
    tee.close()
    return 0
