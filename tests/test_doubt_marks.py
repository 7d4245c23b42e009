"""Doubt reaches the reader: trials stored through the real ingest path (records validated as a
session does), then the results columns and the paper-style tables, as a user reads them."""

import io

import pandas as pd
import pytest

from edgebench.agent.protocol import make_record
from edgebench.orchestrator.inventory import Device
from edgebench.orchestrator.modelinfo import inspect_model
from edgebench.orchestrator.records import validate
from edgebench.orchestrator.report import tables as t
from edgebench.orchestrator.store import RESULT_COLUMNS, Store, results_frame
from edgebench.orchestrator.sweep import Cell

from .conftest import MODELS

MODEL = inspect_model(MODELS / "dws_cnn.onnx")

# What an agent sends for a clean trial, keys as in the agent's metric contract.
CLEAN = {
    "iterations": 100,
    "latency_p50_ms": 2.0,
    "latency_p99_ms": 2.5,
    "peak_rss_mb": 80.0,
    "model_size_mb": 2.1,
    "throughput_ips": 500.0,
    "unstable": False,
    "power_mw": 4200.0,
    "energy_mj": 8.4,
    "idle_power_mw": 1200.0,
    "energy_reliable": True,
    "power_samples": 200,
    "power_max_gap_ms": 55.0,
    "power_coverage": 0.99,
    "throttled": False,
    "throttle_reason": None,
    "accuracy": 0.978,
    "accuracy_samples": 1000,
    "conditions": {"cooldown": None, "clocks": None},
}
THROTTLE_REASON = "get_throttled 0x50000 -> 0x50005 during the window"

DOCUMENTED_COLUMNS = RESULT_COLUMNS + [
    "run",
    "latency_p50_per_sample_ms",
    "latency_min_ms",
    "latency_max_ms",
    "latency_p50_ci95_low_ms",
    "latency_p50_ci95_high_ms",
    "unstable",
    "idle_power_mw",
    "power_above_idle_mw",
    "energy_above_idle_mj",
    "energy_reliable",
    "power_samples",
    "power_max_gap_ms",
    "power_coverage",
    "throttled",
    "throttle_reason",
    "accuracy_ci95_low",
    "accuracy_ci95_high",
    "accuracy_n",
    "params",
    "simulated",
    "emulated",
    "error",
    "created_at",
    "finished_at",
    "runs",
    "latency_p50_runs_ms",
    "latency_p50_runs_ci95_low_ms",
    "latency_p50_runs_ci95_high_ms",
    "latency_p90_runs_ms",
    "latency_p90_runs_ci95_low_ms",
    "latency_p90_runs_ci95_high_ms",
    "latency_p99_runs_ms",
    "latency_p99_runs_ci95_low_ms",
    "latency_p99_runs_ci95_high_ms",
    "power_mw_runs",
    "power_mw_runs_ci95_low",
    "power_mw_runs_ci95_high",
    "energy_mj_runs",
    "energy_mj_runs_ci95_low",
    "energy_mj_runs_ci95_high",
    "accuracy_runs",
    "runs_spread",
    "runs_unstable",
    "unstable_reason",
    "busy",
    "busy_reason",
    "other_cpu_cores",
    "loadavg_before",
    "loadavg_after",
    "output_max_abs_error",
    "output_max_rel_error",
    "outputs_match",
    "output_check_note",
    "scenario",
    "scenario_setting",
    "deadline_miss_rate",
    "frames_dropped",
    "sustained_fps",
    "jitter_ms",
    "stream_passed",
    "qps_scheduled",
    "qps_completed",
    "goodput_qps",
    "latency_over_target",
    "queueing_p50_ms",
    "compute_p50_ms",
    "policy",
    "server_valid",
    "server_invalid_reason",
    "offline_batch",
    "max_qps",
    "frames_late",
    "sustained_fps_min",
]


def store_trial(store, device="nano01", batch=1, replace=None, sweep_id=None, run=1, runs=1, **metrics):
    """One ok trial through Store.ingest, in a sweep of its own unless `sweep_id` is given;
    `replace` swaps the whole metric dict (an old agent)."""
    dev = Device(name=device, connection="local")
    store.upsert_device(dev)
    store.upsert_model(MODEL)
    sweep_id = sweep_id or store.create_sweep({"quick": True})
    trial_id = store.create_trial(sweep_id, Cell(dev, MODEL, "onnxruntime", batch, run=run, runs=runs), {})
    sent = replace if replace is not None else dict(CLEAN, **metrics)
    for record in (
        make_record("trial_start", trial_id=trial_id, agent_version="9.9"),
        make_record("result", trial_id=trial_id, metrics=sent, env={}, samples_ms=[2.0] * 100),
        make_record("trial_end", trial_id=trial_id, status="ok", agent_s=1.0),
    ):
        store.ingest(validate(record))
    return trial_id


