"""Controlled conditions for a trial, as jetson_benchmarks and MLPerf submissions use them.

    cooldown_c T        wait until the hottest thermal zone is below T C (poll, with a deadline)
    pin_clocks          fixed clocks while the trial runs: `jetson_clocks` (and `nvpmodel -m
                        nvpmodel_mode` first, if given) on a Jetson, else the `performance`
                        cpufreq governor; what was there is restored afterwards

What was changed is written to WORKDIR/pinned-clocks.json before the change, and restored from
it on every exit path: at the trial's end, by `serve` after a trial process that was killed,
and by the next agent that starts. What was applied (or why it could not be) is returned and
recorded in the trial's provenance.
"""

import json
import math
import os
import subprocess
import time
from contextlib import contextmanager

from .telemetry import thermal

DEFAULT_COOLDOWN_TIMEOUT_S = 600.0
COOLDOWN_POLL_S = 1.0
PENDING_FILE = "pinned-clocks.json"
GOVERNOR = "performance"


class ConditionError(ValueError):
    """A job whose cooldown or clock settings are malformed."""


def check_job(job):
    """Raises ConditionError for values no device could apply."""
    target = job.get("cooldown_c")
    if target is not None and (not _finite(target) or target <= 0):
        raise ConditionError("job.cooldown_c must be a number of degrees C > 0, got %r" % (target,))
    timeout = job.get("cooldown_timeout_s")
    if timeout is not None and (not _finite(timeout) or timeout < 0):
        raise ConditionError("job.cooldown_timeout_s must be a number of seconds >= 0, got %r" % (timeout,))
    if not isinstance(job.get("pin_clocks", False), bool):
        raise ConditionError("job.pin_clocks must be true or false")
    mode = job.get("nvpmodel_mode")
    if mode is not None and (not isinstance(mode, int) or isinstance(mode, bool) or mode < 0):
        raise ConditionError("job.nvpmodel_mode must be an integer >= 0, got %r" % (mode,))


def _finite(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def hottest_c(root):
    temps = thermal.real_temps(thermal.thermal_zones(root))
    return max(temps.values()) if temps else None


def cool_down(root, target_c, timeout_s, clock=time.monotonic, sleep=time.sleep):
    """Polls until the hottest zone is below target_c or timeout_s has passed."""
    start, first = clock(), hottest_c(root)
    if first is None:
        return {"target_c": target_c, "reached": None, "waited_s": 0.0, "reason": "no thermal zone to read"}
    now_c = first
    while now_c is not None and now_c >= target_c and clock() - start < timeout_s:
        sleep(COOLDOWN_POLL_S)
        now_c = hottest_c(root)
    reached = now_c is not None and now_c < target_c
    reason = (
        None
        if reached
        else (
            "thermal zones unreadable" if now_c is None else "still %.1f C after %.0f s" % (now_c, timeout_s)
        )
    )
    return {
        "target_c": target_c,
        "start_c": first,
        "end_c": now_c,
        "waited_s": round(clock() - start, 3),
        "reached": reached,
        "reason": reason,
    }


def _call(argv):
    """(exit status, output); status None when the program cannot run or hangs."""
    try:
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True
        )
    except OSError as exc:
        return None, str(exc)
    try:
        out, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()  # ours, by PID
        proc.communicate()
        return None, "timed out"
    return proc.returncode, out.strip()


def _pending_path(workdir):
    folder = os.path.expanduser(workdir)
    if not os.path.isdir(folder):
        os.makedirs(folder)
    return os.path.join(folder, PENDING_FILE)


