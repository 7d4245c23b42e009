"""Iterative structured L1-norm filter pruning (paper, section 3.1) that removes filters for
real: Conv and BatchNorm layers are rebuilt with fewer channels, and the layers that read them
are rebuilt to match, so the exported model is smaller and faster, not just sparse.

What is pruned is a *chain*: a producer conv + BN makes a set of channels, an optional
depthwise conv + BN maps them one to one, and a consumer conv reads them. In the student that
is the stem (consumed by the depthwise-separable block) and each inverted residual block's
hidden channels (expansion -> depthwise -> grouped projection). Block inputs and outputs are
never pruned, so every residual addition keeps its shapes.

Filters are ranked per layer by the L1 norm of their weights, each chain losing the same
fraction ("layer-wise magnitude pruning"); sparsity rises over `steps` rounds with fine-tuning
between them. The target is a fraction of the prunable filters or of the model's MACs.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple

import torch
from torch import nn

from .architectures import ConvBNReLU, InvertedResidual, LightweightCNN, count_parameters

CRITERIA = ("filters", "macs")


@dataclass(frozen=True)
class Chain:
    name: str
    producer: ConvBNReLU
    depthwise: Optional[ConvBNReLU]
    consumer: ConvBNReLU

    @property
    def channels(self) -> int:
        return self.producer.conv.out_channels

    @property
    def groups(self) -> int:
        return self.consumer.conv.groups


@dataclass(frozen=True)
class PruneStep:
    step: int
    filters_removed: float  # fraction of the prunable filters gone so far
    params: int
    macs: int
    val_top1: Optional[float]


def prunable_chains(model: nn.Module) -> List[Chain]:
    if not isinstance(model, LightweightCNN):
        raise TypeError(
            "structured pruning knows the student (LightweightCNN), not %s" % type(model).__name__
        )
    chains = [Chain("stem", model.stem, model.separable.depthwise, model.separable.pointwise)]
    for stage_index, stage in enumerate(model.stages):
        for block_index, block in enumerate(stage):
            assert isinstance(block, InvertedResidual)
            chains.append(
                Chain(
                    "stages.%d.%d" % (stage_index, block_index), block.expand, block.depthwise, block.project
                )
            )
    return chains


def filter_l1_norms(layer: ConvBNReLU) -> torch.Tensor:
    """L1 norm of each filter of the conv with its BatchNorm folded in, i.e. of the filters
    that export ships. The bare conv weight would mislead: BN rescales every channel by
    gamma / sqrt(var + eps), so a filter's raw magnitude says nothing about its output."""
    weight = layer.conv.weight.detach().abs().sum(dim=(1, 2, 3))
    bn = layer.bn
    scale = bn.weight.detach().abs() if bn.affine else torch.ones_like(weight)
    return weight * scale / torch.sqrt(bn.running_var + bn.eps)


def select_filters(norms: torch.Tensor, keep: int, groups: int) -> torch.Tensor:
    """Indices (ascending) of the `keep` filters with the largest L1 norms, the same number from
    each of the consumer's `groups` input groups so that grouped convolution still splits evenly."""
    if keep % groups:
        raise ValueError("keep=%d is not a multiple of groups=%d" % (keep, groups))
    per_group, size = keep // groups, len(norms) // groups
    kept = []
    for g in range(groups):
        local = torch.topk(norms[g * size : (g + 1) * size], per_group).indices
        kept.append(local + g * size)
    return torch.sort(torch.cat(kept)).values


def _copy_conv(
    conv: nn.Conv2d,
    in_channels: int,
    out_channels: int,
    groups: int,
    weight: torch.Tensor,
    bias: Optional[torch.Tensor],
) -> nn.Conv2d:
    new = nn.Conv2d(
        in_channels,
        out_channels,
        conv.kernel_size,
        conv.stride,
        conv.padding,
        conv.dilation,
        groups,
        bias=bias is not None,
    )
    new.train(conv.training)
    new.weight.data.copy_(weight)
    if bias is not None:
        new.bias.data.copy_(bias)
    return new


def _slice_bn(bn: nn.BatchNorm2d, keep: torch.Tensor) -> nn.BatchNorm2d:
    new = nn.BatchNorm2d(len(keep), bn.eps, bn.momentum, bn.affine, bn.track_running_stats)
    new.train(bn.training)  # a fresh module is in training mode; an eval model must stay eval
    if bn.affine:
        new.weight.data.copy_(bn.weight.detach()[keep])
        new.bias.data.copy_(bn.bias.detach()[keep])
    if bn.track_running_stats:
        new.running_mean.copy_(bn.running_mean[keep])
        new.running_var.copy_(bn.running_var[keep])
        new.num_batches_tracked.copy_(bn.num_batches_tracked)
    return new


def _slice_bias(conv: nn.Conv2d, keep: Optional[torch.Tensor] = None) -> Optional[torch.Tensor]:
    if conv.bias is None:
        return None
    return conv.bias.detach() if keep is None else conv.bias.detach()[keep]


