"""Raw latency samples: one compressed float64 array per trial (`schema.LatencySamples`), and
their readers, `trial_samples` and `samples_frame`.

A trial's samples are the agent's `samples_ms`: each timed call's latency in ms, in the order
measured, kept exactly (float64, no rounding). A store made by an older edgebench holds them as
JSON in `metrics.samples_ms`; they are read from there when a trial has no array.
"""

import array
import sys
import zlib
from typing import Dict, Iterable, List, Sequence, Tuple

from sqlalchemy import func, inspect, select

from ..options import SINGLE_STREAM
from .db import StoreError
from .schema import LatencySamples, Metrics, Model, Trial

# float64 ms, little-endian, the bytes regrouped by significance (every value's first byte,
# then every value's second byte, ...: the "shuffle" of HDF5 and Blosc), then zlib. Similar
# latencies share their sign, exponent and high mantissa bytes, which then compress to almost
# nothing; the low mantissa bytes are noise. Measured latencies: 0.54 of the raw size (0.69
# without the shuffle, at the same speed). Another layout would get another name, and the
# decoder would keep reading this one.
ENCODING = "f8-le-shuffle-zlib"
# Level 1, the fastest (ingest runs in the sweep's writer thread): level 6 saves 1% more.
ZLIB_LEVEL = 1
# Trial ids per `IN (...)`: below SQLite's limit of 999 bound parameters in older releases.
IDS_PER_QUERY = 500
# The long form of `samples_frame`: one row per timed call.
SAMPLE_COLUMNS = (
    "trial_id",
    "sweep_id",
    "device",
    "model",
    "backend",
    "precision",
    "batch",
    "scenario",
    "run",
    "simulated",
    "emulated",
    "iteration",
    "latency_ms",
)


def encode_samples(samples_ms: Sequence[float]) -> Tuple[int, str, bytes]:
    """(count, encoding, data) of a sequence of latencies in ms (a list or a numpy array)."""
    if hasattr(samples_ms, "dtype"):  # a numpy array: converted without a Python loop
        import numpy as np

        raw = np.ascontiguousarray(samples_ms, dtype="<f8").tobytes()
    else:
        values = array.array("d", samples_ms)
        if sys.byteorder == "big":
            values.byteswap()
        raw = values.tobytes()
    shuffled = b"".join(raw[i::8] for i in range(8))
    return len(raw) // 8, ENCODING, zlib.compress(shuffled, ZLIB_LEVEL)


def decode_samples(data: bytes, encoding: str, count: int):
    """The float64 numpy array that `encode_samples` made; ValueError when the data is not that."""
    import numpy as np

    if encoding != ENCODING:
        raise ValueError("unknown samples encoding %r (written by a newer edgebench?)" % (encoding,))
    try:
        shuffled = zlib.decompress(data)
    except zlib.error as exc:
        raise ValueError("samples do not decompress (%s)" % exc) from None
    if len(shuffled) != 8 * count:
        raise ValueError(
            "samples hold %d bytes, not the %d of %d float64 values" % (len(shuffled), 8 * count, count)
        )
    planes = np.frombuffer(shuffled, dtype=np.uint8).reshape(8, count)
    return planes.T.copy().view("<f8").ravel().astype(np.float64)  # native order, writable


def samples_row(trial_id: str, samples_ms: Sequence[float]) -> LatencySamples:
    count, encoding, data = encode_samples(samples_ms)
    return LatencySamples(trial_id=trial_id, count=count, encoding=encoding, data=data)


def trial_samples(store, trial_ids: Iterable[str]) -> Dict[str, "numpy.ndarray"]:  # noqa: F821
    """Each trial's raw latencies in ms (float64, in the order measured), keyed by trial id in
    the order given; trials without stored samples are left out."""
    ids = [trial_ids] if isinstance(trial_ids, str) else list(dict.fromkeys(trial_ids))
    found = {}
    arrays_stored = inspect(store.engine).has_table(
        LatencySamples.__tablename__
    )  # not in an older read-only store
    with store.Session() as s:
        for chunk in _chunks(ids, IDS_PER_QUERY):
            if arrays_stored:
                found.update(_arrays(s, store, chunk))
            rest = [trial_id for trial_id in chunk if trial_id not in found]
            if rest:
                found.update(_json_samples(s, rest))
    return {trial_id: found[trial_id] for trial_id in ids if trial_id in found}


