"""Training-time augmentation on batches of normalized NCHW tensors (Table 1: crop, flip,
brightness/contrast, CutMix, MixUp). Each one can be switched off; all randomness comes from
generators seeded by the caller, so a seed fixes every augmented batch.

Labels come back as soft targets [N, classes]: one-hot rows, or the lambda-weighted mix of two
rows after CutMix/MixUp, which cross-entropy takes directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentConfig:
    crop_padding: int = 4  # random crop after zero padding (0 = the mean, data is normalized); 0 = off
    horizontal_flip: bool = True  # off for digits: a mirrored 2 is not a 2
    brightness: float = 0.2  # add U(-b, b) per image (in std units); 0 = off
    contrast: float = 0.2  # scale around the image mean by U(1-c, 1+c); 0 = off
    cutmix_alpha: float = 1.0  # Beta(a, a) for the pasted box's area; 0 = off
    mixup_alpha: float = 0.2  # Beta(a, a) for the blend weight; 0 = off
    mix_probability: float = 0.5  # chance that a batch is mixed at all (CutMix or MixUp, 50/50 if both on)

    @classmethod
    def none(cls) -> "AugmentConfig":
        return cls(0, False, 0.0, 0.0, 0.0, 0.0, 0.0)


class Augmenter:
    def __init__(self, config: AugmentConfig, num_classes: int, seed: int):
        self.config = config
        self.num_classes = num_classes
        self.generator = torch.Generator().manual_seed(seed)
        self.rng = np.random.default_rng(seed)

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        c = self.config
        targets = F.one_hot(y, self.num_classes).to(x.dtype)
        if c.crop_padding > 0:
            x = random_crop(x, c.crop_padding, self.generator)
        if c.horizontal_flip:
            x = random_flip(x, self.generator)
        if c.brightness > 0 or c.contrast > 0:
            x = brightness_contrast(x, c.brightness, c.contrast, self.generator)
        mixers = [m for m, on in (("cutmix", c.cutmix_alpha > 0), ("mixup", c.mixup_alpha > 0)) if on]
        if mixers and len(x) > 1 and self.rng.random() < c.mix_probability:
            perm = torch.randperm(len(x), generator=self.generator)
            if mixers[int(self.rng.integers(len(mixers)))] == "cutmix":
                x, lam = cutmix(x, perm, float(self.rng.beta(c.cutmix_alpha, c.cutmix_alpha)), self.rng)
            else:
                lam = float(self.rng.beta(c.mixup_alpha, c.mixup_alpha))
                x = lam * x + (1.0 - lam) * x[perm]
            targets = lam * targets + (1.0 - lam) * targets[perm]
        return x, targets


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator)


def random_crop(x: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Pads every side by `padding` and takes a random HxW window per image (one gather)."""
    n, c, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    rows = (dy[:, None] + torch.arange(h)[None, :])[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w)[None, :])[:, None, None, :]
    return padded[torch.arange(n)[:, None, None, None], torch.arange(c)[None, :, None, None], rows, cols]


def random_flip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    flip = torch.rand(len(x), generator=generator) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def brightness_contrast(
    x: torch.Tensor, brightness: float, contrast: float, generator: torch.Generator
) -> torch.Tensor:
    n = len(x)
    shift = _uniform(n, -brightness, brightness, generator)[:, None, None, None]
    scale = _uniform(n, 1.0 - contrast, 1.0 + contrast, generator)[:, None, None, None]
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * scale + mean + shift


def cutmix(x: torch.Tensor, perm: torch.Tensor, lam: float, rng: np.random.Generator):
    """Pastes one box from the permuted batch into every image; returns the images and the
    kept-area fraction (the label weight of the original image)."""
    _, _, h, w = x.shape
    cut = np.sqrt(1.0 - lam)
    ch, cw = int(round(h * cut)), int(round(w * cut))
    cy, cx = int(rng.integers(h)), int(rng.integers(w))
    top, bottom = max(cy - ch // 2, 0), min(cy + ch - ch // 2, h)
    left, right = max(cx - cw // 2, 0), min(cx + cw - cw // 2, w)
    mixed = x.clone()
    mixed[:, :, top:bottom, left:right] = x[perm, :, top:bottom, left:right]
    kept = 1.0 - (bottom - top) * (right - left) / float(h * w)
    return mixed, kept
