"""`edgebench models build`: teacher -> distilled student -> pruned student -> two int8 variants,
each exported to ONNX with its card and eval set.

Files written to `out` for dataset `<ds>` (each with `.md` card and `.eval.npz` eval set):
`<ds>_teacher.onnx`, `<ds>_student.onnx`, `<ds>_student_pruned.onnx`,
`<ds>_student_pruned_int8sym.onnx`, `<ds>_student_pruned_int8u8s8.onnx`.
"""

from __future__ import annotations

import copy
import dataclasses
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List, Optional

import numpy as np
import torch

from .architectures import build_student, build_teacher, count_parameters
from .augment import AugmentConfig
from .cards import list_model_cards  # re-exported: `edgebench models list` reads cards here
from .datasets import Dataset, load_dataset
from .evalset import eval_subset
from .export import DEFAULT_OPSET, ModelStory, PublishedModel, export_onnx, publish_model
from .prune import iterative_prune
from .quantize import quantize_model
from .recipes import EARLY_EXIT, Recipe, recipe_for
from .train import TrainConfig, TrainResult, distill_student, fine_tune, train_teacher

__all__ = ["build_models", "list_model_cards", "VARIANTS"]

VARIANTS = ("teacher", "student", "student_pruned", "student_pruned_int8sym", "student_pruned_int8u8s8")
QUANTIZED_VARIANTS = (("student_pruned_int8sym", "int8-sym"), ("student_pruned_int8u8s8", "int8-u8s8"))


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _say(progress: bool, message: str) -> None:
    if progress:
        print(message, file=sys.stderr, flush=True)


def describe_augment(a: AugmentConfig) -> str:
    parts = []
    if a.crop_padding:
        parts.append("random crop (padding %d)" % a.crop_padding)
    if a.horizontal_flip:
        parts.append("horizontal flip")
    if a.brightness or a.contrast:
        parts.append("brightness +-%g / contrast +-%g" % (a.brightness, a.contrast))
    mixes = [m for m, alpha in (("CutMix", a.cutmix_alpha), ("MixUp", a.mixup_alpha)) if alpha > 0]
    if mixes and a.mix_probability > 0:
        parts.append("%s on %d%% of batches" % (" or ".join(mixes), round(100 * a.mix_probability)))
    return ", ".join(parts) or "none"


def _train_config(
    recipe: Recipe,
    epochs: int,
    cycles: int,
    augment: AugmentConfig,
    seed: int,
    progress: bool,
    label: str,
    lr_max: Optional[float] = None,
) -> TrainConfig:
    return TrainConfig(
        epochs=epochs,
        batch_size=recipe.batch_size,
        lr_min=recipe.lr_min,
        lr_max=lr_max or recipe.lr_max,
        lr_cycles=cycles,
        alpha=recipe.alpha,
        beta=recipe.beta,
        temperature=recipe.temperature,
        augment=augment,
        early_exit_weight=recipe.early_exit_weight,
        seed=seed,
        progress=progress,
        label=label,
    )


def _schedule(recipe: Recipe, epochs: int, cycles: int, augment: AugmentConfig, result: TrainResult) -> str:
    return (
        "%d epochs, Adam, cyclic LR %g..%g (%d triangle%s), batch %d, augmentation: %s; the "
        "epoch with the best val top-1 (%.2f%%) kept"
        % (
            epochs,
            recipe.lr_min,
            recipe.lr_max,
            cycles,
            "s" if cycles > 1 else "",
            recipe.batch_size,
            describe_augment(augment),
            100 * result.best_val_top1,
        )
    )


def _limit_train(data: Dataset, limit: Optional[int], seed: int) -> Dataset:
    if limit is None or len(data.x_train) <= limit:
        return data
    chosen = np.sort(np.random.default_rng(seed).choice(len(data.x_train), limit, replace=False))
    return dataclasses.replace(data, x_train=data.x_train[chosen], y_train=data.y_train[chosen])


def build_models(
    recipe: str = "demo",
    dataset: str = "digits",
    out="models",
    data=None,
    seed: int = 0,
    progress: bool = True,
    threads: int = 2,
    opset: int = DEFAULT_OPSET,
    **overrides,
) -> List[Path]:
    """Builds the five variants into `out` and returns their ONNX paths (in VARIANTS order);
    the `early-exit` recipe instead builds a student with exit heads as ONNX pieces in
    `out/<dataset>_early_exit/` and returns the manifest's path, then the files it names
    (`early_exit.build_early_exit`).

    `overrides` replace recipe fields (e.g. teacher_epochs=2, student_width=0.125); see
    `recipes.Recipe`. `data` is the dataset folder (none for digits). Deterministic for a
    seed on one machine.
    """
    plan = recipe_for(recipe, dataset, **overrides)
    options = {"max_per_class": plan.max_per_class} if dataset == "tinyimagenet" else {}
    with torch_threads(threads):
        # Data first: a wrong path fails before anything is created.
        ds = _limit_train(load_dataset(dataset, data, seed, **options), plan.max_train_samples, seed)
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        if plan.name == EARLY_EXIT:
            from .early_exit import build_early_exit

            return build_early_exit(plan, ds, out, seed, progress, opset, overrides)
        builder = _Builder(plan, ds, out, seed, progress, opset, overrides)
        return [published.path for published in builder.run()]


