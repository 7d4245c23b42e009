"""The figures drawn from cells (`figure_data.cells`: each cell's median of runs and its 95%
interval between runs): the latency-accuracy trade-off with its Pareto front (paper section 7.2),
the radar of throughput, latency, power, size and accuracy (Figure 6), inference time and power
per platform (Figure 4), and batch-size scaling. Each takes the cells and returns a finished
`figure_kit.Drawn`; NothingToDraw when the cells hold nothing it can show."""

from __future__ import annotations

import math
from typing import List

import pandas as pd

from .figure_data import accuracy_percent_interval, known, labels, pareto_front, radar_scores
from .figure_kit import Drawn, NothingToDraw, finish, item_tags, new_figure, number

COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")
NO_ACCURACY = (
    "nothing to draw: no cell has a measured accuracy (a model needs its eval set, NAME.eval.npz "
    "beside it, as `edgebench models build` writes; and no --no-accuracy)"
)


def color(i: int) -> str:
    return COLORS[i % len(COLORS)]


def _flags(rows: pd.DataFrame) -> dict:
    return {
        "simulated": bool(rows["simulated"].astype(bool).any()),
        "emulated": bool(rows["emulated"].astype(bool).any()),
    }


def one_batch(rows: pd.DataFrame, notes: List[str]) -> pd.DataFrame:
    """The cells at the smallest batch: latency per call is not comparable across batch sizes."""
    batches = sorted(set(rows["batch"]))
    if len(batches) > 1:
        notes.append(
            "batch %d only: cells at batch %s left out (choose with --batch)"
            % (batches[0], ", ".join(map(str, batches[1:])))
        )
    return rows[rows["batch"] == batches[0]].reset_index(drop=True)


def _interval_errors(values, lows, highs):
    """Error bar lengths below and above each value; 0 where the interval is absent (one run),
    the point itself still drawn."""
    below = [v - lo if known(lo) else 0.0 for v, lo in zip(values, lows)]
    above = [hi - v if known(hi) else 0.0 for v, hi in zip(values, highs)]
    return [max(b, 0.0) for b in below], [max(a, 0.0) for a in above]


def _single_run_note(rows: pd.DataFrame, notes: List[str]) -> None:
    single = int((pd.to_numeric(rows["runs"], errors="coerce") < 2).sum())
    if single:
        notes.append(
            "%d of %d cells from one run: no interval between runs (sweep with --repeats 3 or more)"
            % (single, len(rows))
        )


def _log_if_wide(ax, values, axis: str = "x", ratio: float = 10.0) -> None:
    """A log scale, with plain numbers on it (0.5, 1, 10), when the values span over `ratio`."""
    from matplotlib.ticker import FuncFormatter

    finite = [v for v in values if known(v) and v > 0]
    if finite and max(finite) / min(finite) > ratio:
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
        scale = ax.xaxis if axis == "x" else ax.yaxis
        scale.set_major_formatter(FuncFormatter(lambda v, _: "%g" % v))
        scale.set_minor_formatter(FuncFormatter(lambda v, _: "%g" % v if ("%.0e" % v)[0] in "25" else ""))


# ------------------------------------------------------------------ trade-off (section 7.2)


def tradeoff(rows: pd.DataFrame) -> Drawn:
    """Latency (median of runs, 95% interval between runs) against top-1 accuracy (95% Wilson
    interval), one point per cell, one colour per device; each device's Pareto front (lower
    latency, higher accuracy) drawn as a staircase, its members named in bold."""
    notes: List[str] = []
    rows = one_batch(rows, notes)
    measured = rows["accuracy_runs"].map(known) & rows["latency_p50_runs_ms"].map(known)
    if not measured.any():
        raise NothingToDraw(NO_ACCURACY)
    left_out = rows[~measured]
    if len(left_out):
        notes.append("left out, no measured accuracy: %s" % ", ".join(labels(left_out, with_device=True)))
    rows = rows[measured].reset_index(drop=True)
    drawn = Drawn(new_figure(9.5, 6.2), _tradeoff_title(rows), notes, **_flags(rows))
    ax = drawn.fig.add_subplot(1, 1, 1)
    for i, device in enumerate(sorted(set(rows["device"]))):
        _tradeoff_device(ax, rows[rows["device"] == device].reset_index(drop=True), device, color(i), notes)
    _log_if_wide(ax, list(rows["latency_p50_runs_ms"]))
    ax.margins(x=0.12, y=0.08)  # room for the names of the points at the edges
    ax.set_xlabel("latency per call (ms): median of runs, bars 95% interval between runs")
    ax.set_ylabel("top-1 accuracy (%), bars 95% Wilson interval")
    ax.grid(True, alpha=0.3, which="both")
    ax.legend(loc="lower right", fontsize="small")
    _single_run_note(rows, notes)
    return finish(drawn)


