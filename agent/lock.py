"""One trial at a time on a device: every agent takes WORKDIR/trial.lock before it measures.

An agent left over from a lost link or a killed controller may still be finishing a trial when
a new one arrives, and a second controller may be aimed at the same device: the new trial
waits instead of measuring alongside it. The holder writes who it is into the lock file (the
controller's host, user and pid, its sweep, the trial, since when), so whoever waits can say
who holds the device; `serve` reports that to its controller, which waits or skips.
"""

import fcntl
import json
import os
import threading
import time
from time import time as unix_time  # wall clock for stamps; waits use time.monotonic

# LOCK_EX | LOCK_NB (distinct bits, so + is |): vermin's union-types check reads `a | b` as 3.10 syntax.
EXCLUSIVE_NOWAIT = fcntl.LOCK_EX + fcntl.LOCK_NB

# Set by `serve` for the trial process it starts: the lock is already held, through a file
# descriptor the child inherits, so the lock lives as long as either of them.
HELD_ENV = "EDGEBENCH_LOCK_HELD"
LOCK_POLL_S = 0.05
# A busy device is reported at once and then this often while the wait goes on: the host sees
# progress, and its silence timeout does not fire during a long wait.
REPORT_EVERY_S = 10.0
# A new holder writes its name right after it takes the lock: a waiter that reads nothing
# valid looks again for this long before it reports the holder as unknown.
HOLDER_SETTLE_S = 0.5
# A holder still holding this long after its own deadline (its watchdog should have killed it)
# is no longer waited for.
OVERDUE_GRACE_S = 60.0
MAX_HOLDER_BYTES = 4096


class LockTimeout(Exception):
    pass


class DeviceBusy(Exception):
    """Raised by an `on_busy` callback to give up instead of waiting. args: (holder,)."""


class _BlockingWaiter(object):
    """Waits in a blocking flock on a file of its own, in a thread. The kernel wakes a process
    blocked in flock the moment the lock is released, so it takes the lock before the holder's
    controller sends its next trial a network round trip later: two sweeps on one device take
    turns. Polling with LOCK_NB every 50 ms would mostly lose that race."""

    def __init__(self, path):
        self._file = open(path, "a")
        self._guard = threading.Lock()
        self._held = False
        self._abandoned = False
        self.failure = None
        thread = threading.Thread(target=self._run)
        thread.daemon = True  # never keeps the agent alive
        thread.start()

    def _run(self):
        try:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX)
        except (IOError, OSError) as exc:
            self.failure = exc
        with self._guard:
            if self._abandoned or self.failure is not None:
                self._file.close()  # releases a lock taken after the wait was given up
            else:
                self._held = True

    def take(self):
        """The file holding the lock once it is held, else None."""
        with self._guard:
            return self._file if self._held else None

    def abandon(self):
        with self._guard:
            self._abandoned = True
            if self._held:
                self._file.close()


def lock_path(workdir):
    return os.path.join(os.path.expanduser(workdir), "trial.lock")


