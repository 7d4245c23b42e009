"""The timing loop and its stopping rule.

Warm-up runs until both a count and a duration are reached; the timed window then runs until
at least `min_iters` iterations AND at least `min_s` seconds, capped by `max_iters` / `max_s`.
The loop body is kept to a clock pair, the call and an append: its own cost is what the
`null` backend measures.
"""

import time

DEFAULTS = {
    "warmup_iters": 10,
    "warmup_s": 1.0,
    "min_iters": 100,
    "min_s": 2.0,  # per run: a cell gets --repeats (default 5) runs, each its own process
    "max_iters": 1000000,
    "max_s": 120.0,
}
# --quick: for tests and demos; numbers are real but noisier.
QUICK = {
    "warmup_iters": 3,
    "warmup_s": 0.05,
    "min_iters": 20,
    "min_s": 0.3,
    "max_iters": 100000,
    "max_s": 5.0,
}


def warm_up(run, feed, iters, seconds, clock=time.perf_counter):
    deadline = clock() + seconds
    done = 0
    while done < iters or clock() < deadline:
        run(feed)
        done += 1
    return done


def timed_loop(run, feed, min_iters, min_s, max_iters, max_s, clock=time.perf_counter):
    """Returns (samples in seconds, wall seconds of the window, what stopped it)."""
    samples = []
    append = samples.append
    start = clock()
    enough_time = start + min_s
    too_long = start + max_s
    n = 0
    while True:
        t0 = clock()
        run(feed)
        t1 = clock()
        append(t1 - t0)
        n += 1
        if n >= min_iters and t1 >= enough_time:
            stopped_by = "min_iters_and_min_s"
            break
        if n >= max_iters:
            stopped_by = "max_iters"
            break
        if t1 >= too_long:
            stopped_by = "max_s"
            break
    return samples, t1 - start, stopped_by
