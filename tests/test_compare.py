"""`edgebench compare A B`: the ratio of medians with a bootstrap interval over runs, flagged only
when the interval and the threshold both say so; the command on stores built here (no sweeps:
tests/test_compare_sweeps.py runs real ones)."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from edgebench.agent.protocol import make_record
from edgebench.orchestrator import cli
from edgebench.orchestrator.inventory import Device
from edgebench.orchestrator.modelinfo import inspect_model
from edgebench.orchestrator.report import compare
from edgebench.orchestrator.store import Store
from edgebench.orchestrator.store.schema import Trial
from edgebench.orchestrator.sweep import Cell

from .conftest import MODELS

BASE_MS = {"dws_cnn": 0.6, "baseline_cnn": 8.0}


def synthetic_runs(rng, runs=5, factor=1.0, median=0.64, between=0.08, within=0.1, samples=300):
    """Runs as this VM shows them: each run's median offset on its own (lognormal, `between`),
    its samples spread around that (`within`)."""
    return [
        median * factor * np.exp(rng.normal(0, between)) * np.exp(rng.normal(0, within, samples))
        for _ in range(runs)
    ]


# --- statistics --------------------------------------------------------------------------------


def test_a_20_percent_slower_cell_is_flagged_with_an_interval_around_1_2():
    rng = np.random.default_rng(1)
    a = synthetic_runs(rng, between=0.02)
    b = synthetic_runs(rng, factor=1.2, between=0.02)
    interval = compare.ratio_interval(a, b, seed=0)
    assert 1.0 < interval.low < 1.2 < interval.high < 1.4
    assert interval.ratio == pytest.approx(1.2, rel=0.05)
    assert compare.verdict(interval, 0.05) == compare.SLOWER
    assert compare.verdict(compare.ratio_interval(b, a, seed=0), 0.05) == compare.FASTER


def test_identical_cells_with_run_to_run_spread_are_rarely_flagged():
    # 200 cells of 5 runs against 5 runs of the same distribution, runs 8% apart: a plain
    # bootstrap over pooled samples flags about a third of them here; this one about 5%.
    rng = np.random.default_rng(7)
    flagged = covered = 0
    for cell in range(200):
        interval = compare.ratio_interval(synthetic_runs(rng), synthetic_runs(rng), seed=cell)
        flagged += compare.verdict(interval, 0.05) != compare.SAME
        covered += interval.low <= 1.0 <= interval.high
    assert flagged / 200 <= 0.08
    assert covered / 200 >= 0.92


def test_a_slower_cell_among_spread_runs_is_still_found_most_of_the_time():
    rng = np.random.default_rng(11)
    found = sum(
        compare.verdict(
            compare.ratio_interval(synthetic_runs(rng), synthetic_runs(rng, factor=1.2), seed=cell), 0.05
        )
        == compare.SLOWER
        for cell in range(100)
    )
    assert found >= 70


def test_the_interval_is_the_same_for_the_same_seed():
    rng = np.random.default_rng(3)
    a, b = synthetic_runs(rng), synthetic_runs(rng)
    assert compare.ratio_interval(a, b, seed=5) == compare.ratio_interval(a, b, seed=5)
    assert compare.ratio_interval(a, b, seed=5) != compare.ratio_interval(a, b, seed=6)


@pytest.mark.parametrize("size", [1, 2, 7, 8])
def test_a_runs_resampled_median_is_drawn_as_an_explicit_resample_would_be(size):
    """The O(1) draw (order statistics of uniforms) against resampling the run and taking
    numpy's median: the same distribution over the possible medians."""
    run = np.sort(np.random.default_rng(0).gamma(2.0, 1.0, size))
    rng = np.random.default_rng(1)
    draws = 40000
    fast = compare.resampled_medians([run], np.zeros(draws, dtype=np.int64), rng)
    slow = np.median(run[rng.integers(0, size, (draws, size))], axis=1)
    for value in np.unique(slow):
        assert np.mean(fast == value) == pytest.approx(np.mean(slow == value), abs=0.012)


