"""`perf stat` on the trial's own process over the timed window (optional per trial).

Started with -p PID, owned by PID and stopped with SIGINT (perf then writes its totals) on
every exit path. Run with LC_ALL=C: other locales print decimal commas. Events perf cannot
count here (hardware counters in a VM) are kept as None, never 0.
"""

import os
import signal
import subprocess
import tempfile
import time

from . import perfstat
from .thermal import find_program

EVENTS = ("task-clock", "page-faults", "context-switches", "cpu-migrations", "cycles", "instructions")


class PerfStat(object):
    def __init__(self, root="/"):
        self.program = find_program(root, "perf") or find_program("/", "perf")
        self._proc = None
        self._out = None

    def available(self):
        return self.program is not None

    def start(self, pid):
        handle, self._out = tempfile.mkstemp(prefix="edgebench-perf-", suffix=".csv")
        os.close(handle)
        env = dict(os.environ, LC_ALL="C")
        self._proc = subprocess.Popen(
            [self.program, "stat", "-x,", "-e", ",".join(EVENTS), "-p", str(pid), "-o", self._out],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            universal_newlines=True,
            env=env,
        )
        self._wait_attached(self._proc.pid)

    @staticmethod
    def _wait_attached(perf_pid, deadline_s=3.0):
        """perf counts nothing until it has opened its events: wait (up to a deadline) for
        its perf_event file descriptors, so the timed window is counted from its start."""
        deadline = time.monotonic() + deadline_s
        folder = "/proc/%d/fd" % perf_pid
        while time.monotonic() < deadline:
            try:
                if any("perf_event" in os.readlink(os.path.join(folder, fd)) for fd in os.listdir(folder)):
                    return True
            except (IOError, OSError):
                pass
            time.sleep(0.005)
        return False

    def stop(self):
        """Returns ({event: value or None}, error text or None). Safe to call twice."""
        if self._proc is None:
            return {}, None
        proc, self._proc = self._proc, None
        error = None
        try:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
            try:
                _, stderr = proc.communicate(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, stderr = proc.communicate()
            with open(self._out) as f:
                text = f.read()
            if proc.returncode not in (0, -signal.SIGINT) and not text.strip():
                error = (
                    (stderr or "").strip().splitlines()[-1]
                    if (stderr or "").strip()
                    else "perf exited %s" % proc.returncode
                )
            counts = perfstat.counters(perfstat.parse_output(text))
        finally:
            os.unlink(self._out)
        return dict((event, counts.get(event)) for event in EVENTS), error
