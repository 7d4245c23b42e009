"""The paper's two networks (section 3.1, 3.2): a lightweight student CNN and a ResNet-50 teacher.

Both are generic in input channels, image size and class count, so the same code serves
CIFAR-10 (3x32x32), Tiny ImageNet (3x64x64) and scikit-learn's digits (1x8x8, used at its
native size: no upsampling, so the eval set holds exactly what the dataset holds).

Downsampling follows one rule for both nets (`stage_strides`): the map is halved only as often
as it stays at least `min_feature_size` (4) pixels wide, and those halvings go to the *last*
stages that ask for one. CIFAR-10 gets the usual 32 -> 16 -> 8 -> 4 pyramid; an 8x8 digit keeps
8x8 through the early stages and goes to 4x4 only in the last ones, instead of collapsing to 1x1,
where 3x3 convolutions would see only padding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Sequence, Tuple

import torch
from torch import nn


def make_divisible(value: float, divisor: int = 8) -> int:
    """Rounds a width to a multiple of `divisor` (as MobileNet does) so grouped convolutions
    always split evenly and no layer rounds down to zero channels."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:  # never lose more than 10% of the requested width
        rounded += divisor
    return rounded


def stage_strides(image_size: int, downsamples: Sequence[bool], min_feature_size: int) -> List[int]:
    """Stride per stage: as many halvings as keep the map >= min_feature_size, given to the
    *last* stages that ask for one, so a small image keeps full resolution early on."""
    budget, size = 0, image_size
    while size // 2 >= min_feature_size:
        budget, size = budget + 1, size // 2
    strides = [1] * len(downsamples)
    for index in reversed(range(len(downsamples))):
        if downsamples[index] and budget > 0:
            strides[index], budget = 2, budget - 1
    return strides


def kaiming_init(module: nn.Module) -> None:
    """Kaiming (He) normal for convolutions, as in Table 1; BN starts as identity."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            # torch counts a depthwise filter's fan-out as channels x k x k, though each input
            # feeds only k x k outputs; fan_out init then shrinks the signal ~channels-fold per
            # depthwise conv, and BN's running variance needs epochs to follow it down (eval
            # accuracy sat at chance for the first epochs on digits). fan_in is exact there.
            depthwise = m.groups == m.in_channels and m.groups > 1
            nn.init.kaiming_normal_(m.weight, mode="fan_in" if depthwise else "fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.zeros_(m.bias)


class ConvBNReLU(nn.Module):
    """Conv (no bias: BN supplies the shift) + BatchNorm + optional ReLU. Attributes `conv`
    and `bn` are what pruning replaces."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: int,
        stride: int = 1,
        groups: int = 1,
        relu: bool = True,
    ):
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel, stride, kernel // 2, groups=groups, bias=False
        )
        self.bn = nn.BatchNorm2d(out_channels)
        self.act = nn.ReLU(inplace=True) if relu else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class DepthwiseSeparable(nn.Module):
    """Depthwise 3x3 (groups = channels) then pointwise 1x1: the paper's cost cut of
    1/N + 1/K^2 against a plain KxK convolution."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.depthwise = ConvBNReLU(in_channels, in_channels, 3, stride, groups=in_channels)
        self.pointwise = ConvBNReLU(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class InvertedResidual(nn.Module):
    """Bottleneck residual block (MobileNet-v2 style): 1x1 expansion, depthwise 3x3, and a
    *grouped* 1x1 linear projection back to a narrow bottleneck, plus a skip connection when
    the shapes allow one.

    The projection is grouped (`groups` > 1) to cut its weights by that factor. No channel
    shuffle follows it: shuffling only matters between two grouped convolutions, and the next
    block's expansion is a dense 1x1 that mixes all groups anyway.

    Pruning removes the hidden (expanded) channels only: they are internal, so the block's
    input and output widths, and with them the residual addition, stay as they are.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, expansion: int, groups: int):
        super().__init__()
        hidden = make_divisible(in_channels * expansion, math.lcm(8, groups))
        self.expand = ConvBNReLU(in_channels, hidden, 1)
        self.depthwise = ConvBNReLU(hidden, hidden, 3, stride, groups=hidden)
        self.project = ConvBNReLU(hidden, out_channels, 1, groups=groups, relu=False)
        self.use_residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.depthwise(self.expand(x)))
        return x + out if self.use_residual else out


