"""Paper-style result tables built from a DataFrame of trial results.

``device_table`` mirrors the source paper's Table 2 (one row per device) and
``model_table`` its Table 3 (one row per model).  ``render`` turns either into
markdown, LaTeX, CSV or HTML text.

Missing values are never shown as 0: they are an en dash (``--`` in LaTeX) in
human-readable formats and an empty field in CSV.  Rows whose values came from
a simulated device are marked ``(simulated)`` and rendered output ends with a
note saying so; rows from an emulated device (qemu-user) are marked ``(emulated)``
with a note that their latencies say nothing about the board.

A row is a cell (device, model, backend, precision, batch) as its runs give it
(``cell_rows``): the latest sweep with ok runs of the cell, and from those runs
the median of their medians (latency), of their power, energy and accuracy, with
the 95% t interval between runs (``store/runs.py``).  A latency reads
``73.1 ± 2.0``; power and energy carry their ± when they have an interval.  The n
behind each figure (runs; evaluation samples for accuracy) is said once in a
footnote when every row shares it, else in each cell: ``73.1 ± 2.0 (5 runs)``,
``73.1 (1 run)``, ``97.8 ± 1.1 (n = 1,000)``.

Doubt reaches the reader: in markdown, LaTeX and HTML a doubtful number carries a
footnote mark and the output a footnote line for each mark used (``doubt.py``):
latency of a ``runs_unstable`` cell, power and energy whose ``energy_reliable``
is false in a run, and the lead cell (the whole row) of a cell ``throttled`` in
a run.  The accuracy cell shows ``97.8 ± 0.9`` when its evaluation-set size is
known.  CSV is data: plain numbers, and columns instead of marks, ± and suffixes
(``doubt.csv_columns``: runs, interval ends, accuracy n, flags; ``Simulated`` and
``Emulated`` columns instead of the lead cell's suffix).  LaTeX is a booktabs float
ready to paste, its notes one footnote-size block under the tabular.  With a
batch above 1 anywhere in the table, latency is shown per call and per sample.
"""

from __future__ import annotations

import html
import math
from typing import Callable, Dict, List, Optional

import pandas as pd

from ..options import SINGLE_STREAM
from ..store.queries import RESULT_COLUMNS
from ..store.runs import (
    CELL_KEY,
    SUMMARY_COLUMNS,
    cell_key,
    cell_summaries,
    flag,
    is_ok,
    ok_runs_by_cell,
    run_number,
)
from . import doubt

CELL_KEYS = ["device", "model", "backend", "precision", "batch"]

# The results contract, then what the tables need beyond it.
TRIAL_COLUMNS = RESULT_COLUMNS + [
    "params",
    "finished_at",
    "simulated",
    "emulated",
    "unstable",
    "energy_reliable",
    "throttled",
    "throttle_reason",
    "accuracy_n",
    "run",
    "busy",
    "busy_reason",
    "other_cpu_cores",
    "outputs_match",
]
# What ``cell_rows`` adds to a cell's summary, from all its runs.
CELL_FACTS = [
    "simulated",
    "emulated",
    "throttled",
    "throttle_reason",
    "energy_reliable",
    "outputs_match",
    "accuracy_n",
    "peak_rss_mb",
    "model_size_mb",
    "params",
    "power_runs",
    "energy_runs",
]

DASH = "\u2013"
SIM_SUFFIX = " (simulated)"
EMPTY_MESSAGE = "no successful trials to report"
SIM_NOTE = (
    "Note: rows marked (simulated) come from a simulated device or sensor;"
    " their values are not real measurements."
)
EMU_SUFFIX = " (emulated)"
EMU_NOTE = (
    "Note: rows marked (emulated) ran under an emulator (qemu-user), not on the board;"
    " their latencies say nothing about a Pi."
)
FORMATS = ("markdown", "latex", "csv", "html")

DEVICE_CAPTION = "Edge device benchmarking metrics"
MODEL_CAPTION = "Model comparison"

# Display name of each identifying column -> trial column it comes from.
_ID_SOURCES = {
    "Device": "device",
    "Model": "model",
    "Backend": "backend",
    "Precision": "precision",
    "Batch": "batch",
}

