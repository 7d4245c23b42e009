"""Doubtful numbers in the paper-style tables: which cells get a footnote mark, the footnotes,
the ± intervals (accuracy; latency, power and energy between runs), and the columns that CSV
carries instead of marks.

    row_doubts(rows, intervals, counts) -> what ``tables._build_table`` keeps in ``table.attrs``
    decorate(table, cells, ...)  -> text cells with marks, "97.8 ± 0.9" and "73.1 ± 2.0"
                                    (markdown, LaTeX, HTML)
    csv_columns(table, cells)    -> plain cells plus runs, interval, n and flag columns (CSV)
    footnotes(table, csv=...)    -> one line per interval kind and per mark (or column) in use

The n behind each figure (the runs behind a latency, power or energy; the evaluation samples
behind an accuracy) is said once, in the footnote, when every row of the column has the same
n: "5 runs per cell", "n = 1,797 samples". Where rows differ, each cell says its own:
"73.1 ± 2.0 (5 runs)", "2.00 (1 run)", "97.8 ± 1.1 (n = 1,000)", and the footnote says so.

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
CI_LOW, CI_HIGH, ACCURACY_N = "Accuracy CI95 low (%)", "Accuracy CI95 high (%)", "Accuracy n"
POWER, ENERGY = "Power (mW)", "Energy (mJ/inf)"
# The CSV's interval columns of power and energy: header -> (low column, high column, runs column).
MEASURE_CSV = {
    POWER: ("Power CI95 low (mW)", "Power CI95 high (mW)", "Power runs"),
    ENERGY: ("Energy CI95 low (mJ/inf)", "Energy CI95 high (mJ/inf)", "Energy runs"),
}
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
    "Accuracy: top-1 on the evaluation set ({n}); %s is the larger half-width of its 95%% Wilson "
    "interval, in percentage points." % PLUS_MINUS
)
ACCURACY_CSV_NOTE = (
    "%s, %s: the 95%% Wilson interval of the accuracy over the evaluation set; %s: its samples."
    % (CI_LOW, CI_HIGH, ACCURACY_N)
)
RUNS_NOTE = (
    "Latency \u00b1: 95% t interval over the runs' medians (between-run spread), {runs}; \u00b1 is its "
    "larger half-width around the figure shown, the median of the runs' medians."
)
RUNS_MEASURES_NOTE = " Power and energy \u00b1: the same over the {which}."
ONE_RUN_NOTE = "Latency: the median of one run per cell; one run gives no between-run interval."
RUNS_CSV_NOTE = (
    LATENCY_LOW + ", " + LATENCY_HIGH + ": 95% t interval over the runs' medians (between-run "
    "spread), per call, around the median of the runs' medians; " + RUNS + ": the runs behind each cell"
    " ({runs})."
)
MEASURES_CSV_NOTE = (
    "Power and energy CI95 low, high: the same over the runs' values (Power runs, Energy runs: "
    "how many runs measured them, where that is not every run)."
)
IN_EACH_CELL = "as given in each cell"


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


def row_doubts(
    rows: pd.DataFrame, intervals: Optional[Dict[str, list]] = None, counts: Optional[Dict[str, list]] = None
) -> Dict[str, dict]:
    """Per row (in table order) of cells (``tables.cell_rows``): the tri-state flags with the
    reasons, the accuracy interval (fractions) and its samples, the number of runs,
    ``intervals`` ({header: per row (low, high) or None}: the between-run intervals in the
    header's unit) and ``counts`` ({header: per row the runs behind its figure}; a header not
    there counts every run), for ``table.attrs["doubt"]``."""
    accuracy_n = [_count(n) for n in _column(rows, "accuracy_n")]
    accuracy = [
        accuracy_interval(None if pd.isna(a) else a, n)
        for a, n in zip(_column(rows, "accuracy_runs"), accuracy_n)
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
            "accuracy_n": accuracy_n,
            "runs": [_count(v) for v in _column(rows, "runs")],
            "intervals": dict(intervals or {}),
            "counts": dict(counts or {}),
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


def _same_n(counts: list, shown: list) -> Optional[int]:
    """The n of every row that shows a figure, when they share one; None when they differ."""
    values = {n for n, show in zip(counts, shown) if show and n}
    return values.pop() if len(values) == 1 else None


def _counts_of(info: dict, col: str) -> list:
    return info.get("counts", {}).get(col) or info["runs"]


def _samples_text(n: int) -> str:
    return "n = {:,}".format(n)


def _with_runs(table: pd.DataFrame, cells: pd.DataFrame, info: dict, missing: str) -> None:
    """ "73.1 ± 2.0" where a column has a between-run interval; the runs behind each cell,
    "73.1 ± 2.0 (5 runs)", "73.1 (1 run)", only in a column whose rows differ in them (else
    the footnote says it once)."""
    for col, intervals in info.get("intervals", {}).items():
        if col not in cells.columns:
            continue
        values = pd.to_numeric(table[col], errors="coerce").astype(float).tolist()
        shown = list(cells[col])
        counts = _counts_of(info, col)
        inline = _same_n(counts, [text != missing for text in shown]) is None
        for i, (text, runs, ci) in enumerate(zip(shown, counts, intervals)):
            if text == missing:
                continue
            suffix = " (%s)" % _runs_text(runs) if inline and runs else ""
            if ci is not None and not math.isnan(values[i]):
                half = max(values[i] - ci[0], ci[1] - values[i])
                shown[i] = "%s %s %.*f%s" % (text, PLUS_MINUS, _decimals(text), half, suffix)
            else:
                shown[i] = text + suffix
        cells[col] = shown


def _with_accuracy_interval(table: pd.DataFrame, cells: pd.DataFrame, info: dict, missing: str) -> None:
    """ "97.8 ± 1.1", and "(n = 1,000)" after it only when the rows' evaluation sets differ."""
    values = pd.to_numeric(table[ACCURACY], errors="coerce").astype(float).tolist()
    shown = list(cells[ACCURACY])
    half_widths = [_plus_minus(value, ci) for value, ci in zip(values, info["accuracy_ci"])]
    with_interval = [pm is not None and text != missing for pm, text in zip(half_widths, shown)]
    inline = _same_n(info["accuracy_n"], with_interval) is None
    for i, pm in enumerate(half_widths):
        if with_interval[i]:
            suffix = " (%s)" % _samples_text(info["accuracy_n"][i]) if inline else ""
            shown[i] = "%s %s %.1f%s" % (shown[i], PLUS_MINUS, pm, suffix)
    cells[ACCURACY] = shown


