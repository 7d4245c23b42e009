"""Architectures, augmentation and the training loop (determinism, schedule, early exits)."""

import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgebench.pipeline.architectures import (  # noqa: E402
    build_student,
    build_teacher,
    count_parameters,
    stage_strides,
)
from edgebench.pipeline.augment import (  # noqa: E402
    AugmentConfig,
    Augmenter,
    cutmix,
    random_crop,
    random_flip,
)
from edgebench.pipeline.datasets import load_digits  # noqa: E402
from edgebench.pipeline.train import TrainConfig, distill_student, evaluate, train_teacher  # noqa: E402


# ---------------------------------------------------------------- architectures


def test_paper_sizes_at_width_one_on_cifar10():
    teacher = count_parameters(build_teacher(3, 10, 32, 1.0))
    student = count_parameters(build_student(3, 10, 32, 1.0))
    assert teacher == pytest.approx(23.5e6, rel=0.01)  # the paper's ResNet-50
    assert 2e6 <= student <= 5e6  # the paper's student range


@pytest.mark.parametrize("channels, size", [(1, 8), (3, 32), (3, 64)])
def test_nets_take_any_channels_and_size(channels, size):
    x = torch.randn(2, channels, size, size)
    for model in (build_student(channels, 7, size, 0.25), build_teacher(channels, 7, size, 0.125)):
        assert model.eval()(x).shape == (2, 7)


def test_student_uses_the_papers_building_blocks():
    model = build_student(3, 10, 32, 0.5)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert any(c.groups == c.in_channels == c.out_channels > 1 for c in convs)  # depthwise
    assert any(1 < c.groups < c.in_channels for c in convs)  # grouped
    assert any(getattr(m, "use_residual", False) for m in model.modules())  # residual
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert any(isinstance(m, torch.nn.Dropout) for m in model.modules())
    assert count_parameters(build_student(3, 10, 32, 0.5)) < count_parameters(build_student(3, 10, 32, 1.0))


def test_downsampling_goes_to_the_last_stages_and_stops_at_four_pixels():
    assert stage_strides(32, [True, True, True, False], 4) == [2, 2, 2, 1]
    assert stage_strides(8, [True, True, True, False], 4) == [1, 1, 2, 1]
    assert stage_strides(4, [True, True], 4) == [1, 1]


def test_early_exits_return_all_logits_only_when_asked():
    model = build_student(1, 10, 8, 0.25, early_exits=[0, 2]).eval()
    x = torch.randn(3, 1, 8, 8)
    outs = model(x, all_exits=True)
    assert len(outs) == 3 and all(o.shape == (3, 10) for o in outs)
    assert torch.equal(outs[-1], model(x))
    assert count_parameters(model) == count_parameters(build_student(1, 10, 8, 0.25))
    with pytest.raises(ValueError, match="early exits"):
        build_student(1, 10, 8, 0.25, early_exits=[3])


# ---------------------------------------------------------------- augmentation


def test_random_crop_shifts_each_image_within_the_padding():
    x = torch.arange(2 * 1 * 6 * 6, dtype=torch.float32).reshape(2, 1, 6, 6) + 1
    out = random_crop(x, 2, torch.Generator().manual_seed(0))
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(2):
        windows = [padded[i, :, dy : dy + 6, dx : dx + 6] for dy in range(5) for dx in range(5)]
        assert any(torch.equal(out[i], w) for w in windows)


def test_flip_mirrors_some_images_and_leaves_the_rest():
    x = torch.randn(32, 1, 4, 4)
    out = random_flip(x, torch.Generator().manual_seed(0))
    flipped = [torch.equal(o, xi.flip(2)) for o, xi in zip(out, x)]
    kept = [torch.equal(o, xi) for o, xi in zip(out, x)]
    assert all(f or k for f, k in zip(flipped, kept)) and any(flipped) and any(kept)


def test_cutmix_pastes_a_box_and_reports_the_kept_area():
    x = torch.zeros(2, 1, 8, 8)
    x[1] = 1.0
    mixed, kept = cutmix(x, torch.tensor([1, 0]), 0.75, np.random.default_rng(0))
    assert kept == pytest.approx(1.0 - float(mixed[0].mean()))
    assert 0.0 < kept < 1.0