# Energy is per inference (mJ); the paper's "Energy (mW)" column was power, labelled as energy.
DEVICE_METRICS = [
    "Accuracy (%)",
    "Latency (ms)",
    "Power (mW)",
    "Energy (mJ/inf)",
    "Memory (MB)",
    "Model size (MB)",
]
MODEL_METRICS = ["Accuracy (%)", "Latency (ms)", "Power (mW)", "Params (M)"]
# With a batch above 1 in the table, "Latency (ms)" becomes these two: a call is one batch.
LATENCY_PER_CALL = "Latency (ms/call)"
LATENCY_PER_SAMPLE = "Latency (ms/sample)"


# --------------------------------------------------------------------------
# Selecting trials
# --------------------------------------------------------------------------


def _with_trial_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of ``df`` with every expected trial column present."""
    out = df.copy()
    for col in TRIAL_COLUMNS:
        if col not in out.columns:
            out[col] = None
    return out


def finished_at_key(values: pd.Series) -> pd.Series:
    """Parse ``finished_at`` (datetimes or ISO strings) to UTC timestamps."""
    try:
        return pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")
    except (TypeError, ValueError):
        return pd.to_datetime(values.astype(str), utc=True, errors="coerce", format="mixed")


def cell_rows(df: pd.DataFrame) -> pd.DataFrame:
    """One row per cell (device, model, backend, precision, batch) with ok runs, from the latest
    sweep that has ok runs of it (the one whose last ok run finished last; runs without a
    parseable ``finished_at`` lose): the summary of those runs (``store.runs.SUMMARY_COLUMNS``:
    median of the run medians, t intervals, ``runs_unstable``) plus ``CELL_FACTS``."""
    data = _with_trial_columns(df)
    if "scenario" in data.columns:  # Tables 2 and 3 are single-stream; report/scenarios.py the rest
        data = data[data["scenario"].fillna(SINGLE_STREAM) == SINGLE_STREAM]
    ok = data[data["status"].map(is_ok).astype(bool)].copy()
    if ok.empty:
        return pd.DataFrame(columns=CELL_KEY + SUMMARY_COLUMNS + CELL_FACTS)
    ok["_finished"] = finished_at_key(ok["finished_at"])
    ok = ok.sort_values("_finished", kind="mergesort", na_position="first").drop(columns="_finished")
    records = ok.to_dict("records")
    latest = {cell_key(r, CELL_KEYS): cell_key(r, ["sweep_id"]) for r in records}  # the last one wins
    chosen = [latest[cell_key(r, CELL_KEYS)] == cell_key(r, ["sweep_id"]) for r in records]
    selected = ok[chosen]
    facts = {key: _cell_facts(runs) for key, runs in ok_runs_by_cell(selected).items()}
    rows = [dict(row, **facts[cell_key(row)]) for row in cell_summaries(selected).to_dict("records")]
    return pd.DataFrame(rows, columns=CELL_KEY + SUMMARY_COLUMNS + CELL_FACTS)


def _tri_state(values: list, doubtful: bool) -> Optional[bool]:
    """One flag of a cell from its runs' (True / False / None): ``doubtful`` when any run says
    so, else the other value when any run knows, else unknown."""
    return doubtful if doubtful in values else (not doubtful) if (not doubtful) in values else None


def _known(runs: List[dict], column: str) -> pd.Series:
    return _numeric(pd.Series([r.get(column) for r in runs], dtype=object)).dropna()


def _runs_with(runs: List[dict], column: str) -> int:
    """How many of the runs measured ``column``: the n behind its median and interval."""
    numbers = {run_number(r, i) for i, r in enumerate(runs, 1) if len(_known([r], column))}
    return len(numbers)


def _cell_facts(runs: List[dict]) -> dict:
    """``CELL_FACTS`` of a cell from its ok runs (dicts): doubtful when any run is; memory is
    the median over the runs, the model's size and parameters are the same in every run."""
    reasons = [
        ("run %s: %s" % (run_number(r, i), why) if len(runs) > 1 else why)
        for i, r in enumerate(runs, 1)
        for why in [r.get("throttle_reason")]
        if flag(r.get("throttled")) and isinstance(why, str) and why.strip()
    ]
    numbers = {c: _known(runs, c) for c in ("accuracy_n", "peak_rss_mb", "model_size_mb", "params")}
    return {
        "simulated": any(_is_simulated(r.get("simulated")) for r in runs),
        "emulated": any(_is_simulated(r.get("emulated")) for r in runs),
        "throttled": _tri_state([flag(r.get("throttled")) for r in runs], doubtful=True),
        "throttle_reason": "; ".join(reasons) or None,
        "energy_reliable": _tri_state([flag(r.get("energy_reliable")) for r in runs], doubtful=False),
        "outputs_match": _tri_state([flag(r.get("outputs_match")) for r in runs], doubtful=False),
        "accuracy_n": numbers["accuracy_n"].max() if len(numbers["accuracy_n"]) else None,
        "peak_rss_mb": numbers["peak_rss_mb"].median() if len(numbers["peak_rss_mb"]) else None,
        "model_size_mb": numbers["model_size_mb"].iloc[0] if len(numbers["model_size_mb"]) else None,
        "params": numbers["params"].iloc[0] if len(numbers["params"]) else None,
        "power_runs": _runs_with(runs, "power_mw"),
        "energy_runs": _runs_with(runs, "energy_mj"),
    }


