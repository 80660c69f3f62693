"""``oscdyn sweep``: config checks, cell results against the studies they wrap, the merged
NetCDF, resuming after Ctrl-C and SIGKILL, and the local and Ray executors giving the same
numbers as a serial run."""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr

from oscdyn.analysis import run_stability_study
from oscdyn.sweep import (
    Cell,
    CellStore,
    ConfigError,
    LocalExecutor,
    SerialExecutor,
    add_sweep_arguments,
    load_config,
    parse_config,
    run_cell,
    run_sweep,
    sweep_command,
)
from oscdyn.sweep.base import CellFunction, Outcome
from oscdyn.sweep.merge import RUN_VARIABLES

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "sweep_stability.toml"


def stability_config(out: Path, **grid: Any) -> dict[str, Any]:
    """A small stability sweep (``grid`` overrides the dimensions; ``steps`` as option)."""
    steps = grid.pop("steps", 60)
    table = {
        "study": "stability",
        "out": str(out),
        "grid": {
            "system": ["harmonic", "duffing"],
            "integrator": ["leapfrog", "rk4"],
            "dt": [0.1, 0.5],
            **grid,
        },
        "options": {"steps": steps},
    }
    return table


def write_toml(table: dict[str, Any], path: Path) -> Path:
    """``table`` as TOML (its values are strings, numbers, lists of them or such tables:
    their JSON spelling is TOML's)."""
    lines = [f"{k} = {json.dumps(v)}" for k, v in table.items() if not isinstance(v, dict)]
    for name, section in table.items():
        if isinstance(section, dict):
            lines += [f"[{name}]", *(f"{k} = {json.dumps(v)}" for k, v in section.items())]
    path.write_text("\n".join(lines) + "\n")
    return path


def results_only(dataset: xr.Dataset) -> xr.Dataset:
    """The merged results without what describes the run (wall times, worker names)."""
    return dataset.drop_vars(list(RUN_VARIABLES))


