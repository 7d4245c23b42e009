"""The numbers behind the figures (`report/figures.py`), read from the store the way the tables
read them: each cell (device, model, backend, precision, batch; single-stream) from the latest
sweep with ok runs of it (`tables.cell_rows`: the median of its runs and the 95% interval between
them), plus the pure functions the figures compute (Pareto front, radar scores).

Absent stays absent: a value the store does not hold is NaN here and is left out of a figure with
a note, never drawn as 0.
"""

from __future__ import annotations

import math
import statistics
from typing import Dict, List, Optional, Sequence, Tuple

import pandas as pd

from ..store.queries import results_frame
from ..store.runs import cell_key, is_ok, ok_runs_by_cell, one_trial_per_run
from .figure_kit import NothingToDraw
from .tables import cell_rows

# Columns that tell two cells of one device apart in a label (model first, always shown).
VARYING = ("backend", "precision", "batch")
SORTED_BY = ["device", "model", "backend", "precision", "batch"]


def cells(store, sweep_id=None, device=None, model=None, batch=None) -> pd.DataFrame:
    """One row per cell (`tables.cell_rows`) with `throughput_runs` (median of its runs'
    throughput) and `trial_ids` (its runs); NothingToDraw when none matches the filters."""
    frame = _filtered(results_frame(store, sweep_id), device, model, sweep_id)
    rows = cell_rows(frame)
    if batch is not None:
        rows = rows[rows["batch"].astype("Int64") == batch]
        if rows.empty:
            raise NothingToDraw("nothing to draw: no cell at batch %s%s" % (batch, _where(device, model)))
    if rows.empty:
        raise NothingToDraw("nothing to draw: no ok single-stream trial%s" % _where(device, model, sweep_id))
    rows = rows.sort_values(SORTED_BY, key=_sort_key, kind="mergesort")
    runs = {key: one_trial_per_run(trials) for key, trials in ok_runs_by_cell(frame).items()}
    keys = [cell_key(row) for row in rows.to_dict("records")]
    out = rows.reset_index(drop=True)
    out["throughput_runs"] = [_median([r.get("throughput_ips") for r in runs[k]]) for k in keys]
    out["trial_ids"] = [[r["trial_id"] for r in runs[k]] for k in keys]
    for column in ("latency_p50_runs_ms", "accuracy_runs", "power_mw_runs", "model_size_mb", "accuracy_n"):
        out[column] = pd.to_numeric(out[column], errors="coerce").astype(float)
    out["batch"] = out["batch"].astype(int)
    return out


def _sort_key(column: pd.Series) -> pd.Series:
    """Batch sizes in numeric order, the names (some null: the null backend's precision) as text."""
    return column.astype(int) if column.name == "batch" else column.astype(str)


def _filtered(frame: pd.DataFrame, device, model, sweep_id) -> pd.DataFrame:
    """The trials of `device` and `model`; NothingToDraw naming the known ones when absent."""
    if frame.empty:
        raise NothingToDraw(
            "nothing to draw: the store holds no trial%s (run edgebench sweep first)"
            % _where(sweep_id=sweep_id)
        )
    for column, wanted in (("device", device), ("model", model)):
        if wanted is None:
            continue
        present = sorted(set(frame[column].dropna().astype(str)))
        if wanted not in present:
            raise NothingToDraw(
                "no %s %r in the store%s (it has: %s)"
                % (column, wanted, _where(sweep_id=sweep_id), ", ".join(present))
            )
        frame = frame[frame[column] == wanted]
    return frame


def _where(device=None, model=None, sweep_id=None) -> str:
    parts = [
        ("of " + model) if model else "",
        ("on " + device) if device else "",
        ("in sweep " + sweep_id) if sweep_id else "",
    ]
    text = " ".join(p for p in parts if p)
    return " " + text if text else ""


def _median(values) -> float:
    finite = [float(v) for v in values if _finite(v)]
    return statistics.median(finite) if finite else math.nan


def _finite(value) -> bool:
    try:
        return value is not None and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def known(value) -> bool:
    """A measured value (not None, NaN or pandas' NA)."""
    return _finite(value)


def labels(rows: pd.DataFrame, with_device: bool = False) -> List[str]:
    """A short name per cell: the model, then as many of backend / precision / batch as it takes
    to tell the cells of `rows` apart (and the device when asked), e.g. "dws_cnn tvm b8"."""
    records = rows.to_dict("records")
    shown: List[str] = []
    for column in VARYING:
        names = [_label(r, shown, with_device) for r in records]
        if len(set(names)) == len(names):
            break
        if rows[column].astype(str).nunique() > 1:
            shown.append(column)
    return [_label(r, shown, with_device) for r in records]


def _label(row: dict, columns: List[str], with_device: bool) -> str:
    parts = [str(row["model"])] + [("b%d" % row[c]) if c == "batch" else str(row[c]) for c in columns]
    return " ".join(parts + (["on " + str(row["device"])] if with_device else []))


def pareto_front(points: Sequence[Tuple[float, float]]) -> List[int]:
    """Indices of the points no other point beats: lower latency (first) and higher accuracy
    (second), one at least as good and one strictly better. Sorted by latency; equal points are
    both on the front."""
    front = []
    for i, (lat, acc) in enumerate(points):
        dominated = any(
            (o_lat <= lat and o_acc >= acc) and (o_lat < lat or o_acc > acc)
            for j, (o_lat, o_acc) in enumerate(points)
            if j != i
        )
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: (points[i][0], -points[i][1]))


def radar_scores(values: Sequence[Optional[float]], higher_is_better: bool) -> List[Optional[float]]:
    """One axis of the radar: each value relative to the best one (1 = best, outward = better):
    value / max when higher is better, min / value when lower is. Absent (or, for a lower-is-
    better axis, non-positive) values stay None, never 0."""
    usable = [v for v in values if known(v) and (higher_is_better or v > 0)]
    if not usable:
        return [None] * len(values)
    best = max(usable) if higher_is_better else min(usable)
    scores = []
    for v in values:
        if not known(v) or (not higher_is_better and v <= 0):
            scores.append(None)
        elif higher_is_better:
            scores.append(v / best if best > 0 else None)
        else:
            scores.append(best / v)
    return scores


def accuracy_percent_interval(accuracy, n) -> Optional[Tuple[float, float]]:
    """The 95% Wilson interval of an accuracy over n samples, in %; None without n."""
    from ..stats import accuracy_interval

    interval = accuracy_interval(accuracy, int(n)) if known(accuracy) and known(n) else None
    return (100 * interval[0], 100 * interval[1]) if interval else None


def latest_confusions(rows: List[dict], device=None, model=None, batch=None, trial_id=None) -> List[dict]:
    """The latest trial with a confusion matrix per (device, model, backend, precision, batch),
    from `queries.confusion_rows` (oldest first), of the cells asked for; latest cell first."""
    wanted = {"device": device, "model": model, "batch": batch, "trial_id": trial_id}
    latest: Dict[tuple, dict] = {}
    for row in rows:
        if row.get("confusion") is None:
            continue
        if any(value is not None and row[key] != value for key, value in wanted.items()):
            continue
        key = tuple(row.get(c) for c in ("device", "model", "backend", "precision", "batch"))
        latest.pop(key, None)  # re-inserted: the dict's order is then that of each cell's latest trial
        latest[key] = row
    return list(reversed(list(latest.values())))


def ok_trial_rows(store, sweep_id=None) -> pd.DataFrame:
    """The ok trials of `results_frame`, for figures of one trial (power over time)."""
    frame = results_frame(store, sweep_id)
    return frame[frame["status"].map(is_ok).astype(bool)]
