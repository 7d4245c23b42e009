"""Export to ONNX, int8 quantization through onnxruntime, eval sets, MACs, cards."""

import time
import zipfile

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
onnxruntime = pytest.importorskip("onnxruntime")

from edgebench.pipeline.architectures import build_student  # noqa: E402
from edgebench.pipeline.augment import AugmentConfig  # noqa: E402
from edgebench.pipeline.datasets import load_digits  # noqa: E402
from edgebench.pipeline.train import TrainConfig, train_teacher  # noqa: E402
from edgebench.pipeline.cards import list_model_cards  # noqa: E402
from edgebench.pipeline.evalset import eval_set_bytes, eval_subset, read_eval_set, write_eval_set  # noqa: E402
from edgebench.pipeline.export import ModelStory, export_onnx, publish_model  # noqa: E402
from edgebench.pipeline.onnx_eval import onnx_top1, open_session  # noqa: E402
from edgebench.pipeline.onnx_facts import count_macs, read_metadata  # noqa: E402
from edgebench.pipeline.prune import count_macs as torch_macs  # noqa: E402
from edgebench.pipeline.quantize import quantize_model  # noqa: E402

INPUT = (1, 8, 8)


def calibrated_student(early_exits=()):
    """A small untrained student whose BN statistics come from data, so activations have
    realistic ranges for quantization."""
    torch.manual_seed(0)
    model = build_student(1, 10, 8, 0.25, dropout=0.2, early_exits=early_exits)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None  # cumulative average
            m.weight.data.uniform_(0.5, 1.5)
    model.train()
    with torch.no_grad():
        for _ in range(4):
            model(torch.randn(64, *INPUT))
    return model.eval()


@pytest.fixture(scope="module")
def digits():
    return load_digits(seed=0)


@pytest.fixture(scope="module")
def exported(tmp_path_factory, digits):
    """A small student trained for a few epochs on digits (a few seconds), exported."""
    folder = tmp_path_factory.mktemp("export")
    torch.manual_seed(0)
    model = build_student(1, 10, 8, 0.25, dropout=0.2)
    train_teacher(model, digits, TrainConfig(epochs=4, augment=AugmentConfig.none(), progress=False))
    path = export_onnx(model, folder / "tiny.onnx", INPUT)
    return model, path


