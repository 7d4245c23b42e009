"""Tests for edgebench.orchestrator.report.plots (`edgebench plot power`)."""

import math

import pytest

pytest.importorskip("matplotlib")

from edgebench.orchestrator.errors import UserError  # noqa: E402
from edgebench.orchestrator.report import plots  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def profile(start=1000.0, rate_hz=10, seconds=12):
    """Idle ~1.2 W, a timed window from +3 s to +9 s at ~4.5 W, idle again."""
    samples = []
    for i in range(int(seconds * rate_hz)):
        t = start + i / rate_hz
        busy = 3 <= t - start < 9
        mw = (4500 if busy else 1200) + 80 * math.sin(i / 3.0)
        samples.append((t, mw))
    return samples


def texts(fig):
    found = [t.get_text() for t in fig.texts]
    for ax in fig.axes:
        found += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
        found += [t.get_text() for t in ax.texts]
        legend = ax.get_legend()
        if legend is not None:
            found += [t.get_text() for t in legend.get_texts()]
    return found


def test_writes_png(tmp_path):
    out = tmp_path / "power.png"
    result = plots.plot_power(
        profile(),
        out,
        window=(1003.0, 1009.0),
        idle_mw=1200,
        title="trial 7: mobilenet_v2 on jetson_nano",
        sensor="POM_5V_IN",
    )
    assert result == out
    data = out.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) > 10_000
    assert [p.name for p in tmp_path.iterdir()] == ["power.png"]  # no temp file left


def test_figure_labels_window_and_baseline():
    fig = plots.power_figure(
        profile(), window=(1003.0, 1009.0), idle_mw=1200, title="trial 7", sensor="POM_5V_IN"
    )
    found = texts(fig)
    assert "time (s)" in found and "power (mW)" in found
    assert any("POM_5V_IN" in t for t in found)
    assert any("timed window" in t for t in found)
    assert any("idle baseline (1200 mW)" in t for t in found)
    assert not any(plots.SIMULATED_LABEL in t for t in found)
    ax = fig.axes[0]
    line = [ln for ln in ax.get_lines() if len(ln.get_xdata()) > 2][0]
    assert line.get_xdata()[0] == 0.0  # relative to the first sample
    span = ax.patches[0]  # the shaded window, on the same relative axis
    if hasattr(span, "get_width"):  # a Rectangle (matplotlib >= 3.9)
        xs = [span.get_x(), span.get_x() + span.get_width()]
    else:  # a Polygon (older matplotlib)
        xs = sorted({float(x) for x, _ in span.get_xy()})
    assert xs == pytest.approx([3.0, 9.0])


def test_simulated_is_marked(tmp_path):
    fig = plots.power_figure(profile(), simulated=True, title="trial 8")
    found = texts(fig)
    assert "trial 8 [SIMULATED DATA]" in found
    assert sum(plots.SIMULATED_LABEL in t for t in found) >= 2  # title and on the plot
    real, sim = tmp_path / "real.png", tmp_path / "sim.png"
    plots.plot_power(profile(), real)
    plots.plot_power(profile(), sim, simulated=True)
    assert real.read_bytes() != sim.read_bytes()


def test_empty_samples_is_a_user_error(tmp_path):
    out = tmp_path / "p.png"
    for samples in ([], None, [(0.0, None), (1.0, float("nan"))]):
        with pytest.raises(UserError, match="no power samples"):
            plots.plot_power(samples, out)
    assert not out.exists()


def test_missing_folder_and_bad_suffix(tmp_path):
    with pytest.raises(UserError) as info:
        plots.plot_power(profile(), tmp_path / "missing" / "p.png")
    assert "missing" in str(info.value)
    with pytest.raises(UserError):
        plots.plot_power(profile(), tmp_path / "p.txt")


def test_replaces_existing_file_and_svg(tmp_path):
    out = tmp_path / "p.png"
    out.write_bytes(b"old")
    plots.plot_power(profile(), out)
    assert out.read_bytes().startswith(PNG_SIGNATURE)
    svg = plots.plot_power(profile(), tmp_path / "p.svg", simulated=True)
    assert b"<svg" in svg.read_bytes()[:2000]


def test_unsorted_samples_and_single_sample(tmp_path):
    samples = list(reversed(profile(seconds=2)))
    fig = plots.power_figure(samples)
    xs = list(fig.axes[0].get_lines()[0].get_xdata())
    assert xs == sorted(xs) and xs[0] == 0.0
    out = plots.plot_power([(5.0, 2000.0)], tmp_path / "one.png", idle_mw=1500)
    assert out.read_bytes().startswith(PNG_SIGNATURE)


def test_doubts_are_named_in_the_title_and_explained():
    series = {
        "energy_reliable": False,
        "power_samples": 6,
        "power_max_gap_ms": 171.0,
        "power_coverage": 0.62,
        "throttled": True,
        "throttle_reason": "get_throttled 0x50000 -> 0x50005",
    }
    doubts = plots.doubts_of(series)
    assert [label for label, _ in doubts] == ["energy unreliable", "throttled"]
    fig = plots.power_figure(profile(), title="trial 9", doubts=doubts)
    found = texts(fig)
    assert "trial 9 [ENERGY UNRELIABLE] [THROTTLED]" in found
    assert "energy unreliable: 6 samples, largest gap 171 ms, coverage 62%" in found
    assert "throttled: get_throttled 0x50000 -> 0x50005" in found


def test_no_doubt_no_mark():
    for series in (
        {},
        {"energy_reliable": True, "throttled": False},
        {"energy_reliable": None, "throttled": None},
    ):
        assert plots.doubts_of(series) == []
    assert "trial 9" in texts(plots.power_figure(profile(), title="trial 9"))
