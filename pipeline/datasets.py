"""Datasets as numpy arrays: x float32 NCHW, normalized per channel with the training split's
mean and std; y int64. Splits are stratified and fixed by a seed.

- CIFAR-10 from the standard python batches folder (`cifar-10-batches-py`);
- Tiny ImageNet from its folder layout (`tiny-imagenet-200`; JPEG needs Pillow); its `val`
  folder, which has labels, serves as the test split (the `test` folder has none);
- scikit-learn's bundled digits (1x8x8, pixel values 0..16; no download).
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np

DATASETS = ("digits", "cifar10", "tinyimagenet")
CIFAR10_TRAIN_BATCHES = tuple("data_batch_%d" % i for i in range(1, 6))
CIFAR10_TEST_BATCH = "test_batch"
CIFAR10_FOLDER = "cifar-10-batches-py"
TINYIMAGENET_FOLDER = "tiny-imagenet-200"


class DatasetError(ValueError):
    """A dataset path that is missing, incomplete or not in the expected format."""


@dataclass(frozen=True)
class Dataset:
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    mean: Tuple[float, ...]  # per channel, of pixels scaled to [0, 1], subtracted before /std
    std: Tuple[float, ...]
    horizontal_flip_ok: bool  # digits are not mirror-symmetric; photos are
    pixel_max: float  # raw pixel range is 0..pixel_max (16 for digits, 255 for photos)

    @property
    def input_shape(self) -> Tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])  # type: ignore[return-value]

    @property
    def normalization(self) -> str:
        def fmt(values):
            return "[" + ", ".join("%.4f" % v for v in values) + "]"

        return "x = (pixel / %g - mean) / std per channel, mean %s, std %s" % (
            self.pixel_max,
            fmt(self.mean),
            fmt(self.std),
        )


def stratified_split(
    y: np.ndarray, fraction: float, rng: np.random.Generator
) -> Tuple[np.ndarray, np.ndarray]:
    """Indices (kept, held_out): `fraction` of every class held out, chosen by `rng`."""
    held_out: List[np.ndarray] = []
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        held_out.append(members[: int(round(fraction * len(members)))])
    held = np.sort(np.concatenate(held_out)) if held_out else np.array([], dtype=np.int64)
    kept = np.setdiff1d(np.arange(len(y)), held)
    return kept, held


def _normalize(
    name: str,
    train: np.ndarray,
    val: np.ndarray,
    test: np.ndarray,
    y_train,
    y_val,
    y_test,
    num_classes: int,
    flip_ok: bool,
    pixel_max: float,
) -> Dataset:
    """Takes [0, 1]-scaled NCHW arrays; standardizes all splits with the train split's stats."""
    mean = train.mean(axis=(0, 2, 3), dtype=np.float64)
    std = train.std(axis=(0, 2, 3), dtype=np.float64)
    std = np.where(std > 0, std, 1.0)
    shift = mean.reshape(1, -1, 1, 1).astype(np.float32)
    scale = std.reshape(1, -1, 1, 1).astype(np.float32)

    def norm(x):
        return np.ascontiguousarray((x - shift) / scale, dtype=np.float32)

    def labels(y):
        return np.ascontiguousarray(y, dtype=np.int64)

    return Dataset(
        name,
        norm(train),
        labels(y_train),
        norm(val),
        labels(y_val),
        norm(test),
        labels(y_test),
        num_classes,
        tuple(float(m) for m in mean),
        tuple(float(s) for s in std),
        flip_ok,
        pixel_max,
    )


