"""The scenarios on the host: options checked before anything is stored, the scenario as a
dimension of the plan (its own cells, its own key, sent in the job), and the scenario table
(Tables 2 and 3 keep single-stream cells only)."""

from pathlib import Path

import pytest

from edgebench.agent.protocol import make_record
from edgebench.orchestrator.errors import UserError
from edgebench.orchestrator.inventory import Device
from edgebench.orchestrator.modelinfo import inspect_model
from edgebench.orchestrator.report import tables as t
from edgebench.orchestrator.report.scenarios import scenario_table
from edgebench.orchestrator.scenario_options import scenario_settings
from edgebench.orchestrator.store import Store, results_frame
from edgebench.orchestrator.sweep.plan import Cell, Settings, make_job, plan

MODELS = Path(__file__).resolve().parent.parent / "models" / "examples"
MODEL = inspect_model(MODELS / "dws_cnn.onnx")
LOCAL = Device(name="local", connection="local")


def measure(**given) -> dict:
    """The scenario part of `run`/`sweep`'s options, as the command line gives them."""
    chosen = {
        "scenario": "single-stream",
        "fps": None,
        "on_overrun": "drop",
        "qps": None,
        "latency_target_ms": None,
        "batching": "fixed",
        "max_batch": None,
        "max_queue_delay_ms": None,
        "find_max_qps": False,
    }
    chosen.update(given)
    return chosen


@pytest.mark.parametrize(
    "given, message",
    [
        ({"scenario": "stream"}, "--scenario stream needs --fps"),
        ({"scenario": "server", "qps": 10.0}, "--scenario server needs --latency-target-ms"),
        ({"scenario": "server", "latency_target_ms": 20.0}, "--scenario server needs --qps"),
        ({"scenario": "video"}, "--scenario: 'video' is not one of single-stream, offline, stream, server"),
        ({"scenario": "stream", "fps": -15.0}, "--fps: give a positive number, got -15.0"),
        ({"batching": "random"}, "--batching: 'random' is not one of fixed, timeout, aimd, latency-aware"),
        (
            {"scenario": "server", "qps": 5.0, "latency_target_ms": 9.0, "max_batch": 2},
            "--max-batch 2 is below",
        ),
    ],
)
def test_a_scenario_without_what_it_needs_is_refused_in_one_line(given, message):
    with pytest.raises(UserError) as caught:
        scenario_settings(measure(**given), [4])
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_scenarios_are_a_dimension_of_the_plan_with_their_own_key_and_job():
    names, chosen = scenario_settings(measure(scenario="single-stream,stream", fps=15.0), [1])
    assert names == ("single-stream", "stream")
    assert chosen == {"fps": 15.0, "on_overrun": "drop", "batching": "fixed", "find_max_qps": False}
    cells = plan([LOCAL], [MODEL], ["onnxruntime"], [1], scenarios=names)
    assert sorted(c.scenario for c in cells) == ["single-stream", "stream"]
    assert len({c.key for c in cells}) == 2
    settings = Settings(scenario_options=chosen)
    jobs = {c.scenario: make_job("t", c, "/w/m.onnx", settings) for c in cells}
    assert jobs["stream"]["scenario"] == "stream" and jobs["stream"]["fps"] == 15.0
    assert "scenario" not in jobs["single-stream"] and "fps" not in jobs["single-stream"]  # as it always was
    mixed = Settings(scenario_options={"fps": 15.0, "qps": 40.0, "latency_target_ms": 50.0, "max_batch": 4})
    stream_job = make_job("t", Cell(LOCAL, MODEL, "onnxruntime", 1, scenario="stream"), "/m", mixed)
    server_job = make_job("t", Cell(LOCAL, MODEL, "onnxruntime", 1, scenario="server"), "/m", mixed)
    assert "latency_target_ms" not in stream_job and "qps" not in stream_job  # its own options only
    assert (server_job["qps"], server_job["max_batch"]) == (40.0, 4) and "fps" not in server_job
    assert Settings.from_dict(settings.as_dict()).scenario_options == chosen  # resume keeps them


def stored(store, scenario, sweep_id=None, run=1, **metrics) -> str:
    store.upsert_device(LOCAL)
    store.upsert_model(MODEL)
    sweep_id = sweep_id or store.create_sweep({})
    trial_id = store.create_trial(
        sweep_id, Cell(LOCAL, MODEL, "onnxruntime", 1, run=run, scenario=scenario), {}
    )
    sent = dict(
        {"iterations": 50, "latency_p50_ms": 2.0, "latency_p99_ms": 3.0, "throughput_ips": 400.0}, **metrics
    )
    for record in (
        make_record("trial_start", trial_id=trial_id, agent_version="9"),
        make_record("result", trial_id=trial_id, metrics=sent, env={}),
        make_record("trial_end", trial_id=trial_id, status="ok"),
    ):
        store.ingest(record)
    return sweep_id


def test_results_carry_the_scenario_and_its_figures_and_tables_keep_them_apart(tmp_path):
    store = Store("sqlite:///%s" % (tmp_path / "r.db"))
    sweep_id = stored(store, "single-stream")
    stream = dict(scenario_setting="15 fps, drop on overrun", stream_passed=False, frames_dropped=3)
    stored(store, "stream", sweep_id, deadline_miss_rate=0.02, sustained_fps=14.7, **stream)
    stored(store, "stream", sweep_id, run=2, deadline_miss_rate=0.04, sustained_fps=14.5, **stream)
    frame = results_frame(store)
    store.close()
    by_scenario = {s: rows for s, rows in frame.groupby("scenario")}
    assert set(by_scenario) == {"single-stream", "stream"}
    assert sorted(by_scenario["stream"]["deadline_miss_rate"]) == [0.02, 0.04]
    assert by_scenario["single-stream"]["deadline_miss_rate"].isna().all()  # no such figure: null
    model_md = t.render(t.model_table(frame), "markdown")
    assert model_md.count("| dws_cnn") == 1  # Table 3: the single-stream cell only
    table = scenario_table(frame)
    assert list(table["Scenario"]) == ["stream"] and list(table["Runs"]) == ["2"]
    row = table.iloc[0]
    assert (row["Setting"], row["Miss rate (%)"], row["Sustained fps"], row["Verdict"]) == (
        "15 fps, drop on overrun",
        "3.0",  # the median of 2% and 4%
        "14.6",
        "FAIL",
    )
    assert "Goodput (q/s)" not in table.columns  # no server here: no empty column
    assert "| stream" in t.render(table, "markdown", caption="Scenarios")


def test_a_store_from_before_scenarios_reads_as_single_stream(tmp_path):
    store = Store("sqlite:///%s" % (tmp_path / "r.db"))
    stored(store, "single-stream")
    with store.writing() as s:
        s.execute(__import__("sqlalchemy").text("UPDATE trials SET scenario = NULL"))
    frame = results_frame(store)
    store.close()
    assert list(frame["scenario"]) == ["single-stream"] and scenario_table(frame).empty
