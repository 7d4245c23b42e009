"""Plots of a trial's telemetry, for `edgebench plot power --trial ID --out FILE.png`.

    power_figure(samples, ...) -> matplotlib Figure (nothing written; tests inspect it)
    plot_power(samples, out_path, ...) -> out_path, written atomically

`samples` are (t_seconds, power_mw) pairs stamped with the same monotonic clock as the timed
window; the plot's time axis starts at the first sample. The timed window is shaded, the idle
baseline is a dashed line, and a plot of simulated data says so on the figure and in the title.
Doubts (`doubts_of(series)`: energy unreliable, throttled) are named in the title, with their
details in a note under the axes.

matplotlib is an optional dependency (`pip install 'edgebench[plot]'`); it is imported here
only, through the object-oriented API (Figure + the Agg canvas), so no pyplot global state and
no display is needed.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Iterable, Optional, Sequence, Tuple

from edgebench.orchestrator.errors import UserError
from edgebench.orchestrator.options import write_atomically

SIMULATED_LABEL = "SIMULATED DATA"
FORMATS = ("png", "svg", "pdf")

_LINE_COLOR = "#1f77b4"
_WINDOW_COLOR = "#ff7f0e"
_IDLE_COLOR = "#555555"
_SIM_COLOR = "#d62728"


def doubts_of(series: dict) -> list:
    """(label, detail) of what makes a trial's power doubtful, from `trial_telemetry`'s dict:
    energy_reliable false (with the sample count, largest gap and coverage), throttled true."""
    found = []
    if series.get("energy_reliable") is False:
        facts = []
        if series.get("power_samples") is not None:
            facts.append("%s samples" % series["power_samples"])
        if series.get("power_max_gap_ms") is not None:
            facts.append("largest gap %.0f ms" % series["power_max_gap_ms"])
        if series.get("power_coverage") is not None:
            facts.append("coverage %.0f%%" % (100 * series["power_coverage"]))
        found.append(("energy unreliable", ", ".join(facts) or "too few power samples in the timed window"))
    if series.get("throttled") is True:
        found.append(("throttled", series.get("throttle_reason") or "the device throttled during the trial"))
    return found


def _clean(samples: Iterable[Sequence[float]]):
    """(t, mW) pairs with a real power value, sorted by time. None/NaN powers are unknown
    power, not 0: they are left out rather than drawn as a drop to zero."""
    points = []
    for sample in samples or ():
        t, mw = sample[0], sample[1]
        if t is None or mw is None:
            continue
        t, mw = float(t), float(mw)
        if math.isnan(t) or math.isnan(mw) or math.isinf(t) or math.isinf(mw):
            continue
        points.append((t, mw))
    points.sort(key=lambda point: point[0])
    return points


def power_figure(
    samples,
    *,
    window: Optional[Tuple[float, float]] = None,
    idle_mw: Optional[float] = None,
    title: str = "",
    sensor: str = "",
    simulated: bool = False,
    doubts: Sequence[Tuple[str, str]] = (),
):
    """The power-over-time Figure (not saved). Raises UserError when there is no sample.
    `doubts`: (label, detail) pairs; each label goes in the title, each detail in a note."""
    points = _clean(samples)
    if not points:
        raise UserError(
            "no power samples for this trial: its device had no power sensor, or "
            "telemetry was not recorded (see `edgebench probe`)"
        )
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise UserError("plots need matplotlib: pip install 'edgebench[plot]'") from None

    t0 = points[0][0]
    times = [t - t0 for t, _ in points]
    powers = [mw for _, mw in points]

    fig = Figure(figsize=(9, 4.8), dpi=100)
    ax = fig.add_subplot(1, 1, 1)

    if window is not None:
        start, end = float(window[0]) - t0, float(window[1]) - t0
        if end < start:
            raise ValueError("timed window ends before it starts: %r" % (window,))
        ax.axvspan(
            start, end, color=_WINDOW_COLOR, alpha=0.18, lw=0, label="timed window (%.1f s)" % (end - start)
        )
    line_label = "power (%s)" % sensor if sensor else "power"
    ax.plot(
        times,
        powers,
        color=_LINE_COLOR,
        lw=1.4,
        marker="o" if len(points) <= 200 else None,
        ms=3,
        label=line_label,
    )
    if idle_mw is not None:
        ax.axhline(
            float(idle_mw),
            color=_IDLE_COLOR,
            ls="--",
            lw=1.2,
            label="idle baseline (%.0f mW)" % float(idle_mw),
        )

    ax.set_xlabel("time (s)")
    ax.set_ylabel("power (mW)")
    low = min(powers + ([float(idle_mw)] if idle_mw is not None else []))
    if low >= 0:
        ax.set_ylim(bottom=0)  # power from 0 so that differences are not exaggerated
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize="small")

    heading = title or "Power over time"
    if simulated:
        heading = "%s [%s]" % (heading, SIMULATED_LABEL)
    for label, _ in doubts:
        heading = "%s [%s]" % (heading, label.upper())
    ax.set_title(heading)
    subtitle = "%d samples" % len(points)
    if sensor:
        subtitle = "sensor: %s, %s" % (sensor, subtitle)
    fig.text(0.99, 0.01, subtitle, ha="right", va="bottom", fontsize="small", color="#444444")
    if simulated:
        ax.text(
            0.5,
            0.5,
            SIMULATED_LABEL,
            transform=ax.transAxes,
            ha="center",
            va="center",
            fontsize=36,
            color=_SIM_COLOR,
            alpha=0.25,
            rotation=20,
            weight="bold",
        )
        fig.text(
            0.01,
            0.01,
            "%s: not a real measurement" % SIMULATED_LABEL,
            ha="left",
            va="bottom",
            fontsize="small",
            color=_SIM_COLOR,
            weight="bold",
        )
    _doubt_notes(fig, doubts)
    fig.tight_layout(rect=(0, 0.04 + 0.035 * len(doubts), 1, 1))
    return fig


def _doubt_notes(fig, doubts) -> None:
    """One line per doubt, above the bottom line of the figure."""
    for i, (label, detail) in enumerate(doubts):
        fig.text(
            0.01,
            0.045 + 0.035 * i,
            "%s: %s" % (label, detail[:140]),
            ha="left",
            va="bottom",
            fontsize="small",
            color=_SIM_COLOR,
        )


def plot_power(
    samples,
    out_path,
    *,
    window: Optional[Tuple[float, float]] = None,
    idle_mw: Optional[float] = None,
    title: str = "",
    sensor: str = "",
    simulated: bool = False,
    doubts: Sequence[Tuple[str, str]] = (),
) -> Path:
    """Draw power over time to `out_path` (.png, .svg or .pdf), written atomically.
    Returns the path. No sample, a missing output folder or an unknown suffix -> UserError."""
    out_path = Path(out_path)
    fmt = out_path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise UserError("%s: the plot file must end in %s" % (out_path, ", ".join("." + f for f in FORMATS)))
    folder = out_path.parent
    if not folder.is_dir():
        raise UserError("%s: the folder %s does not exist" % (out_path, folder))
    if out_path.is_dir():
        raise UserError("%s: is a folder; give a file name ending in .%s" % (out_path, fmt))

    fig = power_figure(
        samples,
        window=window,
        idle_mw=idle_mw,
        title=title,
        sensor=sensor,
        simulated=simulated,
        doubts=doubts,
    )
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    rendered = io.BytesIO()
    fig.savefig(rendered, format=fmt)
    write_atomically(out_path, rendered.getvalue(), option="--out")
    return out_path
