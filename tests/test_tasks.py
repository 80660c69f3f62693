"""The long-dependency tasks: layouts, value ranges, seeds, baselines, the MNIST loader."""

from __future__ import annotations

import gzip
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from oscdyn.distributed import DistributedContext
from oscdyn.tasks import (
    ADDING_BASELINE_MSE,
    MNIST_SOURCES,
    AddingProblem,
    BatchSource,
    CopyTask,
    NoisePadded,
    SequentialMNIST,
    build_task,
    held_out_set,
    load_mnist,
    read_idx,
)


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# -- adding problem -------------------------------------------------------------------------


@pytest.mark.parametrize("length", [2, 7, 50])
def test_adding_layout_marks_and_targets(length: int) -> None:
    task = AddingProblem(length)
    inputs, targets = task.sample(300, generator(1))
    assert inputs.shape == (300, length, 2) and inputs.dtype == torch.float32
    assert targets.shape == (300, 1)
    values, marks = inputs[..., 0], inputs[..., 1]
    assert float(values.min()) >= 0.0 and float(values.max()) < 1.0
    assert set(marks.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(marks.sum(1), torch.full((300,), 2.0))
    half = length // 2
    # one mark in [0, T//2), the other in [T//2, T) (coRNN's generator)
    assert torch.equal(marks[:, :half].sum(1), torch.ones(300))
    assert torch.equal(marks[:, half:].sum(1), torch.ones(300))
    torch.testing.assert_close(targets[:, 0], (values * marks).sum(1), rtol=0, atol=1e-6)


def test_adding_marks_cover_each_half_uniformly() -> None:
    task = AddingProblem(10)
    marks = task.sample(20000, generator(2))[0][..., 1]
    counts = marks.sum(0) / 20000  # each position of a half holds the mark with prob 1/5
    torch.testing.assert_close(counts, torch.full((10,), 0.2), rtol=0, atol=0.015)


def test_trivial_predictor_mse_is_one_sixth() -> None:
    # the target is U1 + U2, mean 1 and variance 2/12: predicting 1 scores 1/6 (~0.1667)
    task = AddingProblem(4)
    _, targets = task.sample(200_000, generator(3))
    baseline = task.baseline()
    assert baseline.loss == baseline.metric == ADDING_BASELINE_MSE == pytest.approx(1 / 6)
    measured = float(task.loss(torch.ones_like(targets), targets))
    assert abs(measured - 1 / 6) < 0.005
    assert abs(float(targets.mean()) - 1.0) < 0.005  # 1 is the best constant
    assert float(task.loss(torch.full_like(targets, 1.1), targets)) > measured


def test_same_seed_same_batch_other_seed_other_batch() -> None:
    task = AddingProblem(30)
    first, again, other = (task.sample(8, generator(s)) for s in (5, 5, 6))
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    assert not torch.equal(first[0], other[0])


def test_batch_source_is_a_function_of_seed_and_step() -> None:
    task = AddingProblem(20)
    source = BatchSource(task, 12, seed=3)
    a, b = source.global_batch(4), BatchSource(task, 12, seed=3).global_batch(4)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(source.global_batch(5)[0], a[0])
    assert not torch.equal(BatchSource(task, 12, seed=4).global_batch(4)[0], a[0])
    # each rank draws the global batch itself and keeps its rows (DistributedDataParallel)
    rows = [DistributedContext(rank=r, world_size=3).shard(12) for r in range(3)]
    parts = [BatchSource(task, 12, seed=3).global_batch(4) for _ in rows]
    assert torch.equal(torch.cat([p[0][r] for p, r in zip(parts, rows, strict=True)]), a[0])
    assert torch.equal(torch.cat([p[1][r] for p, r in zip(parts, rows, strict=True)]), a[1])


def test_held_out_set_is_fixed_and_apart_from_training() -> None:
    task = AddingProblem(20)
    test_a, test_b = held_out_set(task, 16), held_out_set(task, 16)
    assert torch.equal(test_a[0], test_b[0])
    for step in range(3):
        assert not torch.equal(BatchSource(task, 16, seed=0).global_batch(step)[0], test_a[0])


def test_batch_errors() -> None:
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        AddingProblem(10).sample(0, generator(0))
    with pytest.raises(ValueError, match="length must be an integer >= 2"):
        AddingProblem(1)
    with pytest.raises(ValueError, match="test_size must be a positive integer"):
        held_out_set(AddingProblem(10), -1)


# -- copy task ------------------------------------------------------------------------------


def test_copy_layout() -> None:
    task = CopyTask(delay=15, symbols=8, copy_length=10)
    inputs, targets = task.sample(64, generator(0))
    assert task.length == 35 and inputs.shape == (64, 35, 10) and targets.shape == (64, 35)
    assert torch.equal(inputs.sum(-1), torch.ones(64, 35))  # one-hot
    categories = inputs.argmax(-1)
    data = categories[:, :10]
    assert int(data.min()) >= 1 and int(data.max()) <= 8
    assert torch.equal(categories[:, 10:24], torch.zeros(64, 14, dtype=torch.long))  # delay-1
    assert torch.equal(categories[:, 24], torch.full((64,), 9))  # the delimiter
    assert torch.equal(categories[:, 25:], torch.zeros(64, 10, dtype=torch.long))
    assert torch.equal(targets[:, :25], torch.zeros(64, 25, dtype=torch.long))
    assert torch.equal(targets[:, 25:], data)


def test_copy_memoryless_baseline_is_measured() -> None:
    # blank with certainty, then uniform over the 8 data symbols: 10 log 8 / (T + 20)
    task = CopyTask(delay=30)
    inputs, targets = task.sample(256, generator(1))
    log_probs = torch.full((256, task.length, task.output_size), -1e9)
    log_probs[:, : task.length - 10, 0] = 0.0
    log_probs[:, task.length - 10 :, 1:9] = -math.log(8)
    measured = float(task.loss(log_probs, targets))
    baseline = task.baseline()
    assert measured == pytest.approx(10 * math.log(8) / 50, rel=1e-6)
    assert baseline.loss == pytest.approx(measured, rel=1e-6)
    # the recalled symbols are uniform: a fixed guess is right 1/8 of the time
    guess = torch.zeros(4096, task.length, task.output_size)
    guess[..., 3] = 1.0
    _, many = task.sample(4096, generator(2))
    assert abs(float(task.metric(guess, many)) - baseline.metric) < 0.01
    assert float(task.metric(F.one_hot(many, 10).float(), many)) == 1.0


def test_copy_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="delay must be an integer >= 1"):
        CopyTask(delay=0)
    with pytest.raises(ValueError, match="symbols must be an integer >= 2"):
        CopyTask(symbols=1)