@pytest.fixture
def store(tmp_path):
    s = Store("sqlite:///%s" % (tmp_path / "r.db"))
    yield s
    s.close()


def cells_of(markdown: str, row: int) -> list:
    return [c.strip() for c in markdown.splitlines()[2 + row].strip("|").split("|")]


def header_of(markdown: str) -> list:
    return [c.strip() for c in markdown.splitlines()[0].strip("|").split("|")]


# ---------------------------------------------------------------- results columns


def test_results_csv_has_the_documented_columns_in_order(workspace):
    store = Store(workspace.db_url)
    store_trial(
        store,
        device="nano01",
        energy_reliable=False,
        power_samples=6,
        power_max_gap_ms=171.0,
        power_coverage=0.62,
        throttled=True,
        throttle_reason=THROTTLE_REASON,
        unstable=True,
    )
    store_trial(store, device="rpi4", batch=4, latency_p50_ms=8.0)
    store.close()
    text = workspace.edgebench("results", "--format", "csv", check=True).stdout
    frame = pd.read_csv(io.StringIO(text))
    assert list(frame.columns) == DOCUMENTED_COLUMNS
    doubtful, clean = frame.iloc[0], frame.iloc[1]
    assert (doubtful["energy_reliable"], doubtful["throttled"], doubtful["unstable"]) == (False, True, True)
    assert doubtful["throttle_reason"] == THROTTLE_REASON and doubtful["power_samples"] == 6
    assert doubtful["power_max_gap_ms"] == 171.0 and doubtful["power_coverage"] == 0.62
    assert doubtful["accuracy_n"] == 1000
    assert (round(doubtful["accuracy_ci95_low"], 4), round(doubtful["accuracy_ci95_high"], 4)) == (
        0.9669,
        0.9854,
    )
    assert clean["latency_p50_ms"] == 8.0 and clean["latency_p50_per_sample_ms"] == 2.0  # per call / batch 4
    assert clean["energy_reliable"] == True and clean["throttled"] == False  # noqa: E712
    assert (doubtful["run"], doubtful["runs"], doubtful["runs_unstable"]) == (1, 1, True)  # one shaky run
    assert doubtful["unstable_reason"] == "one run, its own spread is above 10% of its median"
    assert clean["latency_p50_runs_ms"] == 8.0 and pd.isna(clean["latency_p50_runs_ci95_low_ms"])


def store_three_runs(store, device="nano01", busy_run=None):
    """A cell measured in 3 runs of one sweep: medians 2.0, 2.2, 2.1 ms (mean 2.1, s 0.1)."""
    sweep_id = store.create_sweep({"repeats": 3})
    for run, p50 in ((1, 2.0), (2, 2.2), (3, 2.1)):
        busy = {"busy": run == busy_run, "other_cpu_cores": 1.8 if run == busy_run else 0.02}
        busy["busy_reason"] = "other processes used 1.80 CPU cores" if run == busy_run else None
        store_trial(store, device=device, sweep_id=sweep_id, run=run, runs=3, latency_p50_ms=p50, **busy)
    return sweep_id


# t(2 df) = 4.302653: 2.1 -+ 4.302653 * 0.1 / sqrt(3)
RUNS_LOW, RUNS_HIGH = 2.1 - 0.248414, 2.1 + 0.248414


def test_results_csv_carries_the_runs_and_their_interval(workspace):
    store = Store(workspace.db_url)
    store_three_runs(store)
    store.close()
    text = workspace.edgebench("results", "--format", "csv", check=True).stdout
    frame = pd.read_csv(io.StringIO(text))
    assert sorted(frame["run"]) == [1, 2, 3] and list(frame["runs"]) == [3, 3, 3]
    assert sorted(frame["latency_p50_ms"]) == [2.0, 2.1, 2.2]  # each run's own median stays
    for _, row in frame.iterrows():
        assert row["latency_p50_runs_ms"] == pytest.approx(2.1)
        assert row["latency_p50_runs_ci95_low_ms"] == pytest.approx(RUNS_LOW, abs=1e-6)
        assert row["latency_p50_runs_ci95_high_ms"] == pytest.approx(RUNS_HIGH, abs=1e-6)
        assert row["runs_spread"] == pytest.approx(0.1 / 2.1) and row["runs_unstable"] == False  # noqa: E712
    table = workspace.edgebench("results", check=True).stdout
    assert "1/3" in table and "2/3" in table and "3/3" in table


