"""Was the device busy with other work while a trial was timed? (Linux /proc, like pyperf's
`check`.)

A trial's latencies, and the interval of their median, mean little if another process competed
for the CPU during its timed window: they then describe a shared CPU, not the model on the
device. So the trial takes a `snapshot()` just before the window and one just after (both
outside it), and `busy_metrics()` compares them:

- the whole machine's busy CPU time, from the aggregate `cpu` line of `/proc/stat`
  (`cpu  user nice system idle iowait irq softirq steal guest guest_nice`, in clock ticks,
  USER_HZ, usually 100 per second; busy = user + nice + system + irq + softirq + steal, total
  = busy + idle + iowait; guest time is already inside user and nice);
- minus our own: utime + stime (fields 14 and 15 of `/proc/PID/stat`, clock ticks) of every
  process in this process's session (`os.getsid(0)`, field 6): the trial process, its
  sampler, tegrastats, perf. Also cutime + cstime (fields 16 and 17): the children those
  processes reaped in the window (the sampler's `vcgencmd` runs), whose PIDs are gone by the
  second snapshot. Each process is compared with itself (PID and start time, field 22): one
  started in the window counts whole, one that exits in it adds nothing of its own (its
  parent's cutime has it), so it never makes ours negative;
- divided by the window's wall time: `other_cpu_cores`, in CPU cores (CPU-seconds per second;
  2.0 = two cores kept fully busy by other processes on average over the window).

`busy` is true above BUSY_CORES (0.25 cores): a quarter of a core taken by others is a real
competitor for the scheduler, well above the few hundredths of a core that tick counting leaves
as noise on windows of a second or more. Windows much shorter than a second are noisy: one
tick is 0.01 s of CPU. other_cpu_cores is None (and so `busy`) when /proc/stat, or this
process in the scan of our session, could not be read at either end: ours unknown would count
our own timed loop as another's.

The 1-minute load average (`/proc/loadavg`, first field) before and after is reported beside
it, for the reader. Every read is best effort: a missing or malformed file gives None, never an
exception; a process that vanishes or cannot be read during the scan is skipped.
"""

import os
import time

BUSY_CORES = 0.25  # a quarter of one core used by other processes: the trial was competing


def _clock_ticks():
    try:
        return os.sysconf("SC_CLK_TCK")
    except (AttributeError, ValueError, OSError):
        return 100


CLOCK_TICKS = _clock_ticks()


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")  # a comm may hold any bytes, whatever the locale
    except (IOError, OSError):
        return None


def read_stat(proc="/proc"):
    """(busy, total) clock ticks of all CPUs from /proc/stat's `cpu` line, or None."""
    text = _read(os.path.join(proc, "stat"))
    for line in (text or "").splitlines():
        fields = line.split()
        if not fields or fields[0] != "cpu":
            continue
        try:
            values = [int(v) for v in fields[1:9]]
        except ValueError:
            return None
        if len(values) < 4:
            return None
        values += [0] * (8 - len(values))  # kernels before 2.6.11 lack iowait, irq, softirq, steal
        user, nice, system, idle, iowait, irq, softirq, steal = values
        busy = user + nice + system + irq + softirq + steal
        return busy, busy + idle + iowait
    return None


def read_loadavg(proc="/proc"):
    """The 1-minute load average, or None."""
    text = _read(os.path.join(proc, "loadavg"))
    try:
        value = float(text.split()[0])
    except (AttributeError, IndexError, ValueError):
        return None
    return value if value == value and abs(value) != float("inf") else None  # "nan" parses too


def parse_pid_stat(text):
    """(session id, start time, utime + stime + cutime + cstime) from a /proc/PID/stat line, or
    None. The comm field (2) is in parentheses and may itself hold spaces and ')': fields are
    counted after the last ')'."""
    if not text:
        return None
    end = text.rfind(")")
    if end < 0:
        return None
    rest = text[end + 1 :].split()  # rest[0] is field 3 (state)
    try:
        session = int(rest[6 - 3])
        ticks = sum(int(rest[n - 3]) for n in (14, 15, 16, 17))
        start = int(rest[22 - 3])
    except (IndexError, ValueError):
        return None
    return session, start, ticks