def _tradeoff_title(rows: pd.DataFrame) -> str:
    title = "Latency vs accuracy"
    if rows["device"].nunique() == 1:
        title += " on %s" % rows["device"].iloc[0]
    batch = int(rows["batch"].iloc[0])
    return title + (" (batch %d)" % batch if batch > 1 else "")


def _tradeoff_device(ax, rows: pd.DataFrame, device: str, colour: str, notes: List[str]) -> None:
    x = [float(v) for v in rows["latency_p50_runs_ms"]]
    y = [100 * float(v) for v in rows["accuracy_runs"]]
    xerr = _interval_errors(x, rows["latency_p50_runs_ci95_low_ms"], rows["latency_p50_runs_ci95_high_ms"])
    wilson = [accuracy_percent_interval(a, n) for a, n in zip(rows["accuracy_runs"], rows["accuracy_n"])]
    yerr = _interval_errors(y, [w[0] if w else None for w in wilson], [w[1] if w else None for w in wilson])
    tag = item_tags(rows["simulated"].astype(bool).any(), rows["emulated"].astype(bool).any())
    ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt="o", color=colour, ms=7, capsize=3, lw=1, label=device + tag)
    front = pareto_front(list(zip(x, y)))
    ax.step(
        [x[i] for i in front],
        [y[i] for i in front],
        where="post",
        color=colour,
        ls="--",
        lw=1.3,
        alpha=0.8,
        label="Pareto front (%s)" % device,
    )
    names = labels(rows)
    for i, name in enumerate(names):
        on_front = i in front
        ax.annotate(  # front names above their point, the others below: fewer overlaps
            name,
            (x[i], y[i]),
            xytext=(6, 6) if on_front else (6, -6),
            va="bottom" if on_front else "top",
            textcoords="offset points",
            fontsize="small",
            weight="bold" if on_front else "normal",
            color="#000000" if on_front else "#555555",
        )
    notes.append("Pareto front on %s (bold): %s" % (device, ", ".join(names[i] for i in front)))


# ------------------------------------------------------------------ radar (Figure 6)

# (axis, column, unit, higher is better, what makes it absent)
RADAR_AXES = (
    ("throughput", "throughput_runs", "inf/s", True, "no throughput"),
    ("latency", "latency_p50_runs_ms", "ms", False, "no latency"),
    ("power", "power_mw_runs", "mW", False, "no power sensor"),
    ("size", "model_size_mb", "MB", False, "no model file size"),
    ("accuracy", "accuracy_pct", "%", True, "no eval set"),
)


def radar(rows: pd.DataFrame) -> Drawn:
    """One polar chart per device: a polygon per cell over RADAR_AXES, each axis relative to the
    device's best cell (1 = best, outward = better); raw values in the legend. An absent value is
    a gap in the polygon (and a note), an axis absent for every cell says "no data"."""
    notes: List[str] = []
    rows = one_batch(rows, notes).copy()
    rows["accuracy_pct"] = rows["accuracy_runs"] * 100
    devices = sorted(set(rows["device"]))
    columns = min(len(devices), 3)
    lines = math.ceil(len(devices) / columns)
    per_device = rows.groupby("device").size().max()
    key_height = 0.3 + 0.2 * per_device  # the legend under each chart: one line per cell
    drawn = Drawn(
        new_figure(6.5 * columns, (5.6 + key_height) * lines),
        "Throughput, latency, power, size and accuracy",
        notes,
        **_flags(rows),
    )
    grid = drawn.fig.add_gridspec(2 * lines, columns, height_ratios=[5.6, key_height] * lines)
    drawn.panels = []
    for k, device in enumerate(devices):
        line, column = divmod(k, columns)
        ax = drawn.fig.add_subplot(grid[2 * line, column], projection="polar")
        key = drawn.fig.add_subplot(grid[2 * line + 1, column])
        own = rows[rows["device"] == device].reset_index(drop=True)
        _radar_device(ax, own, device, notes)
        drawn.panels.append((ax, _flags(own)["simulated"], _flags(own)["emulated"]))
        key.axis("off")  # a place for the legend that the layout knows about
        key.legend(*ax.get_legend_handles_labels(), loc="upper center", fontsize="x-small", frameon=False)
    notes.append(
        "each axis relative to the device's best cell (1 = best, outward = better): "
        "throughput and accuracy value/best, latency, power and size best/value"
    )
    return finish(drawn)


