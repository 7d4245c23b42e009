"""Tests for edgebench.orchestrator.report.tables."""

import io
from datetime import datetime, timezone

import pandas as pd
import pytest

from edgebench.orchestrator.report import tables as t


def trial(**overrides):
    """One trial row with sensible defaults."""
    row = dict(
        trial_id=1,
        sweep_id="s1",
        device="jetson_nano",
        model="mobilenet_v2",
        model_sha256="abc",
        backend="onnxruntime",
        precision="fp32",
        batch=1,
        status="ok",
        iterations=100,
        latency_p50_ms=12.34,
        latency_p90_ms=13.0,
        latency_p95_ms=13.5,
        latency_p99_ms=14.0,
        latency_mean_ms=12.5,
        latency_std_ms=0.4,
        throughput_ips=80.0,
        peak_rss_mb=210.44,
        model_size_mb=13.6,
        power_mw=4321.4,
        energy_mj=53.3,
        accuracy=0.901,
        params=3_504_872,
        finished_at="2024-05-01T10:00:00Z",
        simulated=False,
    )
    row.update(overrides)
    return row


def frame(*rows):
    return pd.DataFrame(list(rows))


# ---------------------------------------------------------------- selection


def test_latest_successful_trial_per_cell_wins():
    df = frame(
        trial(trial_id=1, latency_p50_ms=20.0, finished_at="2024-05-01T10:00:00Z"),
        trial(trial_id=2, latency_p50_ms=10.0, finished_at="2024-05-02T10:00:00Z"),
        trial(trial_id=3, latency_p50_ms=99.0, status="failed", finished_at="2024-05-03T10:00:00Z"),
        trial(trial_id=4, device="rpi4", finished_at="2024-05-01T09:00:00Z"),
    )
    latest = t.latest_successful(df)
    assert sorted(latest["trial_id"]) == [2, 4]
    table = t.device_table(df)
    assert list(table["Device"]) == ["jetson_nano", "rpi4"]
    assert table.loc[0, "Latency (ms)"] == pytest.approx(10.0)


def test_latest_successful_mixed_datetime_and_string():
    df = frame(
        trial(trial_id=1, finished_at=datetime(2024, 5, 2, tzinfo=timezone.utc)),
        trial(trial_id=2, finished_at="2024-05-01T23:00:00+00:00"),
    )
    assert list(t.latest_successful(df)["trial_id"]) == [1]


def test_latest_successful_no_ok_rows_is_empty():
    df = frame(trial(status="failed"))
    assert t.latest_successful(df).empty
    assert t.device_table(df).empty


# ---------------------------------------------------------------- device table


def test_device_table_paper_columns_and_accuracy_percent():
    table = t.device_table(frame(trial(), trial(device="rpi4")))
    assert list(table.columns) == [
        "Device",
        "Accuracy (%)",
        "Latency (ms)",
        "Power (mW)",
        "Energy (mJ/inf)",
        "Memory (MB)",
        "Model size (MB)",
    ]
    assert table.loc[0, "Accuracy (%)"] == pytest.approx(90.1)
    assert "| 90.1 |" in t.render(table, "markdown").replace("  ", "")


def test_identifying_columns_only_when_varying():
    df = frame(trial(), trial(device="rpi4"), trial(device="rpi4", precision="int8", batch=8))
    table = t.device_table(df)
    assert list(table.columns[:3]) == ["Device", "Precision", "Batch"]
    assert "Model" not in table.columns and "Backend" not in table.columns
    assert list(table["Batch"]) == [1, 1, 8]
    # Filtering to one model still hides Model.
    assert "Model" not in t.device_table(df, model="mobilenet_v2").columns

    two_models = frame(trial(), trial(model="resnet18"))
    assert list(t.device_table(two_models).columns[:2]) == ["Device", "Model"]
    assert list(t.device_table(two_models, model="resnet18")["Device"]) == ["jetson_nano"]


def test_device_table_sorted():
    df = frame(
        trial(device="rpi4"), trial(device="jetson_nano", batch=8), trial(device="jetson_nano", batch=1)
    )
    table = t.device_table(df)
    assert list(zip(table["Device"], table["Batch"])) == [("jetson_nano", 1), ("jetson_nano", 8), ("rpi4", 1)]


# ---------------------------------------------------------------- model table