def command(argv: list[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    add_sweep_arguments(parser)
    args = parser.parse_args(argv)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = sweep_command(args)
    return status, out.getvalue(), err.getvalue()


# -- configuration ------------------------------------------------------------------------


def test_example_config_is_the_2x4x5_stability_grid() -> None:
    config = load_config(EXAMPLE, out="elsewhere")
    assert config.study == "stability"
    assert list(config.grid) == ["system", "integrator", "dt", "seed"]
    assert config.shape == (2, 4, 5, 1) and config.size == 40
    assert config.out == Path("elsewhere") and config.options == {"steps": 500}
    cells = config.cells()
    assert len({cell.key for cell in cells}) == 40
    assert cells[8].parameters == {"system": "duffing", "integrator": "symplectic_euler",
                                   "dt": 0.5, "seed": 0}  # fmt: skip
    assert cells[8].index == (0, 1, 3, 0)
    assert (config.heatmap.metric, config.heatmap.x, config.heatmap.y) == (
        "gradient_growth_rate",
        "dt",
        "integrator",
    )


def test_config_expands_ranges_and_fills_defaults(tmp_path: Path) -> None:
    config = parse_config(
        {
            "study": "stability",
            "grid": {"system": "harmonic", "integrator": "all", "dt": "0.1:0.5:3"},
        },
        out=tmp_path,
    )
    assert config.grid["dt"] == pytest.approx((0.1, 0.3, 0.5))
    assert config.grid["integrator"][:4] == ("imex", "symplectic_euler", "leapfrog", "exponential")
    assert config.options == {"steps": 1000}
    # seed is not a grid dimension: every cell gets the study's default
    assert all(cell.parameters["seed"] == 0 for cell in config.cells())
    assert (config.heatmap.x, config.heatmap.y) == ("dt", "integrator")
    # without dt: integrator across, system down, one panel per record, seeds averaged
    grid = {"data": ["drifting_chain"], "system": ["duffing"], "integrator": ["imex"],
            "seed": [0, 1]}  # fmt: skip
    fit = parse_config({"study": "fit", "grid": grid})
    assert (fit.heatmap.metric, fit.heatmap.x, fit.heatmap.y) == ("test_rmse", "integrator",
                                                                  "system")  # fmt: skip


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"study": "nope"}, "unknown study 'nope'"),
        ({"grid": {"system": ["duffing"], "integrator": ["rk4"]}},
         "needs grid dimension(s) ['dt']"),
        ({"grid": {"system": ["duffing"], "integrator": ["rk4"], "dt": [0.1], "data": ["x"]}},
         "grid dimension(s) ['data'] not understood by the stability study"),
        ({"grid": {"system": ["duffing"], "integrator": ["rk4"], "dt": [0.1, -1.0]}},
         "grid.dt must be positive and finite"),
        ({"grid": {"system": ["duffing"], "integrator": ["rk4", "rk4"], "dt": [0.1]}},
         "grid.integrator repeats ['rk4']"),
        ({"grid": {"system": ["duffin"], "integrator": ["rk4"], "dt": [0.1]}},
         "grid.system ['duffin'] unknown to the stability study"),
        ({"grid": {"system": ["duffing"], "integrator": ["rk5"], "dt": [0.1]}},
         "unknown integrator 'rk5'"),
        ({"grid": {"system": ["duffing"], "integrator": ["rk4"], "dt": [0.1], "seed": [1.5]}},
         "grid.seed must be non-negative integers"),
        ({"options": {"stepz": 5}}, "option(s) ['stepz'] not understood"),
        ({"options": {"steps": "many"}}, "options.steps must be like 1000 (int), got 'many'"),
        ({"heatmap": {"metric": "rmse"}}, "heatmap.metric 'rmse' is not a metric of"),
        ({"heatmap": {"x": "dt", "y": "dt"}}, "heatmap.x and heatmap.y must differ"),
        ({"extra": 1}, "unknown key(s) ['extra']"),
    ],
)  # fmt: skip
def test_bad_config_names_the_key(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    table = stability_config(tmp_path)
    table.update(change)
    with pytest.raises(ConfigError) as error:
        parse_config(table)
    assert message in str(error.value)


def test_fit_config_checks_data_files(tmp_path: Path) -> None:
    table = {
        "study": "fit",
        "grid": {"data": ["missing.npz"], "system": ["duffing"], "integrator": ["leapfrog"]},
    }
    with pytest.raises(ConfigError, match=r"'missing.npz' is neither a generated record"):
        parse_config(table, base_dir=tmp_path)
    (tmp_path / "missing.npz").write_bytes(b"")
    assert parse_config(table, base_dir=tmp_path).grid["data"] == ("missing.npz",)


def test_command_reports_bad_config_and_options(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('study = "stability"\n[grid]\nsystem = "duffing"\n')
    status, _, err = command([str(path), "--quiet"])
    assert status == 2 and "needs grid dimension(s) ['integrator', 'dt']" in err
    path.write_text("study = [\n")
    status, _, err = command([str(path)])
    assert status == 2 and "not valid TOML" in err
    status, _, err = command([str(EXAMPLE), "--address", "auto"])
    assert status == 2 and "--address applies to --executor ray only" in err


# -- cells ----------------------------------------------------------------------------------


def test_stability_cell_reports_the_study_at_its_dt(tmp_path: Path) -> None:
    config = parse_config(stability_config(tmp_path, steps=80, seed=[3]))
    cell = next(c for c in config.cells() if c.parameters["system"] == "harmonic"
                and c.parameters["integrator"] == "rk4" and c.parameters["dt"] == 0.5)  # fmt: skip
    result = run_cell(cell)
    assert result.status == "ok" and result.error == ""
    study = run_stability_study("harmonic", ["rk4"], [0.5], quiet=True, steps=80, probe_dt=0.5,
                                seed=3).results.isel(integrator=0)  # fmt: skip
    assert result.metrics["spectral_radius"] == float(study["spectral_radius"].isel(dt=0))
    for name in ("stability_limit", "gradient_growth_rate", "energy_drift_slope"):
        assert result.metrics[name] == float(study[name])
    assert result.labels["gradient_verdict"] == str(study["gradient_verdict"].values)
    # RK4's measured limit on y'' = -y is 2 sqrt(2) (its class fact)
    assert result.metrics["stability_limit_omega_dt"] == pytest.approx(2 * math.sqrt(2), 1e-6)


def test_failing_cells_are_results_not_crashes(tmp_path: Path) -> None:
    # the exponential integrator needs a stiffness operator: the pendulum has none -> NaN
    table = stability_config(tmp_path, system=["pendulum"], integrator=["exponential"], dt=[0.1])
    (cell,) = parse_config(table).cells()
    result = run_cell(cell)
    assert result.status == "nan"
    assert result.error.startswith("spectral_radius is NaN (exponential: ")
    # a study that raises: steps must be at least 2
    table = stability_config(tmp_path, system=["harmonic"], integrator=["rk4"], dt=[0.1], steps=1)
    (cell,) = parse_config(table).cells()
    result = run_cell(cell)
    assert result.status == "error"
    assert result.error == "ValueError: steps must be at least 2, got 1"
    assert "run_stability_study" in result.traceback and result.metrics == {}


def test_fit_cell_fits_and_records_a_bad_dt(tmp_path: Path) -> None:
    table = {
        "study": "fit",
        "grid": {
            "data": ["slowly_varying_duffing"],
            "system": ["duffing"],
            "integrator": ["leapfrog"],
            "dt": [0.125, 0.1],  # 0.25 s samples: two steps per sample; 0.1 does not divide
        },
        "options": {"n_samples": 600, "iterations": 4, "horizon": [5, 10], "eval_every": 2},
    }
    good, bad = parse_config(table).cells()
    result = run_cell(good)
    assert result.status == "ok", result.error
    assert result.labels["stopped"] == "iterations" and result.metrics["iterations"] == 4
    # the grey-box model starts from a least-squares fit: far better than predicting zero
    assert 0 < result.metrics["test_nrmse"] < 0.5
    assert math.isfinite(result.metrics["gradient_growth_rate"])
    failed = run_cell(bad)
    assert failed.status == "error" and "must divide the sampling period" in failed.error


@pytest.mark.skipif(
    importlib.util.find_spec("oscdyn.tasks") is None,
    reason="oscdyn.tasks (the train-task study) is not in this checkout",
)
def test_train_task_cell_trains_on_the_task(tmp_path: Path) -> None:
    table = {
        "study": "train-task",
        "grid": {"data": ["adding"], "system": ["unicornn"], "integrator": ["symplectic_euler"]},
        "options": {"length": 20, "hidden": 4, "batch": 8, "steps": 3, "eval_every": 3,
                    "test_size": 16},
    }  # fmt: skip
    (cell,) = parse_config(table).cells()
    result = run_cell(cell)
    assert result.status == "ok", result.traceback
    assert result.metrics["steps"] == 3 and result.labels["stopped"] == "steps"
    # the adding problem's memoryless baseline predicts 1: its mean squared error is 1/6
    assert result.metrics["baseline_metric"] == pytest.approx(1 / 6, rel=1e-6)
    assert math.isfinite(result.metrics["test_loss"]) and result.metrics["test_loss"] > 0
    with pytest.raises(ConfigError, match=r"option\(s\) \['lenght'\] not understood"):
        parse_config(table | {"options": {"lenght": 20}})


def test_train_task_sweeps_lr_and_model_options(tmp_path: Path) -> None:
    config_file = tmp_path / "cornn.toml"
    config_file.write_text(
        'study = "train-task"\n'
        f'out = "{tmp_path / "out"}"\n'
        "[grid]\n"
        'data = "adding"\n'
        'system = "cornn"\n'
        'integrator = "imex"\n'
        "lr = [0.01, 0.03]\n"
        "[grid.option]\n"
        "gamma = [66.0, 2.7]\n"
        "epsilon = 4.7\n"
        "[options]\n"
        "length = 12\nhidden = 4\nbatch = 6\nsteps = 3\neval_every = 3\ntest_size = 8\n"
        "lr_drops = [2]\n"
    )
    config = load_config(config_file)
    assert config.grid == {"data": ("adding",), "system": ("cornn",), "integrator": ("imex",),
                           "lr": (0.01, 0.03), "gamma": (66.0, 2.7), "epsilon": (4.7,)}  # fmt: skip
    run = run_sweep(config, "serial", quiet=True)
    assert (run.ran, run.lost) == (4, [])
    merged = xr.open_dataset(run.paths["netcdf"], engine="h5netcdf").load()
    assert dict(merged.sizes) == {"data": 1, "system": 1, "integrator": 1, "lr": 2, "gamma": 2,
                                  "epsilon": 1}  # fmt: skip
    assert set(merged["status"].values.ravel()) == {"ok"}
    # each cell is the run train-task makes with its lr and options
    import torch

    from oscdyn.tasks import AddingProblem, build_model, resolve_settings, train

    task = AddingProblem(12)
    settings = resolve_settings("cornn", hidden=4, batch=6, lr=0.03, integrator="imex",
                                options={"gamma": 2.7, "epsilon": 4.7})  # fmt: skip
    torch.manual_seed(0)
    expected = train(build_model(task, settings), task, 3, 6, 0.03, eval_every=3, test_size=8,
                     progress=False, lr_drops=(2,))  # fmt: skip
    cell = merged.sel(lr=0.03, gamma=2.7).squeeze()
    assert float(cell["test_loss"]) == expected.final_test_loss
    assert float(merged.sel(lr=0.03, gamma=66.0).squeeze()["test_loss"]) != float(cell["test_loss"])


def test_cornn_adding_example_config_is_a_2x3x2_hyperparameter_grid() -> None:
    config = load_config(EXAMPLE.with_name("sweep_cornn_adding.toml"))
    assert config.study == "train-task" and config.size == 12
    assert {k: v for k, v in config.grid.items() if len(v) > 1} == {
        "lr": (0.02, 0.005), "gamma": (66.0, 10.0, 2.7), "epsilon": (15.0, 4.7)
    }  # fmt: skip
    assert config.cells()[0].parameters["dt"] is None  # the model's published step
    assert (config.heatmap.x, config.heatmap.y) == ("gamma", "epsilon")
    # without [heatmap] the axes are dimensions with several values, not the single ones
    table = {"study": "train-task", "grid": {"data": "adding", "system": "cornn",
             "integrator": "imex", "lr": [0.1, 0.2], "option": {"gamma": [1.0, 2.0]}}}  # fmt: skip
    default = parse_config(table).heatmap
    assert (default.x, default.y) == ("gamma", "lr")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"option": {"dt": [0.1]}}, "grid.option.dt: not usable as a dimension name"),
        ({"option": {"test_loss": 1.0}}, "grid.option.test_loss: not usable"),
        ({"option": {"gamma": [{"a": 1}]}}, "grid.option.gamma must be numbers, booleans"),
        ({"option": {"gamma": [1.0, 1.0]}}, "grid.option.gamma repeats"),
        ({"option": {"gamma": []}}, "grid.option.gamma is empty"),
        ({"lr": [0.01, -1]}, "grid.lr must be positive finite numbers"),
    ],
)
def test_train_task_grid_errors(change: dict[str, Any], message: str) -> None:
    grid = {"data": "adding", "system": "cornn", "integrator": "imex", **change}
    with pytest.raises(ConfigError, match=message):
        parse_config({"study": "train-task", "grid": grid})


