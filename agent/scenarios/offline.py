"""The offline scenario: the largest batch that fits, then throughput at that batch.

"Fits" is asked of `max_batch_fits(n)` when the caller has one, or found by running a batch
and catching the runtime's out-of-memory error. Sizes double from 1 up to `max_batch` (the
last step capped at it); the largest that fits before the first that does not is kept. Only
those sizes are run, so the caller builds feeds for them alone.
"""

from .. import bench
from . import batching

# What a runtime raises for a batch too large for its memory: ONNX Runtime's allocation
# failures (RuntimeException, Fail) derive from Exception, not RuntimeError, so any error of a
# batch above 1 ends the probe there (a batch of 1 that fails is the trial's failure).
OUT_OF_MEMORY = (Exception,)


def prepare(settings, run_batch, clock, max_batch_fits=None):
    """The largest batch that fits, warmed up: {"offline_batch", "batch_sizes_probed"}."""
    fits = max_batch_fits or _runs_without_oom(run_batch)
    probed = []
    size = largest_fitting(settings["max_batch"], fits, probed)
    bench.warm_up(run_batch, size, settings["warmup_iters"], settings["warmup_s"], clock=clock.now)
    return {"offline_batch": size, "batch_sizes_probed": probed}


def run(settings, run_batch, clock, prepared):
    """Returns (per-call latencies s, wall s, stopped_by, metrics) at the prepared batch."""
    size, probed = prepared["offline_batch"], prepared["batch_sizes_probed"]
    samples, wall_s, stopped_by = bench.timed_loop(
        run_batch,
        size,
        settings["min_iters"],
        settings["min_s"],
        settings["max_iters"],
        max(settings["max_s"], settings["min_s"]),
        clock=clock.now,
    )
    metrics = {
        "scenario": "offline",
        "offline_batch": size,
        "max_batch": settings["max_batch"],
        "batch_sizes_probed": probed,
        "throughput_ips": (len(samples) * size / wall_s) if wall_s > 0 else None,
    }
    return samples, wall_s, stopped_by, metrics


def _runs_without_oom(run_batch):
    def fits(size):
        if size == 1:  # a single input that fails is the trial's failure, not a size limit
            run_batch(1)
            return True
        try:
            run_batch(size)
        except OUT_OF_MEMORY:
            return False
        return True

    return fits


def largest_fitting(max_batch, fits, probed=None):
    """The largest size in 1..max_batch for which `fits(size)`; sizes tried go in `probed` as
    [size, fits]. Assumes that a size fits when a larger one does."""
    probed = [] if probed is None else probed

    def tried(size):
        ok = bool(fits(size))
        probed.append([size, ok])
        return ok

    good = 1
    if not tried(1):
        raise MemoryError("not even a batch of 1 fits on this device")
    while good < max_batch:
        size = min(good * 2, max_batch)
        if not tried(size):
            break
        good = size
    return good


def candidate_sizes(max_batch):
    """Every size `largest_fitting` may run: powers of two below max_batch, and max_batch."""
    return batching.profile_sizes(max_batch)