def test_a_side_with_one_run_is_not_judged():
    rng = np.random.default_rng(2)
    interval = compare.ratio_interval(synthetic_runs(rng, runs=1), synthetic_runs(rng, factor=2.0))
    assert interval.low is None and interval.high is None and interval.ratio > 1.5
    assert compare.verdict(interval) == compare.NOT_JUDGED


def test_runs_known_only_by_their_medians_are_compared_on_those():
    a = [np.array([m]) for m in (1.00, 1.02, 0.99, 1.01, 1.00)]
    b = [np.array([m]) for m in (1.30, 1.31, 1.29, 1.32, 1.30)]
    interval = compare.ratio_interval(a, b)
    assert interval.ratio == pytest.approx(1.30)
    assert compare.verdict(interval) == compare.SLOWER


def test_a_significant_change_below_the_threshold_is_the_same():
    a = [np.array([m]) for m in (1.000, 1.001, 0.999, 1.000, 1.000)]
    b = [np.array([m]) for m in (1.030, 1.031, 1.029, 1.030, 1.030)]
    interval = compare.ratio_interval(a, b)
    assert interval.low > 1.0
    assert compare.verdict(interval, 0.05) == compare.SAME
    assert compare.verdict(interval, 0.02) == compare.SLOWER


def test_the_interval_always_holds_the_ratio_shown():
    # Two clusters: the median of the run medians sits apart from their mean.
    a = [np.array([m]) for m in (1.0, 1.0, 1.0, 2.0, 2.0)]
    b = [np.array([m]) for m in (1.0, 1.0, 2.0, 2.0, 2.0)]
    interval = compare.ratio_interval(a, b)
    assert interval.low <= interval.ratio <= interval.high


def test_a_run_without_samples_is_refused():
    with pytest.raises(ValueError, match="side A"):
        compare.ratio_interval([np.array([])], [np.array([1.0])])


# --- stores built here ------------------------------------------------------------------------


class Synthetic:
    """A store of sweeps made of generated runs (records as the agent sends them)."""

    def __init__(self, tmp_path):
        self.url = "sqlite:///%s" % (tmp_path / "r.db")
        self.store = Store(self.url)
        self.models = {name: inspect_model(MODELS / ("%s.onnx" % name)) for name in BASE_MS}
        for model in self.models.values():
            self.store.upsert_model(model)
        self.rng = np.random.default_rng(0)

    def sweep(self, cells, runs=5, simulated=False):
        """cells: {(device, backend, model or None): latency factor}. Returns the sweep id."""
        sweep_id = self.store.create_sweep({"test": True})
        for (device_name, backend, model_name), factor in cells.items():
            device = Device(name=device_name, connection="local")
            self.store.upsert_device(device)
            model = self.models.get(model_name)
            for run in range(1, runs + 1):
                cell = Cell(device, model, backend, 1, run=run, runs=runs)
                trial_id = self.store.create_trial(sweep_id, cell, {})
                median = BASE_MS.get(model_name, 0.01)
                samples = synthetic_runs(self.rng, 1, factor, median, between=0.01, within=0.03)[0]
                self._ingest(trial_id, samples, keep=backend != "null", simulated=simulated)
        self.store.finish_sweep(sweep_id, "ok")
        return sweep_id

    def _ingest(self, trial_id, samples, keep, simulated):
        metrics = {
            "iterations": len(samples),
            "latency_p50_ms": float(np.median(samples)),
            "simulated": simulated,
        }
        self.store.ingest(make_record("trial_start", trial_id=trial_id, agent_version="9.9"))
        raw = [float(v) for v in samples] if keep else None
        self.store.ingest(make_record("result", trial_id=trial_id, metrics=metrics, env={}, samples_ms=raw))
        self.store.ingest(make_record("trial_end", trial_id=trial_id, status="ok"))

    def edgebench(self, *args):
        return CliRunner().invoke(cli.app, [*map(str, args), "--db", self.url], env={"COLUMNS": "250"})


ORT = "onnxruntime"
BOTH = {("local", ORT, "dws_cnn"): 1.0, ("local", ORT, "baseline_cnn"): 1.0}


