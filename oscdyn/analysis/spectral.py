"""Stability regions: the spectral radius of the one-step map against the step ``dt``.

A discretization is linearly stable at ``dt`` when its one-step map, linearised at an
equilibrium, has spectral radius at most 1: perturbations are not amplified step after
step. For ``y'' = -omega^2 y`` the classical results (Hairer, Lubich & Wanner, Geometric
Numerical Integration, I.5 and XIII; Hairer & Wanner, Solving ODEs II, IV.2) are:
symplectic Euler and leapfrog have radius exactly 1 for ``omega dt < 2`` (their maps are
area-preserving with complex eigenvalues on the unit circle) and above 1 beyond; explicit
Euler has ``sqrt(1 + omega^2 dt^2) > 1`` for every ``dt``; RK4 is stable (and slightly
dissipative) up to ``omega dt = 2 sqrt(2)``; the exponential integrator is the exact flow,
radius 1 for every ``dt``.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch import nn

from ..compile import StabilityWarning, compile
from ..integrators import available, get
from ..systems.base import SecondOrderSystem
from ..systems.stack import SystemStack
from .base import StepMap, single_thread
from .jacobian import batched_jacobians, continuous_jacobians
from .step_maps import as_step_map

__all__ = [
    "spectral_radius",
    "continuous_growth_rate",
    "fixed_step_integrators",
    "resolve_integrators",
]

System = SecondOrderSystem | SystemStack


#: the order of ``"all"``: coRNN's and UnICORNN's schemes, the geometric ones, the contrasts
_PREFERRED = ("imex", "symplectic_euler", "leapfrog", "exponential", "euler", "rk4")


def fixed_step_integrators() -> list[str]:
    """Registered schemes with a fixed order (``"all"``): every one but ``torchdiffeq``.

    In the order imex, symplectic_euler, leapfrog, exponential, euler, rk4, then any other
    registered fixed-step scheme by name.
    """
    names = [name for name in available() if get(name).order is not None]
    return sorted(names, key=lambda n: (_PREFERRED.index(n) if n in _PREFERRED else 99, n))


def resolve_integrators(integrators: str | Iterable[str]) -> list[str]:
    """``"all"``, ``"leapfrog,rk4"`` or a sequence of names -> a list of names (checked)."""
    if isinstance(integrators, str):
        if integrators.strip() == "all":
            return fixed_step_integrators()
        integrators = [part.strip() for part in integrators.split(",")]
    names = [str(name) for name in integrators if str(name)]
    if not names:
        raise ValueError("no integrators given")
    for name in names:
        get(name)  # raises with the known names
    return names


def in_float64(system: System) -> System:
    """A float64 copy of ``system`` (the analysis runs in float64; the original is untouched)."""
    return copy.deepcopy(system).to(torch.float64)


def compile_quietly(system: System, integrator: str, dt: float) -> nn.Module:
    """``oscdyn.compile(system, integrator, dt)`` without the stability warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StabilityWarning)
        return compile(system, integrator, dt)


def linearisation_state(step_map: StepMap, state: Any) -> torch.Tensor:
    """The flat state ``(batch, size)`` to linearise at: ``state``, or zeros if None."""
    return step_map.initial_state(state, 1).detach()


def radius_of(step_map: StepMap, x: torch.Tensor) -> float:
    """Largest ``|eigenvalue|`` of the step Jacobian at ``x`` (max over the batch), zero input."""
    inputs = step_map.zero_inputs(x.shape[0])
    with torch.no_grad():
        jacobian = batched_jacobians(step_map, x, None if inputs is None else inputs[:, 0])
        return float(torch.linalg.eigvals(jacobian).abs().amax())


def continuous_growth_rate(system: System, state: Any = None) -> float:
    """Largest real part of the eigenvalues of the ODE's own linearisation (per time unit).

    ``x' = f(x)`` linearised at ``state`` (zero state if None) with zero input: ``<= 0`` for a
    conservative or damped system, ``> 0`` where the equilibrium itself is unstable (van der
    Pol's origin: ``mu / 2``). The stability criterion compares the step's spectral radius
    with ``exp(max(0, rate) dt)``, the growth of the exact flow.
    """
    model = compile_quietly(in_float64(system), "symplectic_euler", 1.0)
    step_map = as_step_map(model)
    x = linearisation_state(step_map, state)
    inputs = step_map.zero_inputs(x.shape[0])
    with torch.no_grad():
        jacobian = continuous_jacobians(step_map, x, None if inputs is None else inputs[:, 0])
    if jacobian is None:
        return 0.0
    eigenvalues = torch.linalg.eigvals(jacobian)
    rate = float(eigenvalues.real.amax())
    # an undamped system's eigenvalues are imaginary up to rounding
    return 0.0 if abs(rate) <= 1e-9 * max(1.0, float(eigenvalues.abs().amax())) else rate


@single_thread()
def spectral_radius(
    system: System,
    integrators: str | Iterable[str],
    dts: Sequence[float],
    state: Any = None,
) -> xr.DataArray:
    """Spectral radius of the one-step map at each (integrator, dt), as a DataArray.

    The step is linearised (``torch.func.jacrev``) at the zero state with zero input (an
    equilibrium wherever the force vanishes there; coRNN's and the Hamiltonian RNN's biases
    make it just a linearisation point), or at ``state`` ``(y, v)``
    (``(units,)`` or ``(batch, units)``; the max over the batch). Computed in float64 on a
    copy of ``system``. Dims ``(integrator, dt)``; NaN where the integrator cannot run the
    system (e.g. ``exponential`` without stiffness), with the reason in ``attrs["skipped"]``.
    Values at or below 1 (within rounding) are stable.
    """
    names = resolve_integrators(integrators)
    dts = [float(dt) for dt in dts]
    if not dts or any(not math.isfinite(dt) or dt <= 0 for dt in dts):
        raise ValueError(f"dts must be positive and finite, got {dts}")
    base = in_float64(system)
    radius = np.full((len(names), len(dts)), np.nan)
    skipped = []
    for i, name in enumerate(names):
        for j, dt in enumerate(dts):
            try:
                step_map = as_step_map(compile_quietly(base, name, dt))
            except ValueError as error:
                skipped.append(f"{name}: {error}")
                break
            radius[i, j] = radius_of(step_map, linearisation_state(step_map, state))
    return xr.DataArray(
        radius,
        dims=("integrator", "dt"),
        coords={"integrator": names, "dt": dts},
        name="spectral_radius",
        attrs={
            "long_name": "spectral radius of the one-step map",
            "linearised_at": "zero state, zero input" if state is None else "given state",
            "system": type(system).__name__,
            "skipped": "; ".join(skipped),
        },
    )
