"""The server scenario: seeded Poisson queries, a queue, a batching policy, one device.

Queries are issued on their schedule whatever the device is doing; each query's latency runs
from its scheduled arrival to the end of the batch that carried it, so time in the queue counts
(split into queueing and compute). The run is judged as LoadGen judges a server run: valid when
the p99 latency meets the target, the schedule lasted the minimum duration, enough queries
completed, and the early-stopping bound holds.
"""

import collections

from ..stats import percentile
from . import arrivals, batching, early_stopping

MAX_TIMELINE_POINTS = 200
PROFILE_RUNS = 3


def prepare(settings, run_batch, clock):
    """The policy, with the service times the latency-aware one starts from."""
    policy = batching.make_policy(settings)
    if isinstance(policy, batching.LatencyAware):
        profile(policy, run_batch, clock)
    return {"policy": policy}


def run(settings, run_batch, clock, prepared):
    """Returns (per-query latencies s, wall s, stopped_by, metrics)."""
    policy = prepared["policy"]
    schedule = arrivals.schedule(
        settings["qps"], settings["seed"], settings["duration_s"], settings["min_queries"]
    )
    log = serve(schedule, policy, run_batch, clock, max(settings["max_s"], settings["duration_s"]))
    return log.latencies, log.wall_s, log.stopped_by, server_metrics(settings, schedule, policy, log)


def profile(policy, run_batch, clock):
    """Before the timed window: service times of a few batch sizes, so the latency-aware policy
    starts from measurements (and each size is warm)."""
    for size in batching.profile_sizes(policy.max_batch):
        for _ in range(PROFILE_RUNS):
            t0 = clock.now()
            run_batch(size)
            policy.observe(size, clock.now() - t0)


class ServeLog(object):
    def __init__(self):
        self.latencies = []
        self.queueing = []
        self.compute = []
        self.batches = []  # (dispatch s from start, size)
        self.stopped_by = "all_queries"
        self.unfinished = 0
        self.wall_s = 0.0
        self.last_done_s = None  # the end of the last batch, s from the start


def serve(schedule, policy, run_batch, clock, max_s):
    """The event loop: admit what has arrived, ask the policy, run a batch or wait."""
    log = ServeLog()
    queue = collections.deque()
    total = len(schedule)
    admitted = 0
    start = clock.now()
    while True:
        now = clock.now() - start
        # EPS_S: (start + t) - start can fall a rounding short of t after sleeping until t.
        while admitted < total and schedule[admitted] <= now + batching.EPS_S:
            queue.append(schedule[admitted])
            admitted += 1
        if not queue:
            if admitted >= total:
                break
            clock.sleep_until(start + schedule[admitted])
            continue
        if now >= max_s:
            log.stopped_by = "max_s"
            break
        size, wait_until = _batch_size(policy, queue, now, schedule[admitted] if admitted < total else None)
        if size == 0:
            clock.sleep_until(start + wait_until)
            continue
        _run_batch(log, policy, run_batch, clock, queue, size, start)
    log.unfinished = len(queue) + total - admitted
    log.wall_s = clock.now() - start
    return log


def _batch_size(policy, queue, now, next_arrival):
    """(size, None) to run a batch now, or (0, until) to wait: the policy's wake time or the
    next arrival, whichever comes first."""
    size, wake_at = policy.next_batch(queue, now)
    if size > 0:
        return min(size, len(queue)), None
    until = [t for t in (wake_at, next_arrival) if t is not None]
    if not until or min(until) <= now + batching.EPS_S:
        # Nothing more will arrive (a fixed batch's remainder), or the policy asked to wait for
        # a moment already past: what is queued goes now, so the loop always moves on.
        return min(len(queue), policy.max_batch), None
    return 0, min(until)


def _run_batch(log, policy, run_batch, clock, queue, size, start):
    t0 = clock.now()
    run_batch(size)
    t1 = clock.now()
    policy.observe(size, t1 - t0)
    log.batches.append((t0 - start, size))
    log.last_done_s = t1 - start
    for _ in range(size):
        scheduled = start + queue.popleft()
        log.latencies.append(t1 - scheduled)
        log.queueing.append(t0 - scheduled)
        log.compute.append(t1 - t0)


