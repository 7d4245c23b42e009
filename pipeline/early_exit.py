"""`edgebench models build --recipe early-exit`: a student with early-exit heads, trained with
every exit's loss, exported as separate ONNX pieces that the agent runs one after another
(`agent/earlyexit.py`), stopping at the first exit confident enough.

Why pieces: ONNX Runtime runs a graph whole; one graph holding every exit computes every exit
on every call and saves nothing. Files written to `OUT/<dataset>_early_exit/`:

- `segment_1.onnx`, `exit_1.onnx`, `segment_2.onnx`, `exit_2.onnx`, ..., `final.onnx`: the
  pieces in the order they run (a segment continues the backbone from the previous segment's
  features; an exit reads the segment before it; `final` is the rest of the backbone and the
  final head); each with a dynamic batch axis;
- `graph_all_exits.onnx`: the same network as one graph returning every exit's logits (what one
  file holding the exits costs); `graph_final.onnx`: one graph without the exit heads (the
  network early exit is compared with);
- `eval.npz`: the eval set (as `edgebench models build` writes it for the other variants);
- `manifest.json`: format, pieces in order (file, kind, input and output names, sha256), the
  graphs, the eval set, the host's accuracy per exit and how the model was made.

The subfolder keeps the pieces out of `edgebench sweep models/`: they are not models alone.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import List, Tuple

import numpy as np
import torch
from torch import nn

from edgebench.agent.earlyexit import MANIFEST_FORMAT, MANIFEST_NAME  # the format the agent reads
from edgebench.orchestrator.options import write_atomically

from .architectures import FinalExit, LightweightCNN, build_student, count_parameters
from .build import _say, _schedule, _train_config
from .datasets import Dataset
from .evalset import eval_subset, write_eval_set
from .export import INPUT_NAME, OUTPUT_NAME, export_module
from .onnx_eval import open_session
from .recipes import Recipe
from .train import fine_tune

EVAL_SET_NAME = "eval.npz"
GRAPH_ALL_EXITS = "graph_all_exits"
GRAPH_FINAL = "graph_final"
# The pieces chained in onnxruntime must give the torch model's logits: BatchNorm folding and
# kernel choice move them by ~1e-6; a wrong cut moves them by whole units.
CHAIN_TOLERANCE = 1e-3


@dataclass
class Piece:
    name: str  # segment_N, exit_N or final
    kind: str  # segment, exit or final
    module: nn.Module
    input: str  # tensor names, as in the ONNX files and the manifest
    output: str


def folder_for(out: Path, dataset: str) -> Path:
    return Path(out) / ("%s_early_exit" % dataset)


def split_pieces(model: LightweightCNN) -> List[Piece]:
    """The student cut after each stage that carries an exit head: segment, exit, segment,
    exit, ..., final. The pieces share the model's layers (no copies)."""
    exits = sorted(int(key) for key in model.exit_heads)
    if not exits:
        raise ValueError("the model has no early-exit heads to cut at")
    pieces: List[Piece] = []
    start, features = 0, INPUT_NAME
    for number, stage in enumerate(exits, 1):
        layers = _stem(model, start) + list(model.stages[start : stage + 1])
        segment_out = "features_%d" % number
        pieces.append(Piece("segment_%d" % number, "segment", nn.Sequential(*layers), features, segment_out))
        exit_logits = "exit_%d_logits" % number
        pieces.append(
            Piece("exit_%d" % number, "exit", model.exit_heads[str(stage)], segment_out, exit_logits)
        )
        start, features = stage + 1, segment_out
    rest = _stem(model, start) + list(model.stages[start:]) + [model.head_conv, model.classifier]
    pieces.append(Piece("final", "final", nn.Sequential(*rest), features, OUTPUT_NAME))
    for piece in pieces:  # a new Sequential starts in training mode; exporting it restores that
        piece.module.train(model.training)
    return pieces


def _stem(model: LightweightCNN, start: int) -> list:
    return [model.stem, model.separable] if start == 0 else []