def decorate(table: pd.DataFrame, cells: pd.DataFrame, missing: str) -> pd.DataFrame:
    """``cells`` (the formatted text of ``table``) with the intervals, the n where rows differ
    in it, and the marks."""
    info = table.attrs.get("doubt")
    if not info or cells.empty:
        return cells
    cells = cells.copy()
    _with_runs(table, cells, info, missing)
    if ACCURACY in cells.columns:
        _with_accuracy_interval(table, cells, info, missing)
    for kind, (mark, _, _) in KINDS.items():
        for col in _marked_columns(kind, list(cells.columns)):
            shown = list(cells[col])
            cells[col] = [
                text + mark if info[kind][i] and text != missing else text for i, text in enumerate(shown)
            ]
    return cells


def _flag_text(value: Optional[bool]) -> str:
    return "" if value is None else "true" if value else "false"


def _interval_ends(cells: pd.DataFrame, col: str, intervals: list) -> tuple:
    """The ends of each row's interval, as text to the decimals of the figure shown."""
    return tuple(
        [
            "" if ci is None or not text else "%.*f" % (_decimals(text), ci[side])
            for text, ci in zip(cells[col], intervals)
        ]
        for side in (0, 1)
    )


def _latency_columns(table: pd.DataFrame, cells: pd.DataFrame, info: dict) -> None:
    """Runs, and the per-call latency interval to the decimals of the latency shown."""
    cells[RUNS] = ["" if runs is None else str(runs) for runs in info["runs"]]
    col = next((c for c in PER_CALL if c in cells.columns), None)
    if col is None:
        return
    intervals = info.get("intervals", {}).get(col) or [None] * len(cells)
    cells[LATENCY_LOW], cells[LATENCY_HIGH] = _interval_ends(cells, col, intervals)