# -- noise padding --------------------------------------------------------------------------


def test_noise_padding_keeps_the_task_and_appends_noise() -> None:
    base = AddingProblem(10)
    padded = NoisePadded(base, 400)
    inputs, targets = padded.sample(64, generator(4))
    base_inputs, base_targets = base.sample(64, generator(4))
    assert inputs.shape == (64, 400, 2) and padded.length == 400
    assert torch.equal(inputs[:, :10], base_inputs) and torch.equal(targets, base_targets)
    noise = inputs[:, 10:]
    # coRNN's padding: one N(0, 1) pattern, the same for every sequence and every batch
    assert torch.equal(noise, noise[:1].expand_as(noise))
    assert torch.equal(padded.sample(3, generator(9))[0][0, 10:], noise[0])
    assert abs(float(noise[0].std()) - 1.0) < 0.1 and abs(float(noise[0].mean())) < 0.1
    assert padded.baseline() == base.baseline() and padded.metric_name == "mse"


def test_fresh_noise_differs_per_sequence_and_has_the_given_std() -> None:
    padded = NoisePadded(AddingProblem(10), 210, noise_std=0.5, fixed_noise=False)
    noise = padded.sample(64, generator(5))[0][:, 10:]
    assert not torch.equal(noise[0], noise[1])
    assert abs(float(noise.std()) - 0.5) < 0.01