def test_model_table_params_in_millions_and_columns():
    df = frame(trial(), trial(model="resnet18", params=11_689_512, accuracy=0.697))
    table = t.model_table(df)
    assert list(table.columns) == ["Model", "Accuracy (%)", "Latency (ms)", "Power (mW)", "Params (M)"]
    assert list(table["Model"]) == ["mobilenet_v2", "resnet18"]
    assert table.loc[0, "Params (M)"] == pytest.approx(3.504872)
    md = t.render(table, "markdown")
    assert "3.50" in md and "11.69" in md and "69.7" in md


def test_model_table_device_column_when_varying_and_filter():
    df = frame(trial(), trial(device="rpi4"))
    assert list(t.model_table(df).columns[:2]) == ["Model", "Device"]
    only = t.model_table(df, device="rpi4")
    assert "Device" not in only.columns and len(only) == 1


# ---------------------------------------------------------------- missing values


def test_missing_power_is_dash_in_markdown_and_empty_in_csv():
    table = t.device_table(frame(trial(power_mw=None, energy_mj=None, peak_rss_mb=float("nan"))))
    md = t.render(table, "markdown")
    row = md.splitlines()[2]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[3] == "\u2013" and cells[4] == "\u2013" and cells[5] == "\u2013"
    assert "0" not in cells[3:6] and "nan" not in [c.lower() for c in cells]

    csv = t.render(table, "csv")
    parsed = pd.read_csv(io.StringIO(csv))
    assert pd.isna(parsed.loc[0, "Power (mW)"]) and pd.isna(parsed.loc[0, "Memory (MB)"])
    assert csv.splitlines()[1] == "jetson_nano,90.1,12.3,,,,13.60"

    html = t.render(table, "html")
    assert "<td>\u2013</td>" in html


def test_number_formatting():
    df = frame(
        trial(
            device="a",
            latency_p50_ms=0.41234,
            power_mw=1234.6,
            energy_mj=0.53312,
            peak_rss_mb=210.44,
            model_size_mb=13.6,
        ),
        trial(device="b", latency_p50_ms=209.6),
        trial(device="c", latency_p50_ms=12.34),
    )
    lines = t.render(t.device_table(df), "csv").splitlines()
    assert lines[1] == "a,90.1,0.412,1235,0.533,210.4,13.60"
    assert lines[2].split(",")[2] == "210"
    assert lines[3].split(",")[2] == "12.3"


# ---------------------------------------------------------------- simulated


def test_simulated_marker_and_footnote():
    df = frame(trial(), trial(device="rpi4", simulated=True))
    table = t.device_table(df)
    assert list(table["Device"]) == ["jetson_nano", "rpi4 (simulated)"]
    for fmt in t.FORMATS:
        out = t.render(table, fmt)
        assert "not real measurements" in out.splitlines()[-1] or (
            fmt == "latex" and "not real measurements" in out.splitlines()[-2]
        )

    mt = t.model_table(df)
    assert list(mt["Model"]) == ["mobilenet_v2", "mobilenet_v2 (simulated)"]
    assert "not real measurements" in t.render(mt, "markdown").splitlines()[-1]


def test_no_footnote_without_simulated_rows():
    out = t.render(t.device_table(frame(trial())), "markdown")
    assert "simulated" not in out


# ---------------------------------------------------------------- latex / misc


def test_latex_booktabs_escaping_and_dash():
    df = frame(trial(power_mw=None), trial(device="rpi4", simulated=True))
    out = t.render(t.device_table(df), "latex", caption="Results for 50% of runs_x")
    for token in (
        r"\begin{table}",
        r"\toprule",
        r"\midrule",
        r"\bottomrule",
        r"\end{table}",
        r"Accuracy (\%)",
        r"jetson\_nano",
        r"\caption{Results for 50\% of runs\_x}",
    ):
        assert token in out
    assert " -- " in out and "\u2013" not in out
    assert "Accuracy (%)" not in out
    default = t.render(t.device_table(df), "latex")
    assert r"\caption{Edge device benchmarking metrics}" in default
    assert r"\caption{Model comparison}" in t.render(t.model_table(df), "latex")


def test_empty_table_renders_message():
    empty = t.device_table(frame(trial(status="failed")))
    for fmt in ("markdown", "latex", "html"):
        assert "no successful trials to report" in t.render(empty, fmt)
    assert t.render(empty, "csv").startswith("Device,")
    assert t.render(pd.DataFrame(), "markdown") == "no successful trials to report"
    assert t.render(t.model_table(pd.DataFrame()), "latex") == "no successful trials to report"


def test_unknown_format_raises():
    with pytest.raises(ValueError):
        t.render(t.device_table(frame(trial())), "pdf")