def _measure_columns(cells: pd.DataFrame, info: dict) -> None:
    """Power's and energy's interval ends where some row has one, and the runs behind them where
    they are not every run of the cell."""
    for col, (low, high, runs) in MEASURE_CSV.items():
        intervals = info.get("intervals", {}).get(col)
        if col not in cells.columns or not intervals or all(ci is None for ci in intervals):
            continue
        cells[low], cells[high] = _interval_ends(cells, col, intervals)
        counts = _counts_of(info, col)
        if any(text and n != all_runs for text, n, all_runs in zip(cells[col], counts, info["runs"])):
            cells[runs] = ["" if n is None or not text else str(n) for text, n in zip(cells[col], counts)]


def _measures_have_intervals(table: pd.DataFrame, info: dict) -> bool:
    intervals = info.get("intervals", {})
    return any(
        col in table.columns and any(ci is not None for ci in intervals.get(col, [])) for col in MEASURE_CSV
    )


def _has_accuracy_interval(table: pd.DataFrame, info: dict) -> bool:
    return ACCURACY in table.columns and any(ci is not None for ci in info["accuracy_ci"])


def csv_columns(table: pd.DataFrame, cells: pd.DataFrame) -> pd.DataFrame:
    """Plain numbers stay plain: the runs, the intervals, the accuracy's samples and the flags
    become columns of their own; the runs and the latency interval always (empty with one run),
    the others only when some row has them (flags true / false, empty when unknown)."""
    info = table.attrs.get("doubt")
    if not info or cells.empty:
        return cells
    cells = cells.copy()
    _latency_columns(table, cells, info)
    _measure_columns(cells, info)
    if _has_accuracy_interval(table, info):
        cells[CI_LOW] = ["" if ci is None else "%.1f" % (100 * ci[0]) for ci in info["accuracy_ci"]]
        cells[CI_HIGH] = ["" if ci is None else "%.1f" % (100 * ci[1]) for ci in info["accuracy_ci"]]
        cells[ACCURACY_N] = [
            "" if ci is None or n is None else str(n)
            for ci, n in zip(info["accuracy_ci"], info["accuracy_n"])
        ]
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


def clip_reason(reason: str, limit: int) -> str:
    """``reason`` shortened to about ``limit`` characters at a boundary a reader can see: whole
    "; "-separated parts (a run's reason each), then "; and N more"; a single long part is cut
    at a word, with an ellipsis."""
    if len(reason) <= limit:
        return reason
    parts = reason.split("; ")
    kept = []
    for part in parts:
        if kept and len("; ".join(kept + [part])) > limit:
            break
        kept.append(part)
    if len(kept[0]) > limit:
        kept[0] = kept[0][:limit].rsplit(" ", 1)[0] + "\u2026"
    rest = len(parts) - len(kept)
    return "; ".join(kept) + ("; and %d more" % rest if rest else "")


def _reasons(table: pd.DataFrame, info: dict, kind: str, limit: int) -> str:
    """ " (row: reason; row: reason)" for the rows marked ``kind`` that have a reason."""
    found = [
        "%s: %s" % (_row_label(table, i), clip_reason(reason, limit))
        for i, (flag, reason) in enumerate(zip(info[kind], info[REASONS[kind]]))
        if flag and reason
    ]
    return " (%s)" % "; ".join(found) if found else ""


