"""A cell's summary from its runs: the between-run figures, intervals and instability flag.

A cell is one (sweep, device, model, backend, precision, batch); a sweep measures it in K
independent runs (`--repeats`), each its own trial. From the cell's ok runs:

    cell_summaries(frame)    -> one row per cell: its identifying columns and SUMMARY_COLUMNS
    with_cell_columns(frame) -> the per-trial frame with its cell's SUMMARY_COLUMNS on each trial

The figure is the median of the runs' medians (likewise p90, p99, power, energy, accuracy); its
95% interval is a Student t interval over the runs' values (`stats.t_interval`), null with one
run. Why runs and why t: docs/DESIGN.md, "Repeated runs and between-run intervals".
"""

import numbers
import statistics
from typing import List, Optional

import pandas as pd

from ..stats import finite_values, relative_spread, t_interval

# What identifies a cell. The model's name rides along with its sha256 (one name per sha256 in
# the store): frames built by hand may share a sha256 between differently named models.
CELL_KEY = ["sweep_id", "device", "model", "model_sha256", "backend", "precision", "batch", "scenario"]

# A cell whose run medians have a standard deviation above 10% of their median is
# `runs_unstable`: pyperf's `check` rule (std above 10% of the mean), applied to whole runs. A
# smaller spread already widens the t interval as much as it must; beyond 10% the runs form
# clusters or outliers (placement, memory layout, clocks, background load) that a median and
# a symmetric interval summarise badly. Measured on the 2-core VM this was built on: idle, the
# run medians of one cell spread 8-10% (dws_cnn at one thread: 0.58 and 0.70 ms alternating).
RUNS_UNSTABLE_SPREAD = 0.10
# Within one run: the agent's `unstable` (standard deviation above 10% of the median).
WITHIN_RUN_REASON = "one run, its own spread is above 10% of its median"

LATENCIES = ("latency_p50", "latency_p90", "latency_p99")
# Per-trial values whose run median and t interval a cell carries, besides the latencies.
MEASURES = ("power_mw", "energy_mj")

SUMMARY_COLUMNS = (
    ["runs"]
    + [
        name
        for base in LATENCIES
        for name in (base + "_runs_ms", base + "_runs_ci95_low_ms", base + "_runs_ci95_high_ms")
    ]
    + [
        name
        for base in MEASURES
        for name in (base + "_runs", base + "_runs_ci95_low", base + "_runs_ci95_high")
    ]
    + ["accuracy_runs", "runs_spread", "runs_unstable", "unstable_reason"]
)


def _is_null(value) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _key_part(value):
    """A key's part: null -> None, an integral number (batch 1.0, numpy's int64) -> int."""
    if _is_null(value):
        return None
    if isinstance(value, numbers.Number) and not isinstance(value, bool) and float(value).is_integer():
        return int(value)
    return value


def cell_key(row: dict, columns=CELL_KEY) -> tuple:
    """The cell a trial row (a dict) belongs to; nulls (the null backend has no model sha256,
    a hand-made frame may lack a column) compare equal to each other."""
    return tuple(_key_part(row.get(column)) for column in columns)


def flag(value) -> Optional[bool]:
    """A stored flag as True / False / None: bools, 0/1, 'true'/'false' (a CSV read back), null."""
    if _is_null(value):
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        return (
            True
            if text in ("1", "true", "yes", "t", "y")
            else False
            if text in ("0", "false", "no", "f", "n")
            else None
        )
    return bool(value)


def is_ok(status) -> bool:
    return not _is_null(status) and str(status).strip().lower() == "ok"


def _median_and_interval(values) -> tuple:
    """(median, low, high) of the finite values; nulls where there are none (never 0)."""
    finite = finite_values(values)
    if not finite:
        return None, None, None
    figure = statistics.median(finite)
    interval = t_interval(finite)
    if interval is None:
        return figure, None, None
    # The t interval is centred on the mean; with many runs in two clusters the median can lie
    # outside it. Widened to hold the figure printed: never narrower than the t interval.
    return figure, min(interval[0], figure), max(interval[1], figure)


def _one_line(text) -> Optional[str]:
    if _is_null(text) or not str(text).strip():
        return None
    return " ".join(str(text).split())


def run_number(run: dict, position: int) -> int:
    """A run's number (`run`), else its position among its cell's runs (a hand-made frame)."""
    return _key_part(run.get("run")) or position


