"""Shared helpers for the agent tests (standard library only, Python 3.6)."""

import importlib.util
import io
import os

from agent.protocol import decode_record

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS = os.path.join(REPO, "models", "examples")
DWS_CNN = os.path.join(MODELS, "dws_cnn.onnx")

HAVE_ORT = importlib.util.find_spec("onnxruntime") is not None
HAVE_NUMPY = importlib.util.find_spec("numpy") is not None

METRIC_KEYS = (
    "iterations",
    "latency_p50_ms",
    "latency_p90_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "latency_mean_ms",
    "latency_std_ms",
    "latency_min_ms",
    "latency_max_ms",
    "latency_p50_ci95_low_ms",
    "latency_p50_ci95_high_ms",
    "latency_cv",
    "unstable",
    "throughput_ips",
    "timed_wall_s",
    "warmup_iterations",
    "stopped_by",
    "peak_rss_mb",
    "model_size_mb",
    "load_s",
    "latency_per_sample_ms",
)


def null_job(trial_id="t1", **extra):
    """A fast null-backend job: quick profile, with a small cap so samples stay few."""
    job = {
        "trial_id": trial_id,
        "backend": "null",
        "quick": True,
        "warmup_s": 0.0,
        "min_s": 0.01,
        "max_iters": 200,
    }
    job.update(extra)
    return job


def write_file(root, relpath, text, mode="w"):
    path = os.path.join(root, relpath)
    if not os.path.isdir(os.path.dirname(path)):
        os.makedirs(os.path.dirname(path))
    with open(path, mode) as f:
        f.write(text)
    return path


def parse_lines(text):
    """Every line must be one valid record; returns the records."""
    return [decode_record(line) for line in text.splitlines() if line.strip()]


class Collector(object):
    """An `emit` that keeps the records, after checking each is encodable JSON."""

    def __init__(self):
        self.records = []

    def __call__(self, record):
        from agent.protocol import encode

        encode(record)  # raises on NaN or on something that is not JSON
        self.records.append(record)

    @property
    def types(self):
        return [r["type"] for r in self.records]

    def of_type(self, record_type):
        return [r for r in self.records if r["type"] == record_type]


def string_io(lines):
    return io.StringIO("".join(line if line.endswith("\n") else line + "\n" for line in lines))
