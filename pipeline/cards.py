"""Model cards: the Markdown written beside each built model, and the listing behind
`edgebench models list`. Needs onnx only (no torch), so listing works without the train extra."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional


@dataclass(frozen=True)
class CardFacts:
    name: str
    summary: str
    architecture: str
    input_name: str
    input_dims: list
    output_name: str
    output_dims: list
    params: int
    stored_values: int
    macs: int
    size_bytes: int
    sha256: str
    precision: str
    dataset: str
    normalization: str
    eval_set: str
    eval_samples: int
    host_top1: float
    recipe: str
    seed: int
    opset: int
    ir_version: int
    how_made: List[str] = field(default_factory=list)


def _shape(dims: list) -> str:
    return "[" + ", ".join(str(d) for d in dims) + "]"


def render_card(f: CardFacts) -> str:
    import onnxruntime

    steps = "\n".join("- " + line for line in f.how_made)
    return f"""# {f.name}

{f.summary}

## Architecture

{f.architecture}

## Input

- name: `{f.input_name}`
- dtype: float32
- shape: `{_shape(f.input_dims)}` (NCHW), `batch` is dynamic (dim_param "batch")
- preprocessing: {f.normalization}; the eval set already holds normalized inputs

## Output

- name: `{f.output_name}`
- dtype: float32
- shape: `{_shape(f.output_dims)}`; raw class scores (no softmax)

## Numbers

| | |
|---|---|
| parameters | {f.params:,} ({f.params / 1e6:.3f} M) |
| values stored in the file | {f.stored_values:,} |
| MACs per image | {f.macs:,} ({f.macs / 1e6:.2f} M) |
| precision | {f.precision} |
| file size | {f.size_bytes:,} bytes ({f.size_bytes / 2**20:.2f} MiB) |
| sha256 | `{f.sha256}` |
| dataset | {f.dataset} |
| eval set | `{f.eval_set}` ({f.eval_samples:,} test samples: `x` float32 NCHW, `y` int64) |
| host accuracy | {100 * f.host_top1:.2f}% top-1 on the eval set (onnxruntime {onnxruntime.__version__}, CPU, this host) |

Parameters are the trained network's (PyTorch's count, BatchNorm included, early-exit heads
left out); int8 variants carry their fp32 source's. The file stores fewer values in fp32
because export folds BatchNorm into the convolutions, and more in int8 because QDQ adds scales
and zero points. MACs count Conv and Gemm multiply-accumulates for one image, from the ONNX
graph's inferred shapes. Accuracy on a device can differ (backend, precision): measure it there.

## How it was made

- recipe: `{f.recipe}`, seed {f.seed}
{steps}
- opset {f.opset}, IR version {f.ir_version}
"""


QUANTIZED_OPS = {
    "QuantizeLinear",
    "DequantizeLinear",
    "QLinearConv",
    "QLinearMatMul",
    "ConvInteger",
    "MatMulInteger",
    "DynamicQuantizeLinear",
}


def _metadata(path: Path) -> Dict[str, str]:
    """The file's metadata_props, with a guessed precision when the file has none."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    meta = {p.key: p.value for p in model.metadata_props}
    if "edgebench.precision" not in meta:
        quantized = any(node.op_type in QUANTIZED_OPS for node in model.graph.node)
        meta["edgebench.precision"] = "int8" if quantized else "fp32"
    return meta


def _number(value: Optional[str], kind=int):
    try:
        return kind(value) if value is not None else None
    except ValueError:
        return None


def list_model_cards(folder) -> List[Dict[str, object]]:
    """One dict per `*.onnx` in `folder` (sorted by name): name, params, size_bytes, precision,
    dataset, host_accuracy (fraction or None), macs, eval_set and card (paths or None), read
    from the ONNX metadata that the pipeline writes. Models made elsewhere list with what
    they have (None for the rest)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError("model folder not found: %s" % folder)
    rows = []
    for path in sorted(folder.glob("*.onnx")):
        meta = _metadata(path)
        card = path.with_suffix(".md")
        eval_name = meta.get("edgebench.eval_set")
        eval_set = path.parent / eval_name if eval_name else None
        rows.append(
            {
                "name": path.stem,
                "params": _number(meta.get("edgebench.params")),
                "size_bytes": path.stat().st_size,
                "precision": meta["edgebench.precision"],
                "dataset": meta.get("edgebench.dataset"),
                "host_accuracy": _number(meta.get("edgebench.host_accuracy"), float),
                "macs": _number(meta.get("edgebench.macs")),
                "recipe": meta.get("edgebench.recipe"),
                "eval_set": eval_set if eval_set is not None and eval_set.is_file() else None,
                "card": card if card.is_file() else None,
            }
        )
    return rows
