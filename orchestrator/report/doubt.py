"""Doubtful numbers in the paper-style tables: which cells get a footnote mark, the footnotes,
the accuracy's ± interval, and the flag columns that CSV carries instead of marks.

    row_doubts(rows, ...)        -> what ``tables._build_table`` keeps in ``table.attrs``
    decorate(table, cells, ...)  -> text cells with marks and "97.8 ± 0.9" (markdown, LaTeX, HTML)
    csv_columns(table, cells)    -> plain cells plus interval and flag columns (CSV)
    footnotes(table, csv=...)    -> one line per mark (or flag column) in use

The marks: † latency of an unstable run (every latency column of the row), ‡ power and energy
whose ``energy_reliable`` is false, § the lead cell of a throttled trial: the whole row.
"""

from __future__ import annotations

import math
from typing import Dict, List, Optional

import pandas as pd

from ..stats import accuracy_interval

UNSTABLE_MARK, ENERGY_MARK, THROTTLE_MARK = "\u2020", "\u2021", "\u00a7"
PLUS_MINUS = "\u00b1"
ACCURACY = "Accuracy (%)"
CI_LOW, CI_HIGH = "Accuracy CI95 low (%)", "Accuracy CI95 high (%)"
ID_COLUMNS = ("Device", "Model", "Backend", "Precision", "Batch")
MAX_REASON = 100

# kind -> (mark, CSV flag column, what it means); the flag is true where the mark would be.
KINDS = {
    "unstable": (
        UNSTABLE_MARK,
        "Latency unstable",
        "the run's spread is large against its median (standard deviation above 10% of the median)",
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
        "the device throttled during the trial, so every number of the row is doubtful",
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


def truth(value) -> Optional[bool]:
    """A stored flag as True / False / None (unknown): bools, 0/1, 'true'/'false', None, NaN."""
    if value is None or isinstance(value, str) and not value.strip():
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
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        return None
    return bool(value)


def _column(rows: pd.DataFrame, name: str) -> list:
    return list(rows[name]) if name in rows.columns else [None] * len(rows)


def _negated(value: Optional[bool]) -> Optional[bool]:
    return None if value is None else not value


def row_doubts(rows: pd.DataFrame) -> Dict[str, dict]:
    """Per row (in table order): the tri-state flags, the throttle reason and the accuracy
    interval (fractions), for ``table.attrs["doubt"]``."""
    intervals = [
        accuracy_interval(None if pd.isna(a) else a, None if pd.isna(n) else n)
        for a, n in zip(_column(rows, "accuracy"), _column(rows, "accuracy_n"))
    ]
    reasons = [r if isinstance(r, str) and r.strip() else None for r in _column(rows, "throttle_reason")]
    return {
        "doubt": {
            "unstable": [truth(v) for v in _column(rows, "unstable")],
            "energy_unreliable": [_negated(truth(v)) for v in _column(rows, "energy_reliable")],
            "throttled": [truth(v) for v in _column(rows, "throttled")],
            "throttle_reason": reasons,
            "accuracy_ci": intervals,
        }
    }


def _marked_columns(kind: str, columns: List[str]) -> List[str]:
    if kind == "unstable":
        return [c for c in columns if c.startswith("Latency (")]
    if kind == "energy_unreliable":
        return [c for c in columns if c in ("Power (mW)", "Energy (mJ/inf)")]
    return columns[:1]  # throttled: the lead cell stands for the row


def _plus_minus(accuracy_pct: float, interval) -> Optional[float]:
    if interval is None or accuracy_pct is None or math.isnan(accuracy_pct):
        return None
    p = accuracy_pct / 100.0
    return 100.0 * max(p - interval[0], interval[1] - p)


def decorate(table: pd.DataFrame, cells: pd.DataFrame, missing: str) -> pd.DataFrame:
    """``cells`` (the formatted text of ``table``) with the accuracy interval and the marks."""
    info = table.attrs.get("doubt")
    if not info or cells.empty:
        return cells
    cells = cells.copy()
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


def csv_columns(table: pd.DataFrame, cells: pd.DataFrame) -> pd.DataFrame:
    """Plain numbers stay plain: the interval and the flags become columns of their own, each
    present only when some row has it (true / false, empty when unknown)."""
    info = table.attrs.get("doubt")
    if not info or cells.empty:
        return cells
    cells = cells.copy()
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
        text = str(value).replace(" (simulated)", "")
        parts.append("batch %s" % text if col == "Batch" else text)
    return " ".join(parts)


def _throttle_reasons(table: pd.DataFrame, info: dict) -> str:
    found = [
        "%s: %s" % (_row_label(table, i), reason[:MAX_REASON])
        for i, (flag, reason) in enumerate(zip(info["throttled"], info["throttle_reason"]))
        if flag and reason
    ]
    return " (%s)" % "; ".join(found) if found else ""


def footnotes(table: pd.DataFrame, csv: bool = False) -> List[str]:
    """The footnote lines of the marks (CSV: of the flag columns) that the table uses."""
    info = table.attrs.get("doubt")
    if not info or table.empty:
        return []
    notes = []
    if ACCURACY in table.columns and any(ci is not None for ci in info["accuracy_ci"]):
        notes.append(ACCURACY_CSV_NOTE if csv else ACCURACY_NOTE)
    for kind, (mark, column, meaning) in KINDS.items():
        if not any(info[kind]):
            continue
        extra = _throttle_reasons(table, info) if kind == "throttled" else ""
        notes.append(("%s = true: %s%s." if csv else mark + " %s: %s%s.") % (column, meaning, extra))
    return notes