@pytest.fixture
def synthetic(tmp_path):
    return Synthetic(tmp_path)


def cells_of(result):
    assert result.output.lstrip().startswith("{"), result.output
    return {cell["model"]: cell for cell in json.loads(result.output)["cells"]}


def test_two_sweeps_one_cell_slower_exits_1_and_names_it(synthetic):
    a = synthetic.sweep(BOTH)
    b = synthetic.sweep({("local", ORT, "dws_cnn"): 1.0, ("local", ORT, "baseline_cnn"): 1.25})
    result = synthetic.edgebench("compare", a, b, "--format", "json")
    assert result.exit_code == 1
    cells = cells_of(result)
    assert cells["baseline_cnn"]["verdict"] == "slower"
    assert cells["baseline_cnn"]["ci_low"] > 1.0 and cells["baseline_cnn"]["ratio"] == pytest.approx(
        1.25, 0.05
    )
    assert cells["dws_cnn"]["verdict"] == "same"
    assert cells["dws_cnn"]["a_runs"] == 5 and cells["dws_cnn"]["b_samples"] > 0
    assert json.loads(result.output)["summary"] == "1 slower, 0 faster, 1 same"


def test_the_table_shows_both_medians_the_ratio_and_the_summary(synthetic):
    a = synthetic.sweep(BOTH)
    b = synthetic.sweep({("local", ORT, "dws_cnn"): 0.8, ("local", ORT, "baseline_cnn"): 1.0})
    result = synthetic.edgebench("compare", a, b)
    assert result.exit_code == 0, result.output  # faster is no regression
    for text in ("A median ms", "B median ms", "B/A", "CI low", "verdict", "faster", a, b):
        assert text in result.output
    assert "0 slower, 1 faster, 1 same" in result.output
    markdown = synthetic.edgebench("compare", a, b, "-f", "markdown").output
    assert "| model |" in markdown and "| dws_cnn |" in markdown


def test_previous_and_latest_name_the_last_two_sweeps(synthetic):
    a = synthetic.sweep(BOTH)
    b = synthetic.sweep({("local", ORT, "dws_cnn"): 1.3, ("local", ORT, "baseline_cnn"): 1.0})
    by_name = synthetic.edgebench("compare", "previous", "latest", "-f", "csv")
    by_id = synthetic.edgebench("compare", a, b, "-f", "csv")
    assert by_name.exit_code == by_id.exit_code == 1
    assert by_name.stdout == by_id.stdout  # seeded: the same output each time


def test_a_sweep_against_itself_flags_nothing(synthetic):
    sweep = synthetic.sweep(BOTH)
    result = synthetic.edgebench("compare", sweep, sweep, "-f", "json")
    assert result.exit_code == 0
    assert {cell["verdict"] for cell in cells_of(result).values()} == {"same"}


def test_two_devices_within_one_sweep(synthetic):
    sweep = synthetic.sweep(
        {("pi1", ORT, "dws_cnn"): 1.0, ("pi2", ORT, "dws_cnn"): 1.5, ("pi1", ORT, "baseline_cnn"): 1.0}
    )
    result = synthetic.edgebench("compare", "device=pi1", "device=pi2", "--sweep", sweep, "-f", "json")
    assert result.exit_code == 1
    payload = json.loads(result.output)
    assert payload["a"] == {"spec": "device=pi1", "sweep_id": sweep, "device": "pi1"}
    cells = cells_of(result)
    assert "device" not in cells["dws_cnn"]  # what is compared is not a cell's column
    assert cells["dws_cnn"]["verdict"] == "slower"
    assert cells["baseline_cnn"]["verdict"] == "only in A"
    # --sweep defaults to the latest.
    assert synthetic.edgebench("compare", "device=pi1", "device=pi2").exit_code == 1


