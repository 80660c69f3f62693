"""``oscdyn stability`` through its hooks: options, NetCDF content, PNGs, table, --quiet."""

from __future__ import annotations

import argparse
import contextlib
import io
import math
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from oscdyn.analysis import (
    STUDY_SYSTEMS,
    add_stability_arguments,
    parse_dt_range,
    run_stability_study,
    stability_command,
)

INTEGRATORS = ["imex", "symplectic_euler", "leapfrog", "exponential", "euler", "rk4"]
PNG = b"\x89PNG\r\n\x1a\n"


def build_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="oscdyn stability")
    add_stability_arguments(parser)
    return parser.parse_args(list(argv))


def run(*argv: str) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        status = stability_command(build_args(*argv))
    return status, stdout.getvalue(), stderr.getvalue()


def table_rows(printed: str) -> dict[str, list[str]]:
    rows = {}
    for line in printed.splitlines():
        cells = line.split()
        if cells and cells[0] in INTEGRATORS:
            rows[cells[0]] = cells[1:]
    return rows


@pytest.fixture(scope="module")
def duffing_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, str, str]:
    out = tmp_path_factory.mktemp("stability")
    status, printed, errors = run(
        "--system", "duffing", "--integrators", "all", "--dt", "0.25:2.5:10",
        "--steps", "200", "--out", str(out), "--quiet",
    )  # fmt: skip
    return out, status, printed, errors


def test_defaults_are_the_issue_command():
    args = build_args()
    assert args.system == "duffing" and args.integrators == "all"
    assert args.dt == pytest.approx(list(np.linspace(0.01, 2.0, 50)))
    assert args.out == "oscdyn-stability" and not args.quiet
    assert args.handler is stability_command


def test_dt_ranges():
    assert parse_dt_range("0.01:2.0:50")[0] == 0.01 and len(parse_dt_range("0.01:2.0:50")) == 50
    assert parse_dt_range("0.1,0.2") == [0.1, 0.2]
    assert parse_dt_range("0.5") == [0.5]
    for bad in ("2.0:0.1:5", "0.1:1", "a:b:c", "-0.1", "0:1:3", "0.1:1:0"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_dt_range(bad)


def test_bad_dt_range_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_args("--dt", "2.0:0.1:5")
    assert exit_info.value.code == 2
    assert "start:stop:count" in capsys.readouterr().err


def test_unknown_system_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit):
        build_args("--system", "lorenz")
    assert "invalid choice" in capsys.readouterr().err


def test_unknown_integrator_is_reported(tmp_path):
    status, printed, errors = run("--integrators", "leapfrog,verlet", "--out", str(tmp_path))
    assert status == 2 and printed == ""
    assert "unknown integrator 'verlet'" in errors
    assert not list(tmp_path.iterdir())


def test_writes_netcdf_and_three_pngs(duffing_run):
    out, status, _, errors = duffing_run
    assert status == 0
    assert errors == ""  # --quiet: no progress bar
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "duffing_energy_drift.png",
        "duffing_gradient_norms.png",
        "duffing_stability.nc",
        "duffing_stability_regions.png",
    ]
    for name in names[:2] + names[3:]:
        data = (out / name).read_bytes()
        assert data[:8] == PNG and len(data) > 5000