def _radar_device(ax, rows: pd.DataFrame, device: str, notes: List[str]) -> None:
    angles = [2 * math.pi * i / len(RADAR_AXES) for i in range(len(RADAR_AXES))]
    scores = {axis: radar_scores(list(rows[col]), better) for axis, col, _, better, _ in RADAR_AXES}
    names = labels(rows)
    for i, name in enumerate(names):
        radii = [scores[axis][i] for axis, *_ in RADAR_AXES]
        closed = [math.nan if r is None else r for r in radii + radii[:1]]
        line = ax.plot(
            angles + angles[:1],
            closed,
            marker="o",
            color=color(i),
            lw=1.5,
            label=_radar_legend(name, rows.iloc[i]),
        )
        if None not in radii:
            ax.fill(angles, radii, color=line[0].get_color(), alpha=0.08)
    ax.set_xticks(angles)
    ax.set_xticklabels(
        [_radar_axis_label(a, unit, scores[a]) for a, _, unit, _, _ in RADAR_AXES], fontsize="small"
    )
    ax.set_ylim(0, 1.05)
    ax.set_yticks([0.25, 0.5, 0.75, 1.0])
    ax.set_yticklabels(["0.25", "0.5", "0.75", "1 = best"], fontsize="x-small", color="#666666")
    tag = item_tags(rows["simulated"].astype(bool).any(), rows["emulated"].astype(bool).any())
    ax.set_title(device + tag, pad=18)
    ax.tick_params(axis="x", pad=10)
    for angle, text in zip(angles, ax.get_xticklabels()):  # clear of the circle on either side
        text.set_horizontalalignment(
            "left" if math.cos(angle) > 0.1 else "right" if math.cos(angle) < -0.1 else "center"
        )
    for axis, _, _, _, why in RADAR_AXES:
        missing = [n for n, s in zip(names, scores[axis]) if s is None]
        if len(missing) == len(names):
            notes.append("%s on %s: absent for every cell (%s), not drawn" % (axis, device, why))
        elif missing:
            notes.append(
                "%s on %s: absent for %s (%s), a gap in its polygon" % (axis, device, ", ".join(missing), why)
            )


def _radar_axis_label(axis: str, unit: str, scores) -> str:
    if all(s is None for s in scores):
        return "%s (%s)\nno data" % (axis, unit)
    return "%s (%s)" % (axis, unit)


def _radar_legend(name: str, row) -> str:
    return "%s: %s, %s, %s, %s, %s" % (
        name,
        number(row["throughput_runs"], "inf/s"),
        number(row["latency_p50_runs_ms"], "ms"),
        number(row["power_mw_runs"], "mW"),
        number(row["model_size_mb"], "MB"),
        number(row["accuracy_pct"], "%"),
    )


# ------------------------------------------------------------------ per platform (Figure 4)


def platform(rows: pd.DataFrame) -> Drawn:
    """Grouped bars, one group per device and one bar per model (variant): inference time per
    call above, mean power over the timed window below; a cell without power has no bar but
    "no sensor" in its place."""
    notes: List[str] = []
    rows = one_batch(rows, notes)
    rows = rows.assign(variant=labels(rows))
    devices = sorted(set(rows["device"]))
    variants = list(dict.fromkeys(rows.sort_values("model")["variant"]))
    width = 0.8 / len(variants)
    drawn = Drawn(
        new_figure(max(7.0, 1.6 + 1.3 * len(devices) * max(1, len(variants) / 2)), 7.5),
        "Inference time and power per platform",
        notes,
        **_flags(rows),
    )
    time_ax = drawn.fig.add_subplot(2, 1, 1)
    power_ax = drawn.fig.add_subplot(2, 1, 2, sharex=time_ax)
    no_sensor = set()
    for j, variant in enumerate(variants):
        offsets = [d + (j - (len(variants) - 1) / 2) * width for d in range(len(devices))]
        cells = [_cell_of(rows, device, variant) for device in devices]
        _bars(time_ax, offsets, cells, "latency_p50_runs", "_ms", width, color(j), variant)
        missing = _bars(power_ax, offsets, cells, "power_mw_runs", "", width, color(j), None)
        for x, device in missing:
            power_ax.text(
                x, 0, "no sensor", rotation=90, ha="center", va="bottom", fontsize="small", color="#666666"
            )
            no_sensor.add(device)
    power_ax.set_ylim(bottom=0)
    if not rows["power_mw_runs"].map(known).any():
        power_ax.set_yticks([])  # an empty scale would read as 0 mW
    time_ax.set_ylabel("inference time per call (ms)")
    power_ax.set_ylabel("mean power, timed window (mW)")
    power_ax.set_xticks(range(len(devices)))
    power_ax.set_xticklabels([d + _device_tag(rows, d) for d in devices])
    time_ax.tick_params(labelbottom=False)
    for ax in (time_ax, power_ax):
        ax.grid(True, axis="y", alpha=0.3)
    time_ax.legend(
        fontsize="small",
        ncol=min(len(variants), 3),
        loc="lower left",
        bbox_to_anchor=(0, 1.01),
        frameon=False,
    )
    notes.append("bars: median of runs; whiskers: 95% interval between runs")
    if no_sensor:
        notes.append(
            "power absent (no sensor, or not recorded) on: %s; not drawn as 0" % ", ".join(sorted(no_sensor))
        )
    _single_run_note(rows, notes)
    return finish(drawn)


