"""Latency statistics over a list of samples (seconds in, milliseconds out).

Pure functions, no numpy: the agent must run where only the standard library is present.
"""

import math

# Standard deviation, as a fraction of the median, above which a run is flagged unstable (noisy
# neighbour, throttling, frequency scaling), as pyperf warns: its median is then worth less
# than its confidence interval suggests. (The median: the figure the tables print.)
UNSTABLE_CV = 0.10
Z95 = 1.959963984540054


def percentile(sorted_values, q):
    """Linear interpolation between closest ranks (numpy's default method)."""
    if not sorted_values:
        return None
    pos = (len(sorted_values) - 1) * q
    lo = int(math.floor(pos))
    hi = min(lo + 1, len(sorted_values) - 1)
    frac = pos - lo
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * frac


def median_ci95(sorted_values):
    """Distribution-free 95% confidence interval of the median, from order statistics.

    Ranks n/2 -/+ 1.96*sqrt(n)/2 (normal approximation to the binomial); None below 6 samples,
    where no such interval reaches 95%.
    """
    n = len(sorted_values)
    if n < 6:
        return None, None
    half_width = Z95 * math.sqrt(n) / 2.0
    lo_rank = max(int(math.floor(n / 2.0 - half_width)), 1)
    hi_rank = min(int(math.ceil(n / 2.0 + half_width)) + 1, n)
    return sorted_values[lo_rank - 1], sorted_values[hi_rank - 1]


def summarize(samples_s, batch, wall_s):
    """Summary of a timed window: latencies in ms, throughput in inferences per second."""
    n = len(samples_s)
    ordered = sorted(x * 1000.0 for x in samples_s)
    mean = sum(ordered) / n
    std = math.sqrt(sum((x - mean) ** 2 for x in ordered) / (n - 1)) if n > 1 else None
    ci_lo, ci_hi = median_ci95(ordered)
    median = percentile(ordered, 0.50)
    cv = (std / mean) if (std is not None and mean > 0) else None
    return {
        "iterations": n,
        "latency_p50_ms": median,
        "latency_p90_ms": percentile(ordered, 0.90),
        "latency_p95_ms": percentile(ordered, 0.95),
        "latency_p99_ms": percentile(ordered, 0.99),
        "latency_mean_ms": mean,
        "latency_std_ms": std,
        "latency_min_ms": ordered[0],
        "latency_max_ms": ordered[-1],
        "latency_p50_ci95_low_ms": ci_lo,
        "latency_p50_ci95_high_ms": ci_hi,
        "latency_cv": cv,
        "unstable": bool(std is not None and median > 0 and std / median > UNSTABLE_CV),
        "throughput_ips": (n * batch / wall_s) if wall_s > 0 else None,
        "timed_wall_s": wall_s,
    }