def test_augmenter_is_seeded_and_targets_stay_distributions():
    config = AugmentConfig(
        crop_padding=1,
        horizontal_flip=True,
        brightness=0.2,
        contrast=0.2,
        cutmix_alpha=1.0,
        mixup_alpha=0.2,
        mix_probability=1.0,
    )
    x, y = torch.randn(16, 3, 8, 8), torch.randint(0, 5, (16,))
    a = Augmenter(config, 5, seed=3)
    b = Augmenter(config, 5, seed=3)
    mixed_once = False
    for _ in range(4):
        xa, ta = a(x, y)
        xb, tb = b(x, y)
        assert torch.equal(xa, xb) and torch.equal(ta, tb)
        assert ta.shape == (16, 5)
        assert torch.allclose(ta.sum(1), torch.ones(16))
        mixed_once |= bool((ta.max(1).values < 1).any())
    assert mixed_once  # mix_probability=1: CutMix or MixUp mixed labels


def test_no_augmentation_is_the_identity_with_one_hot_targets():
    x, y = torch.randn(4, 1, 8, 8), torch.tensor([0, 1, 2, 3])
    out, targets = Augmenter(AugmentConfig.none(), 4, 0)(x, y)
    assert torch.equal(out, x)
    assert torch.equal(targets, torch.eye(4))


# ---------------------------------------------------------------- training


@pytest.fixture(scope="module")
def small_digits():
    ds = load_digits(seed=0)
    return dataclasses.replace(ds, x_train=ds.x_train[:320], y_train=ds.y_train[:320])


def quick(epochs=1, **kwargs):
    return TrainConfig(
        epochs=epochs,
        progress=False,
        augment=AugmentConfig(
            crop_padding=1,
            horizontal_flip=False,
            brightness=0.1,
            contrast=0.1,
            cutmix_alpha=1.0,
            mixup_alpha=0.2,
            mix_probability=0.5,
        ),
        **kwargs,
    )


def test_training_is_deterministic_for_a_seed(small_digits):
    states = []
    for _ in range(2):
        torch.manual_seed(0)
        model = build_student(1, 10, 8, 0.125)
        train_teacher(model, small_digits, quick(seed=5))
        states.append(model.state_dict())
    for key in states[0]:
        assert torch.equal(states[0][key], states[1][key]), key
    torch.manual_seed(0)
    other = build_student(1, 10, 8, 0.125)
    train_teacher(other, small_digits, quick(seed=6))
    assert any(not torch.equal(states[0][k], v) for k, v in other.state_dict().items())


def test_distillation_and_early_exits_train(small_digits):
    torch.manual_seed(0)
    teacher = build_teacher(1, 10, 8, 0.125)
    student = build_student(1, 10, 8, 0.125, early_exits=[1])
    before = {k: v.clone() for k, v in student.state_dict().items()}
    result = distill_student(student, teacher, small_digits, quick(epochs=2, keep_best=False))
    assert len(result.history) == 2 and 0.0 <= result.best_val_top1 <= 1.0
    assert not torch.equal(before["exit_heads.1.fc.weight"], student.state_dict()["exit_heads.1.fc.weight"])
    assert not student.training and not teacher.training


def test_cyclic_schedule_starts_and_ends_low(small_digits, monkeypatch):
    seen = []
    real_step = torch.optim.Adam.step

    def spy(self, *args, **kwargs):
        seen.append(self.param_groups[0]["lr"])
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", spy)
    model = build_student(1, 10, 8, 0.125)
    train_teacher(model, small_digits, quick(epochs=2, lr_cycles=1))
    assert seen[0] == pytest.approx(1e-5)
    assert max(seen) == pytest.approx(1e-3, rel=0.05)
    # 10 steps, one triangle of 5 up and 5 down: the last step runs one step above the floor.
    assert len(seen) == 10
    assert seen[-1] < seen[-2] and seen[-1] == pytest.approx(1e-5 + (1e-3 - 1e-5) / 5)


def test_evaluate_counts_top1():
    class Constant(torch.nn.Module):
        def forward(self, x):
            return torch.tensor([[0.0, 1.0, 0.0]]).repeat(len(x), 1)

    x = np.zeros((4, 1, 2, 2), np.float32)
    assert evaluate(Constant(), x, np.array([1, 1, 0, 2])) == 0.5


def test_bad_epochs_are_refused(small_digits):
    with pytest.raises(ValueError, match="epochs"):
        train_teacher(build_student(1, 10, 8, 0.125), small_digits, quick(epochs=0))