def test_lr_and_model_options_are_checked_where_they_apply() -> None:
    grid = {"data": "adding", "system": "cornn", "integrator": "imex", "lr": [0.01]}
    with pytest.raises(ConfigError, match=r"\['lr'\] given both in \[grid\] and in \[options\]"):
        parse_config({"study": "train-task", "grid": grid, "options": {"lr": 0.1}})
    table = stability_config(Path("x"))
    table["grid"]["option"] = {"gamma": [1.0]}
    with pytest.raises(ConfigError, match=r"\[grid.option\] does not apply to the stability"):
        parse_config(table)
    table = {"study": "train-task", "grid": {**grid, "option": {"gama": [1.0]}},
             "options": {"length": 6, "hidden": 2, "steps": 1, "eval_every": 1,
                         "test_size": 4}}  # fmt: skip
    (cell,) = parse_config(table).cells()
    result = run_cell(cell)
    assert result.status == "error" and "unexpected keyword argument 'gama'" in result.error


# -- store and merge ------------------------------------------------------------------------


def test_store_is_keyed_by_options_and_skips_unreadable_files(tmp_path: Path) -> None:
    cells = parse_config(stability_config(tmp_path)).cells()
    other = parse_config(stability_config(tmp_path, steps=61)).cells()
    assert cells[0].key != other[0].key  # another option: another computation
    store = CellStore(tmp_path / "cells")
    result = run_cell(cells[0])
    path = store.write(cells[0], result)
    assert store.read(cells[0]) == result and store.read(other[0]) is None
    assert store.pending(cells) == cells[1:]
    path.write_text('{"format": "oscdyn.sweep.cell/1", "key": "trunc')  # a damaged file
    assert store.read(cells[0]) is None and store.pending(cells) == cells
    (tmp_path / "cells" / ".x.json.abc.tmp").write_text("partial")
    assert store.remove_temporaries() == 1
    assert not list((tmp_path / "cells").glob(".*"))


