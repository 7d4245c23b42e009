"""Deployment scenarios: how inference requests reach the model, and how each is judged.

- single-stream: one call after another (bench.timed_loop's rule: min_iters AND min_s);
- offline: the largest batch that fits, then throughput at that batch;
- stream: a camera's frames at a fixed rate, dropped or queued when the model lags;
- server: seeded Poisson queries under a latency target, batched by a policy.

`run(job, run_batch, clock)` drives one: `run_batch(n)` performs one inference on a batch of n
inputs (its feeds built beforehand, outside the timed path) and `clock` is a `RealClock`, or a
`FakeClock` that a fake service advances in tests. Standard library only (Python 3.6).
"""

from .. import bench
from . import offline, server, stream
from .checks import POLICIES, SCENARIOS, ScenarioError, check, settings
from .clock import FakeClock, RealClock

__all__ = [
    "POLICIES",
    "SCENARIOS",
    "FakeClock",
    "RealClock",
    "ScenarioError",
    "check",
    "find_max_qps",
    "prepare",
    "run",
    "settings",
]


def prepare(job, run_batch, clock, max_batch_fits=None):
    """What a scenario learns by running the model, done before the timed window (and the
    power window) so that none of it is measured: offline's largest batch that fits (then
    warmed), the latency-aware policy's service times. Returns what `run` takes as `prepared`."""
    filled = settings(job)
    if filled["scenario"] == "offline":
        return offline.prepare(filled, run_batch, clock, max_batch_fits)
    if filled["scenario"] == "server":
        return server.prepare(filled, run_batch, clock)
    return {}


def run(job, run_batch, clock, max_batch_fits=None, prepared=None):
    """Runs the job's scenario; returns (samples s, wall s, stopped_by, metrics). Without
    `prepared` (see `prepare`), the preparation runs first, inside the call.

    samples: per call (single-stream, offline), per completed frame from its release
    (stream), per query from its scheduled arrival (server). metrics: the scenario's own
    figures (flat JSON values, units in the names), `scenario` always among them."""
    filled = settings(job)
    scenario = filled["scenario"]
    if scenario == "stream":
        return stream.run(filled, run_batch, clock)
    if prepared is None:
        prepared = prepare(job, run_batch, clock, max_batch_fits)
    if scenario == "server":
        return server.run(filled, run_batch, clock, prepared)
    if scenario == "offline":
        return offline.run(filled, run_batch, clock, prepared)
    samples, wall_s, stopped_by = bench.timed_loop(
        run_batch,
        filled["batch"],
        filled["min_iters"],
        filled["min_s"],
        filled["max_iters"],
        max(filled["max_s"], filled["min_s"]),
        clock=clock.now,
    )
    return samples, wall_s, stopped_by, {"scenario": "single-stream"}


def find_max_qps(job, run_batch, clock, low, high, steps):
    """The highest rate in [low, high] at which the server scenario is valid, by bisection
    over `steps` runs. Returns (best passing qps or None, [(qps, valid, goodput_qps), ...])."""
    if not (0 < low < high):
        raise ScenarioError("find_max_qps needs 0 < low < high, got low=%r high=%r" % (low, high))
    tried = []
    best = None
    for _ in range(steps):
        qps = (low + high) / 2.0
        metrics = run(dict(job, scenario="server", qps=qps), run_batch, clock)[3]
        tried.append((qps, metrics["server_valid"], metrics["goodput_qps"]))
        if metrics["server_valid"]:
            best, low = qps, qps
        else:
            high = qps
    return best, tried
