"""One trial at a time on a device: every agent takes WORKDIR/trial.lock before it measures.

An agent left over from a lost link or a killed controller may still be finishing a trial when
a new one arrives: the new one waits instead of measuring alongside it.
"""

import fcntl
import os
import time

# LOCK_EX | LOCK_NB (distinct bits, so + is |): vermin's union-types check reads `a | b` as 3.10 syntax.
EXCLUSIVE_NOWAIT = fcntl.LOCK_EX + fcntl.LOCK_NB

# Set by `serve` for the trial process it starts: the lock is already held, through a file
# descriptor the child inherits, so the lock lives as long as either of them.
HELD_ENV = "EDGEBENCH_LOCK_HELD"
LOCK_POLL_S = 0.05


class LockTimeout(Exception):
    pass


class DeviceLock(object):
    def __init__(self, workdir, timeout_s=None):
        self.path = os.path.join(os.path.expanduser(workdir), "trial.lock")
        self.timeout_s = timeout_s
        self._file = None
        self.waited_s = 0.0

    def fileno(self):
        return self._file.fileno()

    def __enter__(self):
        if os.environ.get(HELD_ENV) == "1":
            return self
        folder = os.path.dirname(self.path)
        if not os.path.isdir(folder):
            os.makedirs(folder)
        self._file = open(self.path, "a")
        start = time.monotonic()
        while True:
            try:
                fcntl.flock(self._file.fileno(), EXCLUSIVE_NOWAIT)
                break
            except (IOError, OSError):
                if self.timeout_s is not None and time.monotonic() - start > self.timeout_s:
                    self._file.close()
                    self._file = None
                    raise LockTimeout("another trial has held the device for %.0f s" % self.timeout_s)
                time.sleep(LOCK_POLL_S)
        self.waited_s = time.monotonic() - start
        return self

    def __exit__(self, *exc):
        if self._file is not None:
            self._file.close()  # closing our descriptor; a child that inherited it keeps the lock
            self._file = None
        return False


def device_busy(workdir):
    """True while some agent holds the trial lock (a trial is being measured)."""
    path = os.path.join(os.path.expanduser(workdir), "trial.lock")
    if not os.path.exists(path):
        return False
    with open(path, "a") as f:
        try:
            fcntl.flock(f.fileno(), EXCLUSIVE_NOWAIT)
        except (IOError, OSError):
            return True
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
    return False
