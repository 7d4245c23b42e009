"""The paper's distillation objective (equations 1 and 2): alpha * CE + beta * KD."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

DEFAULT_ALPHA = 0.4
DEFAULT_BETA = 0.6
# The paper says "typically computed with temperature scaling" without a value; 4 is the
# common choice since Hinton et al. (2015).
DEFAULT_TEMPERATURE = 4.0


def soft_target_kl(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float
) -> torch.Tensor:
    """KL(teacher || student) of the temperature-softened distributions, times T^2.

    The T^2 keeps this term's gradients on the same scale as the cross-entropy's when T
    changes (softening divides the gradients by T^2). Mean over the batch.
    """
    if temperature <= 0:
        raise ValueError("temperature must be positive, got %r" % temperature)
    student = F.log_softmax(student_logits / temperature, dim=1)
    teacher = F.log_softmax(teacher_logits.detach() / temperature, dim=1)
    kl = F.kl_div(student, teacher, reduction="batchmean", log_target=True)
    return kl * temperature * temperature


def distillation_loss(
    student_logits: torch.Tensor,
    teacher_logits: Optional[torch.Tensor],
    targets: torch.Tensor,
    alpha: float = DEFAULT_ALPHA,
    beta: float = DEFAULT_BETA,
    temperature: float = DEFAULT_TEMPERATURE,
) -> torch.Tensor:
    """alpha * CE(student, targets) + beta * T^2 * KL(teacher_T || student_T).

    `targets` are class indices [N] or soft targets [N, classes] (after CutMix/MixUp).
    Without a teacher the KD term is left out and the loss is alpha * CE.
    """
    loss = alpha * F.cross_entropy(student_logits, targets)
    if teacher_logits is not None and beta != 0:
        loss = loss + beta * soft_target_kl(student_logits, teacher_logits, temperature)
    return loss
