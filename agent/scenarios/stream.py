"""The stream scenario: a camera releases a frame every 1/F s.

A frame released while the previous one is still being processed is dropped (`drop`) or
waits its turn (`queue`); either way it is counted. A frame is on time when it completes within
its deadline (the frame period, or `latency_target_ms` when given) of its release; the run
passes when at least 99% of the released frames are on time (MLPerf's MultiStream rule before
2021). A frame holds `batch` inputs (several cameras, as MultiStream's N samples per query).
"""

import math

from ..stats import percentile

PASS_SHARE = 0.99
# Sustained fps is counted per window of about this length, a whole number of frame periods
# (a shorter run: one window of all its frames), so a window holds the frames it should.
WINDOW_S = 1.0


def run(settings, run_batch, clock):
    """Returns (frame latencies s, wall s, stopped_by, metrics)."""
    fps = float(settings["fps"])
    period = 1.0 / fps
    released = max(1, int(math.ceil(settings["duration_s"] * fps - 1e-9)))
    drop = settings["on_overrun"] == "drop"
    batch = settings["batch"]
    start = clock.now()
    stop_at = start + max(settings["max_s"], settings["duration_s"])
    free_at = start
    frames = []  # (release, completion), seconds from the start
    dropped = waited = 0
    stopped_by = "all_frames"
    for k in range(released):
        release = k * period
        if start + release < free_at:  # the previous frame is still being processed
            if drop:
                dropped += 1
                continue
            waited += 1
        if clock.now() >= stop_at:
            stopped_by = "max_s"
            break
        clock.sleep_until(start + release)
        run_batch(batch)
        free_at = clock.now()
        frames.append((release, free_at - start))
    unfinished = released - len(frames) - dropped
    latencies = [done - release for release, done in frames]
    wall_s = frames[-1][1] if frames else clock.now() - start
    metrics = stream_metrics(settings, frames, latencies, released, dropped, waited, unfinished)
    return latencies, wall_s, stopped_by, metrics


def stream_metrics(settings, frames, latencies, released, dropped, waited, unfinished):
    deadline_s = _deadline_s(settings)
    late = sum(1 for x in latencies if x > deadline_s)
    on_time = len(latencies) - late
    ordered_ms = sorted(x * 1000.0 for x in latencies)
    window_frames = frames_per_window(settings["fps"], released)
    window_fps = per_window_fps([done for _, done in frames], settings["fps"], released)
    return {
        "scenario": "stream",
        "fps_target": float(settings["fps"]),
        "on_overrun": settings["on_overrun"],
        "deadline_ms": deadline_s * 1000.0,
        "frames": released,
        "frames_completed": len(latencies),
        "frames_dropped": dropped,
        "frames_queued": waited,
        "frames_unfinished": unfinished,
        "frames_late": late,
        "deadline_miss_rate": (released - on_time) / float(released),
        "sustained_fps": percentile(sorted(window_fps), 0.5),
        "sustained_fps_min": min(window_fps) if window_fps else None,
        "fps_window_s": window_frames / float(settings["fps"]),
        "frame_latency_p50_ms": percentile(ordered_ms, 0.50),
        "frame_latency_p99_ms": percentile(ordered_ms, 0.99),
        "jitter_ms": jitter_ms([done for _, done in frames]),
        "stream_passed": on_time >= PASS_SHARE * released,
    }


def _deadline_s(settings):
    target = settings.get("latency_target_ms")
    return target / 1000.0 if target is not None else 1.0 / settings["fps"]


def frames_per_window(fps, released):
    return max(1, min(int(round(WINDOW_S * fps)), released))


def per_window_fps(completions, fps, released):
    """Frames completed per second in each whole window of the released frames' span."""
    per_window = frames_per_window(fps, released)
    window = per_window / float(fps)
    counts = [0] * (released // per_window)
    for done in completions:
        index = int(done // window)
        if index < len(counts):
            counts[index] += 1
    return [c / window for c in counts]


def jitter_ms(completions):
    """Sample standard deviation of the intervals between completions; None below two."""
    gaps = [(b - a) * 1000.0 for a, b in zip(completions, completions[1:])]
    if len(gaps) < 2:
        return None
    mean = sum(gaps) / len(gaps)
    return math.sqrt(sum((g - mean) ** 2 for g in gaps) / (len(gaps) - 1))
