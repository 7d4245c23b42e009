"""Facts read from an ONNX graph (no torch needed): MACs, stored values, metadata."""

from __future__ import annotations

from typing import Dict, Mapping

import onnx
from onnx import shape_inference

from edgebench.orchestrator.modelinfo import count_initializer_elements

METADATA_PREFIX = "edgebench."


def _dims(value_info) -> list:
    # Symbolic dims (the dynamic "batch") count as 1: MACs are per image.
    return [d.dim_value if d.HasField("dim_value") else 1 for d in value_info.type.tensor_type.shape.dim]


def count_macs(model: onnx.ModelProto) -> int:
    """Multiply-accumulates of Conv, Gemm and MatMul nodes for one input, from inferred shapes.
    Works for QDQ-quantized graphs too: their Conv/Gemm nodes read dequantized weights."""
    inferred = shape_inference.infer_shapes(model)
    shapes = {
        v.name: _dims(v)
        for v in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output)
    }
    shapes.update({t.name: list(t.dims) for t in inferred.graph.initializer})
    total = 0
    for node in inferred.graph.node:
        if node.op_type == "Conv":
            weight, output = shapes.get(node.input[1]), shapes.get(node.output[0])
            if weight and output:
                per_output = 1
                for d in weight[1:]:  # in_channels / groups x kernel
                    per_output *= d
                elements = 1
                for d in output[1:]:
                    elements *= d
                total += elements * per_output
        elif node.op_type in ("Gemm", "MatMul"):
            a, output = shapes.get(node.input[0]), shapes.get(node.output[0])
            if a and output:
                trans_a = any(at.name == "transA" and at.i for at in node.attribute)
                inner = a[-2] if trans_a else a[-1]
                elements = 1
                for d in output[1:] if len(output) > 1 else output:
                    elements *= d
                total += elements * inner
    return total


def count_stored_values(model: onnx.ModelProto) -> int:
    """Elements of all initializers (what modelinfo counts as parameters by default)."""
    return count_initializer_elements(model)


def read_metadata(model: onnx.ModelProto) -> Dict[str, str]:
    return {p.key: p.value for p in model.metadata_props}


def set_metadata(model: onnx.ModelProto, values: Mapping[str, object]) -> None:
    """Sets (adds or replaces) metadata_props, keeping the others."""
    merged = read_metadata(model)
    merged.update({k: str(v) for k, v in values.items()})
    del model.metadata_props[:]
    for key in sorted(merged):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, merged[key]


def drop_unused_opset_imports(model: onnx.ModelProto) -> None:
    """Keeps only the operator domains that nodes use (and the default one). onnxruntime's
    quantization preprocessing declares every domain it knows (ai.onnx.ml 5, com.microsoft,
    ...); an older runtime on a device refuses a model that claims a domain version newer
    than it supports, even when no node uses it."""
    used = {node.domain or "" for node in model.graph.node} | {""}
    kept = [o for o in model.opset_import if (o.domain or "") in used]
    del model.opset_import[:]
    model.opset_import.extend(kept)