# --------------------------------------------------------------------------
# Building tables
# --------------------------------------------------------------------------


def _is_simulated(value: object) -> bool:
    """Interpret a ``simulated`` cell (bool, 0/1, 'true', None) as a bool."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "y", "t")
    try:
        return bool(value) and not pd.isna(value)
    except (TypeError, ValueError):
        return False


def _numeric(series: pd.Series, scale: float = 1.0) -> pd.Series:
    """Coerce a column to floats (None/garbage -> NaN), optionally scaled."""
    return pd.to_numeric(series, errors="coerce").astype(float) * scale


def _metric_values(rows: pd.DataFrame) -> Dict[str, pd.Series]:
    """All displayable metrics of ``rows`` (``cell_rows``) keyed by table header."""
    latency = _numeric(rows["latency_p50_runs_ms"])
    return {
        "Accuracy (%)": _numeric(rows["accuracy_runs"], 100.0),
        "Latency (ms)": latency,
        LATENCY_PER_CALL: latency,
        LATENCY_PER_SAMPLE: latency / _numeric(rows["batch"]),
        "Power (mW)": _numeric(rows["power_mw_runs"]),
        "Energy (mJ/inf)": _numeric(rows["energy_mj_runs"]),
        "Memory (MB)": _numeric(rows["peak_rss_mb"]),
        "Model size (MB)": _numeric(rows["model_size_mb"]),
        "Params (M)": _numeric(rows["params"], 1e-6),
    }


def _pairs(rows: pd.DataFrame, low: str, high: str, scale: Optional[pd.Series] = None) -> list:
    lows, highs = _numeric(rows[low]), _numeric(rows[high])
    if scale is not None:
        lows, highs = lows / scale, highs / scale
    return [None if pd.isna(lo) or pd.isna(hi) else (float(lo), float(hi)) for lo, hi in zip(lows, highs)]


def _metric_intervals(rows: pd.DataFrame) -> Dict[str, list]:
    """The 95% between-run interval of each header that has one, per row (None: one run)."""
    latency = ("latency_p50_runs_ci95_low_ms", "latency_p50_runs_ci95_high_ms")
    return {
        "Latency (ms)": _pairs(rows, *latency),
        LATENCY_PER_CALL: _pairs(rows, *latency),
        LATENCY_PER_SAMPLE: _pairs(rows, *latency, scale=_numeric(rows["batch"])),
        "Power (mW)": _pairs(rows, "power_mw_runs_ci95_low", "power_mw_runs_ci95_high"),
        "Energy (mJ/inf)": _pairs(rows, "energy_mj_runs_ci95_low", "energy_mj_runs_ci95_high"),
    }


def _counts(values: pd.Series) -> list:
    return [None if pd.isna(v) else int(v) for v in _numeric(values)]


def _metric_counts(rows: pd.DataFrame) -> Dict[str, list]:
    """The n behind each header's figure and interval, per row: the runs that measured it."""
    runs = _counts(rows["runs"])
    return {
        "Latency (ms)": runs,
        LATENCY_PER_CALL: runs,
        LATENCY_PER_SAMPLE: runs,
        "Power (mW)": _counts(rows["power_runs"]),
        "Energy (mJ/inf)": _counts(rows["energy_runs"]),
    }


def _varying(rows: pd.DataFrame, column: str) -> bool:
    """True when ``column`` takes more than one value (NaN counts) in rows. A batch other
    than 1 is always shown: its latency is per call of that batch, not per image."""
    if column == "batch" and (pd.to_numeric(rows[column], errors="coerce") != 1).any():
        return True
    return rows[column].nunique(dropna=False) > 1


