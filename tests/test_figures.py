"""The figures' numbers without drawing them (report/figure_data.py, the confusion counts as
stored, records.py's check of them, the one-line errors), and the helpers that fill a store
through Store.ingest for tests/test_figures_drawn.py (which draws, and is an integration test)."""

import math
import shutil

import numpy as np
import pandas as pd
import pytest

from edgebench.agent.protocol import make_record
from edgebench.agent.trial import run_trial
from edgebench.orchestrator.errors import UserError
from edgebench.orchestrator.inventory import Device
from edgebench.orchestrator.modelinfo import inspect_model
from edgebench.orchestrator.records import validate
from edgebench.orchestrator.report import figures
from edgebench.orchestrator.report.figure_data import labels, pareto_front, radar_scores
from edgebench.orchestrator.store import Store
from edgebench.orchestrator.store.queries import confusion_rows
from edgebench.orchestrator.sweep import Cell

from .conftest import MODELS

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CLASSES = 10
EVAL_SIZE = 40
# A real trial kept short: the figures need its records, not a precise measurement.
SHORT = {
    "quick": True,
    "warmup_s": 0.0,
    "min_s": 0.02,
    "min_iters": 10,
    "backend_options": {"intra_op_threads": 1},
}


def models_with_eval_sets(folder):
    """The example models copied beside an eval set of random inputs and labels each."""
    rng = np.random.RandomState(0)
    found = {}
    for name in ("dws_cnn", "baseline_cnn"):
        shutil.copy(MODELS / (name + ".onnx"), folder / (name + ".onnx"))
        x = rng.rand(EVAL_SIZE, 3, 32, 32).astype("float32")
        np.savez(folder / (name + ".eval.npz"), x=x, y=rng.randint(0, CLASSES, EVAL_SIZE))
        found[name] = inspect_model(folder / (name + ".onnx"))
    return found


def ingest(store, records):
    for record in records:
        store.ingest(validate(record))


def real_trial(store, sweep_id, device, model, batch, run, runs):
    """One trial measured by the agent in this process, its records ingested as a sweep would."""
    trial_id = store.create_trial(sweep_id, Cell(device, model, "onnxruntime", batch, run=run, runs=runs), {})
    job = dict(SHORT, trial_id=trial_id, backend="onnxruntime", batch=batch)
    job.update(model=str(model.path), eval_set=str(model.eval_set))
    records = []
    assert run_trial(job, records.append) == "ok"
    ingest(store, records)


def simulated_trial(store, sweep_id, device, model, run, latency_ms, accuracy, power_mw):
    """A simulated Jetson's trial: power sampled over its window, raw samples, a confusion."""
    trial_id = store.create_trial(sweep_id, Cell(device, model, "onnxruntime", 1, run=run, runs=2), {})
    rng = np.random.RandomState(run)
    samples = list(latency_ms * (1 + 0.05 * rng.randn(200)))
    correct = int(round(accuracy * EVAL_SIZE))
    confusion = [[0] * CLASSES for _ in range(CLASSES)]
    for i in range(EVAL_SIZE):
        confusion[i % CLASSES][i % CLASSES if i < correct else (i + 1) % CLASSES] += 1
    metrics = {
        "iterations": len(samples),
        "latency_p50_ms": float(np.median(samples)),
        "latency_p99_ms": float(np.percentile(samples, 99)),
        "throughput_ips": 1000.0 / latency_ms,
        "model_size_mb": 0.5,
        "power_mw": power_mw,
        "energy_mj": power_mw * latency_ms / 1000.0,
        "power_samples": 40,
        "energy_reliable": True,
        "idle_power_mw": 1200.0,
        "accuracy": correct / float(EVAL_SIZE),
        "accuracy_samples": EVAL_SIZE,
        "accuracy_confusion": confusion,
        "simulated": True,
    }
    power = [[10.0 + i * 0.1, power_mw + 50 * math.sin(i)] for i in range(60)]
    ingest(
        store,
        [
            make_record("trial_start", trial_id=trial_id, agent_version="9.9"),
            make_record(
                "result",
                trial_id=trial_id,
                metrics=metrics,
                env={},
                samples_ms=samples,
                telemetry={"power": power, "window": [11.0, 15.0]},
            ),
            make_record("trial_end", trial_id=trial_id, status="ok", agent_s=1.0),
        ],
    )


