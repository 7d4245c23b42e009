"""Seeded Poisson arrivals, as MLPerf LoadGen's server scenario draws them.

Gaps are exponential: -ln(1 - U) / rate with U uniform on [0, 1) from `random.Random(seed)`,
so the same seed gives the same schedule on every device and Python version.
"""

import math
import random


def poisson_gaps(rate, seed):
    """Endless gaps in seconds between arrivals at `rate` per second."""
    rng = random.Random(seed)
    while True:
        yield -math.log(1.0 - rng.random()) / rate


def schedule(rate, seed, duration_s, min_queries=0):
    """Arrival times in seconds from the start: until one falls at or past `duration_s` and
    there are at least `min_queries` (LoadGen also issues queries until both are met)."""
    times = []
    t = 0.0
    for gap in poisson_gaps(rate, seed):
        t += gap
        times.append(t)
        if t >= duration_s and len(times) >= min_queries:
            return times
