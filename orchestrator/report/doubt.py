"""Doubtful numbers in the paper-style tables: which cells get a footnote mark, the footnotes,
the ± intervals (accuracy; latency, power and energy between runs), and the columns that CSV
carries instead of marks.

    row_doubts(rows, intervals)  -> what ``tables._build_table`` keeps in ``table.attrs``
    decorate(table, cells, ...)  -> text cells with marks, "97.8 ± 0.9" and "73.1 ± 2.0 (5 runs)"
                                    (markdown, LaTeX, HTML)
    csv_columns(table, cells)    -> plain cells plus runs, interval and flag columns (CSV)
    footnotes(table, csv=...)    -> one line per interval kind and per mark (or column) in use

``rows`` are cells as ``tables.cell_rows`` gives them. The marks: † latency of a cell whose runs
are unstable (``runs_unstable``: every latency column of the row, the reason in the footnote),
‡ power and energy whose ``energy_reliable`` is false in a run, § the lead cell of a cell
throttled in a run: the whole row; ¶ the lead cell of a cell whose outputs differ from ONNX
Runtime fp32 on the host in a run (``outputs_match`` false).
"""

from __future__ import annotations

import math
from typing import Dict, List, Optional

import pandas as pd

from ..stats import accuracy_interval
from ..store.runs import flag as truth  # a stored flag as True / False / None
from ..store.runs import RUNS_UNSTABLE_SPREAD

UNSTABLE_MARK, ENERGY_MARK, THROTTLE_MARK, OUTPUTS_MARK = "\u2020", "\u2021", "\u00a7", "\u00b6"
PLUS_MINUS = "\u00b1"
ACCURACY = "Accuracy (%)"
CI_LOW, CI_HIGH = "Accuracy CI95 low (%)", "Accuracy CI95 high (%)"
ID_COLUMNS = ("Device", "Model", "Backend", "Precision", "Batch")
MAX_REASON = 100
MAX_UNSTABLE_REASON = 200
# The kinds whose footnote names each marked row with its reason: kind -> its reasons in attrs.
REASONS = {"unstable": "unstable_reason", "throttled": "throttle_reason"}
# The latency headers of a table: one call is one batch; the CSV's interval columns are per call.
LATENCY_PREFIX = "Latency ("
PER_CALL = ("Latency (ms)", "Latency (ms/call)")
RUNS, LATENCY_LOW, LATENCY_HIGH = "Runs", "Latency CI95 low (ms)", "Latency CI95 high (ms)"

# kind -> (mark, CSV flag column, what it means); the flag is true where the mark would be.
KINDS = {
    "unstable": (
        UNSTABLE_MARK,
        "Latency unstable",
        "the cell's runs disagree (their medians' standard deviation is above %g%% of their median), "
        "the device was busy during a run, or the cell has one run and that run's own standard "
        "deviation is above 10%% of its median" % (100 * RUNS_UNSTABLE_SPREAD),
    ),
    "energy_unreliable": (
        ENERGY_MARK,
        "Energy unreliable",
        "power and energy rest on too few power samples in the timed window, or on a "
        "gap longer than twice the sampling interval",
    ),
    "throttled": (
        THROTTLE_MARK,
        "Throttled",
        "the device throttled during a run of the cell, so every number of the row is doubtful",
    ),
    "outputs_differ": (
        OUTPUTS_MARK,
        "Outputs differ",
        "the outputs for the seeded input differ from ONNX Runtime fp32 on the host beyond the "
        "precision's tolerance in a run of the cell (see `edgebench results`), so the artifact "
        "may not compute the model",
    ),
}
ACCURACY_NOTE = (
    "Accuracy: top-1 on the evaluation set; %s is the larger half-width of its 95%% Wilson "
    "interval, in percentage points." % PLUS_MINUS
)
ACCURACY_CSV_NOTE = "%s, %s: the 95%% Wilson interval of the accuracy over the evaluation set." % (
    CI_LOW,
    CI_HIGH,
)
RUNS_NOTE = (
    "Latency " + PLUS_MINUS + ": 95% t interval over the runs' medians (between-run spread), {runs} "
    "per cell; " + PLUS_MINUS + " is its larger half-width around the figure shown, the median of "
    "the runs' medians."
)
RUNS_MEASURES_NOTE = " Power and energy " + PLUS_MINUS + ": the same over the runs' values."
RUNS_CSV_NOTE = (
    LATENCY_LOW + ", " + LATENCY_HIGH + ": 95% t interval over the runs' medians (between-run "
    "spread), per call, around the median of the runs' medians; " + RUNS + ": the runs per cell "
    "({runs})."
)


def _column(rows: pd.DataFrame, name: str) -> list:
    return list(rows[name]) if name in rows.columns else [None] * len(rows)