def session_ticks(proc="/proc", sid=None):
    """{(pid, start time): ticks} of the processes of session `sid` (default: ours); None when
    /proc cannot be listed or this process is not in it (then our own time is unknown)."""
    try:
        sid = os.getsid(0) if sid is None else sid
        names = os.listdir(proc)
    except (IOError, OSError):
        return None
    own, me = {}, os.getpid()
    seen_me = False
    for name in names:
        try:
            pid = int(name)
        except ValueError:
            continue  # self, net, sys, ...
        parsed = parse_pid_stat(_read(os.path.join(proc, name, "stat")))  # None: vanished, unreadable
        if parsed is None or parsed[0] != sid:
            continue
        own[(pid, parsed[1])] = parsed[2]
        seen_me = seen_me or pid == me
    return own if seen_me else None


def snapshot(proc="/proc", end=False):
    """The machine's CPU ticks, the load average, time.monotonic() and our session's ticks.
    `end=True` for the snapshot after the window: /proc/stat is then read before the scan of
    our processes (before the window: after it), so the scan's own work stays outside the span
    that /proc/stat measures."""
    own = None if end else session_ticks(proc)
    stat = read_stat(proc)
    now = time.monotonic()
    loadavg = read_loadavg(proc)
    if end:
        own = session_ticks(proc)
    return {
        "busy_ticks": stat[0] if stat else None,
        "total_ticks": stat[1] if stat else None,
        "loadavg_1m": loadavg,
        "monotonic": now,
        "own_ticks": own,
    }


def _own_delta(before, after):
    """Ticks our session used between two scans: each process against itself; one that started
    in between counts whole; one that exited counts nothing (its parent's cutime has it)."""
    return sum(ticks - before.get(key, 0) for key, ticks in after.items())


def _too_coarse(wall, clock_ticks, cpus=None):
    """Each CPU's counters move in whole ticks, so the sum can be off by up to a tick per CPU at
    each edge of the window: over a short window (--quick's 0.3 s) that error alone is near the
    threshold. Then `busy` is unknown (None), not a guess."""
    cpus = cpus or os.cpu_count() or 1
    return 2.0 * cpus / clock_ticks / wall > BUSY_CORES / 2.0


def busy_metrics(before, after, clock_ticks=CLOCK_TICKS):
    """other_cpu_cores (CPU cores used by other sessions' processes over the window), the load
    averages at both ends, `busy` (other_cpu_cores > BUSY_CORES) and `busy_reason`."""
    before, after = before or {}, after or {}
    load_before, load_after = before.get("loadavg_1m"), after.get("loadavg_1m")
    other = None
    needed = ("busy_ticks", "own_ticks", "monotonic")
    if clock_ticks and all(s.get(k) is not None for s in (before, after) for k in needed):
        wall = after["monotonic"] - before["monotonic"]
        ticks = (
            after["busy_ticks"] - before["busy_ticks"] - _own_delta(before["own_ticks"], after["own_ticks"])
        )
        other = round(max(0.0, float(ticks) / clock_ticks / wall), 3) if wall > 0 else None
    busy = None if other is None or _too_coarse(wall, clock_ticks) else other > BUSY_CORES
    reason = None
    if busy:
        # steal (a hypervisor running other guests) is counted with the other processes
        reason = (
            "other processes (or the hypervisor) used %.2f CPU cores during the timed window (load average %s -> %s)"
            % (
                other,
                "?" if load_before is None else "%.2f" % load_before,
                "?" if load_after is None else "%.2f" % load_after,
            )
        )
    return {
        "other_cpu_cores": other,
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        "busy": busy,
        "busy_reason": reason,
    }