class _Builder:
    """The build's steps, sharing the recipe, data and provenance."""

    def __init__(
        self, plan: Recipe, ds: Dataset, out: Path, seed: int, progress: bool, opset: int, overrides: dict
    ):
        self.plan, self.ds, self.out, self.seed = plan, ds, out, seed
        self.progress, self.opset = progress, opset
        self.eval_x, self.eval_y = eval_subset(ds.x_test, ds.y_test, plan.eval_samples, seed)
        shown = "".join(", %s=%r" % item for item in sorted(overrides.items()))
        self.command = "edgebench.pipeline.build.build_models(recipe=%r, dataset=%r, seed=%d%s)" % (
            plan.name,
            ds.name,
            seed,
            shown,
        )

    def run(self) -> List[PublishedModel]:
        p, ds = self.plan, self.ds
        c, h, w = ds.input_shape
        _say(
            self.progress,
            "edgebench models build: %s recipe on %s (%d train / %d val / %d test, "
            "input %dx%dx%d); %s"
            % (p.name, ds.name, len(ds.x_train), len(ds.x_val), len(ds.x_test), c, h, w, p.summary()),
        )
        torch.manual_seed(self.seed)
        teacher = build_teacher(c, ds.num_classes, h, p.teacher_width)
        _say(
            self.progress,
            "[1/4] teacher: ResNet-50 width %g, %s parameters"
            % (p.teacher_width, format(count_parameters(teacher), ",")),
        )
        teacher_result = train_teacher(
            teacher,
            ds,
            _train_config(
                p,
                p.teacher_epochs,
                p.teacher_lr_cycles,
                p.teacher_augment,
                self.seed,
                self.progress,
                "teacher",
            ),
        )
        torch.manual_seed(self.seed + 1)
        student = build_student(c, ds.num_classes, h, p.student_width, p.dropout, p.early_exits)
        _say(
            self.progress,
            "[2/4] student: lightweight CNN width %g, %s parameters; distilling"
            % (p.student_width, format(count_parameters(student), ",")),
        )
        student_result = distill_student(
            student,
            teacher,
            ds,
            _train_config(
                p,
                p.student_epochs,
                p.student_lr_cycles,
                p.student_augment,
                self.seed + 1,
                self.progress,
                "student",
            ),
        )
        _say(
            self.progress,
            "[3/4] pruning %g of the %s in %d steps" % (p.prune_target, p.prune_criterion, p.prune_steps),
        )
        pruned = copy.deepcopy(student)
        prune_history = iterative_prune(
            pruned,
            p.prune_target,
            p.prune_steps,
            ds.input_shape,
            self._fine_tuner(teacher),
            p.prune_criterion,
            p.channel_multiple,
        )
        _say(self.progress, "[4/4] export, quantization and host accuracy")
        published = [
            self._publish_torch(teacher, "teacher", self._teacher_story(teacher_result)),
            self._publish_torch(student, "student", self._student_story(student_result)),
            self._publish_torch(pruned, "student_pruned", self._pruned_story(student_result, prune_history)),
        ]
        source = published[-1]
        calibration = self._calibration_samples()
        for variant, precision in QUANTIZED_VARIANTS:
            path = quantize_model(
                source.path, self.out / ("%s_%s.onnx" % (ds.name, variant)), calibration, precision
            )
            published.append(
                publish_model(
                    path,
                    source.params,
                    precision,
                    self._quantized_story(precision, source),
                    self.eval_x,
                    self.eval_y,
                )
            )
        for item in published:
            _say(
                self.progress,
                "  %-40s %10s params  %8.1f KiB  %-9s host top-1 %.2f%%"
                % (
                    item.path.name,
                    format(item.params, ","),
                    item.size_bytes / 1024,
                    item.precision,
                    100 * item.host_top1,
                ),
            )
        return published

    def _fine_tuner(self, teacher):
        p = self.plan

        def tune(model, step: int) -> float:
            config = _train_config(
                p,
                p.fine_tune_epochs,
                1,
                p.student_augment,
                self.seed + 10 + step,
                self.progress,
                "fine-tune %d/%d" % (step, p.prune_steps),
                lr_max=p.fine_tune_lr_max,
            )
            return fine_tune(model, self.ds, config, teacher).best_val_top1

        return tune

    def _calibration_samples(self) -> np.ndarray:
        rng = np.random.default_rng(self.seed + 100)
        count = min(self.plan.calibration_samples, len(self.ds.x_train))
        return self.ds.x_train[np.sort(rng.choice(len(self.ds.x_train), count, replace=False))]

    def _publish_torch(self, model, variant: str, story: ModelStory) -> PublishedModel:
        path = export_onnx(
            model, self.out / ("%s_%s.onnx" % (self.ds.name, variant)), self.ds.input_shape, self.opset
        )
        return publish_model(path, count_parameters(model), "fp32", story, self.eval_x, self.eval_y)

    def _story(self, summary: str, architecture: str, how_made: List[str]) -> ModelStory:
        ds = self.ds
        data_line = (
            "data: %s, %d train / %d val / %d test samples, stratified split by seed %d; "
            "eval set: %d test samples"
            % (ds.name, len(ds.x_train), len(ds.x_val), len(ds.x_test), self.seed, len(self.eval_y))
        )
        return ModelStory(
            summary,
            architecture,
            self.plan.name,
            ds.name,
            self.seed,
            ds.normalization,
            [data_line] + how_made + ["built by `%s`" % self.command],
        )

    def _teacher_story(self, result: TrainResult) -> ModelStory:
        p = self.plan
        return self._story(
            "ResNet-50 teacher (width %g) trained on %s; fp32." % (p.teacher_width, self.ds.name),
            "ResNet-50 adapted to small images: 3x3 stride-1 stem conv, no max-pool, bottleneck "
            "stages of 3, 4, 6, 3 blocks (base widths 64, 128, 256, 512 times %g, expansion 4); "
            "stages halve the map only while it stays >= 4 pixels (the last ones first); global "
            "average pool and a linear classifier. Kaiming init." % p.teacher_width,
            [
                "teacher: "
                + _schedule(p, p.teacher_epochs, p.teacher_lr_cycles, p.teacher_augment, result)
                + ", cross-entropy loss"
            ],
        )

    def _student_architecture(self) -> str:
        p = self.plan
        exits = (
            (
                " Early-exit heads after stages %s are trained but not exported."
                % ", ".join(map(str, p.early_exits))
            )
            if p.early_exits
            else ""
        )
        return (
            "Lightweight CNN (width %g): 3x3 stem conv, one depthwise-separable block, four "
            "stages of inverted residual bottleneck blocks (1x1 expansion x4, depthwise 3x3, "
            "grouped 1x1 projection with 2 groups, skip connection where shapes match), 1x1 "
            "head conv, global average pool, dropout %g, linear classifier; BatchNorm after "
            "every conv, Kaiming init.%s" % (p.student_width, p.dropout, exits)
        )

    def _student_how(self, result: TrainResult) -> str:
        p = self.plan
        return "student: distilled from the teacher, loss %g x CE + %g x KL(T=%g) x T^2; " % (
            p.alpha,
            p.beta,
            p.temperature,
        ) + _schedule(p, p.student_epochs, p.student_lr_cycles, p.student_augment, result)

    def _student_story(self, result: TrainResult) -> ModelStory:
        return self._story(
            "Distilled lightweight student CNN (width %g) for %s; fp32."
            % (self.plan.student_width, self.ds.name),
            self._student_architecture(),
            [self._student_how(result)],
        )

    def _pruned_story(self, result: TrainResult, history) -> ModelStory:
        p = self.plan
        steps = "; ".join(
            "step %d: %.0f%% of filters gone, %s params, val top-1 %.2f%%"
            % (s.step, 100 * s.filters_removed, format(s.params, ","), 100 * (s.val_top1 or 0))
            for s in history
        )
        return self._story(
            "The distilled student after structured L1-norm filter pruning (%g of the %s); fp32."
            % (p.prune_target, p.prune_criterion),
            self._student_architecture() + " Pruned: the stem and each block's hidden (expanded) "
            "channels were cut; block inputs and outputs were left whole so residual additions "
            "keep their shapes.",
            [
                self._student_how(result),
                "pruning: iterative, layer-wise L1-norm filter ranking, filters removed for real "
                "(Conv/BN rebuilt, consumers fixed), widths kept multiples of %d, %d steps each "
                "followed by %d epochs of distillation fine-tuning (cyclic LR up to %g): %s"
                % (p.channel_multiple, p.prune_steps, p.fine_tune_epochs, p.fine_tune_lr_max, steps),
            ],
        )

    def _quantized_story(self, precision: str, source: PublishedModel) -> ModelStory:
        flavour = (
            "symmetric int8 activations and weights (the paper's)"
            if precision == "int8-sym"
            else "uint8 activations, symmetric int8 weights (onnxruntime's fast x86 path)"
        )
        return self._story(
            "The pruned student quantized to %s after training (%s); int8." % (precision, flavour),
            self._student_architecture() + " Pruned, then quantized: QuantizeLinear/"
            "DequantizeLinear pairs around every Conv and Gemm.",
            [
                "source: `%s` (host top-1 %.2f%%)" % (source.path.name, 100 * source.host_top1),
                "quantization: onnxruntime %s static post-training quantization, QDQ format, "
                "per-channel weights, %s, min/max calibration on %d training samples"
                % (_ort_version(), flavour, min(self.plan.calibration_samples, len(self.ds.x_train))),
            ],
        )


def _ort_version() -> str:
    import onnxruntime

    return onnxruntime.__version__
