"""The largest stable step of a scheme on a system, found numerically.

``stability_limit`` brackets the boundary of the stability region along ``dt`` (doubling
or halving from ``1 / omega_max``) and bisects it. It checks the integrators' claimed
``stability_limit`` class facts (``omega_max * dt``): ``2`` for symplectic Euler and
leapfrog, ``2 sqrt(2)`` for RK4, none for the exponential integrator, ``0`` for explicit
Euler (Hairer, Lubich & Wanner, Geometric Numerical Integration, I.5; Hairer & Wanner,
Solving ODEs II, IV.2).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ..systems.base import SecondOrderSystem
from ..systems.stack import SystemStack
from .base import single_thread
from .spectral import (
    compile_quietly,
    continuous_growth_rate,
    in_float64,
    linearisation_state,
    radius_of,
)
from .step_maps import as_step_map

__all__ = ["stability_limit", "max_frequency"]


def max_frequency(system: SecondOrderSystem | SystemStack) -> float | None:
    """The largest linear frequency ``omega_max`` (rad per time unit); stacks: over layers."""
    layers = system.layers if isinstance(system, SystemStack) else [system]
    values = [f for f in (layer.max_frequency() for layer in layers) if f]
    return max(values) if values else None


@single_thread()
def stability_limit(
    system: SecondOrderSystem | SystemStack,
    integrator: str,
    state: Any = None,
    tol: float = 1e-10,
    rtol: float = 1e-7,
) -> float:
    """The largest ``dt`` at which ``integrator`` is linearly stable on ``system``.

    Stable means: the spectral radius of the one-step map (linearised at the zero state with
    zero input, or at ``state``) is at most ``(1 + tol) * exp(max(0, g) dt)``, where ``g``
    is :func:`~oscdyn.analysis.continuous_growth_rate` (0 for conservative and damped
    systems, so the criterion is ``radius <= 1 + tol``; for an unstable equilibrium, such
    as van der Pol's origin, the scheme may grow as fast as the ODE itself but no faster).

    The search starts at ``dt0 = 1 / omega_max`` (1 without stiffness), doubles until unstable
    (``inf`` if still stable at ``1e4 dt0``) or halves until stable (``0.0`` if unstable at
    ``1e-4 dt0``: explicit Euler's ``sqrt(1 + (omega dt)^2)`` exceeds ``1 + tol`` there),
    then bisects to relative width ``rtol``; the result is the stable end. Assumes one
    boundary along ``dt`` (true of every built-in scheme on an oscillator). Raises
    ``ValueError`` if the integrator cannot run the system. ``dt`` is the compiled step
    (UnICORNN's units step by ``dt * sigmoid(c)``).
    """
    base = in_float64(system)
    growth = max(0.0, continuous_growth_rate(base, state))
    omega = max_frequency(base)
    start = 1.0 / omega if omega else 1.0

    def stable(dt: float) -> bool:
        step_map = as_step_map(compile_quietly(base, integrator, dt))
        longest = float(torch.as_tensor(step_map.step_lengths()).max())
        threshold = (1 + tol) * math.exp(growth * longest)
        return radius_of(step_map, linearisation_state(step_map, state)) <= threshold

    dt = start
    if stable(dt):
        low = dt
        while True:
            dt *= 2
            if dt > 1e4 * start:
                return math.inf
            if not stable(dt):
                high = dt
                break
            low = dt
    else:
        high = dt
        while True:
            dt /= 2
            if dt < 1e-4 * start:
                return 0.0
            if stable(dt):
                low = dt
                break
            high = dt
    while high - low > rtol * high:
        middle = 0.5 * (low + high)
        if stable(middle):
            low = middle
        else:
            high = middle
    return low
