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


def test_the_latest_sweep_with_an_ok_run_of_a_cell_wins():
    df = frame(
        trial(trial_id=1, latency_p50_ms=20.0, finished_at="2024-05-01T10:00:00Z"),
        trial(trial_id=2, sweep_id="s2", latency_p50_ms=10.0, finished_at="2024-05-02T10:00:00Z"),
        trial(trial_id=3, latency_p50_ms=99.0, status="failed", finished_at="2024-05-03T10:00:00Z"),
        trial(trial_id=4, device="rpi4", finished_at="2024-05-01T09:00:00Z"),
    )
    latest = t.cell_rows(df)
    assert sorted(zip(latest["device"], latest["sweep_id"])) == [("jetson_nano", "s2"), ("rpi4", "s1")]
    table = t.device_table(df)
    assert list(table["Device"]) == ["jetson_nano", "rpi4"]
    assert table.loc[0, "Latency (ms)"] == pytest.approx(10.0)  # the latest sweep of the cell


def test_a_cells_runs_in_its_latest_sweep_give_the_median_of_their_medians():
    df = frame(
        trial(trial_id=1, sweep_id="old", latency_p50_ms=50.0, finished_at="2024-05-01T10:00:00Z"),
        trial(trial_id=2, sweep_id="old", latency_p50_ms=51.0, finished_at="2024-05-01T10:01:00Z"),
        trial(trial_id=3, run=1, latency_p50_ms=10.0, power_mw=4000.0, finished_at="2024-05-02T10:00:00Z"),
        trial(trial_id=4, run=2, latency_p50_ms=12.5, power_mw=4200.0, finished_at="2024-05-02T10:01:00Z"),
        trial(trial_id=5, run=3, latency_p50_ms=11.0, power_mw=4100.0, finished_at="2024-05-02T10:02:00Z"),
        trial(trial_id=6, run=4, status="failed", latency_p50_ms=None, finished_at="2024-05-03T10:00:00Z"),
    )
    table = t.device_table(df)
    assert len(table) == 1 and table.loc[0, "Latency (ms)"] == pytest.approx(11.0)
    assert table.loc[0, "Power (mW)"] == pytest.approx(4100.0)
    cells = md_cells(t.render(table, "markdown"), 0)
    # mean 11.17, s 1.258, t(2 df) 4.303: [8.04, 14.29], 3.29 above the median 11.0; the runs
    # spread 1.258/11 = 11.4%, above 10% of their median: unstable (†), the reason under the table
    assert cells[2] == "11.0 ± 3.3 (3 runs)†" and cells[3] == "4100 ± 248 (3 runs)"
    notes = t.render(table, "markdown").split("\n\n")[1:]
    assert any(
        n.startswith("Latency ±: 95% t interval over the runs' medians") and "3 runs per cell" in n
        for n in notes
    )
    assert any(n.startswith("† Latency unstable") and "jetson_nano: runs disagree: " in n for n in notes)


def md_cells(markdown: str, row: int) -> list:
    return [c.strip() for c in markdown.splitlines()[2 + row].strip("|").split("|")]


def test_csv_table_has_runs_and_the_latency_interval_per_call():
    df = frame(
        trial(trial_id=1, run=1, batch=4, latency_p50_ms=40.0),
        trial(trial_id=2, run=2, batch=4, latency_p50_ms=40.4),
        trial(trial_id=3, run=3, batch=4, latency_p50_ms=40.2),
        trial(trial_id=4, device="rpi4", latency_p50_ms=12.34),
    )
    parsed = pd.read_csv(io.StringIO(t.render(t.device_table(df), "csv")), comment="#").set_index("Device")
    assert list(parsed.columns[-3:]) == ["Runs", "Latency CI95 low (ms)", "Latency CI95 high (ms)"]
    nano = parsed.loc["jetson_nano"]
    assert (nano["Runs"], nano["Latency (ms/call)"], nano["Latency (ms/sample)"]) == (3, 40.2, 10.1)
    assert (nano["Latency CI95 low (ms)"], nano["Latency CI95 high (ms)"]) == (39.7, 40.7)  # 40.2 ± 0.497
    assert parsed.loc["rpi4", "Runs"] == 1 and pd.isna(parsed.loc["rpi4", "Latency CI95 low (ms)"])
    md = t.render(t.device_table(df), "markdown")
    assert md_cells(md, 0)[3:5] == ["40.2 ± 0.5 (3 runs)", "10.1 ± 0.1 (3 runs)"]
    assert md_cells(md, 1)[3:5] == ["12.3 (1 run)", "12.3 (1 run)"]


def test_latest_sweep_with_mixed_datetime_and_string_finish_times():
    df = frame(
        trial(trial_id=1, sweep_id="s2", finished_at=datetime(2024, 5, 2, tzinfo=timezone.utc)),
        trial(trial_id=2, sweep_id="s1", finished_at="2024-05-01T23:00:00+00:00"),
    )
    assert list(t.cell_rows(df)["sweep_id"]) == ["s2"]


def test_no_ok_rows_is_an_empty_table():
    df = frame(trial(status="failed"))
    assert t.cell_rows(df).empty
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
    assert csv.splitlines()[1] == "jetson_nano,90.1,12.3,,,,13.60,1,,"  # 1 run: no interval

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
    assert lines[1] == "a,90.1,0.412,1235,0.533,210.4,13.60,1,,"
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
