"""The paper's figures from the results store, for `edgebench plot KIND` and the HTML report.

    KINDS                                      the figure kinds, in the report's order
    draw(kind, store, out_path, sweep_id=None, device=, model=, batch=, trial=) -> out_path
    draw_report_figures(store, out_dir, sweep_id=None, formats=("png", "svg")) -> [ReportFigure]

Kinds: `tradeoff` (latency vs accuracy with the Pareto front, paper section 7.2), `radar`
(throughput, latency, power, size, accuracy, Figure 6), `platform` (inference time and power per
device, Figure 4), `confusion` (the predictions made on the device), `latency` (distribution of
the raw samples per device and model), `batch` (batch-size scaling), `power` (power over time of
one trial). Cells come from `tables.cell_rows` (each cell's latest sweep, the median of its
runs, the 95% interval between them); `figure_cells.py` and `figure_trials.py` draw them,
`figure_kit.py` tags simulated and emulated data on the figure and writes the notes (what was
left out, absent values: never drawn as 0). The file's suffix chooses PNG, SVG or PDF.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

from ..errors import UserError
from ..options import write_atomically
from . import figure_kit
from .figure_kit import Drawn, NothingToDraw, fmt_of, render

KINDS = ("tradeoff", "radar", "platform", "confusion", "latency", "batch", "power")
TITLES = {
    "tradeoff": "Latency vs accuracy, with the Pareto front",
    "radar": "Throughput, latency, power, size and accuracy",
    "platform": "Inference time and power per platform",
    "confusion": "Confusion matrix of the predictions made on the device",
    "latency": "Latency distribution per device and model",
    "batch": "Batch-size scaling",
    "power": "Power over time",
}
# At most this many confusion matrices in a report (one per device and model, latest first).
REPORT_CONFUSIONS = 12


@dataclass
class ReportFigure:
    """One figure of the report: its files by format, or `skipped` with the reason in `note`;
    `note` otherwise says what the reader must know (simulated data, what was left out)."""

    kind: str
    title: str
    paths: Dict[str, Path] = field(default_factory=dict)
    note: str = ""
    skipped: bool = False


def build(kind: str, store, sweep_id: Optional[str] = None, limit: int = 1, **options) -> List[Drawn]:
    """The finished figures of `kind` (several only for `confusion`, up to `limit`);
    NothingToDraw (a UserError) when the store has nothing for it, UserError for a bad kind."""
    from . import figure_cells, figure_data, figure_trials

    if kind not in KINDS:
        raise UserError("unknown figure %r: choose one of %s" % (kind, ", ".join(KINDS)))
    device, model, batch, trial = (options.pop(k, None) for k in ("device", "model", "batch", "trial"))
    if options:
        raise TypeError("unknown figure options: %s" % ", ".join(sorted(options)))
    if kind == "confusion":
        return _confusions(
            store, sweep_id, dict(device=device, model=model, batch=batch, trial_id=trial), limit
        )
    if kind == "power":
        rows = _filter(figure_data.ok_trial_rows(store, sweep_id), device, model)
        return [figure_trials.power(store, rows, trial)]
    cells = figure_data.cells(store, sweep_id, device, model, batch)
    if kind == "latency":
        from ..store.samples import trial_samples

        ids = [t for ids in cells["trial_ids"] for t in ids]
        return [figure_trials.latency(cells, trial_samples(store, ids))]
    draw_cells = {
        "tradeoff": figure_cells.tradeoff,
        "radar": figure_cells.radar,
        "platform": figure_cells.platform,
        "batch": figure_cells.batch_scaling,
    }[kind]
    return [draw_cells(cells)]


def _filter(rows, device, model):
    for column, wanted in (("device", device), ("model", model)):
        if wanted is not None:
            rows = rows[rows[column] == wanted]
    return rows


def _confusions(store, sweep_id, wanted: dict, limit: int) -> List[Drawn]:
    from ..store.queries import confusion_rows
    from .figure_data import latest_confusions
    from .figure_trials import confusion

    rows = confusion_rows(store, sweep_id)
    found = latest_confusions(rows, **wanted)
    if not found:
        raise NothingToDraw(_no_confusion(rows, **wanted))
    more = (
        ""
        if len(found) == 1 or limit > 1
        else "latest of %d models and devices with one; choose with --model, --device" % len(found)
    )
    return [confusion(row, more) for row in found[:limit]]


def _no_confusion(rows: List[dict], device=None, model=None, batch=None, trial_id=None) -> str:
    asked = (("of trial", trial_id), ("of", model), ("on", device), ("at batch", batch))
    where = "".join(" %s %s" % (word, value) for word, value in asked if value is not None)
    notes = sorted({r["confusion_note"] for r in rows if r.get("confusion_note")})
    why = (
        ": %s" % "; ".join(notes)
        if notes
        else " (the trials measured no accuracy, or an older agent measured it: sweep again with an eval set)"
    )
    return "nothing to draw: no trial%s has a confusion matrix%s" % (where, why)


def draw(kind: str, store, out_path, sweep_id: Optional[str] = None, **options) -> Path:
    """Draws `kind` to `out_path` (.png, .svg or .pdf, written atomically); returns the path.
    One-line UserError when the folder is missing, the suffix unknown or nothing can be drawn."""
    out_path = Path(out_path)
    fmt = fmt_of(out_path)
    if not out_path.parent.is_dir():
        raise UserError("%s: the folder %s does not exist" % (out_path, out_path.parent))
    if out_path.is_dir():
        raise UserError("%s: is a folder; give a file name ending in .%s" % (out_path, fmt))
    drawn = build(kind, store, sweep_id, **options)[0]
    write_atomically(out_path, render(drawn.fig, fmt), option="--out")
    return out_path


def draw_report_figures(
    store, out_dir, sweep_id: Optional[str] = None, formats=("png", "svg")
) -> List[ReportFigure]:
    """Every kind into `out_dir` (created), as KIND.FORMAT (a confusion matrix per cell, up to
    REPORT_CONFUSIONS: confusion-MODEL-DEVICE-BACKEND-PRECISION-bBATCH.FORMAT); a kind the store
    has no data for is a skipped ReportFigure whose note says why, never a failure."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for fmt in formats:
        if fmt not in figure_kit.FORMATS:
            raise UserError("figure format %r: choose from %s" % (fmt, ", ".join(figure_kit.FORMATS)))
    figures = []
    for kind in KINDS:
        try:
            drawn = build(kind, store, sweep_id, limit=REPORT_CONFUSIONS)
        except UserError as exc:  # nothing to draw, or no matplotlib: say so in the report
            figures.append(ReportFigure(kind, TITLES[kind], note=str(exc), skipped=True))
            continue
        figures += [_saved(kind, one, out_dir, formats) for one in drawn]
    return figures


def _saved(kind: str, drawn: Drawn, out_dir: Path, formats) -> ReportFigure:
    stem = _file_stem(drawn.name or kind)
    paths = {}
    for fmt in formats:
        paths[fmt] = write_atomically(out_dir / ("%s.%s" % (stem, fmt)), render(drawn.fig, fmt))
    tags = [t for t, on in (("simulated data", drawn.simulated), ("emulated data", drawn.emulated)) if on]
    note = "; ".join(tags + list(drawn.notes))
    return ReportFigure(kind, drawn.title.replace("\n", " "), paths, note)


def _file_stem(name: str) -> str:
    """A file name from a model or device name: letters, digits, '.', '_' and '-' only."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "figure"


__all__ = ["KINDS", "NothingToDraw", "ReportFigure", "build", "draw", "draw_report_figures"]