def test_noise_padding_errors() -> None:
    with pytest.raises(ValueError, match="answer at every step"):
        NoisePadded(CopyTask(delay=5), 100)
    with pytest.raises(
        ValueError,
        match="padded length must be an integer greater than the task.s 10 steps, got 10",
    ):
        NoisePadded(AddingProblem(10), 10)
    with pytest.raises(TypeError, match="must be a SequenceTask"):
        NoisePadded("adding", 100)  # type: ignore[arg-type]


# -- MNIST from a user's file ---------------------------------------------------------------


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, dtype=">i4").tobytes()
    raw = header + array.astype(np.uint8).tobytes()
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as handle:
            handle.write(raw)
    else:
        path.write_bytes(raw)


@pytest.fixture(scope="module")
def digits() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    return {
        "train": (rng.integers(0, 256, (40, 28, 28), dtype=np.uint8), rng.integers(0, 10, 40)),
        "test": (rng.integers(0, 256, (12, 28, 28), dtype=np.uint8), rng.integers(0, 10, 12)),
    }


@pytest.fixture(scope="module")
def idx_folder(tmp_path_factory: pytest.TempPathFactory, digits: dict) -> Path:
    folder = tmp_path_factory.mktemp("mnist_idx")
    write_idx(folder / "train-images-idx3-ubyte.gz", digits["train"][0])  # gzip and plain
    write_idx(folder / "train-labels-idx1-ubyte", digits["train"][1])
    write_idx(folder / "t10k-images-idx3-ubyte", digits["test"][0])
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", digits["test"][1])
    return folder


@pytest.fixture(scope="module")
def npz_file(tmp_path_factory: pytest.TempPathFactory, digits: dict) -> Path:
    path = tmp_path_factory.mktemp("mnist_npz") / "mnist.npz"
    (xa, ya), (xb, yb) = digits["train"], digits["test"]
    np.savez(path, x_train=xa, y_train=ya, x_test=xb, y_test=yb)
    return path


@pytest.mark.parametrize("source", ["idx_folder", "npz_file"])
def test_mnist_loader_reads_idx_and_npz(
    source: str, request: pytest.FixtureRequest, digits: dict
) -> None:
    loaded = load_mnist(request.getfixturevalue(source))
    for split in ("train", "test"):
        np.testing.assert_array_equal(loaded[split][0], digits[split][0])
        np.testing.assert_array_equal(loaded[split][1], digits[split][1])
        assert loaded[split][1].dtype == np.int64


def test_sequential_mnist_sequences_and_test_set(idx_folder: Path, digits: dict) -> None:
    task = SequentialMNIST(idx_folder)
    inputs, labels = task.sample(8, generator(0))
    assert inputs.shape == (8, 784, 1) and labels.shape == (8,)
    assert float(inputs.min()) >= 0.0 and float(inputs.max()) <= 1.0
    images, all_labels = digits["train"]
    # each sequence is one training image read row by row, with its label
    flat = torch.from_numpy(images.reshape(40, 784)).float() / 255
    for sequence, label in zip(inputs[..., 0], labels, strict=True):
        matches = torch.nonzero((flat == sequence).all(1)).flatten().tolist()
        assert len(matches) == 1 and int(all_labels[matches[0]]) == int(label)
    test_inputs, test_labels = task.test_set(100, generator(0))  # capped at the 12 there are
    assert test_inputs.shape == (12, 784, 1)
    np.testing.assert_array_equal(test_labels.numpy(), digits["test"][1])
    assert task.baseline().metric == 0.1 and task.baseline().loss == pytest.approx(math.log(10))


def test_permutation_is_fixed_by_its_seed(npz_file: Path) -> None:
    plain = SequentialMNIST(npz_file)
    first, again = SequentialMNIST(npz_file, True, 7), SequentialMNIST(npz_file, True, 7)
    other = SequentialMNIST(npz_file, True, 8)
    assert first.name == "psmnist" and plain.name == "smnist"
    assert torch.equal(first.permutation, again.permutation)
    assert not torch.equal(first.permutation, other.permutation)
    assert torch.equal(first.permutation.sort().values, torch.arange(784))
    rows, _ = plain.test_set(5, generator(0))
    permuted, _ = first.test_set(5, generator(0))
    assert torch.equal(permuted[:, :, 0], rows[:, first.permutation, 0])
    assert not torch.equal(permuted, rows)


