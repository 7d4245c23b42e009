"""Batching policies for the server scenario, one class each, with one small interface:

- `next_batch(queue, now) -> (size, wake_at)`: `queue` holds the scheduled arrival times (s)
  of the waiting queries, oldest first (never empty); `size` > 0 sends that many now, 0 waits
  until `wake_at` (s, same time base) or, when it is None, until the next arrival;
- `observe(size, service_s)`: the measured time of a batch just run.

Every policy keeps a `ServiceModel` of the measured service time per batch size, so each can
report it; only the latency-aware policy decides with it.
"""

import math

# Slack for comparing times computed along different float paths (start + t - start != t).
EPS_S = 1e-9
# Observations kept per batch size: the median of the last few follows a device that heats up
# or is disturbed without being thrown by one outlier.
MODEL_WINDOW = 5


class ServiceModel(object):
    """Service time per batch size: median of the last MODEL_WINDOW observations; unseen sizes
    interpolated linearly between measured neighbours; beyond the largest measured size,
    extrapolated along the last two points (proportionally from one); below the smallest,
    the smallest's time (a smaller batch is not assumed faster than measured)."""

    def __init__(self):
        self.seen = {}

    def observe(self, size, service_s):
        recent = self.seen.setdefault(size, [])
        recent.append(service_s)
        del recent[:-MODEL_WINDOW]

    def measured(self, size):
        recent = self.seen.get(size)
        if not recent:
            return None
        ordered = sorted(recent)
        mid = len(ordered) // 2
        return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2.0

    def estimate(self, size):
        """Predicted seconds for a batch of `size`; None before any observation."""
        if size in self.seen:
            return self.measured(size)
        sizes = sorted(self.seen)
        if not sizes:
            return None
        below = [s for s in sizes if s < size]
        above = [s for s in sizes if s > size]
        if below and above:
            return _line(below[-1], self.measured(below[-1]), above[0], self.measured(above[0]), size)
        if above:
            return self.measured(above[0])
        if len(below) == 1:
            return self.measured(below[0]) * size / float(below[0])
        extrapolated = _line(below[-2], self.measured(below[-2]), below[-1], self.measured(below[-1]), size)
        return max(extrapolated, self.measured(below[-1]))

    def table_ms(self):
        """{size: median ms} of the measured sizes (string keys: JSON)."""
        return dict((str(s), self.measured(s) * 1000.0) for s in sorted(self.seen))


def _line(x0, y0, x1, y1, x):
    return y0 + (y1 - y0) * (x - x0) / float(x1 - x0)


class Policy(object):
    name = None

    def __init__(self, max_batch):
        self.max_batch = max_batch
        self.model = ServiceModel()

    def observe(self, size, service_s):
        self.model.observe(size, service_s)


class FixedBatch(Policy):
    """Always `max_batch` queries: waits until that many are queued (the server loop sends the
    remainder once no more queries will arrive)."""

    name = "fixed"

    def next_batch(self, queue, now):
        return (self.max_batch, None) if len(queue) >= self.max_batch else (0, None)


class TimeoutBatch(Policy):
    """Triton's dynamic batcher: a full batch, or the largest preferred size that the queue
    can fill, goes at once; otherwise the batch waits at most `max_queue_delay_s` from the
    oldest query's arrival, then goes with what is queued."""

    name = "timeout"

    def __init__(self, max_batch, max_queue_delay_s, preferred=()):
        Policy.__init__(self, max_batch)
        self.max_queue_delay_s = max_queue_delay_s
        self.preferred = sorted(p for p in preferred if p <= max_batch)

    def next_batch(self, queue, now):
        queued = len(queue)
        if queued >= self.max_batch:
            return self.max_batch, None
        fitting = [p for p in self.preferred if p <= queued]
        if fitting:
            return fitting[-1], None
        due = queue[0] + self.max_queue_delay_s
        if now + EPS_S >= due:
            return queued, None
        return 0, due


class Aimd(Policy):
    """Clipper's AIMD: the batch cap grows by `step` after a batch that was held by the cap and
    met the target, and is cut by 10% after one that missed it. Growth only after a full
    batch: a small batch meeting the target at low load says nothing about a larger one."""

    name = "aimd"
    CUT = 0.9

    def __init__(self, max_batch, target_s, step=1):
        Policy.__init__(self, max_batch)
        self.target_s = target_s
        self.step = step
        self.cap = 1.0

    def current(self):
        return max(1, int(math.floor(self.cap + EPS_S)))

    def next_batch(self, queue, now):
        return min(len(queue), self.current()), None

    def observe(self, size, service_s):
        Policy.observe(self, size, service_s)
        if service_s > self.target_s:
            self.cap = max(1.0, self.cap * self.CUT)
        elif size >= self.current():
            self.cap = min(float(self.max_batch), self.cap + self.step)


class LatencyAware(Policy):
    """The paper's policy: the largest batch whose predicted service time, added to the wait so
    far of the oldest query that can still meet the target, keeps that query on time; never a
    batch predicted to make such a query miss. A query that would miss even alone (its wait
    plus one query's service time is past the target) no longer constrains the choice: under
    overload, letting it pin the batch at one query collapses throughput (measured: a fifth of
    the timeout batcher's goodput at 1.5x load). Such late queries at the head go together;
    with nothing measured yet, one query goes, which also teaches the model."""

    name = "latency-aware"

    def __init__(self, max_batch, target_s):
        Policy.__init__(self, max_batch)
        self.target_s = target_s

    def late_at_head(self, queue, now):
        """How many of the oldest queries would miss the target even served alone now."""
        alone = self.model.estimate(1)
        if alone is None:
            return 0
        late = 0
        while late < len(queue) and now - queue[late] + alone > self.target_s:
            late += 1
        return late

    def next_batch(self, queue, now):
        available = min(len(queue), self.max_batch)
        late = self.late_at_head(queue, now)
        if late < available:
            waited = now - queue[late]
            for size in range(available, late, -1):
                predicted = self.model.estimate(size)
                if predicted is not None and waited + predicted <= self.target_s:
                    return size, None
        return max(1, min(late, available)), None


def profile_sizes(max_batch):
    """Sizes measured before the timed window for a policy that decides from service times:
    1, powers of two, and max_batch."""
    sizes = set([1, max_batch])
    size = 2
    while size < max_batch:
        sizes.add(size)
        size *= 2
    return sorted(sizes)


def make_policy(settings):
    name = settings["batching"]
    max_batch = settings["max_batch"]
    target_s = settings["latency_target_ms"] / 1000.0
    if name == "fixed":
        return FixedBatch(max_batch)
    if name == "timeout":
        return TimeoutBatch(max_batch, settings["max_queue_delay_ms"] / 1000.0, settings["preferred_batch"])
    if name == "aimd":
        return Aimd(max_batch, target_s, settings["aimd_step"])
    return LatencyAware(max_batch, target_s)
