"""Host-side checks of an exported model with onnxruntime on the CPU: top-1 accuracy on its
eval set, and a plain median latency (for comparing variants here, not a device benchmark)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np


def open_session(path: Path, threads: int = 2):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # quantized graphs log benign warnings
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def onnx_top1(path: Path, x: np.ndarray, y: np.ndarray, batch_size: int = 256, threads: int = 2) -> float:
    """Top-1 accuracy (fraction) of the model's `logits` on (x, y)."""
    if len(x) == 0:
        raise ValueError("no samples to evaluate")
    session = open_session(path, threads)
    name = session.get_inputs()[0].name
    correct = 0
    for start in range(0, len(x), batch_size):
        logits = session.run(None, {name: x[start : start + batch_size]})[0]
        correct += int((logits.argmax(1) == y[start : start + batch_size]).sum())
    return correct / len(x)


def median_latency_ms(
    path: Path, sample: np.ndarray, runs: int = 300, warmup: int = 30, threads: int = 1
) -> float:
    """Median wall time of one `session.run` on `sample` (keep batch 1 for latency)."""
    session = open_session(path, threads)
    name = session.get_inputs()[0].name
    feed = {name: np.ascontiguousarray(sample, dtype=np.float32)}
    for _ in range(warmup):
        session.run(None, feed)
    times = np.empty(runs)
    for i in range(runs):
        start = time.perf_counter()
        session.run(None, feed)
        times[i] = time.perf_counter() - start
    return float(np.median(times) * 1000.0)


def interleaved_median_latency_ms(
    paths, sample: np.ndarray, runs: int = 300, warmup: int = 30, threads: int = 1
) -> list:
    """Median latency of each model, timing them in turn (A, B, C, A, B, C, ...) so that load
    from other processes on a shared host falls on all of them alike."""
    sessions = [open_session(p, threads) for p in paths]
    feeds = [{s.get_inputs()[0].name: np.ascontiguousarray(sample, dtype=np.float32)} for s in sessions]
    for session, feed in zip(sessions, feeds):
        for _ in range(warmup):
            session.run(None, feed)
    times = np.empty((len(sessions), runs))
    for i in range(runs):
        for j, (session, feed) in enumerate(zip(sessions, feeds)):
            start = time.perf_counter()
            session.run(None, feed)
            times[j, i] = time.perf_counter() - start
    return [float(v) for v in np.median(times, axis=1) * 1000.0]
