"""A trial's glue to the scenarios (agent/scenarios): the feeds for every batch size a scenario
may run, built and warmed before the timed window (never inside it), the real clock, and the
scenario's setting in words for the tables.

single-stream stays today's loop (bench.timed_loop); trial.py asks `scenario_of(job)`.
"""

SINGLE_STREAM = "single-stream"
# A server batches up to max_batch queries: one feed per size, built before timing.
MAX_PREBUILT_SIZES = 256
# --find-max-qps: bisection steps between 1/64 of and twice the rate one largest batch per
# call would sustain; each step is a server run of duration_s.
FIND_STEPS = 6


def scenario_of(job):
    return job.get("scenario") or SINGLE_STREAM


def check(job):
    """ValueError naming a bad scenario key of the job (before anything is loaded)."""
    if scenario_of(job) == SINGLE_STREAM:
        return
    from . import scenarios

    # --find-max-qps chooses the rates itself: any rate stands in for the check.
    scenarios.check(dict(job, qps=job.get("qps") or 1.0) if job.get("find_max_qps") else job)
    if _largest_batch(job) > MAX_PREBUILT_SIZES:
        raise ValueError("job.max_batch %d is above %d" % (_largest_batch(job), MAX_PREBUILT_SIZES))


def _largest_batch(job):
    return int(job.get("max_batch") or job["batch"])


def _sizes(job):
    """The batch sizes the scenario may run: a server's 1..max_batch; offline's probe sizes; a
    stream's own batch."""
    scenario, largest = scenario_of(job), _largest_batch(job)
    if scenario == "server":
        return list(range(1, largest + 1))
    if scenario == "offline":
        from .scenarios.offline import candidate_sizes

        return candidate_sizes(largest)
    return [job["batch"]]


def feeds_for(job, backend, feed):
    """{batch size: feed} for every size the scenario may run, the job's own feed among them.
    Smaller sizes are views of the first rows of the largest (no copy: a server's 1..256 would
    otherwise hold 256 x 257 / 2 inputs)."""
    if scenario_of(job) == SINGLE_STREAM:
        return {job["batch"]: feed}
    if not backend.needs_model:
        return dict((size, {}) for size in _sizes(job) + [job["batch"]])
    from .inputs import make_feed

    sizes = _sizes(job)
    largest = make_feed(backend.inputs(), max(sizes), job["shapes"], job["seed"])
    feeds = dict((size, dict((name, array[:size]) for name, array in largest.items())) for size in sizes)
    feeds[job["batch"]] = feed
    return feeds


def warm_up(job, backend, feeds):
    """One call per batch size beyond the job's own (warmed by bench.warm_up): a first call of a
    new shape costs allocations that must not land in the window. Not offline's: its probe may
    be the first to find a size that does not fit."""
    if scenario_of(job) in (SINGLE_STREAM, "offline"):
        return
    for size, feed in sorted(feeds.items()):
        if size != job["batch"]:
            backend.run(feed)


def setting_text(job):
    """What was asked, in words: "15 fps, drop on overrun", "40 qps, timeout batching, target
    20 ms", "offline up to batch 64"."""
    scenario = scenario_of(job)
    if scenario == "stream":
        return "%g fps, %s on overrun" % (job["fps"], job.get("on_overrun") or "drop")
    if scenario == "server":
        rate = "max qps search" if job.get("find_max_qps") else "%g qps" % job["qps"]
        return "%s, %s batching, target %g ms" % (
            rate,
            job.get("batching") or "fixed",
            job["latency_target_ms"],
        )
    if scenario == "offline":
        return "offline up to batch %d" % _largest_batch(job)
    return None


class Prepared(object):
    """What `prepare` found before the window, for `run` inside it."""

    def __init__(self, job, run_batch, clock):
        self.job, self.run_batch, self.clock = job, run_batch, clock
        self.found = {}  # scenarios.prepare's (offline batch, latency-aware service times)
        self.search = {}  # --find-max-qps: max_qps and the rates tried


def prepare(job, backend, feeds, min_s):
    """Before the timed and power windows: the --find-max-qps search, offline's probe, the
    latency-aware policy's service times. None for single-stream."""
    if scenario_of(job) == SINGLE_STREAM:
        return None
    from . import scenarios
    from .scenarios.clock import RealClock

    def run_batch(size):
        backend.run(feeds[size])

    state = Prepared(dict(job, duration_s=job.get("duration_s") or min_s), run_batch, RealClock())
    if scenario_of(job) == "server" and job.get("find_max_qps"):
        _find_max_qps(state)
    state.found = scenarios.prepare(state.job, run_batch, state.clock)
    return state


def run(state):
    """(samples in s, wall s, what stopped it, metrics, what one sample counts: the offline
    batch's inputs, one query, one frame)."""
    from . import scenarios

    job = state.job
    samples, wall_s, stopped_by, metrics = scenarios.run(
        job, state.run_batch, state.clock, prepared=state.found
    )
    metrics = dict(metrics, scenario_setting=setting_text(job), **state.search)
    if scenario_of(job) == "stream" and metrics.get("frames"):
        # frames completed per second of the release schedule (not over the span to the last
        # completion, which ends early when the last frame is quick)
        metrics["throughput_ips"] = metrics["frames_completed"] * float(job["fps"]) / metrics["frames"]
    per_sample = int(metrics.get("offline_batch") or 1) if scenario_of(job) == "offline" else 1
    return samples, wall_s, stopped_by, metrics, per_sample


def _find_max_qps(state):
    """Bisects for the highest valid rate (outside the windows); the measured run is then one
    at that rate (or, when none passed, at the lowest rate tried, with max_qps null)."""
    from . import scenarios

    largest = _largest_batch(state.job)
    started = state.clock.now()
    state.run_batch(largest)
    high = 2.0 * largest / max(state.clock.now() - started, 1e-6)
    best, tried = scenarios.find_max_qps(
        state.job, state.run_batch, state.clock, high / 64.0, high, FIND_STEPS
    )
    state.job = dict(state.job, qps=best or min(qps for qps, _, _ in tried))
    state.search = {"max_qps": best, "max_qps_tried": [list(t) for t in tried]}
