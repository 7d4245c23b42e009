"""A fake service of known service time for the scenario tests: each call advances a FakeClock."""

from agent.scenarios.clock import FakeClock


class FakeService(object):
    """`base_s + per_item_s * n` per batch of n, or the next time from `times` when given
    (then `base_s`/`per_item_s` once they run out). Raises MemoryError above `fits_up_to`."""

    def __init__(self, base_s=0.010, per_item_s=0.002, times=None, fits_up_to=None, clock=None):
        self.clock = clock or FakeClock()
        self.base_s = base_s
        self.per_item_s = per_item_s
        self.times = list(times or [])
        self.fits_up_to = fits_up_to
        self.calls = []

    def service_s(self, n):
        return self.base_s + self.per_item_s * n

    def __call__(self, n):
        if self.fits_up_to is not None and n > self.fits_up_to:
            raise MemoryError("batch %d does not fit" % n)
        self.calls.append(n)
        self.clock.advance(self.times.pop(0) if self.times else self.service_s(n))
