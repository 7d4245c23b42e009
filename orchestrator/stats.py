"""Small statistics of the host side: the Wilson score interval of a measured accuracy.

Pure functions, standard library only (the CLI and the tables import them).
"""

import math
from typing import Optional, Tuple

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
