"""``oscdyn demo``: every integrator on a damped, driven Duffing oscillator, side by side.

A batch of initial conditions (generated from a seed, nothing is downloaded) is simulated
with each integrator at a few step sizes and compared with a tight torchdiffeq ``dopri5``
solution. A second, long run on the undamped, undriven Duffing oscillator measures the
energy drift. All numbers are measured in the run that prints them (float64, CPU).

Outputs: a plain-text table (:func:`format_table`), ``results.nc`` (the whole comparison
as an ``xarray.Dataset``, written atomically) and ``demo.png`` (trajectories against the
reference, error over time, energy error over the long run).
"""

from __future__ import annotations

import math
import os
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import xarray as xr
from torchdiffeq import odeint
from tqdm.auto import tqdm

from . import __version__
from .compile import StabilityWarning, compile
from .integrators import get, numeric_facts
from .io import write_atomic, write_netcdf
from .systems import Duffing
from .tables import aligned_table

__all__ = [
    "INTEGRATORS",
    "DemoConfig",
    "compare_integrators",
    "format_table",
    "plot",
    "write_results",
    "run_demo",
]

#: the integrators compared, in table order (``torchdiffeq:dopri5`` at its default tolerances)
INTEGRATORS: tuple[str, ...] = (
    "imex",
    "symplectic_euler",
    "leapfrog",
    "exponential",
    "euler",
    "rk4",
    "torchdiffeq:dopri5",
)

#: the Duffing oscillator of the accuracy runs: a hardening spring, damped and driven
DUFFING = {"alpha": 1.0, "beta": 1.0, "delta": 0.1, "gamma": 0.3, "drive_frequency": 1.2}
#: the tight reference solver (one adaptive solve over the whole run)
REFERENCE = {"method": "dopri5", "rtol": 1e-10, "atol": 1e-12}


@dataclass(frozen=True)
class DemoConfig:
    """Sizes of the demo runs.

    Attributes:
        batch: number of initial conditions (``y0`` uniform in [-1.5, 1.5], ``v0`` in [-1, 1]).
        duration: length of the accuracy runs (time units).
        dts: step sizes of the accuracy runs, coarsest first; each divides ``duration``
            and is a multiple of the finest.
        energy_dt, energy_steps: the long run on the undamped, undriven oscillator.
        seed: seed of the initial conditions.
    """

    batch: int = 16
    duration: float = 20.0
    dts: tuple[float, ...] = (0.1, 0.05)
    energy_dt: float = 0.1
    energy_steps: int = 2000
    seed: int = 0

    @classmethod
    def quick(cls, seed: int = 0) -> DemoConfig:
        """A smaller run (a few seconds) for tests and ``oscdyn demo --quick``."""
        return cls(batch=8, duration=10.0, energy_steps=500, seed=seed)


def _steps(duration: float, dt: float) -> int:
    steps = round(duration / dt)
    if steps < 1 or abs(steps * dt - duration) > 1e-9 * max(1.0, duration):
        raise ValueError(f"dt={dt} does not divide the duration {duration}")
    return steps


def _initial_conditions(config: DemoConfig) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(config.seed)
    shape = (config.batch, 1)
    y0 = (torch.rand(shape, generator=generator, dtype=torch.float64) * 2 - 1) * 1.5
    v0 = torch.rand(shape, generator=generator, dtype=torch.float64) * 2 - 1
    return y0, v0


