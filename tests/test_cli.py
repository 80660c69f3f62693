"""The ``oscdyn`` command: ``oscdyn demo`` writes a table, results.nc and demo.png."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from oscdyn import cli, demo
from oscdyn.io import write_atomic

INTEGRATORS = [
    "imex",
    "symplectic_euler",
    "leapfrog",
    "exponential",
    "euler",
    "rk4",
    "torchdiffeq:dopri5",
]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One quick demo run shared by the tests below (it takes a few seconds)."""
    out = tmp_path_factory.mktemp("demo")
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        status = cli.main(["compare", "--quick", "--quiet", "--out", out])
    assert status == 0
    return out, stdout.getvalue()


def test_demo_writes_netcdf_with_expected_layout(demo_run: tuple[Path, str]) -> None:
    out, _ = demo_run
    assert sorted(p.name for p in out.iterdir()) == ["demo.png", "results.nc"]
    with xr.open_dataset(out / "results.nc") as ds:
        assert list(ds["integrator"].values) == INTEGRATORS
        assert set(ds.dims) == {"integrator", "dt", "batch", "time", "energy_time"}
        assert ds["position"].dims == ("integrator", "dt", "batch", "time")
        assert ds["reference"].dims == ("batch", "time")
        assert ds["error"].dims == ("integrator", "dt", "time")
        for name in ("max_error", "wall_time"):
            assert ds[name].dims == ("integrator", "dt")
        for name in ("energy_drift", "order", "symplectic", "reversible", "stability_limit"):
            assert ds[name].dims == ("integrator",)
        assert ds["energy_error"].dims == ("integrator", "energy_time")
        assert ds.sizes["dt"] >= 2 and ds.sizes["batch"] >= 2
        # the class facts travel with the results
        assert bool(ds["symplectic"].sel(integrator="leapfrog"))
        assert not bool(ds["symplectic"].sel(integrator="rk4"))
        assert float(ds["order"].sel(integrator="rk4")) == 4
        assert np.isinf(float(ds["stability_limit"].sel(integrator="exponential")))
        # every integrator but euler stays finite on the damped, driven run
        finite = ds["max_error"].drop_sel(integrator="euler")
        assert np.isfinite(finite).all()


def test_demo_png_exists_and_is_a_png(demo_run: tuple[Path, str]) -> None:
    out, _ = demo_run
    data = (out / "demo.png").read_bytes()
    assert len(data) > 1000
    assert data[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_table_lists_every_integrator(demo_run: tuple[Path, str]) -> None:
    _, printed = demo_run
    rows = {line.split()[0] for line in printed.splitlines() if line.strip()}
    for name in INTEGRATORS:
        assert name in rows, f"{name} missing from the printed table:\n{printed}"
    for column in ("order", "symplectic", "reversible", "energy drift", "wall"):
        assert column in printed


def test_leapfrog_is_more_accurate_than_euler(demo_run: tuple[Path, str]) -> None:
    out, _ = demo_run
    with xr.open_dataset(out / "results.nc") as ds:
        leapfrog = ds["max_error"].sel(integrator="leapfrog")
        euler = ds["max_error"].sel(integrator="euler")
        assert (leapfrog < euler).all(), (leapfrog.values, euler.values)
        # measured orders near the class facts for the fixed-step second-order schemes
        for name in ("leapfrog", "exponential"):
            assert float(ds["measured_order"].sel(integrator=name)) == pytest.approx(2, abs=0.3)
        assert float(ds["energy_drift"].sel(integrator="leapfrog")) < float(
            ds["energy_drift"].sel(integrator="euler")
        )


def test_failed_write_leaves_no_partial_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that fails midway leaves neither results.nc nor its temporary file."""
    results = xr.Dataset({"x": ("t", np.arange(4.0))})

    def broken_to_netcdf(self: xr.Dataset, path: str, *args: object, **kwargs: object) -> None:
        Path(path).write_bytes(b"CDF partial")  # half a file, then the failure
        raise OSError("disk full")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", broken_to_netcdf)
    with pytest.raises(OSError, match="disk full"):
        demo.write_results(results, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_the_previous_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    previous = tmp_path / "results.nc"
    previous.write_bytes(b"previous run")

    def failing(path: str) -> None:
        Path(path).write_bytes(b"partial")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        write_atomic(previous, failing)
    assert previous.read_bytes() == b"previous run"
    assert [p.name for p in tmp_path.iterdir()] == ["results.nc"]


def test_main_requires_a_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        cli.main([])
    assert raised.value.code == 2
    assert "demo" in capsys.readouterr().err


def test_help_lists_the_design_commands(capsys: pytest.CaptureFixture[str]) -> None:
    """DESIGN.md's commands, each with a working --help."""
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    text = capsys.readouterr().out
    commands = ["demo", "fit", "simulate", "stability", "bench", "train-task", "sweep"]
    for command in commands:
        assert command in text
    for command in commands:
        with pytest.raises(SystemExit) as exit_info:
            cli.main([command, "--help"])
        assert exit_info.value.code == 0, command