def _negated(value: Optional[bool]) -> Optional[bool]:
    return None if value is None else not value


def _text(values: list) -> List[Optional[str]]:
    return [v if isinstance(v, str) and v.strip() else None for v in values]


def _count(value) -> Optional[int]:
    try:
        return None if value is None or pd.isna(value) else int(value)
    except (TypeError, ValueError):
        return None


def row_doubts(rows: pd.DataFrame, intervals: Optional[Dict[str, list]] = None) -> Dict[str, dict]:
    """Per row (in table order) of cells (``tables.cell_rows``): the tri-state flags with the
    reasons, the accuracy interval (fractions), the number of runs, and ``intervals`` ({header:
    per row (low, high) or None}: the between-run intervals in the header's unit), for
    ``table.attrs["doubt"]``."""
    accuracy = [
        accuracy_interval(None if pd.isna(a) else a, None if pd.isna(n) else n)
        for a, n in zip(_column(rows, "accuracy_runs"), _column(rows, "accuracy_n"))
    ]
    return {
        "doubt": {
            "unstable": [truth(v) for v in _column(rows, "runs_unstable")],
            "unstable_reason": _text(_column(rows, "unstable_reason")),
            "energy_unreliable": [_negated(truth(v)) for v in _column(rows, "energy_reliable")],
            "throttled": [truth(v) for v in _column(rows, "throttled")],
            "throttle_reason": _text(_column(rows, "throttle_reason")),
            "outputs_differ": [_negated(truth(v)) for v in _column(rows, "outputs_match")],
            "accuracy_ci": accuracy,
            "runs": [_count(v) for v in _column(rows, "runs")],
            "intervals": dict(intervals or {}),
        }
    }


def _marked_columns(kind: str, columns: List[str]) -> List[str]:
    if kind == "unstable":
        return [c for c in columns if c.startswith(LATENCY_PREFIX)]
    if kind == "energy_unreliable":
        return [c for c in columns if c in ("Power (mW)", "Energy (mJ/inf)")]
    return columns[:1]  # throttled, outputs differ: the lead cell stands for the row


def _plus_minus(accuracy_pct: float, interval) -> Optional[float]:
    if interval is None or accuracy_pct is None or math.isnan(accuracy_pct):
        return None
    p = accuracy_pct / 100.0
    return 100.0 * max(p - interval[0], interval[1] - p)


def _decimals(text: str) -> int:
    """How many decimals a formatted number shows: its interval is shown to the same."""
    return len(text.split(".", 1)[1]) if "." in text else 0


def _runs_text(runs: int) -> str:
    return "%d run%s" % (runs, "" if runs == 1 else "s")


def _with_runs(table: pd.DataFrame, cells: pd.DataFrame, info: dict, missing: str) -> None:
    """ "73.1 ± 2.0 (5 runs)" where a column has a between-run interval; "73.1 (1 run)" in the
    latency columns of a cell without one."""
    for col, intervals in info.get("intervals", {}).items():
        if col not in cells.columns:
            continue
        values = pd.to_numeric(table[col], errors="coerce").astype(float).tolist()
        shown = list(cells[col])
        for i, (text, runs, ci) in enumerate(zip(shown, info["runs"], intervals)):
            if text == missing or not runs:
                continue
            if ci is not None and not math.isnan(values[i]):
                half = max(values[i] - ci[0], ci[1] - values[i])
                shown[i] = "%s %s %.*f (%s)" % (text, PLUS_MINUS, _decimals(text), half, _runs_text(runs))
            elif col.startswith(LATENCY_PREFIX):
                shown[i] = "%s (%s)" % (text, _runs_text(runs))
        cells[col] = shown


def decorate(table: pd.DataFrame, cells: pd.DataFrame, missing: str) -> pd.DataFrame:
    """``cells`` (the formatted text of ``table``) with the intervals and the marks."""
    info = table.attrs.get("doubt")
    if not info or cells.empty:
        return cells
    cells = cells.copy()
    _with_runs(table, cells, info, missing)
    if ACCURACY in cells.columns:
        values = pd.to_numeric(table[ACCURACY], errors="coerce").astype(float).tolist()
        shown = list(cells[ACCURACY])
        for i, interval in enumerate(info["accuracy_ci"]):
            pm = _plus_minus(values[i], interval)
            if pm is not None and shown[i] != missing:
                shown[i] = "%s %s %.1f" % (shown[i], PLUS_MINUS, pm)
        cells[ACCURACY] = shown
    for kind, (mark, _, _) in KINDS.items():
        for col in _marked_columns(kind, list(cells.columns)):
            shown = list(cells[col])
            cells[col] = [
                text + mark if info[kind][i] and text != missing else text for i, text in enumerate(shown)
            ]
    return cells


def _flag_text(value: Optional[bool]) -> str:
    return "" if value is None else "true" if value else "false"


