"""torch -> ONNX, and publishing an ONNX file as an edgebench model: its eval set beside it,
its host accuracy measured with onnxruntime, metadata in the file, and a model card.

Files for a model `<name>`: `<name>.onnx`, `<name>.md` (card), `<name>.eval.npz` (eval set).
Opset 13 by default: TensorRT 8.2 (JetPack 4.6, the last for Jetson Nano) parses up to 13.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Tuple

import numpy as np
import onnx
import torch
from torch import nn

from edgebench.orchestrator.options import write_atomically

from .architectures import FinalExit
from .cards import CardFacts, render_card
from .evalset import EVAL_SET_SUFFIX, write_eval_set
from .onnx_eval import onnx_top1
from .onnx_facts import count_macs, count_stored_values, set_metadata

INPUT_NAME = "input"
OUTPUT_NAME = "logits"
DEFAULT_OPSET = 13


def export_onnx(
    model: nn.Module, path: Path, input_shape: Tuple[int, int, int], opset: int = DEFAULT_OPSET
) -> Path:
    """Exports the model's final exit in eval mode (BatchNorm folds into the convs), with a
    dynamic batch axis named "batch", input `input` [batch, C, H, W] and output `logits`."""
    wrapper = FinalExit(model).train(model.training)  # so the model's mode is restored after
    example = torch.zeros((1,) + tuple(input_shape))
    return export_module(wrapper, example, path, INPUT_NAME, [OUTPUT_NAME], opset)


def export_module(
    module: nn.Module, example: torch.Tensor, path: Path, input_name: str, output_names, opset: int
) -> Path:
    """Exports `module` in eval mode with one input and the named outputs, every one with a
    dynamic first axis "batch"; checked, then renamed into place (no half-written file)."""
    path = Path(path)
    was_training = module.training
    module.eval()
    temporary = path.with_name(path.name + ".tmp")
    try:
        with warnings.catch_warnings():
            # The legacy TorchScript exporter (dynamo=False) warns that it is deprecated; it is
            # chosen on purpose: the dynamo exporter needs onnxscript and opset >= 18.
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                module,
                (example,),
                str(temporary),
                dynamo=False,
                opset_version=opset,
                input_names=[input_name],
                output_names=list(output_names),
                do_constant_folding=True,
                dynamic_axes={name: {0: "batch"} for name in [input_name, *output_names]},
            )
        onnx.checker.check_model(onnx.load(str(temporary)))
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()
        module.train(was_training)
    return path


@dataclass(frozen=True)
class ModelStory:
    """What a card says about where a model came from."""

    summary: str
    architecture: str
    recipe: str
    dataset: str
    seed: int
    normalization: str
    how_made: List[str] = field(default_factory=list)


@dataclass(frozen=True)
class PublishedModel:
    path: Path
    card: Path
    eval_set: Path
    params: int
    macs: int
    size_bytes: int
    precision: str
    host_top1: float


def eval_set_path(model_path: Path) -> Path:
    model_path = Path(model_path)
    return model_path.with_name(model_path.stem + EVAL_SET_SUFFIX)


def publish_model(
    path: Path, params: int, precision: str, story: ModelStory, eval_x: np.ndarray, eval_y: np.ndarray
) -> PublishedModel:
    """Writes the eval set, measures host accuracy on it, stamps the metadata into the ONNX
    file and writes the card. `params` is the trained network's parameter count (torch's,
    BatchNorm included); int8 variants carry their fp32 source's."""
    path = Path(path)
    eval_path = write_eval_set(eval_set_path(path), eval_x, eval_y)
    top1 = onnx_top1(path, eval_x, eval_y)
    model = onnx.load(str(path))
    macs = count_macs(model)
    set_metadata(
        model,
        {
            "edgebench.params": params,
            "edgebench.precision": precision,
            "edgebench.recipe": story.recipe,
            "edgebench.dataset": story.dataset,
            "edgebench.eval_set": eval_path.name,
            "edgebench.seed": story.seed,
            "edgebench.macs": macs,
            "edgebench.host_accuracy": "%.4f" % top1,
            "edgebench.description": story.summary,
            "edgebench.normalization": story.normalization,
        },
    )
    write_atomically(path, model.SerializeToString(), option="--out")
    size = path.stat().st_size
    input_dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    output_dims = [d.dim_param or d.dim_value for d in model.graph.output[0].type.tensor_type.shape.dim]
    opset = max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    facts = CardFacts(
        name=path.stem,
        summary=story.summary,
        architecture=story.architecture,
        input_name=model.graph.input[0].name,
        input_dims=input_dims,
        output_name=model.graph.output[0].name,
        output_dims=output_dims,
        params=params,
        stored_values=count_stored_values(model),
        macs=macs,
        size_bytes=size,
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        precision=precision,
        dataset=story.dataset,
        normalization=story.normalization,
        eval_set=eval_path.name,
        eval_samples=len(eval_y),
        host_top1=top1,
        recipe=story.recipe,
        seed=story.seed,
        opset=opset,
        ir_version=model.ir_version,
        how_made=list(story.how_made),
    )
    card = path.with_suffix(".md")
    write_atomically(card, render_card(facts), option="--out")
    return PublishedModel(path, card, eval_path, params, macs, size, precision, top1)