def test_a_busy_run_flags_its_cell_in_results_and_tables(store):
    store_three_runs(store, device="nano01", busy_run=2)
    frame = results_frame(store)
    assert list(frame["runs_unstable"]) == [True] * 3
    assert frame["unstable_reason"].iloc[0] == "run 2: device busy (other processes used 1.80 CPU cores)"
    busy = frame[frame["run"] == 2].iloc[0]
    assert busy["busy"] == True and busy["other_cpu_cores"] == 1.8  # noqa: E712
    md = t.render(t.device_table(frame), "markdown")
    assert cells_of(md, 0)[header_of(md).index("Latency (ms)")] == "2.10 ± 0.25†"
    assert "nano01: run 2: device busy (other processes used 1.80 CPU cores)" in md


def test_a_three_run_cell_shows_its_interval_and_the_csv_table_its_columns(store):
    store_three_runs(store)
    table = t.device_table(results_frame(store))
    md = t.render(table, "markdown")
    assert cells_of(md, 0)[header_of(md).index("Latency (ms)")] == "2.10 ± 0.25"
    assert "Latency ±: 95% t interval over the runs' medians (between-run spread), 3 runs per cell" in md
    assert "†" not in md  # spread 4.8% of the median: under the 10% threshold
    parsed = pd.read_csv(io.StringIO(t.render(table, "csv")), comment="#")
    row = parsed.iloc[0]
    assert (row["Runs"], row["Latency (ms)"]) == (3, 2.1)
    assert (row["Latency CI95 low (ms)"], row["Latency CI95 high (ms)"]) == (1.85, 2.35)


def test_a_trial_from_an_older_agent_has_null_in_the_new_columns(store):
    store_trial(store, replace={"iterations": 50, "latency_p50_ms": 1.5, "accuracy": 0.9, "throttled": None})
    row = results_frame(store).iloc[0]
    for column in (
        "energy_reliable",
        "power_samples",
        "power_max_gap_ms",
        "power_coverage",
        "throttle_reason",
        "accuracy_ci95_low",
        "accuracy_ci95_high",
        "accuracy_n",
        "throttled",
    ):
        assert row[column] is None or pd.isna(row[column]), column
    assert row["latency_p50_per_sample_ms"] == 1.5
    assert "±" not in t.render(t.device_table(results_frame(store)), "markdown")  # n unknown: no interval


def test_outputs_that_differ_from_the_host_mark_the_row_and_say_so_in_results(store, workspace, tmp_path):
    store_trial(store, device="a_clean", outputs_match=True, output_max_abs_error=1e-7)
    store_trial(
        store,
        device="b_wrong",
        outputs_match=False,
        output_max_abs_error=0.5,
        output_check_note="outputs differ beyond atol 0.0001, rtol 0.001",
    )
    frame = results_frame(store)
    assert list(frame["outputs_match"]) == [True, False]
    md = t.render(t.device_table(frame), "markdown")
    assert cells_of(md, 0)[0] == "a_clean" and cells_of(md, 1)[0] == "b_wrong¶"
    assert any(n.startswith("¶ Outputs differ: the outputs for the seeded input") for n in md.split("\n\n"))
    assert r"b\_wrong\textsuperscript{\P}" in t.render(t.device_table(frame), "latex")
    store.close()
    db = "sqlite:///%s" % (tmp_path / "r.db")
    details = workspace.edgebench(
        "results", "--db", db, "--trial", frame["trial_id"].iloc[1], check=True
    ).stdout
    assert (
        "outputs vs ONNX Runtime fp32 on the host: DIFFER; max abs error 0.5, max error relative to the "
        "output's scale –"
    ) in details


# ---------------------------------------------------------------- tables


@pytest.fixture
def doubtful_frame(store):
    store_trial(store, device="a_clean")
    store_trial(store, device="b_throttled", throttled=True, throttle_reason=THROTTLE_REASON)
    store_trial(store, device="c_energy", energy_reliable=False, power_samples=6, power_max_gap_ms=171.0)
    store_trial(store, device="d_unstable", unstable=True)
    return results_frame(store)