def test_export_has_named_dynamic_io_and_opset_13(exported):
    model, path = exported
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    assert [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [13]
    (inp,), (out,) = proto.graph.input, proto.graph.output
    assert inp.name == "input" and out.name == "logits"
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert dims == ["batch", 1, 8, 8]
    assert out.type.tensor_type.shape.dim[0].dim_param == "batch"
    x = np.random.default_rng(0).standard_normal((3,) + INPUT).astype(np.float32)
    got = open_session(path).run(None, {"input": x})[0]
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_export_takes_another_opset(tmp_path):
    path = export_onnx(calibrated_student(), tmp_path / "m.onnx", INPUT, opset=17)
    assert [o.version for o in onnx.load(str(path)).opset_import if o.domain in ("", "ai.onnx")] == [17]


def test_early_exit_model_exports_the_final_exit_only(tmp_path):
    model = calibrated_student(early_exits=[1])
    path = export_onnx(model, tmp_path / "exits.onnx", INPUT)
    proto = onnx.load(str(path))
    assert len(proto.graph.output) == 1
    x = np.ones((2,) + INPUT, np.float32)
    with torch.no_grad():
        want = model(torch.from_numpy(x), all_exits=True)[-1].numpy()
    np.testing.assert_allclose(open_session(path).run(None, {"input": x})[0], want, rtol=1e-4, atol=1e-5)


def test_onnx_macs_match_the_torch_count(exported):
    model, path = exported
    assert count_macs(onnx.load(str(path))) == torch_macs(model, INPUT)


@pytest.mark.parametrize(
    "precision, activation_zero_point_dtype", [("int8-sym", np.int8), ("int8-u8s8", np.uint8)]
)
def test_quantized_model_is_qdq_tagged_and_close_to_fp32(
    exported, digits, tmp_path, precision, activation_zero_point_dtype
):
    _, source = exported
    calibration = digits.x_train[:128]
    target = quantize_model(source, tmp_path / "q.onnx", calibration, precision)
    proto = onnx.load(str(target))
    ops = {n.op_type for n in proto.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops
    assert read_metadata(proto)["edgebench.precision"] == precision
    # Only the domains nodes use are declared (older runtimes reject unknown ones).
    assert {o.domain for o in proto.opset_import} <= {n.domain for n in proto.graph.node} | {""}
    # The first QuantizeLinear (of the input) has the flavour's activation type.
    first_q = next(n for n in proto.graph.node if n.op_type == "QuantizeLinear")
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in proto.graph.initializer}
    zero_point = inits[first_q.input[2]]
    assert zero_point.dtype == activation_zero_point_dtype
    if precision == "int8-sym":
        assert int(zero_point) == 0
    # Weights are per-channel: a weight DequantizeLinear has one scale per output channel.
    weight_scales = [
        inits[n.input[1]]
        for n in proto.graph.node
        if n.op_type == "DequantizeLinear" and n.input[0] in inits and inits[n.input[0]].ndim == 4
    ]
    assert weight_scales and all(s.ndim == 1 and s.size > 1 for s in weight_scales)
    # ... and 7-bit, so that x86 kernels without VNNI (u8 x s8 pairs summed in 16 bits) cannot
    # saturate: with 8-bit weights the relative error here was 0.29 (int8-sym) on such a CPU.
    weights = [
        inits[n.input[0]]
        for n in proto.graph.node
        if n.op_type == "DequantizeLinear" and n.input[0] in inits and inits[n.input[0]].dtype == np.int8
    ]
    assert weights and all(-64 <= int(w.min()) and int(w.max()) <= 64 for w in weights)
    # Runs in onnxruntime, any batch, and stays close to the fp32 model.
    x = digits.x_test[:100]
    got = open_session(target).run(None, {"input": x})[0]
    want = open_session(source).run(None, {"input": x})[0]
    assert got.shape == want.shape == (100, 10)
    # The integer kernels compute what the QDQ graph says: the same graph run unoptimized (each
    # QuantizeLinear/DequantizeLinear pair in float, no fused int8 kernels) agrees to within
    # rounding (measured 0.001 relative; 0.12 and 0.29 where 8-bit weights saturated them).
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3
    reference = onnxruntime.InferenceSession(str(target), options, providers=["CPUExecutionProvider"])
    reference = reference.run(None, {"input": x})[0]
    assert np.linalg.norm(got - reference) < 0.01 * np.linalg.norm(reference)
    assert np.linalg.norm(got - want) < 0.1 * np.linalg.norm(want)
    assert (got.argmax(1) == want.argmax(1)).mean() >= 0.9
    fp32_top1 = onnx_top1(source, digits.x_test, digits.y_test)
    assert fp32_top1 > 0.5  # the fixture did learn something
    assert abs(onnx_top1(target, digits.x_test, digits.y_test) - fp32_top1) <= 0.03
    # ... and smaller on disk.
    assert target.stat().st_size < 0.6 * source.stat().st_size


def test_quantize_refuses_unknown_precision(exported, tmp_path):
    with pytest.raises(ValueError, match="int8-sym"):
        quantize_model(exported[1], tmp_path / "q.onnx", np.zeros((1,) + INPUT, np.float32), "int4")


def test_eval_set_bytes_do_not_depend_on_the_clock(tmp_path, monkeypatch):
    x = np.random.default_rng(0).standard_normal((5, 1, 8, 8)).astype(np.float32)
    y = np.arange(5)
    first = write_eval_set(tmp_path / "a.eval.npz", x, y).read_bytes()
    later = time.time() + 86400 * 400
    monkeypatch.setattr(time, "time", lambda: later)
    monkeypatch.setattr(time, "localtime", lambda *_: time.gmtime(later))
    second = write_eval_set(tmp_path / "b.eval.npz", x, y).read_bytes()
    assert first == second
    with zipfile.ZipFile(tmp_path / "b.eval.npz") as archive:
        assert [i.filename for i in archive.infolist()] == ["x.npy", "y.npy"]
        assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in archive.infolist())
    x2, y2 = read_eval_set(tmp_path / "b.eval.npz")
    assert x2.dtype == np.float32 and y2.dtype == np.int64
    np.testing.assert_array_equal(x2, x)
    np.testing.assert_array_equal(y2, y)
    assert eval_set_bytes(x, y) != eval_set_bytes(x, y[::-1])