def _latency_columns(table: pd.DataFrame, cells: pd.DataFrame, info: dict) -> None:
    """Runs, and the per-call latency interval to the decimals of the latency shown."""
    cells[RUNS] = ["" if runs is None else str(runs) for runs in info["runs"]]
    col = next((c for c in PER_CALL if c in cells.columns), None)
    if col is None:
        return
    intervals = info.get("intervals", {}).get(col) or [None] * len(cells)
    for name, side in ((LATENCY_LOW, 0), (LATENCY_HIGH, 1)):
        cells[name] = [
            "" if ci is None or not text else "%.*f" % (_decimals(text), ci[side])
            for text, ci in zip(cells[col], intervals)
        ]


def csv_columns(table: pd.DataFrame, cells: pd.DataFrame) -> pd.DataFrame:
    """Plain numbers stay plain: the runs, the latency interval (per call), the accuracy interval
    and the flags become columns of their own; the runs and the latency interval always (empty
    with one run), the others only when some row has them (true / false, empty when unknown)."""
    info = table.attrs.get("doubt")
    if not info or cells.empty:
        return cells
    cells = cells.copy()
    _latency_columns(table, cells, info)
    if ACCURACY in cells.columns and any(ci is not None for ci in info["accuracy_ci"]):
        cells[CI_LOW] = ["" if ci is None else "%.1f" % (100 * ci[0]) for ci in info["accuracy_ci"]]
        cells[CI_HIGH] = ["" if ci is None else "%.1f" % (100 * ci[1]) for ci in info["accuracy_ci"]]
    for kind, (_, column, _) in KINDS.items():
        if any(info[kind]):
            cells[column] = [_flag_text(v) for v in info[kind]]
    return cells


def _row_label(table: pd.DataFrame, i: int) -> str:
    """The row as a reader finds it: its identifying cells, e.g. "nano01 dws_cnn batch 8"."""
    parts = []
    for col in (c for c in table.columns if c in ID_COLUMNS):
        value = table.iloc[i][col]
        if value is None or pd.isna(value):
            continue
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        text = str(value).replace(" (simulated)", "").replace(" (emulated)", "")
        parts.append("batch %s" % text if col == "Batch" else text)
    return " ".join(parts)


def _reasons(table: pd.DataFrame, info: dict, kind: str, limit: int) -> str:
    """ " (row: reason; row: reason)" for the rows marked ``kind`` that have a reason."""
    found = [
        "%s: %s" % (_row_label(table, i), reason[:limit])
        for i, (flag, reason) in enumerate(zip(info[kind], info[REASONS[kind]]))
        if flag and reason
    ]
    return " (%s)" % "; ".join(found) if found else ""


def _runs_per_cell(counts: List[int]) -> str:
    low, high = min(counts), max(counts)
    return _runs_text(low) if low == high else "%d\u2013%d runs" % (low, high)


def _latency_intervals(info: dict) -> list:
    intervals = info.get("intervals", {})
    col = next((c for c in PER_CALL if c in intervals), None)
    return intervals[col] if col else [None] * len(info["runs"])


def _runs_note(table: pd.DataFrame, info: dict, csv: bool) -> List[str]:
    """How the between-run intervals were computed, when the table shows one."""
    counts = [runs for runs, ci in zip(info["runs"], _latency_intervals(info)) if runs and ci is not None]
    if not counts:
        return []
    if csv:
        return [RUNS_CSV_NOTE.format(runs=_runs_per_cell(counts))]
    measures = [
        ci
        for col in ("Power (mW)", "Energy (mJ/inf)")
        if col in table.columns
        for value, ci in zip(table[col], info.get("intervals", {}).get(col, []))
        if ci is not None and not pd.isna(value)
    ]
    return [RUNS_NOTE.format(runs=_runs_per_cell(counts)) + (RUNS_MEASURES_NOTE if measures else "")]


def footnotes(table: pd.DataFrame, csv: bool = False) -> List[str]:
    """The footnote lines of the marks (CSV: of the flag columns) that the table uses."""
    info = table.attrs.get("doubt")
    if not info or table.empty:
        return []
    notes = []
    if ACCURACY in table.columns and any(ci is not None for ci in info["accuracy_ci"]):
        notes.append(ACCURACY_CSV_NOTE if csv else ACCURACY_NOTE)
    notes += _runs_note(table, info, csv)
    for kind, (mark, column, meaning) in KINDS.items():
        if not any(info[kind]):
            continue
        limit = MAX_UNSTABLE_REASON if kind == "unstable" else MAX_REASON
        extra = _reasons(table, info, kind, limit) if kind in REASONS else ""
        notes.append(("%s = true: %s%s." if csv else mark + " %s: %s%s.") % (column, meaning, extra))
    return notes
