"""Training as in the paper's Table 1: Adam, a cyclic learning rate between 1e-5 and 1e-3,
batch 64, augmentation, and the alpha * CE + beta * KD distillation loss.

The cyclic schedule runs whole triangles (`lr_cycles` of them) over the run, so training
starts and ends at the low rate: the first half-cycle is a warm-up and the weights kept at the
end were not taken mid-spike. Adam's own `lr` is set to `lr_max` (Table 1's "initial learning
rate 0.001"); CyclicLR overrides it from the first step.
"""

from __future__ import annotations

import copy
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterator, List, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from .augment import AugmentConfig, Augmenter
from .datasets import Dataset
from .losses import DEFAULT_ALPHA, DEFAULT_BETA, DEFAULT_TEMPERATURE, distillation_loss


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 30
    batch_size: int = 64
    lr_min: float = 1e-5
    lr_max: float = 1e-3
    lr_cycles: int = 1
    weight_decay: float = 0.0  # not in Table 1
    alpha: float = DEFAULT_ALPHA
    beta: float = DEFAULT_BETA
    temperature: float = DEFAULT_TEMPERATURE
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    early_exit_weight: float = 0.3  # each early exit's share of the loss, beside the final exit's 1
    keep_best: bool = True  # end with the epoch that scored best on the val split
    seed: int = 0
    progress: bool = True
    label: str = "train"


@dataclass
class TrainResult:
    history: List[Dict[str, float]]
    best_val_top1: float


@contextmanager
def deterministic(seed: int) -> Iterator[None]:
    """Seeds torch's global generator (init, dropout) and asks for deterministic kernels,
    restoring the previous setting afterwards so callers' processes are left as they were."""
    previous = torch.are_deterministic_algorithms_enabled()
    previous_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous, warn_only=previous_warn)


def evaluate(model: nn.Module, x: np.ndarray, y: np.ndarray, batch_size: int = 512) -> float:
    """Top-1 accuracy (a fraction in [0, 1]) of the model's final exit."""
    if len(x) == 0:
        raise ValueError("evaluate needs at least one sample")
    was_training = model.training
    model.eval()
    correct = 0
    with torch.inference_mode():
        for start in range(0, len(x), batch_size):
            logits = _final_logits(model(torch.from_numpy(x[start : start + batch_size])))
            correct += int((logits.argmax(1).numpy() == y[start : start + batch_size]).sum())
    model.train(was_training)
    return correct / len(x)


def _final_logits(out) -> torch.Tensor:
    return out[-1] if isinstance(out, (list, tuple)) else out


def _has_early_exits(model: nn.Module) -> bool:
    heads = getattr(model, "exit_heads", None)
    return heads is not None and len(heads) > 0


LossFn = Callable[[torch.Tensor, Optional[torch.Tensor], torch.Tensor], torch.Tensor]


def _batch_loss(
    model: nn.Module,
    teacher: Optional[nn.Module],
    x: torch.Tensor,
    targets: torch.Tensor,
    loss_fn: LossFn,
    all_exits: bool,
    early_exit_weight: float,
) -> torch.Tensor:
    """The final exit's loss plus the weighted loss of each early exit (all against the same
    teacher logits, computed once without gradients)."""
    teacher_logits = None
    if teacher is not None:
        with torch.inference_mode():
            teacher_logits = _final_logits(teacher(x))
        teacher_logits = teacher_logits.clone()  # inference tensors cannot enter autograd
    outputs = model(x, all_exits=True) if all_exits else [model(x)]
    loss = loss_fn(outputs[-1], teacher_logits, targets)
    for early in outputs[:-1]:
        loss = loss + early_exit_weight * loss_fn(early, teacher_logits, targets)
    return loss


def _run(
    model: nn.Module, data: Dataset, config: TrainConfig, loss_fn: LossFn, teacher: Optional[nn.Module] = None
) -> TrainResult:
    if config.epochs < 1:
        raise ValueError("epochs must be at least 1, got %d" % config.epochs)
    steps_per_epoch = len(data.x_train) // config.batch_size  # drop the last partial batch (BN)
    if steps_per_epoch < 1:
        raise ValueError(
            "%d training samples are fewer than one batch of %d" % (len(data.x_train), config.batch_size)
        )
    x_all, y_all = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    rng = np.random.default_rng(config.seed)
    augment = Augmenter(config.augment, data.num_classes, config.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr_max, weight_decay=config.weight_decay)
    total_steps = config.epochs * steps_per_epoch
    half_cycle = max(1, total_steps // (2 * max(1, config.lr_cycles)))
    scheduler = torch.optim.lr_scheduler.CyclicLR(
        optimizer,
        base_lr=config.lr_min,
        max_lr=config.lr_max,
        step_size_up=half_cycle,
        mode="triangular",
        cycle_momentum=False,
    )
    all_exits = _has_early_exits(model)
    if teacher is not None:
        teacher.eval()
    history: List[Dict[str, float]] = []
    best_top1, best_state = -1.0, None
    show = config.progress and sys.stderr.isatty()
    with deterministic(config.seed):
        for epoch in range(1, config.epochs + 1):
            model.train()
            order = torch.from_numpy(rng.permutation(len(x_all)))
            bar = tqdm(
                range(steps_per_epoch),
                desc="%s %d/%d" % (config.label, epoch, config.epochs),
                disable=not show,
                leave=False,
                file=sys.stderr,
            )
            running = 0.0
            for step in bar:
                index = order[step * config.batch_size : (step + 1) * config.batch_size]
                x, targets = augment(x_all[index], y_all[index])
                loss = _batch_loss(model, teacher, x, targets, loss_fn, all_exits, config.early_exit_weight)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                running += float(loss.detach())
                bar.set_postfix(loss="%.3f" % (running / (step + 1)), refresh=False)
            top1 = evaluate(model, data.x_val, data.y_val)
            history.append({"epoch": epoch, "loss": running / steps_per_epoch, "val_top1": top1})
            if show:
                tqdm.write(
                    "%s %d/%d: loss %.3f, val top-1 %.2f%%"
                    % (config.label, epoch, config.epochs, running / steps_per_epoch, 100 * top1),
                    file=sys.stderr,
                )
            if top1 > best_top1:
                best_top1 = top1
                best_state = copy.deepcopy(model.state_dict()) if config.keep_best else None
    if config.keep_best and best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return TrainResult(history, best_top1)


def _cross_entropy(
    logits: torch.Tensor, _teacher: Optional[torch.Tensor], targets: torch.Tensor
) -> torch.Tensor:
    return F.cross_entropy(logits, targets)


def train_teacher(teacher: nn.Module, data: Dataset, config: TrainConfig) -> TrainResult:
    """Supervised training with cross-entropy on (possibly mixed) labels."""
    return _run(teacher, data, config, _cross_entropy)


def distill_student(
    student: nn.Module, teacher: nn.Module, data: Dataset, config: TrainConfig
) -> TrainResult:
    """Trains the student on alpha * CE(labels) + beta * KD(teacher's softened logits)."""

    def loss(logits, teacher_logits, targets):
        return distillation_loss(
            logits, teacher_logits, targets, config.alpha, config.beta, config.temperature
        )

    return _run(student, data, config, loss, teacher)


def fine_tune(
    model: nn.Module, data: Dataset, config: TrainConfig, teacher: Optional[nn.Module] = None
) -> TrainResult:
    """Recovers accuracy after pruning: distillation when a teacher is given, else plain CE."""
    if teacher is None:
        return _run(model, data, config, _cross_entropy)
    return distill_student(model, teacher, data, config)