def remove_filters(chain: Chain, keep: torch.Tensor) -> None:
    """Rebuilds the chain's layers in place so only the channels in `keep` remain."""
    producer, depthwise, consumer = chain.producer.conv, chain.depthwise, chain.consumer.conv
    if producer.groups != 1:
        raise ValueError("%s: the producer conv must be dense to drop single filters" % chain.name)
    n = len(keep)
    chain.producer.conv = _copy_conv(
        producer, producer.in_channels, n, 1, producer.weight.detach()[keep], _slice_bias(producer, keep)
    )
    chain.producer.bn = _slice_bn(chain.producer.bn, keep)
    if depthwise is not None:
        dw = depthwise.conv
        depthwise.conv = _copy_conv(dw, n, n, n, dw.weight.detach()[keep], _slice_bias(dw, keep))
        depthwise.bn = _slice_bn(depthwise.bn, keep)
    # The consumer's group g reads input channels [g*size, (g+1)*size) and writes output rows
    # [g*rows, (g+1)*rows): keep, per group, the columns of the surviving channels.
    groups, size = consumer.groups, consumer.in_channels // consumer.groups
    rows = consumer.out_channels // groups
    weight = consumer.weight.detach()
    parts = []
    for g in range(groups):
        local = keep[(keep >= g * size) & (keep < (g + 1) * size)] - g * size
        parts.append(weight[g * rows : (g + 1) * rows][:, local])
    chain.consumer.conv = _copy_conv(
        consumer, n, consumer.out_channels, groups, torch.cat(parts), _slice_bias(consumer)
    )


def _kept_count(original: int, fraction: float, groups: int, multiple: int) -> int:
    """Channels left after removing `fraction` of `original`, rounded down to a multiple of
    `multiple` and of the consumer's groups (runtimes block channels by 8 or 16 for SIMD), but
    never below one such multiple."""
    step = math.lcm(multiple, groups)
    keep = int(original * (1.0 - fraction)) // step * step
    return min(original, max(step, keep))


def prune_to_fraction(
    model: nn.Module, originals: Sequence[int], fraction: float, channel_multiple: int = 8
) -> None:
    """Shrinks every chain to (1 - fraction) of its original width, by L1 norm."""
    for chain, original in zip(prunable_chains(model), originals):
        keep = _kept_count(original, fraction, chain.groups, channel_multiple)
        if keep < chain.channels:
            remove_filters(chain, select_filters(filter_l1_norms(chain.producer), keep, chain.groups))


def count_macs(model: nn.Module, input_shape: Tuple[int, ...]) -> int:
    """Multiply-accumulates of Conv2d and Linear layers for one input, by forward hooks."""
    total = [0]

    def conv_hook(module: nn.Conv2d, _inputs, output):
        kh, kw = module.kernel_size
        total[0] += output.numel() // output.shape[0] * (module.in_channels // module.groups) * kh * kw

    def linear_hook(module: nn.Linear, _inputs, output):
        total[0] += output.numel() // output.shape[0] * module.in_features

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros((1,) + tuple(input_shape)))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return total[0]


def filter_fraction_for_macs(
    model: nn.Module,
    originals: Sequence[int],
    mac_fraction: float,
    input_shape: Tuple[int, ...],
    original_macs: int,
    channel_multiple: int = 8,
) -> float:
    """The per-chain filter fraction that removes at least `mac_fraction` of the original
    MACs (bisection on a copy), or the most that can be removed if that is out of reach."""
    goal = original_macs * (1.0 - mac_fraction)

    def macs_at(fraction: float) -> int:
        trial = copy.deepcopy(model)
        prune_to_fraction(trial, originals, fraction, channel_multiple)
        return count_macs(trial, input_shape)

    low, high = 0.0, 0.99
    if macs_at(high) > goal:
        return high
    for _ in range(20):
        middle = (low + high) / 2
        low, high = (middle, high) if macs_at(middle) > goal else (low, middle)
    return high


FineTune = Callable[[nn.Module, int], Optional[float]]


def iterative_prune(
    model: nn.Module,
    target: float,
    steps: int,
    input_shape: Tuple[int, ...],
    fine_tune: Optional[FineTune] = None,
    criterion: str = "filters",
    channel_multiple: int = 8,
) -> List[PruneStep]:
    """Prunes `model` in place over `steps` rounds to `target` (a fraction of the prunable
    filters, or of the MACs with criterion="macs"), calling `fine_tune(model, step)` after each
    round; it may return the val accuracy for the report."""
    if criterion not in CRITERIA:
        raise ValueError("criterion must be one of %s, got %r" % (", ".join(CRITERIA), criterion))
    if not 0.0 <= target < 1.0:
        raise ValueError("target must be in [0, 1), got %r" % target)
    if steps < 1:
        raise ValueError("steps must be at least 1, got %d" % steps)
    chains = prunable_chains(model)
    originals = [c.channels for c in chains]
    original_macs = count_macs(model, input_shape)
    history = []
    for step in range(1, steps + 1):
        goal = target * step / steps
        fraction = (
            goal
            if criterion == "filters"
            else filter_fraction_for_macs(
                model, originals, goal, input_shape, original_macs, channel_multiple
            )
        )
        prune_to_fraction(model, originals, fraction, channel_multiple)
        top1 = fine_tune(model, step) if fine_tune is not None else None
        removed = 1.0 - sum(c.channels for c in prunable_chains(model)) / float(sum(originals))
        history.append(
            PruneStep(step, removed, count_parameters(model), count_macs(model, input_shape), top1)
        )
    return history