def _busy_reason(number, run: dict) -> str:
    why = _one_line(run.get("busy_reason"))
    if why is None:
        cores = finite_values([run.get("other_cpu_cores")])
        why = "other processes used %.2f CPU cores" % cores[0] if cores else None
    return "run %s: device busy%s" % (number, " (%s)" % why if why else "")


def runs_disagree(spread) -> bool:
    """A cell's `runs_spread` (std / median of its run medians) is beyond RUNS_UNSTABLE_SPREAD."""
    return not _is_null(spread) and spread > RUNS_UNSTABLE_SPREAD


def _instability(runs: List[dict], spread: Optional[float]) -> tuple:
    """(runs_unstable, unstable_reason) of a cell's ok runs (each a dict, in run order)."""
    reasons = []
    if runs_disagree(spread):
        reasons.append(
            "runs disagree: their medians' standard deviation is %.1f%% of their median, above %g%%"
            % (100 * spread, 100 * RUNS_UNSTABLE_SPREAD)
        )
    busy = []
    for position, run in enumerate(runs, 1):
        busy.append(flag(run.get("busy")))
        if busy[-1]:
            reasons.append(_busy_reason(run_number(run, position), run))
    within = flag(runs[0].get("unstable")) if len(runs) == 1 else None
    if within:
        reasons.append(WITHIN_RUN_REASON)
    if reasons:
        return True, "; ".join(reasons)
    known = spread is not None or within is not None or any(b is not None for b in busy)
    return (False if known else None), None


def one_trial_per_run(trials: List[dict]) -> List[dict]:
    """A cell's ok trials in run order, one per run number: should a run have two ok trials (a
    spool recovered after a retry), the later one in the frame stands for it."""
    by_run = {}
    for position, trial in enumerate(trials, 1):
        by_run[run_number(trial, position)] = trial
    return [by_run[number] for number in sorted(by_run)]


def _summary(runs: List[dict]) -> dict:
    """SUMMARY_COLUMNS of one cell from its ok runs."""
    runs = one_trial_per_run(runs)
    out = {"runs": len(runs)}
    for base in LATENCIES:
        values = [r.get(base + "_ms") for r in runs]
        figure, low, high = _median_and_interval(values)
        out.update(
            {base + "_runs_ms": figure, base + "_runs_ci95_low_ms": low, base + "_runs_ci95_high_ms": high}
        )
    for base in MEASURES:
        figure, low, high = _median_and_interval([r.get(base) for r in runs])
        out.update({base + "_runs": figure, base + "_runs_ci95_low": low, base + "_runs_ci95_high": high})
    accuracies = finite_values([r.get("accuracy") for r in runs])
    out["accuracy_runs"] = statistics.median(accuracies) if accuracies else None
    spread = relative_spread([r.get("latency_p50_ms") for r in runs])
    out["runs_spread"] = spread
    out["runs_unstable"], out["unstable_reason"] = _instability(runs, spread)
    return out


def ok_runs_by_cell(frame: pd.DataFrame, columns=CELL_KEY) -> dict:
    """{cell key: [ok trial rows as dicts, in frame order]}; only cells with an ok run."""
    groups: dict = {}
    for row in frame.to_dict("records"):
        if is_ok(row.get("status")):
            groups.setdefault(cell_key(row, columns), []).append(row)
    return groups


def cell_summaries(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per cell with ok runs: CELL_KEY, then SUMMARY_COLUMNS (see the module's doc)."""
    rows = [dict(zip(CELL_KEY, key), **_summary(runs)) for key, runs in ok_runs_by_cell(frame).items()]
    out = pd.DataFrame(rows, columns=CELL_KEY + SUMMARY_COLUMNS)
    out["runs"] = out["runs"].astype("Int64")
    out["runs_unstable"] = out["runs_unstable"].astype(object)  # True / False / None, as stored flags
    return out


def with_cell_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` (one row per trial) with its cell's SUMMARY_COLUMNS added to every trial, a failed
    one included; null where the cell has no ok run."""
    summaries = {cell_key(row): row for row in cell_summaries(frame).to_dict("records")}
    keys = [cell_key(row) for row in frame.to_dict("records")]
    out = frame.copy()
    for column in SUMMARY_COLUMNS:
        values = [summaries[key][column] if key in summaries else None for key in keys]
        out[column] = pd.Series(values, index=out.index, dtype="Int64" if column == "runs" else object)
    for column in SUMMARY_COLUMNS:
        if column not in ("runs", "runs_unstable", "unstable_reason"):
            out[column] = pd.to_numeric(out[column], errors="coerce").astype(float)
    return out