def _with_latency_units(rows: pd.DataFrame, metrics: List[str]) -> List[str]:
    """Batch 1 everywhere: "Latency (ms)". Otherwise per call and per sample, side by side."""
    if not (pd.to_numeric(rows["batch"], errors="coerce") > 1).any():
        return list(metrics)
    out: List[str] = []
    for col in metrics:
        out += [LATENCY_PER_CALL, LATENCY_PER_SAMPLE] if col == "Latency (ms)" else [col]
    return out


def _build_table(
    rows: pd.DataFrame, lead: str, others: List[str], metrics: List[str], kind: str
) -> pd.DataFrame:
    """Assemble a table: ``lead`` column, varying ``others``, then metrics."""
    id_cols = [lead] + [c for c in others if _varying(rows, _ID_SOURCES[c])]
    sort_keys = [_ID_SOURCES[lead]] + [_ID_SOURCES[c] for c in others]
    rows = rows.sort_values(sort_keys, kind="mergesort", na_position="last").reset_index(drop=True)
    simulated = rows["simulated"].map(_is_simulated).astype(bool)
    emulated = rows["emulated"].map(_is_simulated).astype(bool)

    table = pd.DataFrame(index=rows.index)
    for col in id_cols:
        table[col] = rows[_ID_SOURCES[col]]
    lead_text = table[lead].map(lambda v: "" if pd.isna(v) else str(v))
    lead_text = lead_text.where(~simulated, lead_text + SIM_SUFFIX)
    table[lead] = lead_text.where(~emulated, lead_text + EMU_SUFFIX)
    values = _metric_values(rows)
    for col in _with_latency_units(rows, metrics):
        table[col] = values[col]

    table.attrs["kind"] = kind
    table.attrs["simulated"] = bool(simulated.any())
    table.attrs["emulated"] = bool(emulated.any())
    table.attrs["simulated_rows"] = simulated.tolist()
    table.attrs["emulated_rows"] = emulated.tolist()
    table.attrs.update(doubt.row_doubts(rows, _metric_intervals(rows), _metric_counts(rows)))
    return table


def device_table(df: pd.DataFrame, model: Optional[str] = None) -> pd.DataFrame:
    """Table 2: one row per device (per cell: its runs in the latest sweep with ok runs).

    Columns: Device, [Model, Backend, Precision, Batch when they vary],
    Accuracy (%), Latency (ms) (median of the runs' p50 per call), Power (mW),
    Energy (mJ/inf), Memory (MB) (peak RSS, median over runs), Model size (MB).
    """
    rows = cell_rows(df)
    if model is not None:
        rows = rows[rows["model"] == model]
    return _build_table(rows, "Device", ["Model", "Backend", "Precision", "Batch"], DEVICE_METRICS, "device")


def model_table(df: pd.DataFrame, device: Optional[str] = None) -> pd.DataFrame:
    """Table 3: one row per model (per cell: its runs in the latest sweep with ok runs).

    Columns: Model, [Device, Backend, Precision, Batch when they vary],
    Accuracy (%), Latency (ms) (median of the runs' p50 per call), Power (mW), Params (M).
    """
    rows = cell_rows(df)
    if device is not None:
        rows = rows[rows["device"] == device]
    return _build_table(rows, "Model", ["Device", "Backend", "Precision", "Batch"], MODEL_METRICS, "model")


# --------------------------------------------------------------------------
# Formatting numbers
# --------------------------------------------------------------------------


def _is_missing(value: object) -> bool:
    """True for None/NaN/NaT/pd.NA (not for inf)."""
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _fixed(decimals: int) -> Callable[[float], str]:
    """Formatter with a fixed number of decimals."""
    return lambda v: f"{float(v):.{decimals}f}"


def _sig3(value: float) -> str:
    """About three significant digits: 0.412, 12.3, 210 (no exponents)."""
    v = float(value)
    if v == 0 or not math.isfinite(v):
        return f"{v:.0f}" if v == 0 else str(v)

    def decimals(x: float) -> int:
        return max(0, 2 - math.floor(math.log10(abs(x))))

    d = decimals(v)
    rounded = round(v, d)
    if rounded != 0:
        d = decimals(rounded)  # 9.996 -> 10.0, not 10.00
    return f"{v:.{d}f}"