def test_device_table_marks_each_doubt_with_a_footnote(doubtful_frame):
    md = t.render(t.device_table(doubtful_frame), "markdown")
    header = header_of(md)
    col = {name: header.index(name) for name in header}
    clean, throttled, energy, unstable = (cells_of(md, i) for i in range(4))

    assert clean[0] == "a_clean" and not any(m in "".join(clean) for m in "†‡§")
    assert throttled[0] == "b_throttled§"  # the lead cell stands for the whole row
    assert energy[col["Power (mW)"]] == "4200‡" and energy[col["Energy (mJ/inf)"]] == "8.40‡"
    assert energy[col["Latency (ms)"]] == "2.00"
    assert unstable[col["Latency (ms)"]] == "2.00†" and unstable[col["Power (mW)"]] == "4200"

    notes = md.split("\n\n")[1:]
    assert any(n.startswith("§ Throttled") and "b_throttled: " + THROTTLE_REASON in n for n in notes)
    assert any(n.startswith("‡ Energy unreliable") for n in notes)
    assert any(
        n.startswith("† Latency unstable")
        and "d_unstable: one run, its own spread is above 10% of its median" in n
        for n in notes
    )
    assert not any(n.startswith("Latency ±") for n in notes)  # one run per cell: no interval
    assert "Latency: the median of one run per cell; one run gives no between-run interval." in notes


def test_accuracy_cell_shows_its_wilson_interval(doubtful_frame):
    md = t.render(t.device_table(doubtful_frame), "markdown")
    col = header_of(md).index("Accuracy (%)")
    # 978 of 1000: [96.69, 98.54] -> the larger half-width is 97.8 - 96.69 = 1.1 points
    assert cells_of(md, 0)[col] == "97.8 ± 1.1"
    assert "larger half-width of its 95% Wilson interval" in md


def test_every_format_marks_and_explains(doubtful_frame):
    table = t.device_table(doubtful_frame)
    latex = t.render(table, "latex")
    assert r"b\_throttled\textsuperscript{\S}" in latex and r"4200\textsuperscript{\ddag}" in latex
    assert r"97.8 $\pm$ 1.1" in latex and r"\textsuperscript{\S} Throttled" in latex
    html = t.render(table, "html")
    assert "<td>b_throttled§</td>" in html and '<td class="num">4200‡</td>' in html
    assert '<td class="num">2.00†</td>' in html
    assert '<p class="note">§ Throttled' in html
    assert "§" in t.render(t.model_table(doubtful_frame), "markdown")


def test_csv_table_keeps_numbers_plain_and_adds_flag_columns(doubtful_frame):
    text = t.render(t.device_table(doubtful_frame), "csv")
    assert not any(mark in line for line in text.splitlines() if not line.startswith("#") for mark in "†‡§±")
    parsed = pd.read_csv(io.StringIO(text), comment="#")
    assert list(parsed.columns[-9:]) == [
        "Runs",
        "Latency CI95 low (ms)",
        "Latency CI95 high (ms)",
        "Accuracy CI95 low (%)",
        "Accuracy CI95 high (%)",
        "Accuracy n",
        "Latency unstable",
        "Energy unreliable",
        "Throttled",
    ]
    by_device = parsed.set_index("Device")
    assert by_device.loc["b_throttled", "Throttled"] == True  # noqa: E712
    assert by_device.loc["c_energy", "Energy unreliable"] == True  # noqa: E712
    assert by_device.loc["c_energy", "Power (mW)"] == 4200
    assert by_device.loc["a_clean", "Accuracy CI95 low (%)"] == 96.7
    assert by_device.loc["a_clean", "Accuracy n"] == 1000
    assert "# Throttled = true:" in text


def test_latency_says_per_call_and_per_sample_when_a_batch_is_above_1(store):
    store_trial(store, device="nano01", batch=1, latency_p50_ms=2.0)
    store_trial(store, device="nano01", batch=8, latency_p50_ms=10.0)
    md = t.render(t.model_table(results_frame(store)), "markdown")
    header = header_of(md)
    assert "Latency (ms)" not in header
    call, sample = header.index("Latency (ms/call)"), header.index("Latency (ms/sample)")
    batch8 = cells_of(md, 1)
    assert batch8[header.index("Batch")] == "8"
    assert (batch8[call], batch8[sample]) == ("10.0", "1.25")


def test_batch_1_everywhere_keeps_latency_ms(store):
    store_trial(store, device="nano01")
    header = header_of(t.render(t.device_table(results_frame(store)), "markdown"))
    assert "Latency (ms)" in header and "Latency (ms/call)" not in header


def test_a_long_reason_is_shortened_at_a_run_boundary_and_says_how_many_runs_it_left_out():
    from edgebench.orchestrator.report.doubt import clip_reason

    one = "run 1: device busy (other processes used 1.23 CPU cores during the timed window)"
    two = one.replace("run 1", "run 2")
    assert clip_reason(one + "; " + two, len(one) + 5) == one + "; and 1 more"
    assert clip_reason(one, 30) == "run 1: device busy (other\u2026"
    assert clip_reason(one, 200) == one
