"""One trial: validate the job, load the backend, warm up, time, summarize.

`run_trial(job, emit)` calls `emit(record)` for each record (trial_start, result or error,
trial_end). It never raises for a failing trial: the failure is a record.
"""

import os
import time

from . import AGENT_VERSION, bench, conditions, cpuload, errorlog, memory, scenario_trial, sysroot
from .accuracy import EvalSetError, top1
from .backends import BackendError, get_backend
from .child import emulator
from .inputs import InputSpecError, feed_sha256, make_feed
from .protocol import make_record
from .spool import is_safe_id
from .stats import summarize
from .telemetry.collect import TrialTelemetry
from .telemetry.perf import PerfStat

BYTES_PER_MIB = 1024.0 * 1024.0
# The outputs sent back for the host's check against ONNX Runtime (a classifier's logits are a
# few thousand values; a segmentation map is not sent, and the check says so).
OUTPUT_CHECK_MAX_VALUES = 65536
TIMING_KEYS = ("warmup_iters", "warmup_s", "min_iters", "min_s", "max_iters", "max_s")


class JobError(ValueError):
    """A job that is malformed (missing or wrong-typed field)."""


def normalize_job(job):
    """Fill defaults and check types; returns a new dict."""
    if not isinstance(job, dict):
        raise JobError("job must be a JSON object")
    if not isinstance(job.get("trial_id"), str) or not job["trial_id"]:
        raise JobError("job.trial_id must be a non-empty string")
    if not is_safe_id(job["trial_id"]):
        raise JobError(
            "job.trial_id %r must be 1-128 of letters, digits, '_', '.', '-' "
            "(it names the spool file)" % (job["trial_id"],)
        )
    timing = bench.QUICK if job.get("quick") else bench.DEFAULTS
    out = dict(job)
    out.setdefault("backend", "onnxruntime")
    out.setdefault("batch", 1)
    out.setdefault("seed", 0)
    out.setdefault("shapes", {})
    out.setdefault("backend_options", {})
    # The null backend makes a million samples of nothing: not worth 20 MB of JSON by default.
    out.setdefault("keep_samples", out["backend"] != "null")
    for key in TIMING_KEYS:
        out[key] = timing[key] if out.get(key) is None else out[key]
    if not isinstance(out["batch"], int) or isinstance(out["batch"], bool) or out["batch"] < 1:
        raise JobError("job.batch must be an integer >= 1, got %r" % (out["batch"],))
    if not isinstance(out["shapes"], dict):
        raise JobError("job.shapes must be an object {input: [dims]}")
    conditions.check_job(out)
    try:
        scenario_trial.check(out)
    except ValueError as exc:
        raise JobError(str(exc))
    return out


def _load(backend, job):
    if not backend.needs_model:
        return None
    model = job.get("model")
    if not model or not os.path.isfile(model):
        raise JobError("model file not found on the device: %r" % (model,))
    # The batch and shapes too: a backend that builds for them (TensorRT) builds here, in load_s.
    backend.load(model, dict(job["backend_options"], batch=job["batch"], shapes=job["shapes"]))
    return os.path.getsize(model) / BYTES_PER_MIB


def _clean(value):
    """NaN/inf are not JSON: a measurement that is not a number is null."""
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    return value


def _accuracy(backend, job):
    """After timing (never inside it): top-1 on the eval set sent with the model, if any, and
    the confusion counts of the same predictions (`accuracy.confusion_metrics`)."""
    if not job.get("eval_set") or not backend.needs_model:
        return None, None, {}
    return top1(backend, job["eval_set"], job["batch"])


def output_check(backend, feed):
    """After timing: the outputs for the trial's seeded input, for the host to compare with
    ONNX Runtime fp32 on its side (orchestrator/correctness.py). None without a model."""
    if not backend.needs_model:
        return None
    import numpy

    check = {"input_sha256": feed_sha256(feed)}
    try:  # the timing is done: an output that is not numbers must not fail the trial
        outputs = [numpy.asarray(o) for o in backend.run(feed)]
        check["shapes"] = [list(o.shape) for o in outputs]
        size = sum(int(o.size) for o in outputs)
        if size > OUTPUT_CHECK_MAX_VALUES:
            check["not_sent"] = "the outputs hold %d values, more than the %d sent back" % (
                size,
                OUTPUT_CHECK_MAX_VALUES,
            )
            return check
        check["values"] = [[_clean(v) for v in o.astype("float64").ravel().tolist()] for o in outputs]
    except (TypeError, ValueError) as exc:
        check["not_sent"] = "the outputs are not arrays of numbers (%s)" % exc
    return check


def _timed_window(job, backend, feed, min_s, prepared):
    """(samples in s, wall s, what stopped it, the scenario's own metrics, inferences per
    sample): today's loop for single-stream, agent/scenarios for the others."""
    if scenario_trial.scenario_of(job) == scenario_trial.SINGLE_STREAM:
        samples, wall_s, stopped_by = bench.timed_loop(
            backend.run, feed, job["min_iters"], min_s, job["max_iters"], max(job["max_s"], min_s)
        )
        return samples, wall_s, stopped_by, {}, job["batch"]
    found = scenario_trial.run(prepared)
    if not found[0]:
        raise JobError("the %s scenario completed nothing in its window" % scenario_trial.scenario_of(job))
    return found


def _timed_window_s(job, telemetry):
    """min_s, lengthened when the power sensor's rate would leave too few samples in it."""
    needed = telemetry.min_window_s()
    return max(job["min_s"], needed), needed > job["min_s"]