def _write_pending(workdir, state):
    if workdir is None:
        return
    path = _pending_path(workdir)
    with open(path + ".tmp", "w") as f:
        json.dump(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.rename(path + ".tmp", path)


def _governor_files(root):
    import glob

    return sorted(glob.glob(os.path.join(root, "sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_governor")))


def _set_file(path, value):
    with open(path, "w") as f:
        f.write(value + "\n")


def restore(state):
    """Puts back what `state` says was changed; returns problems (empty when all went back)."""
    problems = []
    nvpmodel = state.get("nvpmodel")  # the mode first: setting a mode resets its clocks
    if nvpmodel and nvpmodel.get("previous") is not None:
        status, out = _call([nvpmodel["program"], "-m", str(nvpmodel["previous"])])
        if status != 0:
            problems.append(
                "nvpmodel -m %s: %s" % (nvpmodel["previous"], out.splitlines()[-1] if out else status)
            )
    jetson = state.get("jetson_clocks")  # then the clocks stored under that mode
    if jetson:
        status, out = _call([jetson["program"], "--restore", jetson["store"]])
        if status != 0:
            problems.append("jetson_clocks --restore: %s" % (out.splitlines()[-1] if out else status))
    for path, old in sorted((state.get("governors") or {}).items()):
        try:
            _set_file(path, old)
        except (IOError, OSError) as exc:
            problems.append("%s: %s" % (path, exc.strerror or exc))
    return problems


def restore_pending(workdir):
    """Restores what a trial that never got to restore it (killed) left pinned; nothing while
    that trial's process still runs (a second agent must not un-pin a trial in progress)."""
    if workdir is None:
        return None
    path = os.path.join(os.path.expanduser(workdir), PENDING_FILE)
    try:
        with open(path) as f:
            state = json.load(f)
    except (IOError, OSError, ValueError):
        return None
    if process_alive(state.get("owner")):
        return None
    problems = restore(state)
    os.remove(path)
    return problems


def process_identity(pid):
    """(pid, start time in clock ticks since boot), so a PID reused later is not taken for it."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return [pid, int(fields[19])]  # field 22 of stat: starttime
    except (IOError, OSError, IndexError, ValueError):
        return [pid, None]


def process_alive(owner):
    """Whether the process `owner` (from process_identity) still runs."""
    if not owner:
        return False
    return process_identity(owner[0]) == list(owner) and owner[1] is not None


def _nvpmodel_mode(program):
    """`nvpmodel -q`: the mode id is the line after `NV Power Mode: NAME` (warnings such as
    `NVPM WARN: ...` may come first)."""
    status, out = _call([program, "-q"])
    lines = [line.strip() for line in out.splitlines()] if status == 0 else []
    for name_line, id_line in zip(lines, lines[1:]):
        if name_line.startswith("NV Power Mode:") and id_line.isdigit():
            return int(id_line)
    return None


class ClockPin(object):
    def __init__(self, root, workdir, nvpmodel_mode=None):
        self.root, self.workdir, self.mode = root, workdir, nvpmodel_mode
        self.state = {}

    def apply(self):
        """Returns what was applied: {"pinned": bool, "how": ..., "reason": why not}."""
        program = thermal.find_program(self.root, "jetson_clocks")
        try:
            return self._jetson(program) if program else self._governors()
        except (IOError, OSError) as exc:
            problems = restore(self.state)
            self._forget()
            reason = "%s: %s" % (getattr(exc, "filename", None) or "clocks", exc.strerror or exc)
            if getattr(exc, "errno", None) in (1, 13):
                reason += " (pinning clocks needs root on the device)"
            return {"pinned": False, "how": None, "reason": reason, "restore_problems": problems or None}

    def _jetson(self, program):
        store = os.path.join(os.path.expanduser(self.workdir or "/tmp"), "jetson_clocks.store")
        nvpmodel = thermal.find_program(self.root, "nvpmodel")
        if self.mode is not None and nvpmodel is None:
            return {
                "pinned": False,
                "how": None,
                "reason": "nvpmodel_mode given but no nvpmodel on the device",
            }
        previous = _nvpmodel_mode(nvpmodel) if self.mode is not None else None
        if self.mode is not None and previous is None:
            return {
                "pinned": False,
                "how": None,
                "reason": "nvpmodel -q did not say the current mode, so it could not be put back",
            }
        self.state = {"jetson_clocks": {"program": program, "store": store}, "owner": self._owner()}
        if self.mode is not None:
            self.state["nvpmodel"] = {"program": nvpmodel, "previous": previous}
        steps = [[program, "--store", store]]
        steps += [[nvpmodel, "-m", str(self.mode)]] if self.mode is not None else []
        _write_pending(self.workdir, self.state)
        for argv in steps + [[program]]:
            status, out = _call(argv)
            if status != 0:
                problems = restore(self.state)
                self._forget()
                return {
                    "pinned": False,
                    "how": "jetson_clocks",
                    "restore_problems": problems or None,
                    "reason": "%s failed: %s"
                    % (
                        " ".join(os.path.basename(a) for a in argv[:2]),
                        out.splitlines()[-1] if out else status,
                    ),
                }
        return {
            "pinned": True,
            "how": "jetson_clocks" + (" + nvpmodel -m %d" % self.mode if self.mode is not None else ""),
            "nvpmodel_previous": (self.state.get("nvpmodel") or {}).get("previous"),
            "reason": None,
        }

    def _governors(self):
        files = _governor_files(self.root)
        if not files:
            return {
                "pinned": False,
                "how": None,
                "reason": "no cpufreq governor to set (no jetson_clocks either)",
            }
        if self.mode is not None:
            return {
                "pinned": False,
                "how": None,
                "reason": "nvpmodel_mode is for Jetson boards; no jetson_clocks here",
            }
        self.state = {
            "governors": dict((path, thermal.read_text(path)) for path in files),
            "owner": self._owner(),
        }
        _write_pending(self.workdir, self.state)
        for path in files:
            _set_file(path, GOVERNOR)
        return {
            "pinned": True,
            "how": "cpufreq governor %s on %d CPUs" % (GOVERNOR, len(files)),
            "previous_governors": sorted(set(self.state["governors"].values())),
            "reason": None,
        }

    @staticmethod
    def _owner():
        return process_identity(os.getpid())

    def restore(self):
        problems = restore(self.state)
        self._forget()
        return problems

    def _forget(self):
        self.state = {}
        if self.workdir is not None:
            try:
                os.remove(os.path.join(os.path.expanduser(self.workdir), PENDING_FILE))
            except OSError:
                pass


@contextmanager
def controlled(job, root, workdir):
    """Applies the job's conditions for the duration of the block; yields what was applied."""
    applied = {"cooldown": None, "clocks": None}
    restore_pending(workdir)
    pin = ClockPin(root, workdir, job.get("nvpmodel_mode")) if job.get("pin_clocks") else None
    try:
        if pin is not None:
            applied["clocks"] = pin.apply()
        if job.get("cooldown_c") is not None:
            timeout = job.get("cooldown_timeout_s")
            applied["cooldown"] = cool_down(
                root,
                float(job["cooldown_c"]),
                DEFAULT_COOLDOWN_TIMEOUT_S if timeout is None else float(timeout),
            )
        yield applied
    finally:
        if pin is not None and applied["clocks"] and applied["clocks"].get("pinned"):
            problems = pin.restore()
            applied["clocks"]["restored"] = not problems
            applied["clocks"]["restore_problems"] = problems or None
