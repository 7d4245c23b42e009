"""A device's outputs for the seeded input against ONNX Runtime fp32 on the host: the agent's
`output_check` as it sends it, compared by the host as the sweep does (correctness.py)."""

from pathlib import Path

import pytest

from edgebench.agent.backends import get_backend
from edgebench.agent.inputs import make_feed
from edgebench.agent.trial import output_check
from edgebench.orchestrator.correctness import OutputChecker, compare, tolerance
from edgebench.orchestrator.modelinfo import inspect_model

MODELS = Path(__file__).resolve().parent.parent / "models" / "examples"
SEED, BATCH = 7, 2


def device_check(model_path: Path, batch: int = BATCH, seed: int = SEED) -> dict:
    """What the agent sends back after timing `model_path` with ONNX Runtime."""
    backend = get_backend("onnxruntime")
    backend.load(str(model_path), {})
    return output_check(backend, make_feed(backend.inputs(), batch, {}, seed))


def result_record(check: dict) -> dict:
    return {"type": "result", "trial_id": "t1", "metrics": {"latency_p50_ms": 1.0}, "output_check": check}


@pytest.fixture(scope="module")
def dws():
    return inspect_model(MODELS / "dws_cnn.onnx")


def test_the_same_model_matches_and_the_raw_outputs_are_not_stored(dws):
    record = OutputChecker().checked(result_record(device_check(dws.path)), dws, BATCH, {}, SEED, "fp32")
    metrics = record["metrics"]
    assert metrics["outputs_match"] is True
    assert metrics["output_max_abs_error"] == pytest.approx(0.0, abs=1e-6)
    assert metrics["latency_p50_ms"] == 1.0  # the agent's own metrics stay
    assert "output_check" not in record


def test_another_computation_differs_and_says_by_how_much(dws):
    check = device_check(dws.path)
    check["values"] = [[v + 0.5 for v in output] for output in check["values"]]
    metrics = OutputChecker().checked(result_record(check), dws, BATCH, {}, SEED, "fp32")["metrics"]
    assert metrics["outputs_match"] is False
    assert metrics["output_max_abs_error"] == pytest.approx(0.5)
    assert "atol" in metrics["output_check_note"]


def test_a_small_error_passes_at_int8_but_not_at_fp32(dws):
    check = device_check(dws.path)
    check["values"] = [[v + 0.05 for v in output] for output in check["values"]]
    checker = OutputChecker()
    assert (
        checker.checked(result_record(check), dws, BATCH, {}, SEED, "fp32")["metrics"]["outputs_match"]
        is False
    )
    assert (
        checker.checked(result_record(check), dws, BATCH, {}, SEED, "int8")["metrics"]["outputs_match"]
        is True
    )
    assert tolerance("int8") > tolerance("fp16") > tolerance("fp32")


def test_another_seed_on_the_device_is_not_compared(dws):
    metrics = OutputChecker().checked(
        result_record(device_check(dws.path, seed=8)), dws, BATCH, {}, SEED, "fp32"
    )["metrics"]
    assert metrics["outputs_match"] is None
    assert "input differs" in metrics["output_check_note"]


def test_without_outputs_nothing_is_compared_and_nothing_is_invented():
    expected = ("sha", [])
    assert compare(None, expected, "fp32")["outputs_match"] is None
    found = compare({"input_sha256": "sha", "shapes": [[1, 10]], "not_sent": "too large"}, expected, "fp32")
    assert found == {
        "output_max_abs_error": None,
        "output_max_rel_error": None,
        "outputs_match": None,
        "output_check_note": "too large",
    }


def test_a_model_the_host_cannot_run_is_noted_not_fatal(tmp_path, dws):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not onnx")
    model = type("M", (), {"path": broken})()
    metrics = OutputChecker().checked(result_record(device_check(dws.path)), model, BATCH, {}, SEED, "fp32")[
        "metrics"
    ]
    assert metrics["outputs_match"] is None
    assert metrics["output_check_note"].startswith("ONNX Runtime on the host could not run the model")