def test_serial_sweep_merges_every_cell_and_resumes(tmp_path: Path) -> None:
    table = stability_config(tmp_path / "out", system=["harmonic", "pendulum"],
                             integrator=["leapfrog", "exponential"])  # fmt: skip
    config = parse_config(table)
    run = run_sweep(config, "serial", quiet=True)
    assert (run.ran, run.reused, run.lost) == (8, 0, [])
    merged = xr.open_dataset(run.paths["netcdf"], engine="h5netcdf").load()
    assert dict(merged.sizes) == {"system": 2, "integrator": 2, "dt": 2}
    assert list(merged["dt"].values) == [0.1, 0.5]
    for cell in config.cells():
        expected = run_cell(cell)
        at = merged.isel(dict(zip(config.grid, cell.index, strict=True)))
        assert str(at["status"].values) == expected.status
        for name, value in expected.metrics.items():
            np.testing.assert_equal(float(at[name]), value)
    # the pendulum has no stiffness for the exponential integrator: two NaN cells
    status = merged["status"].sel(system="pendulum", integrator="exponential").values
    assert list(status) == ["nan", "nan"] and merged.attrs["cells_nan"] == 2
    assert merged.attrs["cells_ok"] == 6
    summary = run.paths["summary"].read_text()
    assert "harmonic  leapfrog     0.5  ok                    1                2" in summary
    assert "failed cells:\n  system=pendulum integrator=exponential dt=0.1: nan:" in summary
    assert run.paths["heatmap"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    again = run_sweep(config, "serial", quiet=True)
    assert (again.ran, again.reused) == (0, 8)
    xr.testing.assert_identical(results_only(again.results), results_only(merged))
    retried = run_sweep(config, "serial", quiet=True, retry_failed=True)
    assert (retried.ran, retried.reused) == (2, 6)


# -- stopping and resuming a local sweep ----------------------------------------------------

# Ctrl-C as in a terminal even when the test run itself ignores SIGINT (a background job
# of a non-interactive shell does, and Python then never raises KeyboardInterrupt)
SWEEP_SCRIPT = """
import argparse, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
from oscdyn.sweep import add_sweep_arguments
parser = argparse.ArgumentParser()
add_sweep_arguments(parser)
args = parser.parse_args(sys.argv[1:])
sys.exit(args.handler(args))
"""


def start_sweep(config: Path) -> subprocess.Popen[str]:
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-c", SWEEP_SCRIPT, str(config), "--workers", "1", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
        start_new_session=True,  # its own process group: the test can clean up after it
    )


