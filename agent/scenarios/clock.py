"""Clocks the scenarios run on: the real one, and a fake one that tests move by hand.

Every scenario reads time through `now()` and waits through `sleep_until(t)`, so a test with a
`FakeClock` and a fake service that advances it runs any schedule exactly, with no sleeping.
"""

import time

# The last stretch before a deadline is spun rather than slept: time.sleep overshoots by tens
# of microseconds, and a frame or query released late would count against the device.
SPIN_S = 0.0002
# The longest single sleep: long waits are cut so that a clock change or signal is noticed.
MAX_STEP_S = 0.05


class RealClock(object):
    def now(self):
        return time.perf_counter()

    def sleep_until(self, t):
        while True:
            remaining = t - time.perf_counter()
            if remaining <= 0:
                return
            if remaining > SPIN_S:
                time.sleep(min(remaining - SPIN_S, MAX_STEP_S))


class FakeClock(object):
    """Time moves only when told: `advance(dt)` (a fake service's work) or `sleep_until(t)`."""

    def __init__(self, start=0.0):
        self.t = float(start)
        self.sleeps = 0

    def now(self):
        return self.t

    def sleep_until(self, t):
        self.sleeps += 1
        self.t = max(self.t, t)

    def advance(self, dt):
        if dt < 0:
            raise ValueError("a clock does not go back (advance by %r)" % (dt,))
        self.t += dt
