"""The scenario keys of a job: their checks, one-line errors naming the key, and defaults."""

from .. import bench

SCENARIOS = ("single-stream", "offline", "stream", "server")
POLICIES = ("fixed", "timeout", "aimd", "latency-aware")
OVERRUN = ("drop", "queue")
# The options each scenario reads: a job carries its own only (a sweep over several scenarios
# must not judge a stream by the server's latency target).
OWN_KEYS = {
    "single-stream": (),
    "offline": ("max_batch",),
    "stream": ("fps", "on_overrun"),
    "server": ("qps", "latency_target_ms", "batching", "max_batch", "max_queue_delay_ms", "find_max_qps"),
}
FRAME_SOURCES = ("synthetic",)
# A schedule is held in memory: far more queries than any device serves in a run is a typo.
MAX_SCHEDULED_QUERIES = 10000000


class ScenarioError(ValueError):
    """A scenario key of the job that is missing, of the wrong type or out of range."""


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _number(job, key, minimum=0.0, strict=True, required=False):
    value = job.get(key)
    if value is None:
        if required:
            raise ScenarioError("job.%s is required for the %s scenario" % (key, job.get("scenario")))
        return
    if not _is_number(value) or value != value or (value <= minimum if strict else value < minimum):
        raise ScenarioError(
            "job.%s must be a number %s %g, got %r" % (key, ">" if strict else ">=", minimum, value)
        )


def _integer(job, key, minimum):
    value = job.get(key)
    if value is not None and (not _is_int(value) or value < minimum):
        raise ScenarioError("job.%s must be an integer >= %d, got %r" % (key, minimum, value))


def _choice(job, key, choices):
    value = job.get(key)
    if value is not None and value not in choices:
        raise ScenarioError("job.%s must be one of %s, got %r" % (key, ", ".join(choices), value))


def check(job):
    """Raises ScenarioError naming the first bad scenario key of `job`."""
    if not isinstance(job, dict):
        raise ScenarioError("job must be a JSON object")
    _choice(job, "scenario", SCENARIOS)
    scenario = job.get("scenario") or "single-stream"
    _number(job, "fps", required=scenario == "stream")
    _choice(job, "on_overrun", OVERRUN)
    _number(job, "qps", required=scenario == "server")
    _number(job, "latency_target_ms", required=scenario == "server")
    _choice(job, "batching", POLICIES)
    _integer(job, "max_batch", 1)
    _number(job, "max_queue_delay_ms", strict=False)
    _number(job, "aimd_step")
    _number(job, "duration_s")
    _integer(job, "min_queries", 0)
    _choice(job, "frames_source", FRAME_SOURCES)
    _integer(job, "seed", 0)
    _check_preferred(job)


def _check_preferred(job):
    value = job.get("preferred_batch")
    if value is None:
        return
    if not isinstance(value, list) or not all(_is_int(v) and v >= 1 for v in value):
        raise ScenarioError("job.preferred_batch must be a list of integers >= 1, got %r" % (value,))


def settings(job):
    """The job checked, with every scenario key and timing key filled: a new dict."""
    check(job)
    timing = bench.QUICK if job.get("quick") else bench.DEFAULTS
    out = dict(job)
    for key, value in timing.items():
        if out.get(key) is None:
            out[key] = value
    defaults = {
        "scenario": "single-stream",
        "on_overrun": "drop",
        "batching": "fixed",
        "batch": 1,
        "max_queue_delay_ms": 0.0,  # Triton's default: a batch waits for nothing
        "aimd_step": 1,
        "frames_source": "synthetic",
        "seed": 0,
        "preferred_batch": [],
    }
    for key, value in defaults.items():
        if out.get(key) is None:
            out[key] = value
    if out.get("max_batch") is None:
        out["max_batch"] = out["batch"]
    if out.get("duration_s") is None:
        out["duration_s"] = out["min_s"]
    if out.get("min_queries") is None:
        out["min_queries"] = _default_min_queries(out)
    _check_schedule_size(out)
    return out


def _default_min_queries(filled):
    """A server run can only be valid with as many queries as LoadGen's early-stopping bound
    needs with none over the target (459 at 99% confidence for p99); --quick keeps min_iters,
    and says so when the run is judged invalid for it."""
    if filled["scenario"] != "server" or filled.get("quick"):
        return filled["min_iters"]
    from .early_stopping import queries_needed

    return max(filled["min_iters"], queries_needed(0))


def _check_schedule_size(filled):
    if filled["scenario"] == "server" and filled["qps"] * filled["duration_s"] > MAX_SCHEDULED_QUERIES:
        raise ScenarioError(
            "job.qps %g over job.duration_s %g asks for more than %d queries"
            % (filled["qps"], filled["duration_s"], MAX_SCHEDULED_QUERIES)
        )