def _cell_of(rows: pd.DataFrame, device: str, variant: str):
    found = rows[(rows["device"] == device) & (rows["variant"] == variant)]
    return found.iloc[0] if len(found) else None


def _device_tag(rows: pd.DataFrame, device: str) -> str:
    own = rows[rows["device"] == device]
    return item_tags(own["simulated"].astype(bool).any(), own["emulated"].astype(bool).any())


def _bars(ax, offsets, cells, base: str, suffix: str, width: float, colour: str, label):
    """Bars of `base + suffix` with their interval; returns (x, device) of the measured cells
    whose value is absent (a cell not measured at all is just an empty slot)."""
    xs, heights, lows, highs, missing = [], [], [], [], []
    for x, cell in zip(offsets, cells):
        if cell is None:
            continue
        value = cell[base + suffix]
        if not known(value):
            missing.append((x, cell["device"]))
            continue
        xs.append(x)
        heights.append(float(value))
        lows.append(cell[base + "_ci95_low" + suffix])
        highs.append(cell[base + "_ci95_high" + suffix])
    if xs:
        ax.bar(
            xs,
            heights,
            width * 0.95,
            color=colour,
            label=label,
            yerr=_interval_errors(heights, lows, highs),
            capsize=3,
        )
    elif label:
        ax.bar([], [], color=colour, label=label)
    return missing


# ------------------------------------------------------------------ batch-size scaling


def batch_scaling(rows: pd.DataFrame) -> Drawn:
    """Latency per call, latency per sample and throughput against the batch size, one line per
    (device, model, backend, precision) measured at two batch sizes or more."""
    notes: List[str] = []
    group_keys = ["device", "model", "backend", "precision"]
    groups = [(key, g.sort_values("batch")) for key, g in rows.groupby(group_keys, dropna=False, sort=True)]
    scaled = [(key, g) for key, g in groups if g["batch"].nunique() > 1]
    if not scaled:
        raise NothingToDraw(
            "nothing to draw: no model was measured at more than one batch size (sweep with --batch 1,2,4,8)"
        )
    single = [g for _, g in groups if g["batch"].nunique() == 1]
    if single:
        notes.append(
            "left out, one batch size only: %s" % ", ".join(labels(pd.concat(single), with_device=True))
        )
    shown = pd.concat([g for _, g in scaled])
    drawn = Drawn(new_figure(15, 5.2), "Batch-size scaling", notes, **_flags(shown))
    axes = [drawn.fig.add_subplot(1, 3, k + 1) for k in range(3)]
    multi_device = shown["device"].nunique() > 1
    for i, (_, group) in enumerate(scaled):
        name = labels(group.iloc[:1].assign(batch=0), with_device=multi_device)[0]
        _batch_lines(
            axes,
            group,
            color(i),
            name + item_tags(group["simulated"].astype(bool).any(), group["emulated"].astype(bool).any()),
        )
    batches = sorted(set(shown["batch"]))
    _log_if_wide(axes[0], list(shown["latency_p50_runs_ms"]), axis="y")
    _log_if_wide(axes[1], list(shown["latency_p50_runs_ms"] / shown["batch"]), axis="y")
    for ax, ylabel in zip(
        axes, ("latency per call (ms)", "latency per sample (ms)", "throughput (inferences/s)")
    ):
        ax.set_xscale("log", base=2)
        ax.set_xticks(batches)
        ax.set_xticklabels([str(b) for b in batches])
        ax.set_xlabel("batch size")
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize="small")
    notes.append(
        "median of runs; latency bars 95% interval between runs; "
        "throughput = inferences per second of the timed window"
    )
    return finish(drawn)


def _batch_lines(axes, group: pd.DataFrame, colour: str, name: str) -> None:
    batch = [int(b) for b in group["batch"]]
    per_call = [float(v) for v in group["latency_p50_runs_ms"]]
    err = _interval_errors(
        per_call, group["latency_p50_runs_ci95_low_ms"], group["latency_p50_runs_ci95_high_ms"]
    )
    axes[0].errorbar(batch, per_call, yerr=err, marker="o", color=colour, capsize=3, label=name)
    per_sample = [v / b for v, b in zip(per_call, batch)]
    axes[1].errorbar(
        batch,
        per_sample,
        yerr=([e / b for e, b in zip(err[0], batch)], [e / b for e, b in zip(err[1], batch)]),
        marker="o",
        color=colour,
        capsize=3,
    )
    throughput = [(b, float(t)) for b, t in zip(batch, group["throughput_runs"]) if known(t)]
    if throughput:
        axes[2].plot([b for b, _ in throughput], [t for _, t in throughput], marker="o", color=colour)