def test_mnist_absent_says_where_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no MNIST data at") as error:
        SequentialMNIST(tmp_path / "missing.npz")
    assert MNIST_SOURCES in str(error.value) and "yann.lecun.com/exdb/mnist" in str(error.value)
    with pytest.raises(FileNotFoundError, match="no t10k-images-idx3-ubyte"):
        load_mnist(tmp_path)  # an empty folder
    with pytest.raises(ValueError, match="needs --data"):
        build_task("smnist")


def test_mnist_bad_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad-idx"
    bad.write_bytes(b"\x01\x02\x03\x04rest")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(bad)
    short = tmp_path / "short-idx"
    short.write_bytes(bytes([0, 0, 8, 1]) + np.array([5], dtype=">i4").tobytes() + b"\x00")
    with pytest.raises(ValueError, match=r"shape \(5,\) \(13 bytes\) but the file has 9"):
        read_idx(short)
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, x_train=np.zeros((2, 28, 28), np.uint8), y_train=np.zeros(2))
    with pytest.raises(ValueError, match="missing x_test, y_test"):
        load_mnist(wrong)
    shapes = tmp_path / "shapes.npz"
    x = np.zeros((2, 14, 14), np.uint8)
    np.savez(shapes, x_train=x, y_train=np.zeros(2), x_test=x, y_test=np.zeros(2))
    with pytest.raises(ValueError, match=r"images must be uint8 \(n, 28, 28\)"):
        load_mnist(shapes)
    text = tmp_path / "mnist.txt"
    text.write_text("no")
    with pytest.raises(ValueError, match="give a folder of MNIST IDX files or an .npz"):
        load_mnist(text)


def test_build_task_names_and_errors(npz_file: Path) -> None:
    assert build_task("adding").length == 1000
    assert build_task("copy", 40).length == 60
    assert build_task("adding", 20, noise_pad=100).length == 100
    assert build_task("psmnist", data=npz_file).permuted
    with pytest.raises(ValueError, match="unknown task 'add'; known: adding, copy"):
        build_task("add")
    with pytest.raises(ValueError, match="--length does not apply to smnist"):
        build_task("smnist", 100, data=npz_file)
    with pytest.raises(ValueError, match="--data applies to smnist and psmnist, not to adding"):
        build_task("adding", data=npz_file)
    with pytest.raises(ValueError, match="--fresh-noise needs --noise-pad"):
        build_task("adding", fresh_noise=True)


_REAL_MNIST = os.environ.get("OSCDYN_MNIST")


@pytest.mark.skipif(
    _REAL_MNIST is None,
    reason="set OSCDYN_MNIST to a folder of the MNIST IDX files or an .npz to check the "
    "loader on the real data (tasks.mnist.MNIST_SOURCES says where to get them)",
)
def test_loader_reads_the_real_mnist_files() -> None:
    data = load_mnist(_REAL_MNIST)
    (train_images, train_labels), (test_images, test_labels) = data["train"], data["test"]
    assert train_images.shape == (60000, 28, 28) and test_images.shape == (10000, 28, 28)
    # the published class counts of MNIST's training and test sets
    assert np.bincount(train_labels).tolist() == [
        5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949
    ]  # fmt: skip
    assert np.bincount(test_labels).tolist() == [
        980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009
    ]  # fmt: skip
    assert train_images.dtype == np.uint8 and train_images.max() == 255
    sequences, labels = SequentialMNIST(_REAL_MNIST).test_set(5, torch.Generator())
    assert sequences.shape == (5, 784, 1) and labels.tolist() == test_labels[:5].tolist()
    assert float(sequences.min()) == 0.0 and float(sequences.max()) == 1.0
