"""Average power and energy from power samples (pure functions).

Samples are (t_seconds, power_mw) pairs on the monotonic clock of the latency loop; a sample
whose power is None (sensor unreadable) is left out, never read as 0. Energy is the trapezoid
rule over the window [t0, t1]: where an edge of the window falls between two samples, the
power there is interpolated; the part of the window outside the first..last sample is not
invented (`covered_s` says how much of the window the samples span). mW x s = mJ.

With fewer than 2 samples inside the window there is no honest number: values are None and
the reason is "too few samples".
"""

TOO_FEW = "too few samples"


def _valid(samples):
    points = [(float(t), float(p)) for t, p in samples if t is not None and p is not None]
    points.sort(key=lambda point: point[0])
    return points


def _interpolate(a, b, t):
    (ta, pa), (tb, pb) = a, b
    if tb == ta:
        return pa
    return pa + (pb - pa) * (t - ta) / (tb - ta)


def window_points(samples, t0=None, t1=None):
    """Valid samples clipped to [t0, t1], with interpolated points at edges that fall between
    two samples. Returns (points, count of real samples inside the window)."""
    points = _valid(samples)
    if not points:
        return [], 0
    t0 = points[0][0] if t0 is None else float(t0)
    t1 = points[-1][0] if t1 is None else float(t1)
    inside = [pt for pt in points if t0 <= pt[0] <= t1]
    clipped = list(inside)
    for edge, at_start in ((t0, True), (t1, False)):
        for a, b in zip(points, points[1:]):
            if a[0] < edge < b[0]:
                point = (edge, _interpolate(a, b, edge))
                if at_start:
                    clipped.insert(0, point)
                else:
                    clipped.append(point)
                break
    return clipped, len(inside)


def _trapezoid(points):
    return sum((b[0] - a[0]) * (a[1] + b[1]) / 2.0 for a, b in zip(points, points[1:]))


def integrate_energy_mj(samples, t0=None, t1=None):
    """Energy in mJ over the part of [t0, t1] the samples span (whole span by default);
    None with fewer than 2 samples in the window."""
    points, count = window_points(samples, t0, t1)
    if count < 2:
        return None
    return _trapezoid(points)


def average_power_mw(samples, t0=None, t1=None):
    """Time-weighted mean power (mW) over the part of [t0, t1] the samples span."""
    points, count = window_points(samples, t0, t1)
    if count < 2:
        return None
    span = points[-1][0] - points[0][0]
    if span <= 0:
        return None
    return _trapezoid(points) / span


def energy_per_inference(samples, t0, t1, inferences, idle_mw=None):
    """Gross and above-idle average power (mW) and energy (mJ) over the timed window
    [t0, t1], and per inference. Energy = mean power over the covered part x window length.
    `idle_mw` is the idle baseline measured before the window (None: no above-idle values).
    Above-idle values are not clipped at 0: a negative one says the baseline was off."""
    window_s = float(t1) - float(t0)
    points, count = window_points(samples, t0, t1)
    result = {
        "samples": count,
        "window_s": window_s,
        "covered_s": None,
        "coverage": None,
        "avg_power_mw": None,
        "energy_mj": None,
        "energy_per_inference_mj": None,
        "idle_power_mw": idle_mw,
        "avg_power_above_idle_mw": None,
        "energy_above_idle_mj": None,
        "energy_per_inference_above_idle_mj": None,
        "inferences": inferences,
        "reason": None,
    }
    if count < 2:
        result["reason"] = TOO_FEW
        return result
    if window_s <= 0:
        result["reason"] = "empty window"
        return result
    covered = points[-1][0] - points[0][0]
    if covered <= 0:
        result["reason"] = TOO_FEW
        return result
    avg = _trapezoid(points) / covered
    result.update(covered_s=covered, coverage=covered / window_s, avg_power_mw=avg, energy_mj=avg * window_s)
    if inferences:
        result["energy_per_inference_mj"] = result["energy_mj"] / inferences
    if idle_mw is not None:
        above = avg - idle_mw
        result["avg_power_above_idle_mw"] = above
        result["energy_above_idle_mj"] = above * window_s
        if inferences:
            result["energy_per_inference_above_idle_mj"] = above * window_s / inferences
    if not inferences:
        result["reason"] = "no inferences counted"
    return result


def largest_gap_s(samples, t0, t1):
    """The longest stretch of [t0, t1] without a reading (the window's edges count as ends of
    a stretch): the whole window when no sample falls inside it."""
    times = [t for t, _ in _valid(samples) if t0 <= t <= t1]
    edges = [float(t0)] + times + [float(t1)]
    return max(b - a for a, b in zip(edges, edges[1:]))


def reliable(result, interval_s, min_samples, max_gap_s):
    """Energy can be trusted when the window holds enough readings and none of its stretches
    without a reading is longer than two sensor intervals."""
    return (
        result["reason"] is None
        and result["samples"] >= min_samples
        and max_gap_s is not None
        and max_gap_s <= 2.0 * interval_s
    )