def measure(job, workdir=None):
    """Runs the trial; returns (metrics, env, samples in ms, telemetry time series, the
    output check)."""
    backend = get_backend(job["backend"])
    with conditions.controlled(job, sysroot.root(), workdir) as applied:
        return _measure(job, backend, applied)


def _measure(job, backend, applied):
    peak_reset = memory.reset_peak_rss()
    rss_before = memory.rss_mb()
    origin = load_start = time.perf_counter()
    model_size_mb = _load(backend, job)
    load_s = time.perf_counter() - load_start
    feed = (
        make_feed(backend.inputs(), job["batch"], job["shapes"], job["seed"]) if backend.needs_model else {}
    )
    feeds = scenario_trial.feeds_for(job, backend, feed)  # every batch size a scenario may run
    telemetry = TrialTelemetry(job.get("telemetry"), sysroot.root(), quick=bool(job.get("quick")))
    perf = PerfStat(sysroot.root()) if job.get("perf") else None
    perf_counts, perf_error = {}, None if perf is None or perf.available() else "perf is not installed"
    try:  # the sampler process (and its tegrastats) and perf end on every path
        telemetry.start()
        min_s, lengthened = _timed_window_s(job, telemetry)
        telemetry.measure_idle()
        warmup_done = bench.warm_up(backend.run, feed, job["warmup_iters"], job["warmup_s"])
        scenario_trial.warm_up(job, backend, feeds)
        prepared = scenario_trial.prepare(job, backend, feeds, min_s)  # outside both windows
        if perf is not None and perf.available():
            perf.start(os.getpid())
        try:
            # Other processes' CPU time, read outside the window: the /proc scan stays out of
            # the power window's edges as well as out of the timed loop.
            load_before = cpuload.snapshot()
            telemetry.window_edge()
            t0 = time.perf_counter()
            samples, wall_s, stopped_by, scenario_metrics, per_sample = _timed_window(
                job, backend, feed, min_s, prepared
            )
            t1 = time.perf_counter()
            telemetry.window_edge()
            load_after = cpuload.snapshot(end=True)
        finally:
            if perf is not None and perf.available():
                perf_counts, perf_error = perf.stop()
    finally:
        telemetry.stop()
    peak_rss = memory.peak_rss_mb()  # before the statistics add their own copies of the samples
    accuracy, accuracy_samples, confusion = _accuracy(backend, job)
    check = output_check(backend, feed)
    metrics = summarize(samples, per_sample, wall_s)
    metrics.update(scenario_metrics)
    power_metrics, series = telemetry.summary(t0, t1, len(samples) * per_sample, origin)
    metrics.update(power_metrics)
    metrics.update(cpuload.busy_metrics(load_before, load_after))
    metrics.update(
        {
            "warmup_iterations": warmup_done,
            "stopped_by": stopped_by,
            "min_s_lengthened_for_power": lengthened,
            "peak_rss_mb": peak_rss,
            "peak_rss_is_per_trial": peak_reset,
            "rss_before_load_mb": rss_before,
            "model_size_mb": model_size_mb,
            "load_s": load_s,
            "latency_per_sample_ms": metrics["latency_p50_ms"] / per_sample,
            "simulated": sysroot.simulated(),
            "emulated": emulator(),
            "accuracy": accuracy,
            "accuracy_samples": accuracy_samples,
            "latency_p50_per_sample_ms": metrics["latency_p50_ms"] / per_sample,
            "conditions": applied,
        }
    )
    metrics.update(confusion)  # accuracy_confusion (rows true class), or a note why not sent
    if perf is not None:
        metrics.update({"perf": perf_counts, "perf_error": perf_error})
    metrics = dict((k, _clean(v)) for k, v in metrics.items())
    env = backend.info()
    env["system_memory"] = memory.meminfo_mb()
    samples_ms = [s * 1000.0 for s in samples] if job["keep_samples"] else None
    return metrics, env, samples_ms, series, check


def run_trial(job, emit, workdir=None):
    """`workdir` keeps what --pin-clocks changed until it is restored (None: in memory only).
    The trial_end record carries `agent_s`, the agent's own time for the whole trial, so
    the host can tell its orchestration overhead from the measurement."""
    received = time.monotonic()
    trial_id = job.get("trial_id") if isinstance(job, dict) else None

    def end(status):
        emit(make_record("trial_end", trial_id=trial_id, status=status, agent_s=time.monotonic() - received))
        return status

    try:
        job = normalize_job(job)
        emit(
            make_record(
                "trial_start",
                trial_id=trial_id,
                job=job,
                agent_version=AGENT_VERSION,
                started_monotonic=time.monotonic(),
                started_unix=time.time(),
            )
        )
        metrics, env, samples_ms, series, check = measure(job, workdir)
    except (JobError, BackendError, InputSpecError, EvalSetError, conditions.ConditionError) as exc:
        _error(emit, trial_id, str(exc), type(exc).__name__)
        return end("failed")
    except Exception as exc:  # a crash inside a runtime must fail this trial, not the agent
        # One line to the host; the frames go to the device's log for whoever debugs it there.
        _error(emit, trial_id, errorlog.one_line(exc, errorlog.log_exception(workdir)), "crash")
        return end("failed")
    emit(
        make_record(
            "result",
            trial_id=trial_id,
            metrics=metrics,
            env=env,
            samples_ms=samples_ms,
            telemetry=series,
            output_check=check,
            finished_unix=time.time(),
        )
    )
    return end("ok")


def _error(emit, trial_id, message, kind):
    emit(
        make_record("error", trial_id=trial_id, error=message.splitlines()[0] if message else kind, kind=kind)
    )