def test_eval_subset_caps_and_is_seeded():
    x = np.arange(50, dtype=np.float32).reshape(50, 1, 1, 1)
    y = np.arange(50)
    same_x, _ = eval_subset(x, y, limit=100)
    assert same_x is x
    a, ay = eval_subset(x, y, limit=10, seed=0)
    b, _ = eval_subset(x, y, limit=10, seed=0)
    assert len(a) == 10 and np.array_equal(a, b) and list(ay) == sorted(ay)
    with pytest.raises(ValueError):
        write_eval_set("unused.npz", x[:, 0, 0, 0], y)  # not NCHW


def test_publish_writes_card_eval_set_and_metadata(exported, tmp_path):
    model, source = exported
    path = tmp_path / "tiny.onnx"
    path.write_bytes(source.read_bytes())
    rng = np.random.default_rng(2)
    x = rng.standard_normal((40,) + INPUT).astype(np.float32)
    y = rng.integers(0, 10, 40)
    story = ModelStory(
        "A tiny test model.", "Some layers.", "demo", "digits", 7, "x = pixel / 16", ["made in a test"]
    )
    published = publish_model(path, 12345, "fp32", story, x, y)
    meta = read_metadata(onnx.load(str(path)))
    assert meta["edgebench.params"] == "12345"
    assert meta["edgebench.precision"] == "fp32"
    assert meta["edgebench.recipe"] == "demo" and meta["edgebench.dataset"] == "digits"
    assert meta["edgebench.eval_set"] == "tiny.eval.npz"
    assert float(meta["edgebench.host_accuracy"]) == pytest.approx(onnx_top1(path, x, y), abs=1e-4)
    assert published.eval_set == tmp_path / "tiny.eval.npz"
    card = (tmp_path / "tiny.md").read_text()
    for needle in (
        "12,345",
        "MACs per image",
        "bytes",
        "MiB",
        "`[batch, 1, 8, 8]`",
        "digits",
        "host accuracy",
        "seed 7",
        "made in a test",
        "tiny.eval.npz",
    ):
        assert needle in card
    rows = list_model_cards(tmp_path)
    assert rows == [
        {
            "name": "tiny",
            "params": 12345,
            "size_bytes": path.stat().st_size,
            "precision": "fp32",
            "dataset": "digits",
            "host_accuracy": pytest.approx(published.host_top1, abs=1e-4),
            "macs": published.macs,
            "recipe": "demo",
            "eval_set": tmp_path / "tiny.eval.npz",
            "card": tmp_path / "tiny.md",
        }
    ]


def test_list_model_cards_reads_foreign_models_and_refuses_a_missing_folder(tmp_path, exported):
    (tmp_path / "plain.onnx").write_bytes(exported[1].read_bytes())
    (row,) = list_model_cards(tmp_path)
    assert row["name"] == "plain" and row["precision"] == "fp32" and row["params"] is None
    assert row["card"] is None and row["host_accuracy"] is None
    with pytest.raises(FileNotFoundError):
        list_model_cards(tmp_path / "missing")