def _runs_per_cell(counts: List[int]) -> str:
    low, high = min(counts), max(counts)
    if low == high:
        return _runs_text(low) + " per cell"
    return "%d\u2013%d runs per cell, %s" % (low, high, IN_EACH_CELL)


def _latency_column(table: pd.DataFrame, info: dict) -> Optional[str]:
    """The table's per-call latency header, when the table has its intervals."""
    return next((c for c in PER_CALL if c in table.columns and c in info.get("intervals", {})), None)


def _shown(table: pd.DataFrame, col: str) -> List[bool]:
    return [not pd.isna(v) for v in pd.to_numeric(table[col], errors="coerce")]


def _measures_note(table: pd.DataFrame, info: dict, latency_counts: list) -> str:
    """What power's and energy's ± rest on, when either shows one: the same runs as the
    latency's, or fewer (the runs that measured them)."""
    intervals = info.get("intervals", {})
    shown = {col: _shown(table, col) for col in (POWER, ENERGY) if col in table.columns}
    if not any(
        ci is not None and show for col in shown for ci, show in zip(intervals.get(col, []), shown[col])
    ):
        return ""
    counts = {col: _counts_of(info, col) for col in shown}
    if all(
        n == runs or not show
        for col in shown
        for n, runs, show in zip(counts[col], latency_counts, shown[col])
    ):
        return RUNS_MEASURES_NOTE.format(which="runs' values")
    every = {n for col in shown for n, show in zip(counts[col], shown[col]) if show and n}
    runs = "%s per cell" % _runs_text(every.pop()) if len(every) == 1 else IN_EACH_CELL
    return RUNS_MEASURES_NOTE.format(which="values of the runs that measured them (%s)" % runs)


def _runs_note(table: pd.DataFrame, info: dict, csv: bool) -> List[str]:
    """How the between-run intervals were computed, when the table shows one; that there is a
    single run per cell, when that is so."""
    col = _latency_column(table, info)
    if col is None:
        return []
    counts, shown = _counts_of(info, col), _shown(table, col)
    with_interval = [
        n for n, ci, show in zip(counts, info["intervals"][col], shown) if show and n and ci is not None
    ]
    if not with_interval:
        return [] if csv or _same_n(counts, shown) != 1 else [ONE_RUN_NOTE]
    every = [n for n, show in zip(counts, shown) if show and n]
    if csv:
        return [RUNS_CSV_NOTE.format(runs=_runs_per_cell(every).replace(", " + IN_EACH_CELL, ""))]
    return [RUNS_NOTE.format(runs=_runs_per_cell(every)) + _measures_note(table, info, counts)]


def _accuracy_note(info: dict) -> str:
    with_interval = [ci is not None for ci in info["accuracy_ci"]]
    n = _same_n(info["accuracy_n"], with_interval)
    return ACCURACY_NOTE.format(n=_samples_text(n) + " samples" if n else "n " + IN_EACH_CELL)


def footnotes(table: pd.DataFrame, csv: bool = False) -> List[str]:
    """The footnote lines of the intervals, the n behind them, and the marks (CSV: of the
    interval and flag columns) that the table uses."""
    info = table.attrs.get("doubt")
    if not info or table.empty:
        return []
    notes = []
    if _has_accuracy_interval(table, info):
        notes.append(ACCURACY_CSV_NOTE if csv else _accuracy_note(info))
    notes += _runs_note(table, info, csv)
    if csv and _measures_have_intervals(table, info):
        notes.append(MEASURES_CSV_NOTE)
    for kind, (mark, column, meaning) in KINDS.items():
        if not any(info[kind]):
            continue
        limit = MAX_UNSTABLE_REASON if kind == "unstable" else MAX_REASON
        extra = _reasons(table, info, kind, limit) if kind in REASONS else ""
        notes.append(("%s = true: %s%s." if csv else mark + " %s: %s%s.") % (column, meaning, extra))
    return notes