class AllExits(nn.Module):
    """Every exit's logits from one graph, early ones first."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor):
        return tuple(self.model(x, all_exits=True))


def export_pieces(model: LightweightCNN, folder: Path, input_shape: Tuple[int, ...], opset: int) -> dict:
    """Writes every piece and both whole graphs into `folder`; returns the manifest's `pieces`
    and `graphs` entries. The model is left in the mode it was in."""
    folder = Path(folder)
    was_training = model.training
    model.eval()
    try:
        tensors = {INPUT_NAME: torch.zeros((1,) + tuple(input_shape))}
        entries = []
        for piece in split_pieces(model):
            path = export_module(
                piece.module,
                tensors[piece.input],
                folder / (piece.name + ".onnx"),
                piece.input,
                [piece.output],
                opset,
            )
            with torch.no_grad():  # not inference_mode: these tensors feed the next export's trace
                tensors[piece.output] = piece.module(tensors[piece.input])
            entries.append(
                _file_entry(path, name=piece.name, kind=piece.kind, input=piece.input, output=piece.output)
            )
        exit_outputs = [e["output"] for e in entries if e["kind"] in ("exit", "final")]
        example = tensors[INPUT_NAME]
        all_exits = export_module(
            AllExits(model), example, folder / (GRAPH_ALL_EXITS + ".onnx"), INPUT_NAME, exit_outputs, opset
        )
        final = export_module(
            FinalExit(model), example, folder / (GRAPH_FINAL + ".onnx"), INPUT_NAME, [OUTPUT_NAME], opset
        )
    finally:
        model.train(was_training)
    graphs = {
        GRAPH_ALL_EXITS: _file_entry(all_exits, input=INPUT_NAME, outputs=exit_outputs),
        GRAPH_FINAL: _file_entry(final, input=INPUT_NAME, outputs=[OUTPUT_NAME]),
    }
    return {"pieces": entries, "graphs": graphs}


def _file_entry(path: Path, **fields) -> dict:
    entry = dict(fields)
    entry["file"] = path.name
    entry["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    return entry


def chain_pieces(folder: Path, pieces: List[dict], x: np.ndarray, threads: int = 1) -> List[np.ndarray]:
    """Every exit's logits (early ones first, final last) from the pieces run in onnxruntime,
    each on the output its manifest entry names."""
    tensors = {INPUT_NAME: np.ascontiguousarray(x, dtype=np.float32)}
    logits = []
    for entry in pieces:
        session = open_session(Path(folder) / entry["file"], threads)
        tensors[entry["output"]] = session.run(None, {entry["input"]: tensors[entry["input"]]})[0]
        if entry["kind"] != "segment":
            logits.append(tensors[entry["output"]])
    return logits


def torch_exit_logits(model: nn.Module, x: np.ndarray) -> List[np.ndarray]:
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            return [t.numpy() for t in model(torch.from_numpy(x), all_exits=True)]
    finally:
        model.train(was_training)


def build_early_exit(
    plan: Recipe, ds: Dataset, out: Path, seed: int, progress: bool, opset: int, overrides: dict
) -> List[Path]:
    """Trains the student with its exits on `ds` (cross-entropy at every exit, the early ones
    weighted by `plan.early_exit_weight`), exports the pieces, checks that they chain to the
    torch model's logits, and writes the manifest. Returns the manifest's path, then the files
    it names."""
    folder = folder_for(out, ds.name)
    folder.mkdir(parents=True, exist_ok=True)
    student, result = _train(plan, ds, seed, progress)
    entries = export_pieces(student, folder, ds.input_shape, opset)
    eval_x, eval_y = eval_subset(ds.x_test, ds.y_test, plan.eval_samples, seed)
    eval_path = write_eval_set(folder / EVAL_SET_NAME, eval_x, eval_y)
    chained = chain_pieces(folder, entries["pieces"], eval_x)
    error = max(float(np.abs(a - b).max()) for a, b in zip(chained, torch_exit_logits(student, eval_x)))
    if error > CHAIN_TOLERANCE:
        raise RuntimeError(
            "the exported pieces disagree with the torch model by %.3g (> %g)" % (error, CHAIN_TOLERANCE)
        )
    exit_names = [e["name"] for e in entries["pieces"] if e["kind"] != "segment"]
    accuracy = {name: float((logits.argmax(1) == eval_y).mean()) for name, logits in zip(exit_names, chained)}
    manifest = dict(
        _provenance(plan, ds, seed, opset, overrides, result),
        pieces=entries["pieces"],
        graphs=entries["graphs"],
        eval_set={
            "file": eval_path.name,
            "samples": len(eval_y),
            "split": "test (%d samples), a subset chosen by seed %d when larger than %d"
            % (len(ds.y_test), seed, plan.eval_samples),
        },
        host_top1=accuracy,
        pieces_max_abs_error=error,
    )
    manifest_path = write_atomically(
        folder / MANIFEST_NAME, json.dumps(manifest, indent=2) + "\n", option="--out"
    )
    _say(
        progress,
        "  %s: host top-1 %s; pieces match torch within %.2g"
        % (folder, ", ".join("%s %.2f%%" % (name, 100 * value) for name, value in accuracy.items()), error),
    )
    files = [folder / e["file"] for e in entries["pieces"]] + [
        folder / g["file"] for g in entries["graphs"].values()
    ]
    return [manifest_path] + files + [eval_path]


def _train(plan: Recipe, ds: Dataset, seed: int, progress: bool):
    c, h, _ = ds.input_shape
    torch.manual_seed(seed + 1)
    student = build_student(c, ds.num_classes, h, plan.student_width, plan.dropout, plan.early_exits)
    _say(
        progress,
        "edgebench models build: early-exit student on %s, width %g, exits after stages %s, "
        "%s parameters with the exit heads; %d epochs, cross-entropy at every exit (early exits "
        "weighted %g)"
        % (
            ds.name,
            plan.student_width,
            ", ".join(map(str, plan.early_exits)),
            format(count_parameters(student, exclude_early_exits=False), ","),
            plan.student_epochs,
            plan.early_exit_weight,
        ),
    )
    config = _train_config(
        plan,
        plan.student_epochs,
        plan.student_lr_cycles,
        plan.student_augment,
        seed + 1,
        progress,
        "early-exit student",
    )
    return student, fine_tune(student, ds, config)


def _provenance(plan: Recipe, ds: Dataset, seed: int, opset: int, overrides: dict, result) -> dict:
    """The manifest's fields saying what the model is and how it was made."""
    c, h, w = ds.input_shape
    schedule = _schedule(plan, plan.student_epochs, plan.student_lr_cycles, plan.student_augment, result)
    shown = "".join(", %s=%r" % item for item in sorted(overrides.items()))
    return {
        "format": MANIFEST_FORMAT,
        "dataset": ds.name,
        "num_classes": ds.num_classes,
        "input": {"name": INPUT_NAME, "shape": ["batch", c, h, w], "normalization": ds.normalization},
        "recipe": plan.name,
        "seed": seed,
        "opset": opset,
        "how_made": "student (width %g, exits after stages %s): %s; plain cross-entropy, each early "
        "exit's loss weighted %g against the final exit's 1"
        % (plan.student_width, ", ".join(map(str, plan.early_exits)), schedule, plan.early_exit_weight),
        "built_by": "edgebench.pipeline.build.build_models(recipe=%r, dataset=%r, seed=%d%s)"
        % (plan.name, ds.name, seed, shown),
    }
