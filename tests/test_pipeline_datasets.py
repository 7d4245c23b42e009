"""Dataset loaders on small files written in the real formats (CIFAR-10 python batches, the
Tiny ImageNet folder tree), scikit-learn's digits, and the errors for wrong paths."""

import pickle
import sys

import numpy as np
import pytest

from edgebench.pipeline.datasets import (  # noqa: E402
    DatasetError,
    load_cifar10,
    load_dataset,
    load_digits,
    load_tinyimagenet,
    stratified_split,
)


# ---------------------------------------------------------------- CIFAR-10


def write_cifar(folder, per_batch=20, test=20):
    """cifar-10-batches-py as the real archive has it: pickled dicts with bytes keys, data
    uint8 [N, 3072] (1024 red, 1024 green, 1024 blue, each row-major 32x32), labels a list."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(7)
    batches = {}
    for name, n in [("data_batch_%d" % i, per_batch) for i in range(1, 6)] + [("test_batch", test)]:
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = [int(v) for v in np.arange(n) % 10]
        batch = {
            b"batch_label": name.encode(),
            b"labels": labels,
            b"data": data,
            b"filenames": [b"img_%d.png" % i for i in range(n)],
        }
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
        batches[name] = (data, labels)
    return batches


def denormalize(x, ds, pixel_max):
    mean = np.asarray(ds.mean).reshape(1, -1, 1, 1)
    std = np.asarray(ds.std).reshape(1, -1, 1, 1)
    return (x * std + mean) * pixel_max


def test_cifar10_loads_batches_splits_and_normalizes(tmp_path):
    batches = write_cifar(tmp_path / "cifar-10-batches-py")
    ds = load_cifar10(tmp_path, seed=0)  # the parent folder is accepted too
    assert ds.name == "cifar10" and ds.num_classes == 10 and ds.horizontal_flip_ok
    assert ds.input_shape == (3, 32, 32)
    assert len(ds.x_train) + len(ds.x_val) == 100 and len(ds.x_val) == 10
    assert len(ds.x_test) == 20
    for x in (ds.x_train, ds.x_val, ds.x_test):
        assert x.dtype == np.float32 and x.flags.c_contiguous
    for y in (ds.y_train, ds.y_val, ds.y_test):
        assert y.dtype == np.int64
    np.testing.assert_allclose(ds.x_train.mean(axis=(0, 2, 3)), 0.0, atol=1e-4)
    np.testing.assert_allclose(ds.x_train.std(axis=(0, 2, 3)), 1.0, atol=1e-4)
    # The test split keeps file order; its pixels are the batch's bytes in CHW order.
    data, labels = batches["test_batch"]
    assert ds.y_test.tolist() == labels
    restored = denormalize(ds.x_test, ds, 255.0)
    np.testing.assert_allclose(restored, data.reshape(-1, 3, 32, 32).astype(np.float32), atol=1e-3)
    # Stratified: one val sample per class.
    assert sorted(ds.y_val.tolist()) == list(range(10))


def test_cifar10_split_is_fixed_by_the_seed(tmp_path):
    write_cifar(tmp_path / "cifar-10-batches-py")
    a = load_cifar10(tmp_path / "cifar-10-batches-py", seed=3)
    b = load_cifar10(tmp_path / "cifar-10-batches-py", seed=3)
    c = load_cifar10(tmp_path / "cifar-10-batches-py", seed=4)
    np.testing.assert_array_equal(a.x_val, b.x_val)
    assert not np.array_equal(a.x_val, c.x_val)


def test_cifar10_wrong_paths_name_what_is_missing(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_cifar10(tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="data_batch_1"):
        load_cifar10(tmp_path)
    with pytest.raises(DatasetError, match="data path"):
        load_dataset("cifar10", None)
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar(folder)
    (folder / "data_batch_3").unlink()
    with pytest.raises(DatasetError, match=r"data_batch_3 is missing"):
        load_cifar10(folder)
    assert issubclass(DatasetError, ValueError)


def test_cifar10_rejects_files_that_are_not_batches(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar(folder)
    (folder / "data_batch_2").write_bytes(b"not a pickle")
    with pytest.raises(DatasetError, match="data_batch_2 is not a CIFAR-10 python batch"):
        load_cifar10(folder)
    with open(folder / "data_batch_2", "wb") as f:
        pickle.dump({b"data": np.zeros((4, 100), np.uint8), b"labels": [0] * 4}, f)
    with pytest.raises(DatasetError, match="3072"):
        load_cifar10(folder)


# ---------------------------------------------------------------- Tiny ImageNet

WNIDS = ["n01443537", "n01629819", "n01641577"]
COLORS = [(200, 30, 30), (30, 200, 30), (30, 30, 200)]


def write_tinyimagenet(root, per_class=4, val_per_class=2, size=64):
    from PIL import Image

    root.mkdir(parents=True)
    (root / "wnids.txt").write_text("\n".join(WNIDS) + "\n")
    for wnid, color in zip(WNIDS, COLORS):
        images = root / "train" / wnid / "images"
        images.mkdir(parents=True)
        (root / "train" / wnid / ("%s_boxes.txt" % wnid)).write_text("")
        for i in range(per_class):
            Image.new("RGB", (size, size), color).save(images / ("%s_%d.JPEG" % (wnid, i)), "JPEG")
    # One grayscale picture, as the real set has some.
    Image.new("L", (size, size), 128).save(
        root / "train" / WNIDS[0] / "images" / ("%s_%d.JPEG" % (WNIDS[0], per_class))
    )
    (root / "val" / "images").mkdir(parents=True)
    lines, index = [], 0
    for wnid, color in zip(WNIDS, COLORS):
        for _ in range(val_per_class):
            name = "val_%d.JPEG" % index
            Image.new("RGB", (size, size), color).save(root / "val" / "images" / name, "JPEG")
            lines.append("%s\t%s\t0\t0\t%d\t%d" % (name, wnid, size - 1, size - 1))
            index += 1
    (root / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    (root / "test" / "images").mkdir(parents=True)  # unlabeled; the loader ignores it


def test_tinyimagenet_loads_the_folder_layout(tmp_path):
    pytest.importorskip("PIL")
    write_tinyimagenet(tmp_path / "tiny-imagenet-200")
    ds = load_tinyimagenet(tmp_path, seed=0, val_fraction=0.25)
    assert ds.name == "tinyimagenet" and ds.num_classes == 3
    assert ds.input_shape == (3, 64, 64)
    assert len(ds.x_train) + len(ds.x_val) == 13 and len(ds.x_test) == 6
    assert ds.y_test.tolist() == [0, 0, 1, 1, 2, 2]
    assert ds.x_test.dtype == np.float32 and ds.y_test.dtype == np.int64
    # Labels follow wnids.txt order: each test image has its class's color (JPEG is lossy).
    restored = denormalize(ds.x_test, ds, 255.0).mean(axis=(2, 3))
    for row, label in zip(restored, ds.y_test):
        np.testing.assert_allclose(row, COLORS[label], atol=4)
    capped = load_tinyimagenet(tmp_path / "tiny-imagenet-200", max_per_class=2, val_fraction=0.0)
    assert len(capped.x_train) == 6


def test_tinyimagenet_errors_name_the_missing_piece(tmp_path):
    pytest.importorskip("PIL")
    with pytest.raises(DatasetError, match="wnids.txt"):
        load_tinyimagenet(tmp_path)
    root = tmp_path / "tiny-imagenet-200"
    write_tinyimagenet(root)
    (root / "val" / "val_annotations.txt").unlink()
    with pytest.raises(DatasetError, match="val_annotations.txt is missing"):
        load_tinyimagenet(root)
    (root / "val" / "val_annotations.txt").write_text("val_0.JPEG\tn99999999\t0\t0\t1\t1\n")
    with pytest.raises(DatasetError, match="line 1"):
        load_tinyimagenet(root)
    (root / "wnids.txt").write_text("\n".join(WNIDS + ["n00000001"]))
    with pytest.raises(DatasetError, match="n00000001"):
        load_tinyimagenet(root)


def test_tinyimagenet_without_pillow_says_so(tmp_path, monkeypatch):
    root = tmp_path / "tiny-imagenet-200"
    (root / "train").mkdir(parents=True)
    (root / "wnids.txt").write_text(WNIDS[0] + "\n")
    monkeypatch.setitem(sys.modules, "PIL", None)  # makes `from PIL import Image` fail
    monkeypatch.setitem(sys.modules, "PIL.Image", None)
    with pytest.raises(DatasetError, match="Pillow"):
        load_tinyimagenet(root)


# ---------------------------------------------------------------- digits


def test_digits_are_1x8x8_with_stratified_seeded_splits():
    ds = load_digits(seed=0)
    assert ds.input_shape == (1, 8, 8) and ds.num_classes == 10 and not ds.horizontal_flip_ok
    assert len(ds.x_train) + len(ds.x_val) + len(ds.x_test) == 1797
    assert len(ds.x_test) == pytest.approx(0.25 * 1797, abs=10)
    totals = np.bincount(np.concatenate([ds.y_train, ds.y_val, ds.y_test]), minlength=10)
    # Stratified: every class gives a quarter of its samples to test.
    np.testing.assert_array_equal(np.bincount(ds.y_test, minlength=10), np.round(0.25 * totals))
    assert np.bincount(ds.y_val, minlength=10).min() > 0
    np.testing.assert_allclose(ds.x_train.mean(), 0.0, atol=1e-4)
    assert ds.pixel_max == 16.0
    again = load_digits(seed=0)
    np.testing.assert_array_equal(ds.x_test, again.x_test)
    np.testing.assert_array_equal(ds.y_test, again.y_test)
    assert not np.array_equal(ds.y_test, load_digits(seed=1).y_test)


def test_load_dataset_dispatches_and_refuses_mistakes(tmp_path):
    assert load_dataset("digits").name == "digits"
    with pytest.raises(DatasetError, match="takes no data path"):
        load_dataset("digits", tmp_path)
    with pytest.raises(DatasetError, match="unknown dataset 'mnist'"):
        load_dataset("mnist")


def test_stratified_split_holds_out_each_class_in_proportion():
    y = np.repeat(np.arange(4), 10)
    kept, held = stratified_split(y, 0.3, np.random.default_rng(0))
    assert len(set(kept) & set(held)) == 0 and len(kept) + len(held) == 40
    assert np.bincount(y[held]).tolist() == [3, 3, 3, 3]
