"""The reference models in models/: what the script makes, that they run, and that they are what they claim."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

MODELS_DIR = Path(__file__).resolve().parent.parent / "models" / "examples"
GENERATE = MODELS_DIR / "generate.py"
MODEL_NAMES = ["dws_cnn", "baseline_cnn"]


def run_generate(out_dir: Path, *extra: str) -> None:
    subprocess.run(
        [sys.executable, str(GENERATE), "--out", str(out_dir), *extra], check=True, capture_output=True
    )


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load(name: str) -> onnx.ModelProto:
    return onnx.load(str(MODELS_DIR / f"{name}.onnx"))


def session(name: str) -> ort.InferenceSession:
    return ort.InferenceSession(str(MODELS_DIR / f"{name}.onnx"), providers=["CPUExecutionProvider"])


def metadata(model: onnx.ModelProto) -> dict:
    return {prop.key: prop.value for prop in model.metadata_props}


def initializer_elements(model: onnx.ModelProto) -> int:
    return sum(int(np.prod(tensor.dims)) for tensor in model.graph.initializer)


def macs_from_graph(model: onnx.ModelProto) -> int:
    """Conv and Gemm multiply-accumulates per image, from shape inference (independent of the script's count)."""
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    shapes = {
        info.name: [d.dim_value for d in info.type.tensor_type.shape.dim]
        for info in inferred.graph.value_info
    }
    shapes.update(
        {out.name: [d.dim_value for d in out.type.tensor_type.shape.dim] for out in inferred.graph.output}
    )
    weights = {tensor.name: list(tensor.dims) for tensor in model.graph.initializer}
    macs = 0
    for node in model.graph.node:
        if node.op_type == "Conv":
            # Each output element costs one weight slice: (C_in / group) * kh * kw.
            macs += int(np.prod(shapes[node.output[0]][1:])) * int(np.prod(weights[node.input[1]][1:]))
        elif node.op_type == "Gemm":
            macs += int(np.prod(weights[node.input[1]]))
    return macs


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> Path:
    out_dir = tmp_path_factory.mktemp("models")
    run_generate(out_dir)
    return out_dir


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_committed_model_and_card_are_what_the_script_makes(regenerated, name):
    assert sha256_of(regenerated / f"{name}.onnx") == sha256_of(MODELS_DIR / f"{name}.onnx")
    assert (regenerated / f"{name}.md").read_text() == (MODELS_DIR / f"{name}.md").read_text()


def test_seed_changes_the_weights(tmp_path):
    run_generate(tmp_path, "--seed", "1")
    for name in MODEL_NAMES:
        assert sha256_of(tmp_path / f"{name}.onnx") != sha256_of(MODELS_DIR / f"{name}.onnx")


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_model_contract(name):
    model = load(name)
    onnx.checker.check_model(model, full_check=True)
    assert model.ir_version == 7
    assert [(o.domain, o.version) for o in model.opset_import] == [("", 13)]
    assert model.producer_name == "edgebench-models"
    (graph_input,) = model.graph.input
    (graph_output,) = model.graph.output
    assert graph_input.name == "input" and graph_output.name == "logits"
    assert graph_input.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    input_dims = [d.dim_param or d.dim_value for d in graph_input.type.tensor_type.shape.dim]
    output_dims = [d.dim_param or d.dim_value for d in graph_output.type.tensor_type.shape.dim]
    assert input_dims == ["batch", 3, 32, 32]
    assert output_dims == ["batch", 10]
    assert metadata(model)["edgebench.recipe"] == "models/examples/generate.py seed=0"


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("batch", [1, 4])
def test_onnxruntime_runs_at_batch(name, batch):
    images = np.random.default_rng(0).standard_normal((batch, 3, 32, 32), dtype=np.float32)
    (logits,) = session(name).run(None, {"input": images})
    assert logits.shape == (batch, 10)
    assert logits.dtype == np.float32
    assert np.isfinite(logits).all()


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_logits_depend_on_the_image(name):
    # Untrained weights are fine, but a net whose output ignores its input would make
    # cross-device output comparisons meaningless.
    images = np.random.default_rng(1).standard_normal((8, 3, 32, 32), dtype=np.float32)
    (logits,) = session(name).run(None, {"input": images})
    assert logits.std(axis=0).mean() > 1e-3 * np.abs(logits).mean()


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_metadata_params_is_the_initializer_element_count(name):
    model = load(name)
    assert int(metadata(model)["edgebench.params"]) == initializer_elements(model)


def test_dws_has_fewer_params_and_macs_than_baseline():
    dws, baseline = load("dws_cnn"), load("baseline_cnn")
    assert initializer_elements(dws) < initializer_elements(baseline)
    assert macs_from_graph(dws) < macs_from_graph(baseline)


def test_dws_depthwise_convs_have_group_equal_to_channels():
    model = load("dws_cnn")
    weights = {tensor.name: list(tensor.dims) for tensor in model.graph.initializer}
    grouped = [
        node
        for node in model.graph.node
        if node.op_type == "Conv" and onnx.helper.get_node_attr_value(node, "group") > 1
    ]
    assert len(grouped) >= 6
    for node in grouped:
        out_channels, in_per_group, kh, kw = weights[node.input[1]]
        assert onnx.helper.get_node_attr_value(node, "group") == out_channels
        assert (in_per_group, kh, kw) == (1, 3, 3)


def test_baseline_has_no_grouped_convs():
    model = load("baseline_cnn")
    for node in model.graph.node:
        if node.op_type == "Conv":
            groups = [attr.i for attr in node.attribute if attr.name == "group"]
            assert groups in ([], [1])


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_card_states_the_real_numbers(name):
    model_path = MODELS_DIR / f"{name}.onnx"
    card = (MODELS_DIR / f"{name}.md").read_text()
    model = load(name)
    assert f"`{sha256_of(model_path)}`" in card
    assert f"{model_path.stat().st_size:,} bytes" in card
    assert f"| parameters | {initializer_elements(model):,} " in card
    assert f"| MACs per image | {macs_from_graph(model):,} " in card
    assert re.search(r"\| accuracy \| not measured \|", card)