def _chunks(items: List[str], size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _arrays(session, store, trial_ids: List[str]) -> dict:
    rows = session.execute(
        select(
            LatencySamples.trial_id, LatencySamples.data, LatencySamples.encoding, LatencySamples.count
        ).where(LatencySamples.trial_id.in_(trial_ids))
    )
    found = {}
    for trial_id, data, encoding, count in rows:
        try:
            found[trial_id] = decode_samples(data, encoding, count)
        except ValueError as exc:
            raise StoreError("results store %s: trial %s: %s" % (store.where, trial_id, exc)) from None
    return found


def _json_samples(session, trial_ids: List[str]) -> dict:
    """Samples an older edgebench stored as a JSON list (JSON null when it kept none)."""
    import numpy as np

    rows = session.execute(
        select(Metrics.trial_id, Metrics.samples_ms).where(Metrics.trial_id.in_(trial_ids))
    )
    return {trial_id: np.asarray(values, dtype=np.float64) for trial_id, values in rows if values is not None}


def samples_frame(store, sweep_id: str = None) -> "pandas.DataFrame":  # noqa: F821
    """One row per timed call of every ok trial (of one sweep, or all), in the order the trials
    were created and the calls made: SAMPLE_COLUMNS, `iteration` counting from 0 within its
    trial and `latency_ms` the call's latency exactly as the agent measured it."""
    trials = _ok_trials(store, sweep_id)
    samples = trial_samples(store, [row["trial_id"] for row in trials])
    return _long_frame([row for row in trials if row["trial_id"] in samples], samples)


def _ok_trials(store, sweep_id: str = None) -> List[dict]:
    query = (
        select(
            Trial.id.label("trial_id"),
            Trial.sweep_id,
            Trial.device,
            func.coalesce(Model.name, "(none)").label("model"),  # the null backend has no model
            Trial.backend,
            Trial.precision,
            Trial.batch,
            func.coalesce(Trial.scenario, SINGLE_STREAM).label("scenario"),  # NULL: before scenarios
            func.coalesce(Trial.run, 1).label("run"),  # NULL: before repeats
            Trial.simulated,
            func.coalesce(Trial.emulated, False).label("emulated"),  # NULL: before emulation
        )
        .outerjoin(Model, Model.sha256 == Trial.model_sha256)
        .where(Trial.status == "ok")
        .order_by(Trial.created_at, Trial.id)
    )
    if sweep_id:
        query = query.where(Trial.sweep_id == sweep_id)
    with store.Session() as s:
        return [dict(row) for row in s.execute(query).mappings()]


def _long_frame(trials: List[dict], samples: dict):
    """Each trial's fields repeated once per sample (np.repeat: no Python loop over samples)."""
    import numpy as np
    import pandas as pd

    counts = np.array([len(samples[row["trial_id"]]) for row in trials], dtype=np.int64)
    kinds = {"batch": np.int64, "run": np.int64, "simulated": bool, "emulated": bool}
    columns = {}
    for name in SAMPLE_COLUMNS[:-2]:
        values = np.array([row[name] for row in trials], dtype=kinds.get(name, object))
        columns[name] = np.repeat(values, counts)
    columns["iteration"] = np.concatenate(
        [np.arange(n, dtype=np.int64) for n in counts] or [np.zeros(0, np.int64)]
    )
    columns["latency_ms"] = np.concatenate([samples[row["trial_id"]] for row in trials] or [np.zeros(0)])
    return pd.DataFrame(columns, columns=list(SAMPLE_COLUMNS))
