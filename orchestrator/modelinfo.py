"""What the host knows about a model file before it is pushed: that it is ONNX, its sha256,
parameters, inputs and precision. Checked up front, so a bad path fails before anything is
stored or sent."""

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from .errors import ModelError

QUANTIZED_OPS = {
    "QuantizeLinear",
    "DequantizeLinear",
    "QLinearConv",
    "QLinearMatMul",
    "ConvInteger",
    "MatMulInteger",
    "DynamicQuantizeLinear",
}


@dataclass(frozen=True)
class ModelInfo:
    path: Path
    name: str
    sha256: str
    size_bytes: int
    params: int
    precision: str
    inputs: tuple  # ((name, [dims]), ...), dims are ints or symbolic names
    opset: int
    eval_set: Optional[Path] = None  # .npz (x, y) that travels with the model
    eval_set_sha256: Optional[str] = None
    metadata: dict = field(default_factory=dict, hash=False, compare=False)  # ONNX metadata_props


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _load_onnx(path: Path):
    import onnx  # host-only dependency, imported when a model is inspected

    try:
        model = onnx.load(str(path), load_external_data=False)
        onnx.checker.check_model(model)
    except Exception as exc:  # protobuf DecodeError, ValidationError, ...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError("%s is not a valid ONNX model: %s" % (path, first)) from None
    if not model.graph.node:
        raise ModelError("%s is not a valid ONNX model: its graph has no nodes" % path)
    return model


def _precision(model) -> str:
    metadata = {p.key: p.value for p in model.metadata_props}
    if "edgebench.precision" in metadata:
        return metadata["edgebench.precision"]
    if any(node.op_type in QUANTIZED_OPS for node in model.graph.node):
        return "int8"
    import onnx

    fp16 = any(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer)
    return "fp16" if fp16 else "fp32"


def count_initializer_elements(model) -> int:
    """Elements of every initializer: the parameter count when nothing better is recorded."""
    count = 0
    for tensor in model.graph.initializer:
        size = 1
        for dim in tensor.dims:
            size *= dim
        count += size
    return count


def _inputs(model) -> tuple:
    initializers = {t.name for t in model.graph.initializer}
    specs = []
    for value in model.graph.input:
        if value.name in initializers:
            continue
        dims = [
            d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
            for d in value.type.tensor_type.shape.dim
        ]
        specs.append((value.name, tuple(dims)))
    return tuple(specs)


def _eval_set(model, path: Path) -> Optional[Path]:
    """The eval set named in the model's metadata, else NAME.eval.npz beside the model."""
    metadata = {p.key: p.value for p in model.metadata_props}
    named = metadata.get("edgebench.eval_set")
    candidate = path.parent / (named or path.stem + ".eval.npz")
    if named and not candidate.is_file():
        raise ModelError("%s names eval set %s, which is missing" % (path, candidate))
    return candidate if candidate.is_file() else None


def inspect_model(path) -> ModelInfo:
    path = Path(path)
    if not path.exists():
        raise ModelError("model not found: %s" % path)
    if not path.is_file():
        raise ModelError("model path is not a file: %s" % path)
    model = _load_onnx(path)
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    eval_set = _eval_set(model, path)
    metadata = {p.key: p.value for p in model.metadata_props}
    declared = metadata.get("edgebench.params", "")
    # The trained parameter count when the pipeline recorded it (an int8 file also stores scales
    # and zero points, which are not parameters); else every initializer element.
    params = int(declared) if declared.isdigit() else count_initializer_elements(model)
    return ModelInfo(
        path=path.resolve(),
        name=path.stem,
        sha256=sha256_of(path),
        size_bytes=path.stat().st_size,
        params=params,
        precision=_precision(model),
        inputs=_inputs(model),
        opset=opset,
        eval_set=eval_set.resolve() if eval_set else None,
        eval_set_sha256=sha256_of(eval_set) if eval_set else None,
        metadata=metadata,
    )


def find_models(folder) -> list:
    folder = Path(folder)
    if not folder.exists():
        raise ModelError("model folder not found: %s" % folder)
    if folder.is_file():
        return [inspect_model(folder)]
    paths = sorted(folder.glob("*.onnx"))
    if not paths:
        raise ModelError("no .onnx files in %s" % folder)
    return [inspect_model(p) for p in paths]
