"""oscdyn.distributed and data-parallel ``oscdyn fit``: torchrun's environment, batch shares,
single-process no-ops, and two processes (gloo) against one process in float64."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from oscdyn.distributed import (
    DistributedContext,
    distributed_context,
    environment,
    init_distributed,
    single_process,
)
from oscdyn.sysid import commands, slowly_varying_duffing


def test_environment_reads_torchrun_variables() -> None:
    assert environment({}) == (0, 1, 0)
    assert environment({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1"}) == (3, 4, 1)
    assert environment({"WORLD_SIZE": "2", "RANK": "1"}) == (1, 2, 1)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"WORLD_SIZE": "two"}, "WORLD_SIZE must be an integer, got 'two'"),
        ({"WORLD_SIZE": "0"}, "WORLD_SIZE must be at least 1, got 0"),
        ({"WORLD_SIZE": "2"}, "RANK is not set; run under torchrun"),
        ({"WORLD_SIZE": "2", "RANK": "2"}, "RANK must be in [0, 2) for WORLD_SIZE=2, got 2"),
    ],
)
def test_environment_errors_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError) as error:
        environment(env)
    assert message in str(error.value)


@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_shards_partition_the_global_batch(world: int) -> None:
    for count in range(world, 3 * world + 2):
        shares = [DistributedContext(rank, world).shard(count) for rank in range(world)]
        covered = [i for share in shares for i in range(count)[share]]
        assert covered == list(range(count))  # in order, each item once
        sizes = [len(range(count)[share]) for share in shares]
        assert max(sizes) - min(sizes) <= 1
    if world > 1:
        with pytest.raises(ValueError, match=f"cannot split {world - 1} item"):
            DistributedContext(0, world).shard(world - 1)


def test_one_process_is_a_no_op() -> None:
    with distributed_context(device="cpu", env={"WORLD_SIZE": "1"}) as context:
        assert context == single_process()
        assert context.is_main and not context.is_distributed
        assert not torch.distributed.is_initialized()
        model = torch.nn.Linear(2, 1)
        assert context.wrap(model) is model
        value = torch.tensor([1.5, -2.0])
        assert context.all_reduce_sum(value) is value
        assert context.any(True) and not context.any(False)
        assert context.broadcast([1, 2.5]) == [1.0, 2.5]
        assert context.shard(5) == slice(0, 5)
    with pytest.raises(ValueError, match="device must be 'cpu' or 'cuda', got 'meta'"):
        init_distributed("meta", env={})


def test_fit_command_reports_a_bad_torchrun_environment(
    monkeypatch: pytest.MonkeyPatch, record: Path, tmp_path: Path
) -> None:
    monkeypatch.setenv("WORLD_SIZE", "two")
    parser = argparse.ArgumentParser()
    commands.add_fit_arguments(parser)
    error = io.StringIO()
    with contextlib.redirect_stderr(error):
        status = commands.fit_command(parser.parse_args(fit_arguments(record, tmp_path / "m.pt")))
    assert status == 2
    assert "torchrun environment: WORLD_SIZE must be an integer, got 'two'" in error.getvalue()
    assert not (tmp_path / "m.pt").exists()


WORKER = """
import json, os, sys
import torch
from oscdyn.cli import main
from oscdyn.distributed import init_distributed

# joins the group; `oscdyn fit` below finds it joined, uses it and leaves it at its end
context = init_distributed(device="cpu")
rank, world = context.rank, context.world_size
report = {
    "rank": rank,
    "world": world,
    "backend": context.backend,
    "shard": [context.shard(7).start, context.shard(7).stop],
    "sum": context.all_reduce_sum(torch.tensor([rank + 1.0], dtype=torch.float64)).tolist(),
    "any": [context.any(rank == 1), context.any(False)],
    "broadcast": context.broadcast([10.0 * (rank + 1), 0.5]),
}
model = context.wrap(torch.nn.Linear(1, 1, bias=False).double())
with torch.no_grad():
    model.module.weight.fill_(rank + 1.0)  # deliberately different per rank
model(torch.ones(1, 1, dtype=torch.float64) * (rank + 1)).sum().backward()
report["ddp_gradient"] = model.module.weight.grad.item()  # mean over ranks of (rank + 1)
with open(os.path.join(sys.argv[1], f"rank{rank}.json"), "w") as file:
    json.dump(report, file)
