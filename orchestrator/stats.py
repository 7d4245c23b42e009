"""Small statistics of the host side: the Wilson score interval of a measured accuracy, and the
Student t interval and relative spread of a cell's run medians (between-run statistics).

Pure functions, standard library only (the CLI and the tables import them).
"""

import math
import statistics
from typing import Iterable, List, Optional, Tuple

Z95 = 1.959963984540054  # the 97.5th percentile of the standard normal: a two-sided 95% interval


def wilson_interval(successes: int, n: int, z: float = Z95) -> Tuple[float, float]:
    """Wilson score interval of a proportion successes/n (E. B. Wilson, 1927). Unlike the
    normal approximation it stays inside [0, 1] and is not empty at 0 or n successes.
    Raises ValueError when n < 1 or successes is outside 0..n."""
    if n < 1 or not 0 <= successes <= n:
        raise ValueError(
            "wilson_interval: need 0 <= successes <= n and n >= 1, got %r of %r" % (successes, n)
        )
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    low, high = centre - half, centre + half
    # Exact at the edges: rounding must not leave 0 or n successes a hair off 0 or 1.
    return (0.0 if successes == 0 else max(0.0, low), 1.0 if successes == n else min(1.0, high))


def accuracy_interval(accuracy, n) -> Optional[Tuple[float, float]]:
    """The 95% Wilson interval of an accuracy (a fraction 0-1) measured on n samples, with
    successes = round(accuracy * n); None when either is unknown (None, NaN) or n < 1."""
    if accuracy is None or n is None:
        return None
    try:
        accuracy, n = float(accuracy), float(n)
    except (TypeError, ValueError):
        return None
    if not (math.isfinite(accuracy) and math.isfinite(n)) or n < 1 or not 0.0 <= accuracy <= 1.0:
        return None
    n = int(round(n))
    return wilson_interval(int(round(accuracy * n)), n)


# The 97.5th percentile of Student's t with df degrees of freedom (two-sided 95%), to 6 decimals
# (scipy.stats.t.ppf(0.975, df)): exact for df 1..30, then anchors that `t_quantile` interpolates
# between, linearly in 1/df, ending at the normal's Z95 (1/df = 0).
T975 = {
    1: 12.706205,
    2: 4.302653,
    3: 3.182446,
    4: 2.776445,
    5: 2.570582,
    6: 2.446912,
    7: 2.364624,
    8: 2.306004,
    9: 2.262157,
    10: 2.228139,
    11: 2.200985,
    12: 2.178813,
    13: 2.160369,
    14: 2.144787,
    15: 2.131450,
    16: 2.119905,
    17: 2.109816,
    18: 2.100922,
    19: 2.093024,
    20: 2.085963,
    21: 2.079614,
    22: 2.073873,
    23: 2.068658,
    24: 2.063899,
    25: 2.059539,
    26: 2.055529,
    27: 2.051831,
    28: 2.048407,
    29: 2.045230,
    30: 2.042272,
    40: 2.021075,
    60: 2.000298,
    120: 1.979930,
}


def t_quantile(df: int) -> float:
    """t_{0.975, df}: exact (to 6 decimals) for df 1..30, 40, 60, 120; between and beyond those,
    linear in 1/df towards the normal Z95 (within 0.0001 of the true value). ValueError for df < 1."""
    if df < 1:
        raise ValueError("t_quantile: need df >= 1, got %r" % (df,))
    if df in T975:
        return T975[df]
    anchors = sorted(T975)
    below = max(d for d in anchors if d < df)
    above = min((d for d in anchors if d > df), default=None)
    low_x, low_t = 1.0 / below, T975[below]
    high_x, high_t = (1.0 / above, T975[above]) if above else (0.0, Z95)
    x = 1.0 / df
    return high_t + (low_t - high_t) * (x - high_x) / (low_x - high_x)


def finite_values(values: Iterable) -> List[float]:
    """The values that are finite numbers, as floats (None, NaN, inf and text left out)."""
    out = []
    for value in values:
        try:
            value = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(value):
            out.append(value)
    return out


def t_interval(values: Iterable) -> Optional[Tuple[float, float]]:
    """The two-sided 95% Student t interval of the mean of `values`: mean ± t_{0.975, n-1} · s/√n
    (s the sample standard deviation). None (and NaN) values are left out; None when fewer than
    2 finite values remain. Meant for a handful of independent run medians (docs/DESIGN.md,
    "Repeated runs and between-run intervals")."""
    finite = finite_values(values)
    n = len(finite)
    if n < 2:
        return None
    mean = statistics.fmean(finite)
    half = t_quantile(n - 1) * statistics.stdev(finite) / math.sqrt(n)
    return mean - half, mean + half


def relative_spread(values: Iterable) -> Optional[float]:
    """Sample standard deviation / median of the finite `values`: how far a cell's runs disagree.
    None with fewer than 2 finite values or a median <= 0."""
    finite = finite_values(values)
    if len(finite) < 2:
        return None
    median = statistics.median(finite)
    if median <= 0:
        return None
    return statistics.stdev(finite) / median