def test_two_backends_within_one_sweep_match_on_the_model_whatever_their_precision(synthetic):
    synthetic.sweep({("local", ORT, "dws_cnn"): 1.0, ("local", "tvm", "dws_cnn"): 30.0})
    with synthetic.store.writing() as session:  # as a TensorRT fp16 engine of the fp32 model
        session.query(Trial).filter(Trial.backend == "tvm").update({"precision": "fp16"})
    result = synthetic.edgebench("compare", "backend=onnxruntime", "backend=tvm", "-f", "json")
    assert result.exit_code == 1
    cell = cells_of(result)["dws_cnn"]
    assert "backend" not in cell and "precision" not in cell
    assert cell["verdict"] == "slower" and "precision fp32 -> fp16" in cell["note"]


def test_cells_without_raw_samples_fall_back_to_run_medians_and_say_so(synthetic):
    a = synthetic.sweep({("local", "null", None): 1.0}, simulated=True)
    b = synthetic.sweep({("local", "null", None): 1.0}, simulated=True)
    result = synthetic.edgebench("compare", a, b, "-f", "json")
    assert result.exit_code == 0
    cell = cells_of(result)["(none)"]
    assert cell["a_samples"] is None and cell["a_runs"] == 5 and cell["ci_low"] is not None
    assert "run medians only" in cell["note"] and "simulated" in cell["note"] and cell["simulated"]


def test_a_cell_with_one_run_is_reported_not_judged(synthetic):
    a = synthetic.sweep(BOTH, runs=1)
    b = synthetic.sweep({("local", ORT, "dws_cnn"): 2.0, ("local", ORT, "baseline_cnn"): 1.0}, runs=1)
    result = synthetic.edgebench("compare", a, b, "-f", "json")
    assert result.exit_code == 0
    cell = cells_of(result)["dws_cnn"]
    assert cell["verdict"] == "not judged" and cell["ratio"] > 1.5 and cell["ci_low"] is None
    assert "one run" in cell["note"]


def test_a_larger_threshold_lets_a_small_slowdown_pass(synthetic):
    a = synthetic.sweep(BOTH)
    b = synthetic.sweep({("local", ORT, "dws_cnn"): 1.0, ("local", ORT, "baseline_cnn"): 1.25})
    assert synthetic.edgebench("compare", a, b, "--threshold", "40").exit_code == 0


@pytest.mark.parametrize(
    "args, words",
    [
        (["nope", "latest"], "no sweep 'nope'"),
        (["device=pi1", "latest"], "must both be sweeps or both KEY=VALUE"),
        (["device=local", "backend=null"], "the same key"),
        (["model=a", "model=b"], "the key must be one of device, backend"),
        (["device=local", "device=pi9"], "no successful trial of device 'pi9'"),
        (["backend=onnxruntime", "backend=null"], "nothing to compare"),
        (["latest", "latest", "--sweep", "latest"], "--sweep is for device="),
        (["latest", "latest", "--threshold", "nan"], "--threshold"),
        (["latest", "latest", "--resamples", "5"], "--resamples"),
        (["latest", "latest", "--format", "xml"], "--format"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(synthetic, args, words):
    synthetic.sweep({**BOTH, ("local", "null", None): 1.0})
    result = synthetic.edgebench("compare", *args)
    assert result.exit_code == 2, result.output
    assert words in result.output and "Traceback" not in result.output


def test_previous_needs_two_sweeps(synthetic):
    synthetic.sweep(BOTH)
    result = synthetic.edgebench("compare", "previous", "latest")
    assert result.exit_code == 2 and "holds 1 sweep" in result.output


def test_a_rebuilt_model_is_matched_by_name_and_noted(synthetic, tmp_path):
    a = synthetic.sweep({("local", ORT, "dws_cnn"): 1.0})
    rebuilt = synthetic.models["dws_cnn"].__class__(
        **dict(vars(synthetic.models["dws_cnn"]), sha256="f" * 64)
    )
    synthetic.models["dws_cnn"] = rebuilt
    synthetic.store.upsert_model(rebuilt)
    b = synthetic.sweep({("local", ORT, "dws_cnn"): 1.0})
    cell = cells_of(synthetic.edgebench("compare", a, b, "-f", "json"))["dws_cnn"]
    assert cell["verdict"] == "same" and "model file differs" in cell["note"]