def _as_label(value: object) -> str:
    """Identifying cell as text; integral floats (batch 1.0) shown as ints."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


_NUMBER_FORMATS: Dict[str, Callable[[float], str]] = {
    "Accuracy (%)": _fixed(1),
    "Latency (ms)": _sig3,
    LATENCY_PER_CALL: _sig3,
    LATENCY_PER_SAMPLE: _sig3,
    "Power (mW)": _fixed(0),
    "Energy (mJ/inf)": _sig3,
    "Memory (MB)": _fixed(1),
    "Model size (MB)": _fixed(2),
    "Params (M)": _fixed(2),
}


def _format_cells(table: pd.DataFrame, missing: str) -> pd.DataFrame:
    """Every cell of ``table`` as text; missing values become ``missing``."""
    out = pd.DataFrame(index=table.index)
    for col in table.columns:
        fmt = _NUMBER_FORMATS.get(col, _as_label)
        out[col] = [missing if _is_missing(v) else fmt(v) for v in table[col]]
    return out


# --------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------


def _has_simulated(table: pd.DataFrame) -> bool:
    """True if the table is flagged simulated or any lead cell is marked."""
    if table.attrs.get("simulated"):
        return True
    for col in ("Device", "Model"):
        if col in table.columns and any(isinstance(v, str) and v.endswith(SIM_SUFFIX) for v in table[col]):
            return True
    return False


def _has_emulated(table: pd.DataFrame) -> bool:
    """True if the table is flagged emulated or any lead cell is marked."""
    if table.attrs.get("emulated"):
        return True
    leads = [table[col] for col in ("Device", "Model") if col in table.columns]
    return any(isinstance(v, str) and EMU_SUFFIX in v for column in leads for v in column)


def _default_caption(table: pd.DataFrame) -> str:
    """Caption matching the table kind (device or model table)."""
    kind = table.attrs.get("kind")
    if kind == "model" or (kind is None and "Params (M)" in table.columns):
        return MODEL_CAPTION
    return DEVICE_CAPTION


def _is_numeric_column(col: str) -> bool:
    return col in _NUMBER_FORMATS or col == "Batch"


def _shown_cells(table: pd.DataFrame) -> pd.DataFrame:
    """Cells for a reader: numbers with their footnote marks, accuracy with its ± interval."""
    return doubt.decorate(table, _format_cells(table, DASH), DASH)


def _render_markdown(table: pd.DataFrame, caption: str) -> str:
    cells = _shown_cells(table)
    align = tuple("right" if _is_numeric_column(c) else "left" for c in cells.columns)
    return cells.to_markdown(index=False, disable_numparse=True, colalign=align)


_LATEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    DASH: "--",
    "\u00b1": r"$\pm$",
    doubt.UNSTABLE_MARK: r"\textsuperscript{\dag}",
    doubt.ENERGY_MARK: r"\textsuperscript{\ddag}",
    doubt.THROTTLE_MARK: r"\textsuperscript{\S}",
    doubt.OUTPUTS_MARK: r"\textsuperscript{\P}",
}


def latex_escape(text: str) -> str:
    """Escape LaTeX special characters; the en dash becomes ``--``."""
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in str(text))


LATEX_PREAMBLE_NOTE = "% edgebench table: needs \\usepackage{booktabs} in the preamble"
LATEX_LABELS = {
    "device": "tab:edgebench-devices",
    "model": "tab:edgebench-models",
    "scenario": "tab:edgebench-scenarios",
}


def _render_latex(table: pd.DataFrame, caption: str, notes: List[str]) -> str:
    """A float ready to paste: booktabs rules, every cell escaped, the notes as one footnote-size
    block under the tabular (core LaTeX only besides booktabs)."""
    cells = _shown_cells(table)
    spec = "".join("r" if _is_numeric_column(c) else "l" for c in cells.columns)

    def row(values: List[str]) -> str:
        return " & ".join(latex_escape(v) for v in values) + r" \\"

    lines = [
        LATEX_PREAMBLE_NOTE,
        r"\begin{table}[ht]",
        r"\centering",
        r"\caption{" + latex_escape(caption) + "}",
        r"\label{" + LATEX_LABELS.get(table.attrs.get("kind"), "tab:edgebench") + "}",
        r"\begin{tabular}{" + spec + "}",
        r"\toprule",
        row(list(cells.columns)),
        r"\midrule",
    ]
    lines += [row(list(r)) for r in cells.itertuples(index=False, name=None)]
    lines += [r"\bottomrule", r"\end{tabular}"]
    if notes:
        lines += [r"\par\smallskip", r"{\footnotesize\raggedright"]
        lines += [latex_escape(note) + r"\par" for note in notes]
        lines[-1] += "}"
    lines.append(r"\end{table}")
    return "\n".join(lines)


def _row_flags(table: pd.DataFrame, attr: str, suffix: str) -> List[bool]:
    """Which rows are simulated (or emulated): kept by ``_build_table``, else read off the lead."""
    known = table.attrs.get(attr + "_rows")
    if known is not None and len(known) == len(table):
        return [bool(v) for v in known]
    lead = table[table.columns[0]]
    return [isinstance(v, str) and suffix in v for v in lead]


def _render_csv(table: pd.DataFrame) -> str:
    """Data, not a picture of the table: plain numbers, intervals and counts in columns of
    their own (``doubt.csv_columns``), the lead cell without its "(simulated)" and instead a
    ``Simulated`` (``Emulated``) column of true / false when any row is."""
    cells = doubt.csv_columns(table, _format_cells(table, ""))
    lead = cells.columns[0]
    for attr, suffix, column in (
        ("simulated", SIM_SUFFIX, "Simulated"),
        ("emulated", EMU_SUFFIX, "Emulated"),
    ):
        flags = _row_flags(table, attr, suffix)
        if any(flags):
            cells[column] = ["true" if f else "false" for f in flags]
        cells[lead] = [text.replace(suffix, "") for text in cells[lead]]
    return cells.to_csv(index=False, lineterminator="\n").rstrip("\n")


def _render_html(table: pd.DataFrame, caption: str) -> str:
    cells = _shown_cells(table)
    esc = html.escape
    numeric = [_is_numeric_column(c) for c in cells.columns]

    def cell(tag: str, text: object, is_number: bool) -> str:
        return "<%s%s>%s</%s>" % (tag, ' class="num"' if is_number else "", esc(str(text)), tag)

    head = "".join(cell("th", c, n) for c, n in zip(cells.columns, numeric))
    body = [
        "<tr>" + "".join(cell("td", v, n) for v, n in zip(r, numeric)) + "</tr>"
        for r in cells.itertuples(index=False, name=None)
    ]
    return "\n".join(
        [
            "<table>",
            f"<caption>{esc(caption)}</caption>",
            f"<thead><tr>{head}</tr></thead>",
            "<tbody>",
            *body,
            "</tbody>",
            "</table>",
        ]
    )


def _render_empty(table: pd.DataFrame, fmt: str) -> str:
    """Output for a table without rows (CSV keeps just its header)."""
    if fmt == "csv" and len(table.columns):
        return table.iloc[0:0].to_csv(index=False, lineterminator="\n").rstrip("\n")
    if fmt == "html":
        return f"<p>{EMPTY_MESSAGE}</p>"
    return EMPTY_MESSAGE


def render(table_df: pd.DataFrame, fmt: str = "markdown", caption: Optional[str] = None) -> str:
    """Render a table from ``device_table``/``model_table`` as text.

    ``fmt`` is one of markdown, latex, csv, html.  ``caption`` is used by
    LaTeX and HTML (default depends on the table kind).  The output ends with
    a footnote line for each doubt mark used and, if any row is simulated, a
    last note saying those values are not real measurements (``#`` comment
    lines in CSV).  Raises ``ValueError`` only for an unknown ``fmt``.
    """
    fmt = str(fmt).strip().lower()
    if fmt == "md":
        fmt = "markdown"
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if table_df is None or len(table_df) == 0:
        return _render_empty(table_df if table_df is not None else pd.DataFrame(), fmt)

    caption = caption if caption is not None else _default_caption(table_df)
    notes = doubt.footnotes(table_df, csv=fmt == "csv")
    notes += [SIM_NOTE] if _has_simulated(table_df) else []
    notes += [EMU_NOTE] if _has_emulated(table_df) else []
    if fmt == "latex":
        return _render_latex(table_df, caption, notes)
    if fmt == "markdown":
        return _render_markdown(table_df, caption) + "".join(f"\n\n{n}" for n in notes)
    if fmt == "csv":
        return _render_csv(table_df) + "".join(f"\n# {n}" for n in notes)
    text = _render_html(table_df, caption)
    return text + "".join(f'\n<p class="note">{html.escape(n)}</p>' for n in notes)
