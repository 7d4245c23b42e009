"""What every figure of `report/figures.py` shares: a matplotlib Figure without pyplot (Agg),
the tags of simulated and emulated data drawn on the figure itself, notes under the axes
(what was left out and why), and rendering to PNG, SVG or PDF bytes.

matplotlib is the `plot` extra: imported inside these functions only, so the CLI and the report
modules load without it and say what to install when it is missing.
"""

from __future__ import annotations

import io
import textwrap
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

from ..errors import UserError
from .plots import SIMULATED_LABEL

EMULATED_LABEL = "EMULATED"
FORMATS = ("png", "svg", "pdf")
NOTE_COLOR = "#444444"
TAG_COLOR = "#d62728"
NOTE_LINE_IN = 0.2  # the height of a line of notes, in inches
MAX_NOTES = 6
CHARS_PER_INCH = 15  # of a note's small text: where a note wraps


class NothingToDraw(UserError):
    """The store holds nothing this figure can show (one line: what is missing and what to do)."""


@dataclass
class Drawn:
    """A figure ready to save: its title (for a report's caption), the notes printed under it
    (what was left out, absent values), and whether its data is simulated or emulated."""

    fig: object
    title: str
    notes: List[str] = field(default_factory=list)
    simulated: bool = False
    emulated: bool = False
    name: str = ""  # file stem when a kind draws several figures (confusion: one per model)
    # (axes, simulated, emulated) of figures with a panel per device: only those panels get the
    # watermark. None: every plot of the figure shows the data the flags describe.
    panels: Optional[List[Tuple[object, bool, bool]]] = None


def new_figure(width: float, height: float):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise UserError("plots need matplotlib: pip install 'edgebench[plot]'") from None
    return Figure(figsize=(width, height), dpi=100)


def data_tags(simulated: bool, emulated: bool) -> str:
    """ " [SIMULATED DATA] [EMULATED]" for a title; "" for real measurements."""
    return "".join(
        " [%s]" % tag for tag, on in ((SIMULATED_LABEL, simulated), (EMULATED_LABEL, emulated)) if on
    )


def item_tags(simulated, emulated) -> str:
    """ " (simulated)" / " (emulated)" after the name of one point, bar or device."""
    return (" (simulated)" if simulated else "") + (" (emulated)" if emulated else "")


def finish(drawn: Drawn) -> Drawn:
    """Tags and notes drawn on the figure: simulated or emulated data is marked in the title, by
    a watermark on the plots that show it and in a line at the bottom; the notes go above."""
    fig = drawn.fig
    heading = drawn.title + data_tags(drawn.simulated, drawn.emulated)
    fig.suptitle(heading, fontsize="large")
    warnings = _tag_lines(drawn.simulated, drawn.emulated)
    plots = [a for a in fig.axes if a.axison and a.get_label() != "<colorbar>"]  # not a legend's place
    for ax, simulated, emulated in drawn.panels or [(a, drawn.simulated, drawn.emulated) for a in plots]:
        marks = [text for text, on in ((SIMULATED_LABEL, simulated), (EMULATED_LABEL, emulated)) if on]
        if marks:
            _watermark(ax, " / ".join(marks))
    width = max(60, int(fig.get_figwidth() * CHARS_PER_INCH))
    notes = [line for note in _shown_notes(drawn.notes) for line in textwrap.wrap(note, width)]
    warnings = [line for warning in warnings for line in textwrap.wrap(warning, width)]
    lines = [(text, NOTE_COLOR, "normal") for text in notes] + [(w, TAG_COLOR, "bold") for w in warnings]
    step = NOTE_LINE_IN / fig.get_figheight()
    for i, (text, color, weight) in enumerate(reversed(lines)):
        fig.text(
            0.01, 0.01 + step * i, text, ha="left", va="bottom", fontsize="small", color=color, weight=weight
        )
    title_room = 0.3 * (heading.count("\n") + 1) / fig.get_figheight()
    fig.tight_layout(rect=(0, 0.015 + step * len(lines), 1, 1 - title_room))
    return drawn


def _tag_lines(simulated: bool, emulated: bool) -> List[str]:
    lines = []
    if simulated:
        lines.append("%s: from a simulated device or sensor, not a real measurement" % SIMULATED_LABEL)
    if emulated:
        lines.append(
            "%s: ran under an emulator (qemu-user); its latencies say nothing of the board" % EMULATED_LABEL
        )
    return lines


def _shown_notes(notes: List[str]) -> List[str]:
    """At most MAX_NOTES notes of at most 300 characters; the rest counted in the last one."""
    cut = [n if len(n) <= 300 else n[:297] + "..." for n in notes]
    if len(cut) > MAX_NOTES:
        cut = cut[: MAX_NOTES - 1] + ["... and %d more notes" % (len(cut) - MAX_NOTES + 1)]
    return cut


def _watermark(ax, text: str) -> None:
    ax.text(
        0.5,
        0.5,
        text,
        transform=ax.transAxes,
        ha="center",
        va="center",
        fontsize=28,
        color=TAG_COLOR,
        alpha=0.2,
        rotation=20,
        weight="bold",
        zorder=10,
    )


def render(fig, fmt: str) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    out = io.BytesIO()
    fig.savefig(out, format=fmt)
    return out.getvalue()


def fmt_of(out_path) -> str:
    """The format chosen by the file's suffix; UserError naming the file otherwise."""
    fmt = out_path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise UserError(
            "%s: the figure file must end in %s" % (out_path, ", ".join("." + f for f in FORMATS))
        )
    return fmt


def number(value, unit: str = "") -> str:
    """A value for a label: 3 significant figures, an en dash when absent (never 0)."""
    if value is None or value != value:
        return "\u2013"
    text = "%.3g" % value if abs(value) < 1000 else "%.0f" % value
    return text + (" " + unit if unit else "")