sys.exit(main(sys.argv[2:]))
"""


@pytest.fixture(scope="module")
def record(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "record.npz"
    data = slowly_varying_duffing(n_samples=500, drift=0.0, seed=1)
    np.savez(path, u=data.u[:, 0], y=data.y[:, 0], dt=np.array(data.dt))
    return path


def fit_arguments(record: Path, out: Path) -> list[str]:
    # batch 7 over 2 processes: shares of 3 and 4 windows (the uneven case)
    return [
        "--data", str(record), "--model", "duffing", "--integrator", "leapfrog",
        "--iterations", "6", "--horizon", "5", "10", "--eval-every", "3",
        "--init-window", "20", "--batch-size", "7", "--quiet", "--out", str(out),
    ]  # fmt: skip


def test_two_processes_fit_as_one(tmp_path: Path, record: Path) -> None:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    two = tmp_path / "two.pt"
    environment_ = {**os.environ, "OMP_NUM_THREADS": "1"}
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node"]
    completed = subprocess.run(
        [*launch, "2", str(script), str(tmp_path), "fit", *fit_arguments(record, two)],
        capture_output=True,
        text=True,
        timeout=240,
        env=environment_,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.count("fitted duffing") == 1  # only rank 0 prints
    assert "2 processes" in completed.stdout

    reports = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    for rank, report in enumerate(reports):
        assert (report["rank"], report["world"], report["backend"]) == (rank, 2, "gloo")
        assert report["sum"] == [3.0] and report["any"] == [True, False]
        assert report["broadcast"] == [10.0, 0.5]  # rank 0's values everywhere
        # DDP broadcast rank 0's weight (1) at wrap; the gradient is averaged over ranks
        assert report["ddp_gradient"] == 1.5
    assert reports[0]["shard"] == [0, 3] and reports[1]["shard"] == [3, 7]

    def fit_here(out: Path, *extra: str) -> dict[str, Any]:
        parser = argparse.ArgumentParser()
        commands.add_fit_arguments(parser)
        with contextlib.redirect_stdout(io.StringIO()):
            args = parser.parse_args([*fit_arguments(record, out), *extra])
            assert commands.fit_command(args) == 0
        return torch.load(out, weights_only=True)

    single = fit_here(tmp_path / "one.pt")
    parallel = torch.load(two, weights_only=True)
    # float64 rounding differs (sums over 3 + 4 windows vs 7); Adam divides each gradient by
    # its own size plus eps = 1e-8, so rounding noise of ~1e-16 in a gradient that is ~0
    # moves a parameter by up to lr * 1e-16 / 1e-8 = 1e-10 per step: measured 2e-11 here
    for name, value in single["state"].items():
        assert value.dtype == torch.float64
        torch.testing.assert_close(parallel["state"][name], value, rtol=1e-8, atol=1e-9)
    rmse = single["metadata"]["validation_rmse"], parallel["metadata"]["validation_rmse"]
    assert rmse[1] == pytest.approx(rmse[0], rel=1e-8)
    # not a trivial agreement: fitting on one rank's share of the windows lands elsewhere
    share = fit_here(tmp_path / "share.pt", "--batch-size", "3")
    gaps = [(share["state"][k] - v).abs().max().item() for k, v in single["state"].items()]
    assert max(gaps) > 1e-4


def test_train_task_two_processes_as_one(tmp_path: Path) -> None:
    """``oscdyn train-task`` under torchrun: 2 processes on uneven shares (3 and 4 sequences) give
    the learning curve of one process on the global batch of 7 (float32 tolerance)."""
    arguments = [
        "train-task", "adding", "--model", "cornn", "--length", "20", "--hidden", "8",
        "--steps", "6", "--batch", "7", "--eval-every", "3", "--test-size", "30",
        "--device", "cpu", "--quiet",
    ]  # fmt: skip
    environment_ = {**os.environ, "OMP_NUM_THREADS": "1"}
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node"]
    completed = subprocess.run(
        [*launch, "2", "-m", "oscdyn.cli", *arguments, "--out", str(tmp_path / "two")],
        capture_output=True,
        text=True,
        timeout=240,
        env=environment_,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.count("final test") == 1  # only rank 0 prints
    single = subprocess.run(
        [sys.executable, "-m", "oscdyn.cli", *arguments, "--out", str(tmp_path / "one")],
        capture_output=True,
        text=True,
        timeout=240,
        env=environment_,
    )
    assert single.returncode == 0, single.stderr[-3000:]
    import xarray as xr

    with (
        xr.open_dataset(tmp_path / "one" / "learning_curve.nc") as one,
        xr.open_dataset(tmp_path / "two" / "learning_curve.nc") as two,
    ):
        # the ranks' averaged gradient is the global batch's, so is its norm
        for name in ("train_loss", "grad_norm", "test_loss"):
            np.testing.assert_allclose(two[name].values, one[name].values, rtol=2e-5, err_msg=name)
        # the updates moved the model: the curve is not flat
        assert abs(float(one["test_loss"][-1]) - float(one["test_loss"][0])) > 1e-3