def test_pareto_front_on_a_hand_made_set():
    points = [
        (1.0, 80.0),  # fastest: on the front
        (2.0, 90.0),  # on
        (2.5, 85.0),  # slower and worse than (2.0, 90): off
        (4.0, 95.0),  # on
        (4.0, 93.0),  # as slow, less accurate: off
        (6.0, 95.0),  # as accurate, slower: off
        (2.0, 90.0),  # equal to a front point: on with it
    ]
    assert pareto_front(points) == [0, 1, 6, 3]
    assert pareto_front([(3.0, 50.0)]) == [0]
    assert pareto_front([]) == []


def test_radar_scores_are_relative_to_the_best_and_absent_stays_absent():
    assert radar_scores([100.0, 50.0, None], higher_is_better=True) == [1.0, 0.5, None]
    assert radar_scores([2.0, 4.0, float("nan")], higher_is_better=False) == [1.0, 0.5, None]
    assert radar_scores([None, None], higher_is_better=False) == [None, None]


def test_a_malformed_confusion_matrix_is_dropped_with_a_note_and_the_trial_kept():
    for bad in ([[1, 2]], [[1, -1], [0, 1]], [[1.5]], "x", [[0] * 257] * 257):
        metrics = {"latency_p50_ms": 1.0, "accuracy": 0.5, "accuracy_confusion": bad}
        record = validate(make_record("result", trial_id="t", metrics=metrics))
        assert "accuracy_confusion" not in record["metrics"]
        assert record["metrics"]["accuracy_confusion_note"].startswith("dropped by the host")
        assert record["metrics"]["latency_p50_ms"] == 1.0
    good = validate(make_record("result", trial_id="t", metrics={"accuracy_confusion": [[3, 1], [0, 4]]}))
    assert good["metrics"]["accuracy_confusion"] == [[3, 1], [0, 4]]


@pytest.fixture
def small_store(tmp_path):
    """Each example model measured once for real on `local`, with its eval set."""
    models = models_with_eval_sets(tmp_path)
    s = Store("sqlite:///%s" % (tmp_path / "r.db"))
    local = Device(name="local", connection="local")
    s.upsert_device(local)
    sweep_id = s.create_sweep({"quick": True})
    for model in models.values():
        s.upsert_model(model)
        real_trial(s, sweep_id, local, model, 1, 1, 1)
    yield s
    s.close()


def test_confusion_counts_sum_to_n_and_their_diagonal_is_the_measured_accuracy(small_store):
    rows = confusion_rows(small_store)
    assert sorted(r["model"] for r in rows) == ["baseline_cnn", "dws_cnn"]
    for row in rows:
        counts = np.array(row["confusion"])
        assert counts.shape == (CLASSES, CLASSES)
        assert counts.sum() == row["accuracy_n"] == EVAL_SIZE
        assert np.trace(counts) / counts.sum() == pytest.approx(row["accuracy"])


def test_an_empty_store_or_an_unknown_name_is_a_one_line_error(tmp_path, small_store):
    empty = Store("sqlite:///%s" % (tmp_path / "empty.db"))
    for kind in figures.KINDS:
        with pytest.raises(UserError, match="nothing to draw") as info:
            figures.build(kind, empty)
        assert "\n" not in str(info.value)
    empty.close()
    with pytest.raises(UserError, match=r"no device 'pi9' in the store \(it has: local\)"):
        figures.build("tradeoff", small_store, device="pi9")
    with pytest.raises(UserError, match="no trial of dws_cnn on local at batch 8 has a confusion matrix"):
        figures.build("confusion", small_store, device="local", model="dws_cnn", batch=8)
    with pytest.raises(UserError, match="no model was measured at more than one batch size"):
        figures.build("batch", small_store)
    with pytest.raises(UserError, match="unknown figure"):
        figures.build("pie", small_store)
    with pytest.raises(UserError, match=r"\.png, \.svg, \.pdf"):
        figures.draw("tradeoff", small_store, tmp_path / "t.txt")


def test_labels_name_the_model_and_only_what_tells_cells_apart():
    rows = pd.DataFrame(
        {
            "device": ["local"] * 3,
            "model": ["a", "a", "b"],
            "backend": ["onnxruntime", "tvm", "onnxruntime"],
            "precision": ["fp32", "fp32", "int8-sym"],
            "batch": [1, 1, 1],
        }
    )
    assert labels(rows) == ["a onnxruntime", "a tvm", "b onnxruntime"]
    assert labels(rows.iloc[[0, 2]]) == ["a", "b"]  # the precision differs, but so do the names
    assert labels(rows.iloc[[0]], with_device=True) == ["a on local"]
