"""MLPerf LoadGen's early-stopping bound for the server scenario (loadgen/early_stopping.cc,
results.cc `PerformanceSummary::EarlyStopping`).

With t queries over the latency target, a run passes when it issued at least h + t queries,
h being the smallest number of on-target queries for which seeing t or fewer over-target
queries among h + t would have probability below 1 - confidence if the true share of
over-target queries were 1 - percentile. That probability is the binomial CDF
P(X <= t), X ~ Binomial(h + t, 1 - p), which LoadGen computes as the regularized incomplete
beta I_p(h, t + 1); here it is summed exactly in log space. LoadGen's tolerance d is 0.
"""

import math

PERCENTILE = 0.99
CONFIDENCE = 0.99


def overlatency_odds(h, t, percentile=PERCENTILE):
    """P(at most t over-target queries among h + t) when each is over with prob 1 - percentile.

    Summed down from x = t relative to P(X = t): the ratio of successive terms falls as x
    falls, so once the terms shrink they keep shrinking and the sum stops when they no longer
    count (hundreds of terms, not t, for the long runs of a busy device)."""
    n = h + t
    log_p, log_q = math.log(percentile), math.log(1.0 - percentile)
    log_top = math.lgamma(n + 1) - math.lgamma(t + 1) - math.lgamma(n - t + 1) + t * log_q + (n - t) * log_p
    odds_ratio = percentile / (1.0 - percentile)
    term = total = 1.0
    for x in range(t, 0, -1):
        term *= x / float(n - x + 1) * odds_ratio
        total += term
        if term < total * 1e-17:
            break
        if total > 1e300:  # t is far above the mean: the sum is the whole distribution
            return 1.0
    return min(1.0, math.exp(log_top + math.log(total)))


def min_passing_queries(t, percentile=PERCENTILE, confidence=CONFIDENCE):
    """LoadGen's MinPassingQueriesFinder: the smallest h with odds(h, t) < 1 - confidence
    (strictly, as its binary search compares). The odds fall as h grows."""
    target = 1.0 - confidence
    lo, hi = 1, 2
    while overlatency_odds(hi, t, percentile) >= target:
        lo, hi = hi + 1, hi * 2
    while lo < hi:
        mid = (lo + hi) // 2
        if overlatency_odds(mid, t, percentile) < target:
            hi = mid
        else:
            lo = mid + 1
    return lo


def queries_needed(overlatency, percentile=PERCENTILE, confidence=CONFIDENCE):
    """The queries a run with `overlatency` over-target queries must have issued to pass."""
    return min_passing_queries(overlatency, percentile, confidence) + overlatency


def passes(queries, overlatency, percentile=PERCENTILE, confidence=CONFIDENCE):
    """LoadGen's server rule: queries issued >= h + t."""
    return queries >= queries_needed(overlatency, percentile, confidence)
