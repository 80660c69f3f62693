"""The sysid command hooks (``oscdyn fit``, ``simulate``, ``demo``) on tiny configurations."""

from __future__ import annotations

import argparse
import contextlib
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from oscdyn.sysid import commands, demo, load_model, slowly_varying_duffing


def run(
    add: Callable[[argparse.ArgumentParser], None],
    command: Callable[[argparse.Namespace], int],
    argv: list[str],
) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    add(parser)
    args = parser.parse_args(argv)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = command(args)
    return status, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def record(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("data")
    data = slowly_varying_duffing(n_samples=500, drift=0.0, seed=1)
    path = folder / "record.npz"
    np.savez(path, u=data.u[:, 0], y=data.y[:, 0], dt=np.array(data.dt))
    return path


TINY = ["--iterations", "6", "--horizon", "5", "10", "--eval-every", "3", "--init-window", "20"]


@pytest.mark.parametrize(
    ("model", "integrator", "substeps"), [("duffing", "leapfrog", "2"), ("oscnet", "imex", "1")]
)
def test_fit_then_simulate(
    tmp_path: Path, record: Path, model: str, integrator: str, substeps: str
) -> None:
    model_path = tmp_path / "model.pt"
    argv = ["--data", str(record), "--model", model, "--units", "3", "--integrator", integrator]
    argv += ["--substeps", substeps, "--hold", "bandlimited"]
    status, out, _ = run(
        commands.add_fit_arguments,
        commands.fit_command,
        [*argv, "--out", str(model_path), "--quiet", *TINY],
    )
    assert status == 0, out
    assert "validation RMSE" in out and f"wrote {model_path}" in out
    fitted = load_model(model_path)
    assert fitted.kind == model and fitted.settings["integrator"] == integrator
    assert fitted.settings["substeps"] == int(substeps)

    prediction = tmp_path / "pred.nc"
    status, out, _ = run(
        commands.add_simulate_arguments,
        commands.simulate_command,
        [
            "--model",
            str(model_path),
            "--data",
            str(record),
            "--init-window",
            "50",
            "--out",
            str(prediction),
        ],
    )
    assert status == 0
    assert "simulation RMSE over y[50:] (450 samples)" in out
    with xr.open_dataset(prediction, engine="h5netcdf") as dataset:
        assert {"u", "y", "y_pred"} <= set(dataset.data_vars)
        assert np.isnan(dataset["y_pred"].values[:50]).all()
        assert np.isfinite(dataset["y_pred"].values[50:]).all()
        printed = float(out.split("): ")[1].split()[0])
        assert printed == pytest.approx(float(dataset.attrs["rmse"]), rel=1e-5)


def test_simulate_input_only_csv(tmp_path: Path, record: Path) -> None:
    model_path = tmp_path / "model.pt"
    run(
        commands.add_fit_arguments,
        commands.fit_command,
        ["--data", str(record), "--out", str(model_path), "--quiet", *TINY],
    )
    csv = tmp_path / "drive.csv"
    csv.write_text("time,force\n" + "\n".join(f"{0.25 * k},{np.sin(k / 5)}" for k in range(80)))
    prediction = tmp_path / "p.nc"
    status, out, _ = run(
        commands.add_simulate_arguments,
        commands.simulate_command,
        ["--model", str(model_path), "--data", str(csv), "--inputs", "force", "--outputs", ""]
        + ["--out", str(prediction)],
    )
    assert status == 0 and "no measured output" in out
    with xr.open_dataset(prediction, engine="h5netcdf") as dataset:
        assert "y" not in dataset and dataset["y_pred"].shape == (80, 1)
        assert np.isfinite(dataset["y_pred"].values).all()


def test_commands_report_bad_data(tmp_path: Path) -> None:
    bad = tmp_path / "bad.npz"
    np.savez(bad, u=np.ones(10), y=np.ones(9), dt=np.array(0.1))
    status, _, err = run(
        commands.add_fit_arguments,
        commands.fit_command,
        ["--data", str(bad), "--out", str(tmp_path / "m.pt"), "--quiet"],
    )
    assert status == 2 and "same number of samples" in err
    assert not (tmp_path / "m.pt").exists()
    status, _, err = run(
        commands.add_simulate_arguments,
        commands.simulate_command,
        [
            "--model",
            str(tmp_path / "absent.pt"),
            "--data",
            str(bad),
            "--out",
            str(tmp_path / "p.nc"),
        ],
    )
    assert status == 2 and "no model file" in err


def test_demo_hook_writes_table_netcdf_and_plots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiny = demo.SysidDemoConfig(
        n_samples=400, iterations=4, horizon=(5, 10), eval_every=2, init_window=15
    )
    monkeypatch.setattr(demo.SysidDemoConfig, "quick", classmethod(lambda cls, seed, model: tiny))
    status, out, _ = run(
        commands.add_demo_arguments,
        commands.demo_command,
        ["--quick", "--quiet", "--out", str(tmp_path)],
    )
    assert status == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "error.png",
        "prediction.png",
        "results.nc",
    ]
    for name in demo.DEMO_INTEGRATORS:
        row = next(line for line in out.splitlines() if line.startswith(name + " "))
        cells = row.split()
        assert float(cells[1]) > 0  # RMSE
    with xr.open_dataset(tmp_path / "results.nc", engine="h5netcdf") as results:
        assert list(results["integrator"].values) == list(demo.DEMO_INTEGRATORS)
        for name in ("rmse", "nrmse", "train_time", "stability_limit", "gradient_growth_rate"):
            assert results[name].dims == ("integrator",)
        assert float(results["stability_limit"].sel(integrator="exponential")) == np.inf
        assert float(results["stability_limit"].sel(integrator="leapfrog")) == 2.0
