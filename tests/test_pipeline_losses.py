"""The distillation loss: alpha * CE + beta * T^2 * KL(teacher_T || student_T)."""

import math

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

from edgebench.pipeline.losses import distillation_loss, soft_target_kl  # noqa: E402


def test_identical_logits_have_no_kd_term():
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.1, 0.2, 3.0]])
    targets = torch.tensor([0, 2])
    assert float(soft_target_kl(logits, logits.clone(), temperature=4.0)) == pytest.approx(0.0, abs=1e-7)
    loss = distillation_loss(logits, logits.clone(), targets, alpha=0.4, beta=0.6, temperature=4.0)
    assert float(loss) == pytest.approx(0.4 * float(F.cross_entropy(logits, targets)), rel=1e-6)


def test_kd_term_matches_hand_computed_value_with_temperature():
    # One sample, two classes: student [0, 0], teacher [2, 0], T = 2.
    # p_teacher = softmax([1, 0]) = [e/(e+1), 1/(e+1)], p_student = [1/2, 1/2].
    student = torch.tensor([[0.0, 0.0]])
    teacher = torch.tensor([[2.0, 0.0]])
    p = [math.e / (math.e + 1), 1 / (math.e + 1)]
    kl = sum(pi * math.log(pi / 0.5) for pi in p)
    assert float(soft_target_kl(student, teacher, 2.0)) == pytest.approx(4 * kl, rel=1e-6)
    # T = 1: no softening and no scaling.
    p1 = [math.exp(2) / (math.exp(2) + 1), 1 / (math.exp(2) + 1)]
    kl1 = sum(pi * math.log(pi / 0.5) for pi in p1)
    assert float(soft_target_kl(student, teacher, 1.0)) == pytest.approx(kl1, rel=1e-6)


def test_alpha_and_beta_weight_the_two_terms():
    torch.manual_seed(0)
    student, teacher = torch.randn(8, 5), torch.randn(8, 5)
    targets = torch.randint(0, 5, (8,))
    ce = float(F.cross_entropy(student, targets))
    kd = float(soft_target_kl(student, teacher, 3.0))
    assert ce > 0 and kd > 0
    for alpha, beta in ((0.4, 0.6), (1.0, 0.0), (0.0, 1.0), (0.25, 2.0)):
        loss = distillation_loss(student, teacher, targets, alpha, beta, 3.0)
        assert float(loss) == pytest.approx(alpha * ce + beta * kd, rel=1e-5)


def test_defaults_are_the_papers():
    torch.manual_seed(1)
    student, teacher = torch.randn(4, 3), torch.randn(4, 3)
    targets = torch.tensor([0, 1, 2, 0])
    expected = 0.4 * F.cross_entropy(student, targets) + 0.6 * soft_target_kl(student, teacher, 4.0)
    assert float(distillation_loss(student, teacher, targets)) == pytest.approx(float(expected), rel=1e-6)


def test_soft_targets_equal_hard_labels_when_one_hot():
    torch.manual_seed(2)
    student, teacher = torch.randn(6, 4), torch.randn(6, 4)
    labels = torch.tensor([0, 1, 2, 3, 0, 1])
    hard = distillation_loss(student, teacher, labels)
    soft = distillation_loss(student, teacher, F.one_hot(labels, 4).float())
    assert float(hard) == pytest.approx(float(soft), rel=1e-6)


def test_without_teacher_only_the_weighted_cross_entropy_remains():
    logits = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    targets = torch.tensor([1, 1])
    assert float(distillation_loss(logits, None, targets, alpha=0.4)) == pytest.approx(
        0.4 * float(F.cross_entropy(logits, targets)), rel=1e-6
    )


def test_gradients_flow_to_the_student_only():
    student = torch.randn(3, 4, requires_grad=True)
    teacher = torch.randn(3, 4, requires_grad=True)
    distillation_loss(student, teacher, torch.tensor([0, 1, 2])).backward()
    assert student.grad is not None and float(student.grad.abs().sum()) > 0
    assert teacher.grad is None


def test_temperature_must_be_positive():
    with pytest.raises(ValueError, match="temperature"):
        soft_target_kl(torch.zeros(1, 2), torch.zeros(1, 2), 0.0)
