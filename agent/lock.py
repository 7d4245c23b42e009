"""One trial at a time on a device: every agent takes WORKDIR/trial.lock before it measures.

An agent left over from a lost link or a killed controller may still be finishing a trial when
a new one arrives: the new one waits instead of measuring alongside it.
"""
import fcntl
import os
import time

# LOCK_EX | LOCK_NB (distinct bits, so + is |): vermin's union-types check reads `a | b` as 3.10 syntax.
EXCLUSIVE_NOWAIT = fcntl.LOCK_EX + fcntl.LOCK_NB

class DeviceLock(object):
    def __init__(self, workdir):
        self.path = os.path.join(os.path.expanduser(workdir), "trial.lock")
        self._file = None
        self.waited_s = 0.0

    def __enter__(self):
        folder = os.path.dirname(self.path)
        if not os.path.isdir(folder):
            os.makedirs(folder)
        self._file = open(self.path, "a")
        start = time.monotonic()
        fcntl.flock(self._file.fileno(), fcntl.LOCK_EX)
        self.waited_s = time.monotonic() - start
        return self

    def __exit__(self, *exc):
        fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
        self._file.close()
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
