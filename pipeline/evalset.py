"""The evaluation set that travels with a model: `<name>.eval.npz` with `x` (float32 NCHW, exactly
what the model's `input` takes, already normalized) and `y` (int64 class indices).

It is content-addressed: the same arrays give the same bytes. `np.savez` cannot promise that,
because it stamps every zip entry with the current time; this writer fixes the entry date and
attributes, and deflates (digits and photos compress well).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Tuple

import numpy as np

from edgebench.orchestrator.options import write_atomically

EVAL_SET_SUFFIX = ".eval.npz"
DEFAULT_EVAL_SAMPLES = 1000
_FIXED_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can hold


def eval_subset(
    x: np.ndarray, y: np.ndarray, limit: int = DEFAULT_EVAL_SAMPLES, seed: int = 0
) -> Tuple[np.ndarray, np.ndarray]:
    """Up to `limit` samples: all of them in order if they fit, else a seeded random subset
    (kept in original order)."""
    if len(x) != len(y):
        raise ValueError("x has %d samples, y has %d" % (len(x), len(y)))
    if len(x) <= limit:
        return x, y
    chosen = np.sort(np.random.default_rng(seed).choice(len(x), size=limit, replace=False))
    return x[chosen], y[chosen]


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def eval_set_bytes(x: np.ndarray, y: np.ndarray) -> bytes:
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.int64)
    if x.ndim != 4 or y.shape != (len(x),):
        raise ValueError("eval set needs x [N, C, H, W] and y [N]; got %s and %s" % (x.shape, y.shape))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, array in (("x.npy", x), ("y.npy", y)):
            info = zipfile.ZipInfo(name, date_time=_FIXED_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, _npy_bytes(array), compresslevel=9)
    return buffer.getvalue()


def write_eval_set(path: Path, x: np.ndarray, y: np.ndarray) -> Path:
    return write_atomically(Path(path), eval_set_bytes(x, y), option="--out")


def read_eval_set(path: Path) -> Tuple[np.ndarray, np.ndarray]:
    with np.load(path, allow_pickle=False) as archive:
        return archive["x"], archive["y"]