def server_metrics(settings, schedule, policy, log):
    target_s = settings["latency_target_ms"] / 1000.0
    completed = len(log.latencies)
    within = sum(1 for x in log.latencies if x <= target_s)
    # A query never served counts as over the target: it cannot be shown to have met it.
    over = completed - within + log.unfinished
    issued = len(schedule)
    last_done_s = log.last_done_s
    p99_ms = percentile(sorted(x * 1000.0 for x in log.latencies), 0.99)
    completed_qps = _rate(completed - 1, last_done_s) if completed > 1 else None
    needed = early_stopping.queries_needed(over)
    metrics = {
        "scenario": "server",
        "policy": policy.name,
        "qps_target": float(settings["qps"]),
        "latency_target_ms": float(settings["latency_target_ms"]),
        "queries": issued,
        "queries_completed": completed,
        "queries_unfinished": log.unfinished,
        # LoadGen's rates: n queries span n - 1 gaps
        "qps_scheduled": _rate(issued - 1, schedule[-1]) if issued > 1 else None,
        "qps_completed": completed_qps,
        "latency_over_target": over,
        # The completed rate's share within the target: never above qps_completed.
        "goodput_qps": completed_qps * within / float(completed) if completed_qps is not None else None,
        "queueing_p50_ms": _ms_percentile(log.queueing, 0.50),
        "queueing_p99_ms": _ms_percentile(log.queueing, 0.99),
        "compute_p50_ms": _ms_percentile(log.compute, 0.50),
        "compute_p99_ms": _ms_percentile(log.compute, 0.99),
        "early_stopping_queries_needed": needed,
        "batch_histogram": batch_histogram(log.batches),
        "batch_size_mean": (completed / float(len(log.batches))) if log.batches else None,
        "batch_sizes_over_time": thinned([[round(t, 6), size] for t, size in log.batches]),
        "service_ms_by_batch": policy.model.table_ms(),
    }
    reasons = invalid_reasons(settings, schedule, log, p99_ms, issued, needed)
    metrics["server_valid"] = not reasons
    metrics["server_invalid_reason"] = "; ".join(reasons) if reasons else None
    return metrics


def invalid_reasons(settings, schedule, log, p99_ms, issued, needed):
    """LoadGen's checks for a server run, each failing one as a short phrase."""
    reasons = []
    target_ms = settings["latency_target_ms"]
    if log.unfinished:
        reasons.append("stopped by max_s with %d of %d queries unfinished" % (log.unfinished, issued))
    if p99_ms is not None and p99_ms > target_ms:
        reasons.append("p99 %.3f ms over the %g ms target" % (p99_ms, target_ms))
    served_s = log.last_done_s or 0.0
    if served_s < settings["duration_s"]:
        reasons.append("served for %.3f s, under the %g s minimum" % (served_s, settings["duration_s"]))
    if len(log.latencies) < settings["min_queries"]:
        reasons.append(
            "%d queries completed, under the %d minimum" % (len(log.latencies), settings["min_queries"])
        )
    if issued < needed:
        reasons.append(
            "early stopping needs %d queries at this over-target count, %d were issued" % (needed, issued)
        )
    return reasons


def _rate(count, seconds):
    return count / seconds if (seconds and seconds > 0 and count >= 0) else None


def _ms_percentile(values_s, q):
    return percentile(sorted(x * 1000.0 for x in values_s), q)


def batch_histogram(batches):
    counts = collections.Counter(size for _, size in batches)
    return dict((str(size), counts[size]) for size in sorted(counts))


def thinned(points, limit=MAX_TIMELINE_POINTS):
    """Every k-th point so that at most `limit` remain (the last one kept)."""
    if len(points) <= limit:
        return points
    stride = -(-len(points) // limit)
    kept = points[::stride]
    if kept[-1] is not points[-1]:
        kept[-1] = points[-1]
    return kept