def cell_files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.glob("*.json")} if folder.is_dir() else {}


def wait_for_cells(process: subprocess.Popen[str], folder: Path, more_than: int) -> None:
    deadline = time.monotonic() + 90
    while len(cell_files(folder)) <= more_than:
        assert process.poll() is None, f"the sweep ended early: {process.communicate()}"
        assert time.monotonic() < deadline, "no cell finished in 90 s"
        time.sleep(0.02)


def check_intact(folder: Path) -> dict[str, bytes]:
    """Every cell file is whole (a complete record of its cell) and no partial file is left."""
    files = cell_files(folder)
    for name, content in files.items():
        record = json.loads(content)
        assert record["format"] == "oscdyn.sweep.cell/1" and record["key"] in name
        assert record["status"] == "ok" and len(record["metrics"]) == 8
    assert not list(folder.glob(".*.tmp")), "a partial file was left"
    return files


def test_interrupted_and_killed_sweep_resumes_to_the_clean_result(tmp_path: Path) -> None:
    out = tmp_path / "resumed"
    table = stability_config(out, steps=600, integrator=["leapfrog", "imex"])
    path = write_toml(table, tmp_path / "sweep.toml")
    cells = out / "cells"
    processes = []
    try:
        # Ctrl-C after the first cell: exit status 130, finished cells kept
        sweep = start_sweep(path)
        processes.append(sweep)
        wait_for_cells(sweep, cells, 0)
        sweep.send_signal(signal.SIGINT)
        _, err = sweep.communicate(timeout=60)
        assert sweep.returncode == 130, err
        assert "interrupted:" in err and "run the same command again to resume" in err
        first = check_intact(cells)
        assert 1 <= len(first) < 8, "the sweep finished before it could be interrupted"

        # SIGKILL after one more cell: no chance to clean up, finished cells still whole
        sweep = start_sweep(path)
        processes.append(sweep)
        wait_for_cells(sweep, cells, len(first))
        sweep.kill()
        sweep.communicate(timeout=60)
        second = check_intact(cells)
        assert set(first) < set(second) and len(second) < 8
        assert all(second[name] == content for name, content in first.items())

        # the rerun runs exactly the missing cells and leaves the stored ones untouched
        sweep = start_sweep(path)
        processes.append(sweep)
        output, err = sweep.communicate(timeout=120)
        assert sweep.returncode == 0, err
        third = check_intact(cells)
        assert len(third) == 8
        assert all(third[name] == content for name, content in second.items())
        assert f"this run: {8 - len(second)} cell(s) run, {len(second)} stored earlier" in output
    finally:
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
    resumed = xr.open_dataset(out / "sweep.nc", engine="h5netcdf").load()
    clean = run_sweep(parse_config(table | {"out": str(tmp_path / "clean")}), "serial", quiet=True)
    xr.testing.assert_equal(results_only(resumed), results_only(clean.results))
    assert set(np.unique(resumed["status"].values)) == {"ok"}


