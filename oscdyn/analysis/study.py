"""The stability study of one system: every instrument, for every integrator, in one run.

For a built-in system (by name, :mod:`oscdyn.analysis.catalog`) or any system instance:

* the spectral radius of the one-step map against ``dt`` (stability regions) and the
  measured stability limit of each integrator, next to its claimed one;
* the hidden-state gradient-norm profile ``||d(y_T, v_T)/d(y_t, v_t)||`` over ``steps``
  steps at the probe step ``dt`` (driven by seeded Gaussian input for networks, from a
  seeded initial state otherwise), its fitted growth rate and verdict;
* the energy error over ``steps`` undriven steps of the conservative version of the system
  (where it has an energy), and its fitted drift slope;
* the round-trip error of ``inverse_step`` (reversible integrators).

Results: an ``xarray.Dataset`` (written as NetCDF), three PNG plots and a summary table.
Everything is computed in float64 on CPU from a seed, in the run that reports it.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr
from tqdm.auto import tqdm

from .. import __version__
from ..integrators import numeric_facts
from ..io import write_netcdf
from ..systems.base import SecondOrderSystem
from ..systems.stack import SystemStack
from ..tables import aligned_table
from .base import single_thread
from .catalog import study_system
from .energy import energy_drift
from .gradients import gradient_norms
from .reversibility import reversibility_error
from .spectral import (
    compile_quietly,
    continuous_growth_rate,
    in_float64,
    resolve_integrators,
    spectral_radius,
)
from .stability import max_frequency, stability_limit
from .step_maps import as_step_map

__all__ = [
    "DEFAULT_DTS",
    "StabilityStudy",
    "run_stability_study",
    "format_table",
    "write_study",
]

#: the dt grid of ``oscdyn stability`` by default: 0.01 to 2.0, 50 points
DEFAULT_DTS: tuple[float, ...] = tuple(float(dt) for dt in np.linspace(0.01, 2.0, 50))
#: initial conditions and input sequences of the probe runs
BATCH = 2
AMPLITUDE = 0.5


@dataclass
class StabilityStudy:
    """What :func:`run_stability_study` returns.

    Attributes:
        results: the whole study as an ``xarray.Dataset`` (see :func:`run_stability_study`).
        table: the summary table (:func:`format_table`).
        paths: the files written (``netcdf``, ``stability_regions``, ``gradient_norms``,
            ``energy_drift``), empty when no ``out`` was given.
    """

    results: xr.Dataset
    table: str
    paths: dict[str, Path] = field(default_factory=dict)


System = SecondOrderSystem | SystemStack


def _facts(name: str) -> dict[str, float | bool]:
    facts = numeric_facts(name)
    facts["claimed_stability_limit"] = facts.pop("stability_limit")
    return facts


def _layers(system: System) -> list[SecondOrderSystem]:
    return list(system.layers) if isinstance(system, SystemStack) else [system]


def _probe_inputs(
    system: System, steps: int, generator: torch.Generator
) -> tuple[torch.Tensor | None, Any]:
    """(u, state) of the probe runs: seeded input for driven systems, else a seeded state."""
    if system.input_size > 0:
        shape = (BATCH, steps, system.input_size)
        return torch.randn(shape, generator=generator, dtype=torch.float64), None
    if isinstance(system, SystemStack):
        return None, None
    shape = (BATCH, system.state_size)
    y0 = AMPLITUDE * torch.randn(shape, generator=generator, dtype=torch.float64)
    v0 = AMPLITUDE * torch.randn(shape, generator=generator, dtype=torch.float64)
    return None, (y0, v0)


def _energy_state(system: System, generator: torch.Generator) -> Any:
    if isinstance(system, SystemStack):
        return None
    shape = (BATCH, system.state_size)
    y0 = AMPLITUDE * torch.randn(shape, generator=generator, dtype=torch.float64)
    v0 = AMPLITUDE * torch.randn(shape, generator=generator, dtype=torch.float64)
    return y0, v0


@single_thread()
def run_stability_study(
    system_name: str | System,
    integrators: str | Iterable[str] = "all",
    dts: Sequence[float] = DEFAULT_DTS,
    out: str | os.PathLike[str] | None = None,
    quiet: bool = False,
    *,
    steps: int = 1000,
    probe_dt: float | None = None,
    seed: int = 0,
) -> StabilityStudy:
    """Run the stability study of one system; write NetCDF and PNGs into ``out`` if given.

    Args:
        system_name: a built-in system's name (``harmonic``, ``chain``, ``duffing``,
            ``van_der_pol``, ``pendulum``, ``cornn``, ``unicornn``, ``linoss``, ``lattice``,
            ``hamiltonian``; see :mod:`oscdyn.analysis.catalog`) or a system instance
            (then its energy is measured on the system itself).
        integrators: ``"all"`` (the fixed-step schemes), ``"leapfrog,rk4"`` or a list.
        dts: the ``dt`` grid of the spectral radius (stability regions).
        out: output folder (created); nothing is written if None.
        quiet: no progress bar.
        steps: length of the gradient-norm, energy and reversibility runs.
        probe_dt: their step (default: the catalog's step of the system, else 0.1).
        seed: seed of the networks' weights, the inputs and the initial states.

    ``results`` has dims ``integrator``, ``dt``, ``time`` (steps of the gradient profile,
    with coordinate ``lag``) and ``energy_time``, and variables ``spectral_radius``
    ``(integrator, dt)``; ``stability_limit`` (measured ``dt``), ``stability_limit_omega_dt``
    (times ``omega_max``), ``claimed_stability_limit`` (the class fact, ``omega dt``),
    ``order``, ``symplectic``, ``reversible``, ``gradient_growth_rate`` (per step),
    ``gradient_verdict``, ``energy_drift_slope``, ``energy_max_error``,
    ``reversibility_error`` ``(integrator,)``; ``gradient_norm``, ``gradient_log_norm``
    ``(integrator, time)``; ``energy_error`` ``(integrator, energy_time)`` (largest
    ``|E - E0| / |E0|`` over the batch). NaN (verdict ``n/a``) where an integrator cannot run
    the system or a quantity does not apply; the reasons are in ``attrs["skipped"]``.
    """
    if steps < 2:
        raise ValueError(f"steps must be at least 2, got {steps}")
    names = resolve_integrators(integrators)
    dts = [float(dt) for dt in dts]
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        if isinstance(system_name, str):
            entry = study_system(system_name)
            name, description = entry.name, entry.description
            system = in_float64(entry.build(False))
            conservative = in_float64(entry.build(True))
            probe = float(probe_dt if probe_dt is not None else entry.dt)
        elif isinstance(system_name, (SecondOrderSystem, SystemStack)):
            system = conservative = in_float64(system_name)
            name = description = type(system_name).__name__
            probe = float(probe_dt if probe_dt is not None else 0.1)
        else:
            raise TypeError(
                f"system_name must be a name or a system, got {type(system_name).__name__}"
            )
    if not math.isfinite(probe) or probe <= 0:
        raise ValueError(f"probe_dt must be positive, got {probe}")

    radius = spectral_radius(system, names, dts)
    omega = max_frequency(system)
    growth = continuous_growth_rate(system)
    n = len(names)
    limit = np.full(n, np.nan)
    rate = np.full(n, np.nan)
    verdict = np.array(["n/a"] * n, dtype=object)
    log_norm = np.full((n, steps + 1), np.nan)
    slope = np.full(n, np.nan)
    largest = np.full(n, np.nan)
    energy_error = np.full((n, steps + 1), np.nan)
    round_trip = np.full(n, np.nan)
    skipped: list[str] = []
    has_energy = all(layer.has_energy for layer in _layers(conservative))
    energy_time = np.arange(steps + 1) * probe

    bar = tqdm(names, desc=f"stability {name}", disable=quiet, file=sys.stderr, leave=False)
    for i, integrator in enumerate(bar):
        bar.set_postfix_str(integrator)
        try:
            model = compile_quietly(system, integrator, probe)
        except ValueError as error:
            skipped.append(f"{integrator}: {error}")
            continue
        limit[i] = stability_limit(system, integrator)
        generator = torch.Generator().manual_seed(seed)
        u, state = _probe_inputs(system, steps, generator)
        profile = gradient_norms(model, u, state, steps)
        log_norm[i] = profile["log_norm"].values
        rate[i], verdict[i] = profile.attrs["growth_rate"], profile.attrs["verdict"]
        if as_step_map(model).reversible:
            error = reversibility_error(model, state, steps, u)
            round_trip[i] = error.attrs["final_error"]
        if not has_energy:
            continue
        energy_model = compile_quietly(conservative, integrator, probe)
        drift = energy_drift(energy_model, _energy_state(conservative, generator), steps)
        energy_error[i] = np.abs(drift.values).max(0)
        slope[i], largest[i] = drift.attrs["drift_slope"], drift.attrs["max_error"]
        energy_time = drift["time"].values
    bar.close()

    facts = [_facts(integrator) for integrator in names]
    time = np.arange(steps + 1)
    with np.errstate(over="ignore"):
        norm = np.exp(log_norm)
    results = xr.Dataset(
        {
            "spectral_radius": radius,
            "stability_limit": ("integrator", limit),
            "stability_limit_omega_dt": ("integrator", limit * (omega or math.nan)),
            "claimed_stability_limit": (
                "integrator",
                np.array([f["claimed_stability_limit"] for f in facts]),
            ),
            "order": ("integrator", np.array([f["order"] for f in facts])),
            "symplectic": ("integrator", np.array([f["symplectic"] for f in facts])),
            "reversible": ("integrator", np.array([f["reversible"] for f in facts])),
            "gradient_norm": (("integrator", "time"), norm),
            "gradient_log_norm": (("integrator", "time"), log_norm),
            "gradient_growth_rate": ("integrator", rate),
            "gradient_verdict": ("integrator", verdict.astype(str)),
            "energy_error": (("integrator", "energy_time"), energy_error),
            "energy_drift_slope": ("integrator", slope),
            "energy_max_error": ("integrator", largest),
            "reversibility_error": ("integrator", round_trip),
        },
        coords={
            "integrator": names,
            "dt": dts,
            "time": time,
            "lag": ("time", steps - time),
            "energy_time": energy_time,
        },
        attrs={
            "title": f"oscdyn stability study: {name}",
            "system": name,
            "description": description,
            "probe_dt": probe,
            "steps": steps,
            "seed": seed,
            "omega_max": math.nan if omega is None else float(omega),
            "continuous_growth_rate": growth,
            "velocity_dependent_force": int(
                any(layer.velocity_dependent_force for layer in _layers(system))
            ),
            "per_unit_step": int(any(layer.step_scale() is not None for layer in _layers(system))),
            "has_energy": int(has_energy),
            "skipped": "; ".join(skipped),
            "linearised_at": "zero state, zero input",
            "dtype": "float64",
            "oscdyn_version": __version__,
            "torch_version": str(torch.__version__),
        },
    )
    results["spectral_radius"].attrs = {"long_name": "spectral radius of the one-step map"}
    results["stability_limit"].attrs = {"long_name": "largest stable dt, measured"}
    results["claimed_stability_limit"].attrs = {"long_name": "class fact, omega_max * dt"}
    results["gradient_growth_rate"].attrs = {"units": "per step (natural log)"}
    results["energy_drift_slope"].attrs = {"units": "relative energy per time unit"}
    study = StabilityStudy(results, format_table(results))
    if out is not None:
        study.paths = write_study(results, out)
    return study


def _number(value: float, digits: int = 2) -> str:
    if math.isnan(value):
        return "-"
    if math.isinf(value):
        return "diverged" if value > 0 else "-inf"
    return f"{value:.{digits}e}"


def _limit(value: float) -> str:
    if math.isnan(value):
        return "-"
    return "inf" if math.isinf(value) else f"{value:.4g}"


def format_table(results: xr.Dataset) -> str:
    """The study's summary as a plain-text table, with a header and footnotes."""
    header = [
        "integrator",
        "order",
        "symplectic",
        "reversible",
        "limit dt",
        "limit w*dt",
        "claimed w*dt",
        "energy slope",
        "grad rate/step",
        "verdict",
    ]
    rows = []
    for name in results["integrator"].values:
        row = results.sel(integrator=name)
        order = float(row["order"])
        rows.append(
            [
                str(name),
                "-" if math.isnan(order) else str(int(order)),
                "yes" if bool(row["symplectic"]) else "no",
                "yes" if bool(row["reversible"]) else "no",
                _limit(float(row["stability_limit"])),
                _limit(float(row["stability_limit_omega_dt"])),
                _limit(float(row["claimed_stability_limit"])),
                _number(float(row["energy_drift_slope"])),
                _number(float(row["gradient_growth_rate"])),
                str(row["gradient_verdict"].values),
            ]
        )
    attrs = results.attrs
    omega = float(attrs["omega_max"])
    intro = [
        f"{attrs['system']}: {attrs['description']}",
        f"omega_max = {omega:.4g}; probe dt = {float(attrs['probe_dt']):g}, "
        f"{int(attrs['steps'])} steps; float64, seed {int(attrs['seed'])}",
        "",
    ]
    notes = [
        "",
        "limit dt: largest dt with spectral radius of the step map (linearised at the zero "
        "state, zero input) <= 1 + 1e-10, by bisection; w*dt: times omega_max; claimed: the "
        "integrator's class fact.",
        "energy slope: least-squares slope of (E(t) - E(0)) / |E(0)| per time unit on the "
        "undamped, undriven system ('-': no energy).",
        "grad rate/step: fitted d log||d(y_T, v_T)/d(y_t, v_t)|| / d(T - t); verdict "
        "bounded when the fitted change over the run is within a factor 100.",
    ]
    if float(attrs["continuous_growth_rate"]) > 0:
        notes.append(
            f"the equilibrium itself is unstable (ODE growth rate "
            f"{float(attrs['continuous_growth_rate']):.3g}): stable means growing no faster "
            "than the exact flow."
        )
    if int(attrs.get("per_unit_step", 0)):
        notes.append(
            "dt is the compiled step: each unit steps by dt * sigmoid(c) < dt, so the limit in "
            "omega_max * dt exceeds the claimed omega * h."
        )
    if int(attrs["velocity_dependent_force"]):
        notes.append(
            "symplectic/reversible are class facts: they do not hold here, the force reads "
            "the velocity."
        )
    if attrs["skipped"]:
        notes.append(f"skipped: {attrs['skipped']}")
    body = aligned_table(header, rows, left=(0, len(header) - 1))
    return "\n".join(intro + body + notes)


def write_study(results: xr.Dataset, out: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``<system>_stability.nc`` and the three PNGs into ``out`` (created), atomically.

    PNGs: ``<system>_stability_regions.png`` (spectral radius against dt, measured limits
    dotted), ``<system>_gradient_norms.png`` (log10 gradient norm against the lag) and
    ``<system>_energy_drift.png`` (relative energy error against time).
    """
    from ..plot import (
        new_figure,
        note,
        plot_energy_error,
        plot_gradient_norms,
        plot_spectral_radius,
        save_png,
    )

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    name = results.attrs["system"]
    paths = {"netcdf": write_netcdf(results, out / f"{name}_stability.nc")}

    figure, axes = new_figure()
    plot_spectral_radius(axes, results["spectral_radius"], results["stability_limit"])
    axes.set_title(f"{name}: stability regions")
    paths["stability_regions"] = save_png(figure, out / f"{name}_stability_regions.png")

    figure, axes = new_figure()
    plot_gradient_norms(axes, results["gradient_log_norm"], results["gradient_verdict"])
    axes.set_title(f"{name}: hidden-state gradient norms, dt = {results.attrs['probe_dt']:g}")
    paths["gradient_norms"] = save_png(figure, out / f"{name}_gradient_norms.png")

    figure, axes = new_figure()
    if int(results.attrs["has_energy"]) and np.isfinite(results["energy_error"].values).any():
        plot_energy_error(axes, results["energy_error"])
        axes.set_title(f"{name}: energy error, undamped and undriven")
    else:
        note(axes, f"{name} defines no energy (its force has no potential)")
        axes.set_title(f"{name}: energy drift")
    paths["energy_drift"] = save_png(figure, out / f"{name}_energy_drift.png")
    return paths
