"""The whole build on digits at a smaller configuration: five variants, cards, eval sets.
(How long it takes is a figure, not a test: benchmarks/pipeline_build.py.)"""

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from edgebench.pipeline.build import VARIANTS, build_models, list_model_cards  # noqa: E402
from edgebench.pipeline.onnx_facts import read_metadata  # noqa: E402
from edgebench.pipeline.recipes import recipe_for  # noqa: E402

from .conftest import TORCH_THREADS  # noqa: E402

SMALL = dict(
    teacher_width=0.125,
    student_width=0.125,
    teacher_epochs=2,
    student_epochs=2,
    prune_steps=2,
    fine_tune_epochs=1,
)
PRECISIONS = ["fp32", "fp32", "fp32", "int8-sym", "int8-u8s8"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("models")
    paths = build_models(
        recipe="demo", dataset="digits", out=out, seed=0, progress=False, threads=TORCH_THREADS, **SMALL
    )
    return out, paths


def test_build_writes_five_variants_with_cards_and_eval_sets(built):
    out, paths = built
    assert [p.name for p in paths] == ["digits_%s.onnx" % v for v in VARIANTS]
    for path, precision in zip(paths, PRECISIONS):
        assert path.parent == out and path.is_file()
        assert path.with_suffix(".md").is_file()
        assert (out / (path.stem + ".eval.npz")).is_file()
        meta = read_metadata(onnx.load(str(path)))
        assert meta["edgebench.precision"] == precision
        assert meta["edgebench.dataset"] == "digits"
        assert meta["edgebench.recipe"] == "demo"
        assert meta["edgebench.eval_set"] == path.stem + ".eval.npz"
        assert 0.0 <= float(meta["edgebench.host_accuracy"]) <= 1.0
        dims = [
            d.dim_param or d.dim_value for d in onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim
        ]
        assert dims == ["batch", 1, 8, 8]
    # No temporary files are left behind.
    assert not list(out.glob("*.tmp"))


def test_variants_shrink_in_order_and_int8_keeps_the_source_params(built):
    out, paths = built
    rows = {row["name"]: row for row in list_model_cards(out)}
    teacher, student, pruned, sym, u8s8 = (rows["digits_%s" % v] for v in VARIANTS)
    assert teacher["params"] > 5 * student["params"]
    assert pruned["params"] < student["params"] and pruned["macs"] < student["macs"]
    assert pruned["size_bytes"] < student["size_bytes"]
    assert sym["params"] == u8s8["params"] == pruned["params"]
    # (No size check here: at width 0.125 the QDQ bookkeeping, a scale and zero point per
    # tensor, outweighs what int8 weights save; the quantization tests check a real width.)
    # The pipeline trained something: better than chance (10 classes) even at 2 epochs.
    assert teacher["host_accuracy"] > 0.3 and student["host_accuracy"] > 0.3


def test_every_variant_carries_the_same_eval_set_bytes(built):
    out, paths = built
    blobs = {(out / (p.stem + ".eval.npz")).read_bytes() for p in paths}
    assert len(blobs) == 1


def test_cards_say_how_the_model_was_made(built):
    out, _ = built
    card = (out / "digits_student_pruned.md").read_text()
    for needle in (
        "recipe: `demo`, seed 0",
        "pruning: iterative",
        "step 2:",
        "teacher_width=0.125",
        "host accuracy",
        "`[batch, 1, 8, 8]`",
        "x = (pixel / 16 - mean) / std",
    ):
        assert needle in card, needle
    assert "min/max calibration" in (out / "digits_student_pruned_int8sym.md").read_text()


def test_recipes_refuse_unknown_names_and_settings():
    assert recipe_for("paper", "cifar10").student_width == 1.0
    assert recipe_for("demo", "digits", teacher_epochs=1).teacher_epochs == 1
    with pytest.raises(ValueError, match="teacher_epoch"):
        recipe_for("demo", "digits", teacher_epoch=1)
    with pytest.raises(ValueError, match="recipe"):
        recipe_for("quick", "digits")
    with pytest.raises(ValueError, match="dataset"):
        recipe_for("demo", "mnist")
    # Flips are off for digits, on for photos, in the paper recipe.
    assert not recipe_for("paper", "digits").student_augment.horizontal_flip
    assert recipe_for("paper", "cifar10").student_augment.horizontal_flip


def test_paper_recipe_runs_on_cifar10_batches(tmp_path):
    # The full augmentation (crop, flip, brightness/contrast, CutMix, MixUp) and the CIFAR-10
    # loader in one small build on generated batches; shrunk to seconds by overrides.
    from tests.test_pipeline_datasets import write_cifar

    write_cifar(tmp_path / "data" / "cifar-10-batches-py", per_batch=40, test=30)
    paths = build_models(
        recipe="paper",
        dataset="cifar10",
        data=tmp_path / "data",
        out=tmp_path / "models",
        progress=False,
        threads=TORCH_THREADS,
        teacher_width=0.125,
        student_width=0.125,
        teacher_epochs=1,
        student_epochs=1,
        prune_steps=1,
        fine_tune_epochs=1,
        batch_size=16,
        calibration_samples=32,
        eval_samples=25,
    )
    assert len(paths) == 5
    meta = read_metadata(onnx.load(str(paths[0])))
    assert meta["edgebench.recipe"] == "paper" and meta["edgebench.dataset"] == "cifar10"
    dims = [
        d.dim_param or d.dim_value
        for d in onnx.load(str(paths[-1])).graph.input[0].type.tensor_type.shape.dim
    ]
    assert dims == ["batch", 3, 32, 32]
    import numpy as np

    with np.load(tmp_path / "models" / "cifar10_student.eval.npz") as archive:
        assert archive["x"].shape == (25, 3, 32, 32) and archive["y"].dtype == np.int64
    card = (tmp_path / "models" / "cifar10_student.md").read_text()
    assert "CutMix or MixUp on 50% of batches" in card and "horizontal flip" in card


def test_a_wrong_data_path_fails_before_training(tmp_path):
    from edgebench.pipeline.datasets import DatasetError

    with pytest.raises(DatasetError, match="does not exist"):
        build_models(
            recipe="demo",
            dataset="cifar10",
            data=tmp_path / "nope",
            out=tmp_path / "m",
            progress=False,
            threads=TORCH_THREADS,
        )
    assert not (tmp_path / "m").exists()