class ExitHead(nn.Module):
    """Classifier on pooled features; used for the final exit and the early exits. Early exits
    pool to a 2x2 grid (`grid`), not to one value per channel: a few narrow early channels
    averaged over the whole image lose where the strokes are (on digits an exit after the first
    stage reached 19% top-1 with global pooling)."""

    def __init__(self, channels: int, num_classes: int, dropout: float, grid: int = 1):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(grid)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(channels * grid * grid, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(torch.flatten(self.pool(x), 1)))


@dataclass(frozen=True)
class StudentStage:
    out_channels: int
    blocks: int
    expansion: int
    downsample: bool


# Width 1.0 on CIFAR-10 gives 2.38 M parameters (the paper's students have 2-5 M).
STUDENT_STEM_CHANNELS = 32
STUDENT_DS_CHANNELS = 48
STUDENT_STAGES: Tuple[StudentStage, ...] = (
    StudentStage(64, 2, 4, True),
    StudentStage(128, 3, 4, True),
    StudentStage(224, 3, 4, True),
    StudentStage(320, 2, 4, False),
)
STUDENT_HEAD_CHANNELS = 1024
EARLY_EXIT_GRID = 2  # early exit heads pool to 2x2 (ExitHead)


class LightweightCNN(nn.Module):
    """The student: stem conv, a depthwise-separable block, four stages of inverted residual
    blocks with grouped projections, a 1x1 head conv, dropout and a linear classifier.

    `early_exits` lists stage indices after which an auxiliary classifier sits. With
    `forward(x, all_exits=True)` the model returns every exit's logits (early ones first,
    final last); by default, and in export, only the final exit's.
    """

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 10,
        image_size: int = 32,
        width: float = 1.0,
        dropout: float = 0.3,
        groups: int = 2,
        early_exits: Sequence[int] = (),
        min_feature_size: int = 4,
    ):
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError("dropout must be in [0, 1), got %r" % dropout)
        stem = make_divisible(STUDENT_STEM_CHANNELS * width)
        self.stem = ConvBNReLU(in_channels, stem, 3)
        ds_out = make_divisible(STUDENT_DS_CHANNELS * width)
        self.separable = DepthwiseSeparable(stem, ds_out)
        strides = stage_strides(image_size, [spec.downsample for spec in STUDENT_STAGES], min_feature_size)
        channels = ds_out
        self.stages = nn.ModuleList()
        self.exit_heads = nn.ModuleDict()
        for index, (spec, stride) in enumerate(zip(STUDENT_STAGES, strides)):
            out = make_divisible(spec.out_channels * width)
            blocks = []
            for block_index in range(spec.blocks):
                blocks.append(
                    InvertedResidual(channels, out, stride if block_index == 0 else 1, spec.expansion, groups)
                )
                channels = out
            self.stages.append(nn.Sequential(*blocks))
            if index in early_exits:
                self.exit_heads[str(index)] = ExitHead(channels, num_classes, dropout, EARLY_EXIT_GRID)
        unknown = set(early_exits) - set(range(len(STUDENT_STAGES) - 1))
        if unknown:
            raise ValueError(
                "early exits must name stages 0..%d, got %s" % (len(STUDENT_STAGES) - 2, sorted(unknown))
            )
        head = make_divisible(STUDENT_HEAD_CHANNELS * width)
        self.head_conv = ConvBNReLU(channels, head, 1)
        self.classifier = ExitHead(head, num_classes, dropout)
        kaiming_init(self)
        # Residual blocks start as identity (zero last-BN gamma, as in the teacher): on digits
        # this took the distilled student from ~94% to ~98% test accuracy in 20 epochs.
        for m in self.modules():
            if isinstance(m, InvertedResidual) and m.use_residual:
                nn.init.zeros_(m.project.bn.weight)

    def forward(self, x: torch.Tensor, all_exits: bool = False):
        x = self.separable(self.stem(x))
        exits: List[torch.Tensor] = []
        for index, stage in enumerate(self.stages):
            x = stage(x)
            key = str(index)
            if all_exits and key in self.exit_heads:
                exits.append(self.exit_heads[key](x))
        logits = self.classifier(self.head_conv(x))
        return exits + [logits] if all_exits else logits


