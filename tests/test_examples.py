"""The example scripts run as a user runs them and print the rows they promise."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(name: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def rows(output: str) -> dict[str, list[str]]:
    """Table rows keyed by their first cell (later rows with the same key are appended)."""
    table: dict[str, list[str]] = {}
    for line in output.splitlines():
        cells = line.split()
        if cells:
            table.setdefault(cells[0], []).extend(cells[1:])
    return table


def test_harmonic_integrators_prints_every_integrator() -> None:
    table = rows(run_example("harmonic_integrators.py"))
    names = [
        "imex",
        "symplectic_euler",
        "leapfrog",
        "exponential",
        "euler",
        "rk4",
        "torchdiffeq:dopri5",
    ]
    for name in names:
        assert name in table, f"no row for {name}"
    final_error = {name: float(table[name][-2]) for name in names}
    drift = {name: float(table[name][-1]) for name in names}
    # the exact flow of a linear system: float precision after 1000 steps
    assert final_error["exponential"] < 1e-10
    assert drift["exponential"] < 1e-10
    assert final_error["rk4"] < final_error["leapfrog"] < final_error["euler"]
    assert drift["leapfrog"] < drift["euler"]


def test_define_your_system_converges_at_second_order() -> None:
    output = run_example("define_your_system.py")
    assert "QuarticPendulum" in output
    for name in ("leapfrog", "exponential"):
        # rows "name dt error" for dt = 0.1, 0.05, 0.025
        lines = [line.split() for line in output.splitlines()]
        errors = [float(cells[2]) for cells in lines if len(cells) == 3 and cells[0] == name]
        assert len(errors) == 3
        for coarse, fine in zip(errors, errors[1:], strict=False):
            assert coarse / fine == pytest.approx(4, rel=0.25)
    assert "energy drift" in output


def test_adding_gradient_probe_separates_vanishing_from_flat_profiles() -> None:
    output = run_example("adding_gradient_probe.py", "--length", "200", "--hidden", "16")
    profiles = {
        line.split("(")[0].strip(): [float(cell) for cell in line.split(")")[-1].split()]
        for line in output.splitlines()
        if line.startswith(("coRNN", "UnICORNN"))
    }
    assert len(profiles) == 4
    released = profiles["coRNN released adding"]
    assert released[0] < 1e-20 * released[-1]  # epsilon / 2 = 7.5 per time unit: vanished
    for flat in ("coRNN psMNIST", "UnICORNN psMNIST"):
        first, last = profiles[flat][0], profiles[flat][-1]
        assert 1e-2 < first / last < 1e2, (flat, profiles[flat])


def test_concurrent_train_tasks_runs_each_command_line(tmp_path) -> None:
    common = "adding --length 30 --steps 6 --eval-every 3 --test-size 20 --device cpu"
    output = run_example(
        "concurrent_train_tasks.py",
        "--run",
        f"{common} --model cornn --hidden 8 --out {tmp_path / 'cornn'}",
        "--run",
        f"{common} --model lstm --hidden 8 --out {tmp_path / 'lstm'}",
    )
    for name in ("cornn", "lstm"):
        summary = (tmp_path / name / "summary.txt").read_text()
        assert "after 6 steps" in summary
        assert (tmp_path / name / "learning_curve.nc").stat().st_size > 0
        assert f"({tmp_path / name}) finished" in output
    # the two summaries are printed, each with its own command
    assert output.count("command: oscdyn train-task adding") == 2


def test_adding_curriculum_starts_each_stage_from_the_one_before(tmp_path: Path) -> None:
    argv = ["--lengths", "8", "16", "--steps", "4", "3", "--hidden", "4", "--eval-every", "2",
            "--test-size", "16", "--quiet", "--out", str(tmp_path)]  # fmt: skip
    table = rows(run_example("adding_curriculum.py", *argv))
    assert table["cornn"][:5] == ["8", "0.02", "0.06", "4", "0"] and table["cornn"][9:13] == [
        "16", "0.005", "0.06", "3"
    ]  # fmt: skip
    assert table["lstm"][1:3] == ["0.001", "-"] and table["lstm"][10] == "0.001"
    for name in ("cornn", "lstm"):
        summary = (tmp_path / name / "stage-1-length-16" / "summary.txt").read_text()
        first = tmp_path / name / "stage-0-length-8" / "checkpoint.pt"
        assert f"parameters initialised from {first} (step 4, adding problem, length 8" in summary


def test_adding_curriculum_gives_each_stage_its_dt_and_repeats_a_length(tmp_path: Path) -> None:
    # the time-rescaled start: a stage at a longer length with a smaller base step
    argv = ["--models", "unicornn", "--option", "alpha=1.0", "--option", "num_layers=2",
            "--lengths", "8", "8", "16", "--dt", "1", "1", "0.5", "--steps", "2", "2", "2",
            "--lr", "0.01", "0.001", "0.001", "--hidden", "4", "--eval-every", "2",
            "--test-size", "8", "--quiet", "--out", str(tmp_path)]  # fmt: skip
    output = run_example("adding_curriculum.py", *argv)
    dts = [line.split()[3] for line in output.splitlines() if line.startswith("unicornn")]
    assert dts == ["1", "1", "0.5"]
    last = (tmp_path / "unicornn" / "stage-2-length-16" / "summary.txt").read_text()
    assert "dt 0.5" in last and "alpha=1.0, num_layers=2" in last
    previous = tmp_path / "unicornn" / "stage-1-length-8" / "checkpoint.pt"
    assert f"initialised from {previous}" in last
    short_dt = [*argv[: argv.index("--dt") + 1], "1", *argv[argv.index("--steps") :]]
    failed = subprocess.run(
        [sys.executable, str(EXAMPLES / "adding_curriculum.py"), *short_dt],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert failed.returncode == 2 and "--dt needs one value per length (3)" in failed.stderr


def test_sequential_mnist_runs_the_released_settings(tmp_path: Path) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    data = tmp_path / "mnist.npz"
    np.savez(data, x_train=rng.integers(0, 256, (40, 28, 28), dtype=np.uint8),
             y_train=rng.integers(0, 10, 40), x_test=rng.integers(0, 256, (12, 28, 28),
             dtype=np.uint8), y_test=rng.integers(0, 10, 12))  # fmt: skip
    out = tmp_path / "runs"
    argv = ["--data", str(data), "--epochs", "2", "--hidden", "4", "--batch", "8",
            "--test-size", "12", "--device", "cpu", "--quiet", "--out", str(out)]  # fmt: skip
    table = rows(run_example("sequential_mnist.py", *argv))
    # 40 images in batches of 8: 5 updates an epoch, two epochs, the papers' accuracies beside
    assert table["cornn-smnist"][:2] == ["10", "2.00"] and table["cornn-smnist"][-1] == "99.4"
    assert table["cornn-psmnist"][-1] == "97.3" and table["unicornn-psmnist"][-1] == "98.4"
    summary = (out / "cornn-smnist" / "summary.txt").read_text()
    assert "dt 0.042" in summary and "options epsilon=4.7, gamma=2.7" in summary
    assert "Adam lr 0.0021 (divided by 10 after updates 500), batch 8" in summary  # epoch 100
    steps = [line.split()[0] for line in summary.splitlines() if line[:4].strip().isdigit()]
    assert steps == ["0", "5", "10"]  # one evaluation per epoch
    unicornn = (out / "unicornn-psmnist" / "summary.txt").read_text()
    assert "options alpha=30.65, num_layers=3" in unicornn and "after updates 3250" in unicornn