def load_digits(seed: int = 0, test_fraction: float = 0.25, val_fraction: float = 0.1) -> Dataset:
    """scikit-learn's 1,797 8x8 digits as 1x8x8 images (pixels 0..16 scaled to [0, 1])."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    x = (bunch.images.astype(np.float32) / 16.0)[:, None, :, :]
    y = bunch.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    rest, test = stratified_split(y, test_fraction, rng)
    train_local, val_local = stratified_split(y[rest], val_fraction, rng)
    train, val = rest[train_local], rest[val_local]
    return _normalize("digits", x[train], x[val], x[test], y[train], y[val], y[test], 10, False, 16.0)


def _find_folder(path, name: str, marker: str, dataset: str) -> Path:
    """Accepts the dataset folder itself or a folder that contains it."""
    if path is None:
        raise DatasetError("%s needs a data path (--data): the folder %s" % (dataset, name))
    path = Path(path).expanduser()
    if not path.exists():
        raise DatasetError("%s: %s does not exist" % (dataset, path))
    if not path.is_dir():
        raise DatasetError("%s: %s is not a folder (expected the %s folder)" % (dataset, path, name))
    if (path / marker).exists():
        return path
    if (path / name / marker).exists():
        return path / name
    raise DatasetError("%s: %s has no %s (expected the %s folder)" % (dataset, path, marker, name))


def _read_cifar_batch(path: Path) -> Tuple[np.ndarray, np.ndarray]:
    if not path.is_file():
        raise DatasetError(
            "cifar10: %s is missing (expected %s and %s in %s)"
            % (path, ", ".join(CIFAR10_TRAIN_BATCHES), CIFAR10_TEST_BATCH, path.parent)
        )
    try:
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as exc:
        raise DatasetError(
            "cifar10: %s is not a CIFAR-10 python batch (%s: %s)" % (path, type(exc).__name__, exc)
        ) from None
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise DatasetError(
            "cifar10: %s has data of shape %s and %d labels; expected [N, 3072] and N"
            % (path, data.shape, len(labels))
        )
    return data.reshape(-1, 3, 32, 32), labels


def load_cifar10(path, seed: int = 0, val_fraction: float = 0.1) -> Dataset:
    """CIFAR-10 from `cifar-10-batches-py` (the python version): data_batch_1..5 are split into
    train and val; test_batch is the test split."""
    folder = _find_folder(path, CIFAR10_FOLDER, CIFAR10_TRAIN_BATCHES[0], "cifar10")
    parts = [_read_cifar_batch(folder / name) for name in CIFAR10_TRAIN_BATCHES]
    x_all = np.concatenate([p[0] for p in parts])
    y_all = np.concatenate([p[1] for p in parts])
    x_test, y_test = _read_cifar_batch(folder / CIFAR10_TEST_BATCH)
    train, val = stratified_split(y_all, val_fraction, np.random.default_rng(seed))

    def scale(x):
        return x.astype(np.float32) / 255.0

    return _normalize(
        "cifar10",
        scale(x_all[train]),
        scale(x_all[val]),
        scale(x_test),
        y_all[train],
        y_all[val],
        y_test,
        10,
        True,
        255.0,
    )


def _open_image_module():
    try:
        from PIL import Image
    except ImportError:
        raise DatasetError(
            "tinyimagenet: reading its JPEG files needs Pillow; install it with `pip install pillow`"
        ) from None
    return Image


def _read_images(paths: List[Path], image_module) -> np.ndarray:
    out = None
    for index, path in enumerate(paths):
        try:
            with image_module.open(path) as image:
                pixels = np.asarray(image.convert("RGB"), dtype=np.uint8)  # some are grayscale
        except OSError as exc:
            raise DatasetError("tinyimagenet: cannot read image %s (%s)" % (path, exc)) from None
        if out is None:
            out = np.empty((len(paths),) + pixels.shape, dtype=np.uint8)
        if pixels.shape != out.shape[1:]:
            raise DatasetError(
                "tinyimagenet: %s is %dx%d; the other images are %dx%d"
                % (path, pixels.shape[1], pixels.shape[0], out.shape[2], out.shape[1])
            )
        out[index] = pixels
    if out is None:
        return np.empty((0, 3, 64, 64), dtype=np.float32)
    return out.transpose(0, 3, 1, 2).astype(np.float32) / 255.0


def _tinyimagenet_train_files(folder: Path, wnids: List[str], max_per_class: Optional[int]):
    paths, labels = [], []
    for label, wnid in enumerate(wnids):
        images = folder / "train" / wnid / "images"
        if not images.is_dir():
            raise DatasetError(
                "tinyimagenet: %s is missing (every class in wnids.txt needs train/<wnid>/images/)" % images
            )
        files = sorted(p for p in images.iterdir() if p.suffix.lower() in (".jpeg", ".jpg"))
        if not files:
            raise DatasetError("tinyimagenet: %s has no .JPEG files" % images)
        files = files[:max_per_class] if max_per_class else files
        paths += files
        labels += [label] * len(files)
    return paths, np.asarray(labels, dtype=np.int64)


def _tinyimagenet_val_files(folder: Path, wnids: List[str]):
    annotations = folder / "val" / "val_annotations.txt"
    if not annotations.is_file():
        raise DatasetError("tinyimagenet: %s is missing (it labels val/images/)" % annotations)
    index = {wnid: i for i, wnid in enumerate(wnids)}
    paths, labels = [], []
    for line_number, line in enumerate(annotations.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 2 or fields[1] not in index:
            raise DatasetError(
                "tinyimagenet: %s line %d: expected '<file>\\t<wnid>...' with a wnid "
                "from wnids.txt, got %r" % (annotations, line_number, line[:80])
            )
        image = folder / "val" / "images" / fields[0]
        if not image.is_file():
            raise DatasetError(
                "tinyimagenet: %s (named in %s line %d) is missing" % (image, annotations, line_number)
            )
        paths.append(image)
        labels.append(index[fields[1]])
    return paths, np.asarray(labels, dtype=np.int64)


def load_tinyimagenet(
    path, seed: int = 0, val_fraction: float = 0.1, max_per_class: Optional[int] = None
) -> Dataset:
    """Tiny ImageNet from `tiny-imagenet-200`: train/ is split into train and val, val/ is the
    test split. All of train/ as float32 takes about 5 GB: `max_per_class` caps it."""
    folder = _find_folder(path, TINYIMAGENET_FOLDER, "wnids.txt", "tinyimagenet")
    wnids = [w.strip() for w in (folder / "wnids.txt").read_text().splitlines() if w.strip()]
    if not wnids:
        raise DatasetError("tinyimagenet: %s is empty" % (folder / "wnids.txt"))
    image_module = _open_image_module()
    train_paths, y_all = _tinyimagenet_train_files(folder, wnids, max_per_class)
    test_paths, y_test = _tinyimagenet_val_files(folder, wnids)
    x_all = _read_images(train_paths, image_module)
    x_test = _read_images(test_paths, image_module)
    if x_test.shape[1:] != x_all.shape[1:]:
        raise DatasetError(
            "tinyimagenet: val images are %s, train images %s" % (x_test.shape[1:], x_all.shape[1:])
        )
    train, val = stratified_split(y_all, val_fraction, np.random.default_rng(seed))
    return _normalize(
        "tinyimagenet",
        x_all[train],
        x_all[val],
        x_test,
        y_all[train],
        y_all[val],
        y_test,
        len(wnids),
        True,
        255.0,
    )


def load_dataset(name: str, path=None, seed: int = 0, **options) -> Dataset:
    if name == "digits":
        if path is not None:
            raise DatasetError("digits: is bundled with scikit-learn and takes no data path (got %s)" % path)
        return load_digits(seed, **options)
    if name == "cifar10":
        return load_cifar10(path, seed, **options)
    if name == "tinyimagenet":
        return load_tinyimagenet(path, seed, **options)
    raise DatasetError("unknown dataset %r; choose one of %s" % (name, ", ".join(DATASETS)))