class DeviceLock(object):
    def __init__(self, workdir, timeout_s=None, holder=None):
        """`timeout_s`: how long to wait for a holder that did not say when it ends (None:
        without end). `holder`: who we are (controller host, user, pid, sweep, trial,
        deadline_s), written into the lock once it is ours."""
        self.path = lock_path(workdir)
        self.timeout_s = timeout_s
        self.holder = dict(holder or {})
        self._file = None
        self.waited_s = 0.0

    def fileno(self):
        return self._file.fileno()

    def __enter__(self):
        return self.acquire()

    def acquire(self, on_busy=None):
        """Takes the lock, waiting while another process holds it. `on_busy(holder, waited_s)`
        is called when the device is found busy and every REPORT_EVERY_S while the wait goes
        on (holder: what `read_holder` says, None when unknown); it may raise (DeviceBusy) to
        give up. LockTimeout when the holder overstays (see `_overdue`)."""
        if os.environ.get(HELD_ENV) == "1":
            return self
        folder = os.path.dirname(self.path)
        if not os.path.isdir(folder):
            os.makedirs(folder)
        self._file = open(self.path, "a")
        start = time.monotonic()
        try:
            fcntl.flock(self._file.fileno(), EXCLUSIVE_NOWAIT)
        except (IOError, OSError):
            self._file.close()
            self._file = None
            self._file = self._wait(on_busy, start)
        self.waited_s = time.monotonic() - start
        self.name_holder(os.getpid())
        return self

    def _wait(self, on_busy, start):
        waiter = _BlockingWaiter(self.path)
        next_report = start
        try:
            while True:
                held = waiter.take()
                if held is not None:
                    return held
                if waiter.failure is not None:
                    raise waiter.failure
                now = time.monotonic()
                overdue = self.timeout_s is not None and now - start > self.timeout_s
                if now >= next_report or overdue:
                    holder = read_holder_of(self.path)
                    if now >= next_report and (holder is not None or now - start >= HOLDER_SETTLE_S):
                        if on_busy is not None:
                            on_busy(holder, now - start)
                        next_report = now + REPORT_EVERY_S
                    if overdue:
                        self._check_overdue(now - start, holder)
                time.sleep(LOCK_POLL_S)
        except BaseException:
            waiter.abandon()
            raise

    def _check_overdue(self, waited_s, holder):
        """Past `timeout_s`: a holder that said when it ends is waited for until then (and a
        grace), one that did not is not."""
        ends = _ends_unix(holder)
        if ends is not None and unix_time() < ends + OVERDUE_GRACE_S:
            return
        if holder is None:
            raise LockTimeout("another trial has held the device for %.0f s" % waited_s)
        raise LockTimeout(
            "%s has held the device past its deadline (waited %.0f s)" % (describe_holder(holder), waited_s)
        )

    def name_holder(self, agent_pid):
        """Writes who holds the lock into it; `agent_pid` is the process the lock lives with
        (serve names its trial process once started). Best effort: a full disk must not stop
        the trial."""
        if self._file is None:
            return
        info = dict(self.holder, agent_pid=agent_pid)
        info.setdefault("since_unix", unix_time())
        self.holder = info
        data = (json.dumps(info, sort_keys=True) + "\n").encode("utf-8")
        try:
            os.ftruncate(self._file.fileno(), 0)
            os.write(self._file.fileno(), data)  # O_APPEND: at the start of the emptied file
        except (IOError, OSError):
            pass

    def __exit__(self, *exc):
        if self._file is not None:
            self._file.close()  # closing our descriptor; a child that inherited it keeps the lock
            self._file = None
        return False


def _ends_unix(holder):
    try:
        return float(holder["since_unix"]) + float(holder["deadline_s"])
    except (KeyError, TypeError, ValueError):
        return None


def _alive(pid):
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == 1  # EPERM: alive, another user's
    return True


def read_holder_of(path):
    """What the lock's holder wrote about itself; None when unknown: nothing valid written, or
    written by a process that has ended (the lock was released and taken by someone who has
    not named itself yet)."""
    try:
        with open(path) as f:
            text = f.read(MAX_HOLDER_BYTES)
        info = json.loads(text)
    except (IOError, OSError, ValueError):
        return None
    if not isinstance(info, dict) or not _alive(info.get("agent_pid")):
        return None
    return info


def read_holder(workdir):
    return read_holder_of(lock_path(workdir))


def _when(since_unix, to_time, suffix):
    try:
        moment = to_time(float(since_unix))
    except (TypeError, ValueError, OverflowError):
        return None
    today = to_time(unix_time())
    shape = "%H:%M:%S" if moment[:3] == today[:3] else "%Y-%m-%d %H:%M:%S"
    return time.strftime(shape, moment) + suffix


def describe_holder(holder, to_time=time.gmtime, suffix=" UTC"):
    """The holder in words: "sweep 3f2a from alice@lab-pc (pid 4242) since 14:02:11 UTC".
    The host passes time.localtime and no suffix."""
    if not holder:
        return "another trial (its holder did not say who it is)"
    if holder.get("sweep"):
        words = "sweep %s" % holder["sweep"]
    elif holder.get("trial"):
        words = "trial %s" % holder["trial"]
    else:
        words = "a trial (pid %s on the device)" % holder.get("agent_pid")
    if holder.get("user") or holder.get("host"):
        words += " from %s@%s" % (holder.get("user") or "?", holder.get("host") or "?")
    if holder.get("pid") is not None:
        words += " (pid %s)" % holder["pid"]
    since = _when(holder.get("since_unix"), to_time, suffix)
    return words + (" since %s" % since if since else "")


def device_busy(workdir):
    """True while some agent holds the trial lock (a trial is being measured)."""
    path = lock_path(workdir)
    if not os.path.exists(path):
        return False
    with open(path, "a") as f:
        try:
            fcntl.flock(f.fileno(), EXCLUSIVE_NOWAIT)
        except (IOError, OSError):
            return True
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
    return False
