"""The figures drawn from what single trials recorded: the confusion matrix of the predictions
made on the device (the agent's `accuracy_confusion`), the latency distribution of each cell
from its raw samples (`store.samples`), and power over time (`plots.power_figure`)."""

from __future__ import annotations

from typing import List, Optional

import pandas as pd

from ..store.queries import trial_telemetry
from .figure_data import known, labels
from .figure_kit import Drawn, NothingToDraw, finish, item_tags, new_figure
from .plots import doubts_of, power_figure

# Counts are written in the cells up to this many classes; above, colour only.
CONFUSION_TEXT_CLASSES = 20
# A violin's shape is estimated from at most this many quantiles of a cell's samples: the
# kernel density of a million samples costs seconds and looks the same.
VIOLIN_POINTS = 2000
# A latency panel is drawn on a log scale when its 99th percentile is this many times its 1st.
LOG_SPAN = 20


# ------------------------------------------------------------------ confusion matrix


def confusion(row: dict, note: str = "") -> Drawn:
    """One trial's confusion matrix (`queries.confusion_rows` row): each row coloured by the share
    of its true class (the diagonal is that class's recall), counts in the cells, recall per
    class on the right; a class with no sample has a blank row and recall "–", not 0."""
    counts = [list(map(int, r)) for r in row["confusion"]]
    classes = len(counts)
    n = sum(map(sum, counts))
    notes = [note] if note else []
    if known(row.get("accuracy_n")) and int(row["accuracy_n"]) != n:
        notes.append("the counts sum to %d, the accuracy's n is %d" % (n, int(row["accuracy_n"])))
    title = "Confusion matrix: %s on %s\n%s, %s, batch %s; n = %d, top-1 %s" % (
        row["model"],
        row["device"],
        row["backend"],
        row.get("precision") or "precision unknown",
        row["batch"],
        n,
        "%.1f%%" % (100 * row["accuracy"]) if known(row.get("accuracy")) else "\u2013",
    )
    size = min(4.5 + 0.42 * classes, 16)
    drawn = Drawn(
        new_figure(size + 1.8, size), title, notes, bool(row.get("simulated")), bool(row.get("emulated"))
    )
    ax = drawn.fig.add_subplot(1, 1, 1)
    shares = _row_shares(counts)
    image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    drawn.fig.colorbar(
        image, ax=ax, fraction=0.04, pad=0.14, label="share of the true class (diagonal: recall)"
    )
    if classes <= CONFUSION_TEXT_CLASSES:
        _count_texts(ax, counts, shares)
    _recall_column(ax, counts)
    ticks = range(classes) if classes <= 40 else range(0, classes, max(1, classes // 20))
    ax.set_xticks(list(ticks))
    ax.set_yticks(list(ticks))
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    notes.append(
        "trial %s (sweep %s): predictions made on the device, after timing"
        % (row["trial_id"], row["sweep_id"])
    )
    drawn.name = "confusion-%s-%s-%s-%s-b%s" % (
        row["model"],
        row["device"],
        row["backend"],
        row.get("precision"),
        row["batch"],
    )
    return finish(drawn)


def _row_shares(counts: List[List[int]]):
    """Each count over its row's total; a row with no sample is NaN (drawn blank)."""
    import numpy

    matrix = numpy.array(counts, dtype=float)
    totals = matrix.sum(axis=1, keepdims=True)
    with numpy.errstate(invalid="ignore", divide="ignore"):
        return numpy.where(totals > 0, matrix / numpy.where(totals > 0, totals, 1), numpy.nan)


def _count_texts(ax, counts, shares) -> None:
    for i, row in enumerate(counts):
        for j, count in enumerate(row):
            if count:
                dark = shares[i][j] > 0.6
                ax.text(
                    j,
                    i,
                    str(count),
                    ha="center",
                    va="center",
                    fontsize="small",
                    color="white" if dark else "black",
                )


def _recall_column(ax, counts) -> None:
    """Each class's recall right of the matrix (axes x, data y), headed "recall"."""
    transform = ax.get_yaxis_transform()
    ax.text(
        1.02, -0.5, "recall", transform=transform, ha="left", va="bottom", fontsize="small", weight="bold"
    )
    for i, row in enumerate(counts):
        total = sum(row)
        text = "%.0f%%" % (100.0 * row[i] / total) if total else "\u2013"
        ax.text(1.02, i, text, transform=transform, ha="left", va="center", fontsize="small")


# ------------------------------------------------------------------ latency distribution


def latency(rows: pd.DataFrame, samples: dict) -> Drawn:
    """A violin per cell (median marked, extremes as whiskers) from its runs' raw samples, one
    panel per device. `samples`: {trial id: array of ms} (`store.samples.trial_samples`)."""
    notes: List[str] = []
    rows = rows.assign(samples=[_cell_samples(ids, samples) for ids in rows["trial_ids"]])
    missing = rows[rows["samples"].map(lambda s: s is None)]
    if len(missing) == len(rows):
        raise NothingToDraw(
            "nothing to draw: no raw latency samples stored for these cells (a store from before "
            "raw samples were kept, or the null backend, which keeps none)"
        )
    if len(missing):
        notes.append("left out, no raw samples stored: %s" % ", ".join(labels(missing, with_device=True)))
    rows = rows[rows["samples"].map(lambda s: s is not None)].reset_index(drop=True)
    devices = sorted(set(rows["device"]))
    widest = max(len(name) for name in labels(rows))
    width = max(7.0, 2.0 + max(1.1, 0.07 * widest) * rows.groupby("device").size().max())
    drawn = Drawn(
        new_figure(width, 3.8 * len(devices) + 1.0), "Latency distribution per device and model", notes
    )
    drawn.simulated = bool(rows["simulated"].astype(bool).any())
    drawn.emulated = bool(rows["emulated"].astype(bool).any())
    drawn.panels = []
    for k, device in enumerate(devices):
        ax = drawn.fig.add_subplot(len(devices), 1, k + 1)
        own = rows[rows["device"] == device].reset_index(drop=True)
        _violins(ax, own, device)
        drawn.panels.append(
            (ax, bool(own["simulated"].astype(bool).any()), bool(own["emulated"].astype(bool).any()))
        )
    notes.append("violins: density of the raw per-call latencies of every run of the cell; bar: median")
    return finish(drawn)


def _cell_samples(trial_ids, samples: dict):
    import numpy

    found = [samples[t] for t in trial_ids if t in samples and len(samples[t])]
    return numpy.concatenate(found).astype(float) if found else None


def _violins(ax, rows: pd.DataFrame, device: str) -> None:
    """On a log scale when the latencies span more than LOG_SPAN (a tail, or models far apart):
    then each violin's density is of log10(ms), so its shape is not squashed by the scale."""
    import numpy

    everything = numpy.concatenate(list(rows["samples"]))
    low, high = numpy.percentile(everything, [1, 99])
    log = low > 0 and high / low > LOG_SPAN
    shapes = [numpy.log10(_shape_of(s)) if log else _shape_of(s) for s in rows["samples"]]
    positions = list(range(1, len(rows) + 1))
    parts = ax.violinplot(shapes, positions=positions, showmedians=True, showextrema=False, widths=0.8)
    for body in parts["bodies"]:
        body.set_alpha(0.45)
    ticks = [
        "%s\nn=%s, %d run%s" % (name, format(len(s), ","), len(ids), "" if len(ids) == 1 else "s")
        for name, s, ids in zip(labels(rows), rows["samples"], rows["trial_ids"])
    ]
    ax.set_xticks(positions)
    ax.set_xticklabels(ticks, fontsize="small")
    if log:
        _log_ticks(ax, min(float(numpy.min(s)) for s in shapes), max(float(numpy.max(s)) for s in shapes))
    ax.set_ylabel("latency per call (ms%s)" % (", log scale" if log else ""))
    tag = item_tags(rows["simulated"].astype(bool).any(), rows["emulated"].astype(bool).any())
    ax.set_title(device + tag, fontsize="medium")
    ax.grid(True, axis="y", alpha=0.3)


def _log_ticks(ax, low: float, high: float) -> None:
    """Ticks at 1, 2, 5 x 10^k ms on an axis whose values are log10(ms)."""
    import math

    steps = [m * 10.0**k for k in range(math.floor(low) - 1, math.ceil(high) + 1) for m in (1, 2, 5)]
    shown = [v for v in steps if low - 0.05 <= math.log10(v) <= high + 0.05]
    ax.set_yticks([math.log10(v) for v in shown])
    ax.set_yticklabels(["%g" % v for v in shown])


def _shape_of(values):
    """The samples themselves, or VIOLIN_POINTS of their quantiles when there are more (the
    extremes kept)."""
    import numpy

    if len(values) <= VIOLIN_POINTS:
        return values
    return numpy.quantile(values, numpy.linspace(0.0, 1.0, VIOLIN_POINTS))


# ------------------------------------------------------------------ power over time


def power(store, rows: pd.DataFrame, trial_id: Optional[str] = None) -> Drawn:
    """Power over time of `trial_id`, else of the latest ok trial (of `rows`) with power."""
    if trial_id is None:
        with_power = rows[pd.to_numeric(rows["power_samples"], errors="coerce").fillna(0) > 0]
        if with_power.empty:
            raise NothingToDraw(
                "nothing to draw: no trial recorded power samples "
                "(no power sensor on the devices; see edgebench probe)"
            )
        trial_id = str(with_power.iloc[-1]["trial_id"])
    series = trial_telemetry(store, trial_id)
    title = "Power over time: trial %s on %s" % (trial_id, series["device"])
    fig = power_figure(
        list(series["power"]),
        window=tuple(series["window"]) if series["window"] else None,
        idle_mw=series["idle_power_mw"],
        title=title,
        sensor=series["sensor"] or "",
        simulated=bool(series["simulated"]),
        doubts=doubts_of(series),
    )
    return Drawn(fig, title, [], simulated=bool(series["simulated"]))