def _reference(
    system: Duffing, y0: torch.Tensor, v0: torch.Tensor, times: torch.Tensor
) -> np.ndarray:
    """Positions ``(batch, time)`` from one tight adaptive dopri5 solve over ``times``."""

    def first_order(
        t: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        y, v = state
        return v, system.acceleration(y, v, None, t)

    with torch.no_grad():
        ys, _ = odeint(
            first_order,
            (y0, v0),
            times,
            method=REFERENCE["method"],
            rtol=REFERENCE["rtol"],
            atol=REFERENCE["atol"],
        )
    return ys[..., 0].T.numpy()


def _simulate(
    system: Duffing, name: str, dt: float, y0: torch.Tensor, v0: torch.Tensor, steps: int
) -> tuple[np.ndarray, float]:
    """Positions ``(batch, steps + 1)`` and the wall time (s) of ``compile(...)(...)``."""
    with warnings.catch_warnings():
        # euler is unstable at every dt; the table's stability column says so
        warnings.simplefilter("ignore", StabilityWarning)
        rnn = compile(system, get(name), dt=dt)
    start = time.perf_counter()
    with torch.no_grad():
        y_seq, _ = rnn(None, state=(y0, v0), steps=steps)
    wall = time.perf_counter() - start
    return torch.cat([y0[:, None], y_seq], 1)[..., 0].numpy(), wall


def _energy_error(
    system: Duffing, name: str, config: DemoConfig, y0: torch.Tensor, v0: torch.Tensor
) -> tuple[np.ndarray, float]:
    """Relative energy error ``|E(t) - E(0)| / E(0)``, max over the batch, ``(time,)``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StabilityWarning)
        rnn = compile(system, get(name), dt=config.energy_dt)
    start = time.perf_counter()
    energy = rnn.trajectory(None, state=(y0, v0), steps=config.energy_steps)["energy"].values
    wall = time.perf_counter() - start
    with np.errstate(all="ignore"):
        relative = np.abs(energy - energy[:, :1]) / energy[:, :1]
    relative = np.where(np.isfinite(relative), relative, np.inf)
    return relative.max(0), wall


def compare_integrators(
    config: DemoConfig | None = None,
    integrators: Sequence[str] = INTEGRATORS,
    progress: bool = True,
) -> xr.Dataset:
    """Run the comparison and return it as an ``xarray.Dataset``.

    Dims: ``integrator``, ``dt``, ``batch``, ``time`` (the grid of the coarsest ``dt``)
    and ``energy_time``. Variables: ``position`` and ``reference`` (trajectories),
    ``error`` (max over the batch of ``|y - y_ref|``), ``max_error`` (over batch and
    time, on each dt's own grid), ``measured_order`` (from the coarsest and finest dt),
    ``energy_error`` and ``energy_drift`` (long undamped run), ``wall_time`` (s, per dt)
    and ``energy_wall_time``, and the class facts ``order``, ``symplectic``,
    ``reversible``, ``stability_limit`` (``omega * dt``; NaN where not defined).
    """
    config = config or DemoConfig()
    dts = [float(dt) for dt in config.dts]
    finest = min(dts)
    strides = [round(dt / finest) for dt in dts]
    coarse = round(max(dts) / finest)  # stride from the finest grid to the coarsest
    if any(abs(s * finest - dt) > 1e-12 or coarse % s for s, dt in zip(strides, dts, strict=True)):
        raise ValueError(f"each dt must divide the coarsest and be a multiple of the finest: {dts}")
    fine_steps = _steps(config.duration, finest)
    for dt in dts:
        _steps(config.duration, dt)

    system = Duffing(**DUFFING).double()
    conservative = Duffing(alpha=DUFFING["alpha"], beta=DUFFING["beta"], delta=0.0).double()
    y0, v0 = _initial_conditions(config)

    fine_times = torch.arange(fine_steps + 1, dtype=torch.float64) * finest
    start = time.perf_counter()
    reference = _reference(system, y0, v0, fine_times)
    reference_wall = time.perf_counter() - start

    n, m = len(integrators), len(dts)
    coarse_steps = fine_steps // coarse
    position = np.empty((n, m, config.batch, coarse_steps + 1))
    error = np.empty((n, m, coarse_steps + 1))
    max_error = np.empty((n, m))
    wall = np.empty((n, m))
    energy_error = np.empty((n, config.energy_steps + 1))
    energy_wall = np.empty(n)

    bar = tqdm(integrators, desc="integrators", disable=not progress, file=sys.stderr, leave=False)
    for i, name in enumerate(bar):
        bar.set_postfix_str(name)
        for j, (dt, stride) in enumerate(zip(dts, strides, strict=True)):
            y, wall[i, j] = _simulate(system, name, dt, y0, v0, _steps(config.duration, dt))
            with np.errstate(all="ignore"):
                deviation = np.abs(y - reference[:, ::stride])
            deviation = np.where(np.isfinite(deviation), deviation, np.inf)
            max_error[i, j] = deviation.max()
            every = coarse // stride
            position[i, j] = y[:, ::every]
            error[i, j] = deviation[:, ::every].max(0)
        energy_error[i], energy_wall[i] = _energy_error(conservative, name, config, y0, v0)
    bar.close()

    if m >= 2:
        with np.errstate(all="ignore"):
            measured = np.log(max_error[:, 0] / max_error[:, -1]) / math.log(dts[0] / dts[-1])
    else:
        measured = np.full(n, np.nan)
    facts = [numeric_facts(name) for name in integrators]

    def column(key: str) -> tuple[str, np.ndarray]:
        return ("integrator", np.array([f[key] for f in facts]))

    return xr.Dataset(
        {
            "position": (("integrator", "dt", "batch", "time"), position),
            "reference": (("batch", "time"), reference[:, ::coarse]),
            "error": (("integrator", "dt", "time"), error),
            "max_error": (("integrator", "dt"), max_error),
            "measured_order": ("integrator", measured),
            "energy_error": (("integrator", "energy_time"), energy_error),
            "energy_drift": ("integrator", energy_error.max(1)),
            "wall_time": (("integrator", "dt"), wall),
            "energy_wall_time": ("integrator", energy_wall),
            "order": column("order"),
            "symplectic": column("symplectic"),
            "reversible": column("reversible"),
            "stability_limit": column("stability_limit"),
            "y0": ("batch", y0[:, 0].numpy()),
            "v0": ("batch", v0[:, 0].numpy()),
        },
        coords={
            "integrator": list(integrators),
            "dt": dts,
            "batch": np.arange(config.batch),
            "time": np.arange(coarse_steps + 1) * max(dts),
            "energy_time": np.arange(config.energy_steps + 1) * config.energy_dt,
        },
        attrs={
            "title": "oscdyn demo: integrators on a damped, driven Duffing oscillator",
            "system": "y'' = -alpha y - delta y' - beta y^3 + gamma cos(drive_frequency t)",
            **{f"duffing_{k}": v for k, v in DUFFING.items()},
            "energy_system": "undamped, undriven Duffing (delta = gamma = 0)",
            "reference": (
                f"torchdiffeq {REFERENCE['method']} rtol={REFERENCE['rtol']} "
                f"atol={REFERENCE['atol']}, one adaptive solve"
            ),
            "reference_wall_time": reference_wall,
            "omega_max_dt": [float(system.max_frequency() * dt) for dt in dts],
            **{f"config_{k}": v for k, v in asdict(config).items() if k != "dts"},
            "dtype": "float64",
            "oscdyn_version": __version__,
            "torch_version": str(torch.__version__),
        },
    )


def _number(value: float, digits: int = 2) -> str:
    if math.isnan(value):
        return "-"
    if math.isinf(value):
        return "diverged"
    return f"{value:.{digits}e}"


def _limit(value: float) -> str:
    if math.isnan(value):
        return "-"
    return "inf" if math.isinf(value) else f"{value:.3g}"


def _measured(value: float, order: float) -> str:
    # an adaptive solver's error does not scale with dt: no order to measure
    return "-" if math.isnan(order) or not math.isfinite(value) else f"{value:.2f}"


def format_table(results: xr.Dataset) -> str:
    """The comparison as a plain-text table with a short header and footnotes."""
    dts = [float(dt) for dt in results["dt"].values]
    header = [
        "integrator",
        "order",
        "symplectic",
        "reversible",
        "stab.limit(w*dt)",
        *[f"max err dt={dt:g}" for dt in dts],
        *(["meas.order"] if len(dts) >= 2 else []),
        "energy drift",
        "wall [s]",
    ]
    rows = []
    for name in results["integrator"].values:
        row = results.sel(integrator=name)
        order = float(row["order"])
        drift = float(row["energy_drift"])
        wall = float(row["wall_time"].sum()) + float(row["energy_wall_time"])
        rows.append(
            [
                str(name),
                "-" if math.isnan(order) else str(int(order)),
                "yes" if bool(row["symplectic"]) else "no",
                "yes" if bool(row["reversible"]) else "no",
                _limit(float(row["stability_limit"])),
                *[_number(float(e)) for e in row["max_error"].values],
                *([_measured(float(row["measured_order"]), order)] if len(dts) >= 2 else []),
                _number(drift),
                f"{wall:.2f}",
            ]
        )
    attrs = results.attrs
    duration = float(attrs["config_duration"])
    energy_steps = int(attrs["config_energy_steps"])
    energy_dt = float(attrs["config_energy_dt"])
    d = {k: attrs[f"duffing_{k}"] for k in DUFFING}
    omega_dt = ", ".join(f"{x:.3g}" for x in np.atleast_1d(attrs["omega_max_dt"]))
    intro = [
        f"Duffing y'' = -{d['alpha']:g} y - {d['delta']:g} y' - {d['beta']:g} y^3 + "
        f"{d['gamma']:g} cos({d['drive_frequency']:g} t): {results.sizes['batch']} initial "
        f"conditions, t in [0, {duration:g}], float64",
        f"reference: {attrs['reference']}; linear omega_max*dt = {omega_dt}",
        "",
    ]
    notes = [
        "",
        "max err: max over batch and time of |y - y_ref|; meas.order: slope of log(max err) "
        "between the dt values.",
        f"energy drift: max |E(t) - E(0)| / E(0) on the undamped, undriven Duffing, "
        f"dt={energy_dt:g}, {energy_steps} steps (t up to {energy_steps * energy_dt:g}).",
        "wall: seconds of all this integrator's runs (eager backend, CPU); torchdiffeq:dopri5 "
        "is the library integrator at its default tolerances, one odeint call per step.",
    ]
    body = aligned_table(header, rows)
    return "\n".join(intro + body + notes)


def _finite(values: np.ndarray, floor: float = 0.0) -> np.ndarray:
    """``values`` with non-finite entries as NaN (not drawn) and a floor for log axes."""
    values = np.asarray(values, dtype=float)
    return np.where(np.isfinite(values), np.maximum(values, floor), np.nan)


def plot(results: xr.Dataset, path: str | os.PathLike[str]) -> None:
    """Trajectories against the reference, error over time and energy error, as a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(14, 4.2), layout="constrained")
    FigureCanvasAgg(figure)
    trajectory, error, energy = figure.subplots(1, 3)
    dt = float(results["dt"][0])
    time_axis = results["time"].values
    energy_time = results["energy_time"].values
    reference = results["reference"].isel(batch=0).values
    for k, name in enumerate(results["integrator"].values):
        row = results.sel(integrator=name)
        color = f"C{k}"
        position = _finite(row["position"].sel(dt=dt).isel(batch=0).values, -np.inf)
        trajectory.plot(time_axis, position, color=color, lw=1, label=name)
        error.semilogy(time_axis[1:], _finite(row["error"].sel(dt=dt)[1:], 1e-17), color=color)
        energy.semilogy(energy_time[1:], _finite(row["energy_error"][1:], 1e-12), color=color)
    trajectory.plot(time_axis, reference, color="black", lw=2.5, alpha=0.3, label="reference")
    span = np.abs(reference).max()
    trajectory.set(
        title=f"position y, first initial condition, dt={dt:g}",
        xlabel="t",
        ylim=(-1.5 * span, 1.5 * span),
    )
    error.set(title=f"max over the batch of |y - y_ref|, dt={dt:g}", xlabel="t", ylim=(1e-12, 1e2))
    error.legend(
        *trajectory.get_legend_handles_labels(), loc="lower right", fontsize="small", ncols=2
    )
    energy.set(
        title="energy error |E - E0| / E0, undamped, undriven",
        xlabel="t",
        ylim=(1e-12, 1e3),
    )
    figure.savefig(path, format="png", dpi=100)


def write_results(results: xr.Dataset, out: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``results.nc`` and ``demo.png`` into ``out`` (created), each atomically."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    netcdf = write_netcdf(results, out / "results.nc")
    figure = write_atomic(out / "demo.png", lambda p: plot(results, p))
    return {"netcdf": netcdf, "plot": figure}


def run_demo(
    out: str | os.PathLike[str] = "oscdyn-demo",
    quick: bool = False,
    quiet: bool = False,
    seed: int = 0,
) -> tuple[xr.Dataset, dict[str, Path]]:
    """Compare the integrators, write ``results.nc`` and ``demo.png`` into ``out``.

    Returns the results and the written paths; the table is :func:`format_table`.
    """
    config = DemoConfig.quick(seed) if quick else DemoConfig(seed=seed)
    results = compare_integrators(config, progress=not quiet)
    return results, write_results(results, out)