class LosingExecutor(SerialExecutor):
    """Runs cells in this process, but loses the first one (as if its worker had died)."""

    def run(self, function: CellFunction, cells: Sequence[Cell]) -> Iterator[Outcome]:
        yield cells[0], BrokenProcessPool("a worker died")
        yield from super().run(function, cells[1:])


def test_a_lost_cell_is_not_stored_and_runs_again(tmp_path: Path) -> None:
    config = parse_config(stability_config(tmp_path, system=["harmonic"], dt=[0.1]))
    run = run_sweep(config, LosingExecutor(), quiet=True)
    assert run.ran == 1 and run.lost == [
        "system=harmonic integrator=leapfrog dt=0.1 seed=0: BrokenProcessPool: a worker died"
    ]
    assert list(run.results["status"].values.ravel()) == ["missing", "ok"]
    assert "lost (not stored, rerun to retry): system=harmonic" in run.table
    again = run_sweep(config, "serial", quiet=True)
    assert (again.ran, again.reused, again.lost) == (1, 1, [])
    assert list(again.results["status"].values.ravel()) == ["ok", "ok"]


def test_local_executor_requires_a_positive_worker_count() -> None:
    with pytest.raises(ValueError, match="workers must be at least 1, got 0"):
        LocalExecutor(0)


# -- Ray ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_session() -> Any:
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'oscdyn[ray]')")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_executor_gives_the_serial_results(tmp_path: Path, ray_session: Any) -> None:
    table = stability_config(tmp_path / "ray", system=["harmonic", "pendulum"],
                             integrator=["rk4", "exponential"], dt=[0.2])  # fmt: skip
    run = run_sweep(parse_config(table), "ray", quiet=True)
    assert (run.ran, run.lost) == (4, [])
    assert ray_session.is_initialized()  # the caller's session is left open
    workers = {str(w).split(":")[1] for w in run.results["worker"].values.ravel()}
    assert str(os.getpid()) not in workers  # the cells ran in Ray's worker processes
    serial = run_sweep(parse_config(table | {"out": str(tmp_path / "serial")}), "serial",
                       quiet=True)  # fmt: skip
    xr.testing.assert_equal(results_only(run.results), results_only(serial.results))
    assert run.results.attrs["cells_nan"] == 1  # pendulum x exponential, recorded not fatal