def test_netcdf_content(duffing_run):
    out, *_ = duffing_run
    with xr.open_dataset(out / "duffing_stability.nc") as ds:
        assert list(ds["integrator"].values) == INTEGRATORS
        assert ds.sizes["dt"] == 10 and ds.sizes["time"] == 201 and ds.sizes["energy_time"] == 201
        assert ds["spectral_radius"].dims == ("integrator", "dt")
        assert ds["gradient_norm"].dims == ("integrator", "time")
        assert ds["energy_error"].dims == ("integrator", "energy_time")
        for name in ("stability_limit", "gradient_growth_rate", "energy_drift_slope", "order"):
            assert ds[name].dims == ("integrator",)
        assert ds.attrs["system"] == "duffing" and ds.attrs["probe_dt"] == 0.1
        radius = ds["spectral_radius"]
        # the damped Duffing oscillator linearised at rest: y'' = -y - 0.1 y'
        assert (radius.sel(integrator="leapfrog").sel(dt=slice(None, 1.99)) < 1).all()
        assert (radius.sel(integrator="euler") > 1).all()  # stable only for dt <= 0.1
        np.testing.assert_allclose(radius.sel(integrator="exponential"), np.exp(-0.05 * ds.dt))
        limit = ds["stability_limit"]
        assert float(limit.sel(integrator="leapfrog")) == pytest.approx(2.0, rel=1e-6)
        # implicit damping moves IMEX's limit out to (c + sqrt(c^2 + 4)) / 1
        assert float(limit.sel(integrator="imex")) == pytest.approx(0.1 + math.sqrt(4.01), rel=1e-6)
        # explicit Euler is stable on the damped oscillator up to dt = c / omega^2
        assert float(limit.sel(integrator="euler")) == pytest.approx(0.1, rel=1e-6)
        assert math.isinf(float(limit.sel(integrator="exponential")))
        assert float(ds["claimed_stability_limit"].sel(integrator="rk4")) == pytest.approx(
            2 * math.sqrt(2)
        )
        assert bool(ds["symplectic"].sel(integrator="leapfrog"))
        assert not bool(ds["reversible"].sel(integrator="euler"))
        verdicts = dict(zip(ds["integrator"].values, ds["gradient_verdict"].values, strict=True))
        assert verdicts["leapfrog"] == "bounded"
        slopes = ds["energy_drift_slope"]
        assert abs(float(slopes.sel(integrator="leapfrog"))) < 1e-4
        assert float(slopes.sel(integrator="euler")) > 1e-2
        assert float(ds["reversibility_error"].sel(integrator="leapfrog")) < 1e-12
        assert np.isnan(float(ds["reversibility_error"].sel(integrator="rk4")))


def test_table_rows(duffing_run):
    _, _, printed, _ = duffing_run
    rows = table_rows(printed)
    assert list(rows) == INTEGRATORS
    header = printed.splitlines()[3]
    for column in ("order", "symplectic", "reversible", "limit dt", "energy slope", "grad rate"):
        assert column in header
    assert rows["leapfrog"][:4] == ["2", "yes", "yes", "2"]
    assert rows["exponential"][3] == "inf"
    assert rows["rk4"][0] == "4" and rows["rk4"][-1] == "bounded"
    assert "wrote" not in printed  # --quiet


def test_without_quiet_lists_the_files(tmp_path):
    status, printed, _ = run(
        "--system", "harmonic", "--integrators", "leapfrog,euler", "--dt", "0.5:1.5:3",
        "--steps", "50", "--out", str(tmp_path),
    )  # fmt: skip
    assert status == 0
    written = [line.split()[1] for line in printed.splitlines() if line.startswith("wrote ")]
    assert len(written) == 4 and all(Path(p).exists() for p in written)
    assert list(table_rows(printed)) == ["leapfrog", "euler"]


@pytest.mark.parametrize("system", list(STUDY_SYSTEMS))
def test_every_built_in_system(system, tmp_path):
    study = run_stability_study(
        system, "leapfrog,exponential", [0.5, 1.0], tmp_path, quiet=True, steps=30
    )
    results = study.results
    assert results.sizes["dt"] == 2
    assert len(study.paths) == 4 and all(p.exists() for p in study.paths.values())
    assert np.isfinite(results["spectral_radius"].sel(integrator="leapfrog")).all()
    assert np.isfinite(results["gradient_log_norm"].sel(integrator="leapfrog")).all()
    if system == "pendulum":  # no stiffness operator: the exponential integrator is skipped
        assert "exponential" in results.attrs["skipped"]
        assert str(results["gradient_verdict"].sel(integrator="exponential").values) == "n/a"
    assert "leapfrog" in study.table