class Bottleneck(nn.Module):
    """ResNet-50's bottleneck: 1x1 reduce, 3x3 (carries the stride), 1x1 expand x4."""

    expansion = 4

    def __init__(self, in_channels: int, planes: int, stride: int):
        super().__init__()
        out = planes * self.expansion
        self.reduce = ConvBNReLU(in_channels, planes, 1)
        self.conv = ConvBNReLU(planes, planes, 3, stride)
        self.restore = ConvBNReLU(planes, out, 1, relu=False)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out:
            self.shortcut = ConvBNReLU(in_channels, out, 1, stride, relu=False)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.restore(self.conv(self.reduce(x))) + self.shortcut(x))


RESNET50_BLOCKS = (3, 4, 6, 3)
RESNET50_PLANES = (64, 128, 256, 512)


class ResNet50(nn.Module):
    """ResNet-50 for small images: a 3x3 stride-1 stem and no max-pool (the CIFAR adaptation),
    so a 32x32 image is not shrunk 4x before the first stage. Width 1.0 has 23.5 M parameters
    for 10 classes, the paper's teacher; smaller widths keep a demo teacher trainable on 2 cores.
    """

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 10,
        image_size: int = 32,
        width: float = 1.0,
        min_feature_size: int = 4,
    ):
        super().__init__()
        stem = make_divisible(64 * width)
        self.stem = ConvBNReLU(in_channels, stem, 3)
        channels = stem
        strides = stage_strides(
            image_size, [index > 0 for index in range(len(RESNET50_BLOCKS))], min_feature_size
        )
        layers = []
        for blocks, planes, stride in zip(RESNET50_BLOCKS, RESNET50_PLANES, strides):
            planes = make_divisible(planes * width)
            stage = []
            for block_index in range(blocks):
                stage.append(Bottleneck(channels, planes, stride if block_index == 0 else 1))
                channels = planes * Bottleneck.expansion
            layers.append(nn.Sequential(*stage))
        self.layers = nn.Sequential(*layers)
        self.classifier = ExitHead(channels, num_classes, dropout=0.0)
        kaiming_init(self)
        # Zero the last BN of each residual branch: every block starts as identity, which
        # makes a 50-layer net train from the first step (Goyal et al., 2017).
        for m in self.modules():
            if isinstance(m, Bottleneck):
                nn.init.zeros_(m.restore.bn.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.layers(self.stem(x)))


def count_parameters(model: nn.Module, exclude_early_exits: bool = True) -> int:
    """Trainable parameters; early-exit heads are left out by default because export drops them."""
    total = 0
    for name, p in model.named_parameters():
        if exclude_early_exits and name.startswith("exit_heads."):
            continue
        total += p.numel()
    return total


def build_student(
    in_channels: int,
    num_classes: int,
    image_size: int,
    width: float = 1.0,
    dropout: float = 0.3,
    early_exits: Sequence[int] = (),
    groups: int = 2,
) -> LightweightCNN:
    return LightweightCNN(in_channels, num_classes, image_size, width, dropout, groups, tuple(early_exits))


def build_teacher(in_channels: int, num_classes: int, image_size: int, width: float = 1.0) -> ResNet50:
    return ResNet50(in_channels, num_classes, image_size, width)


class FinalExit(nn.Module):
    """Wraps a model so that tracing (export) sees only the final exit's logits."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        return out[-1] if isinstance(out, (list, tuple)) else out
