"""Energy drift: how far a scheme lets the energy of a conservative system wander.

Symplectic schemes (symplectic Euler, leapfrog, the exponential integrator without
damping) keep the energy error bounded, oscillating at ``O(dt^p)`` with no drift, over
exponentially long times (backward error analysis: Hairer, Lubich & Wanner, Geometric
Numerical Integration, IX.8); explicit Euler pumps energy in and RK4 slowly drains it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch import Tensor

from .base import single_thread
from .step_maps import as_step_map

__all__ = ["energy_drift", "fit_slope"]


def fit_slope(values: np.ndarray, x: np.ndarray) -> float:
    """Least-squares slope of ``values`` against ``x``; ``inf`` if any value is not finite."""
    values = np.asarray(values, dtype=float)
    if not np.isfinite(values).all():
        return math.inf
    if values.size < 2:
        return 0.0
    return float(np.polyfit(np.asarray(x, dtype=float), values, 1)[0])


@single_thread()
def energy_drift(model: Any, state: Any, steps: int, u: Tensor | None = None) -> xr.DataArray:
    """Relative energy error ``(E(t) - E(0)) / |E(0)|`` over ``steps`` steps.

    Args:
        model: a compiled oscillator model whose system defines ``energy`` (the undamped,
            undriven Hamiltonian).
        state: the initial state ``(y0, v0)``, each ``(batch, units)`` or ``(units,)``.
        steps: number of steps.
        u: inputs ``(batch, steps, input_size)``; ``None`` (default) runs the system free
            and undriven, where its energy is conserved (a damped system still loses it).

    Returns a DataArray with dims ``(batch, time)`` (``time`` in the system's time units, in
    steps for per-unit ``dt``). Attrs: ``drift_slope``, the least-squares slope of the
    batch-mean relative error against time (``inf`` if the run diverged), and
    ``max_error``, the largest ``|error|``. Raises ``ValueError`` for a system without energy.
    """
    step_map = as_step_map(model)
    if steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps}")
    batch = u.shape[0] if u is not None else step_map.initial_state(state, 1).shape[0]
    with torch.no_grad():
        x0 = step_map.initial_state(state, batch)
        if step_map.energy(x0) is None:
            raise ValueError(f"{_name(model)} defines no energy (its force has no potential)")
        states = step_map.run(x0, None if u is None else step_map.inputs(u), steps)
        energy = step_map.energy(states.reshape(-1, step_map.size)).reshape(steps + 1, batch)
        energy = energy.T.cpu().numpy()
    initial = energy[:, :1]
    scale = np.where(np.abs(initial) > 0, np.abs(initial), 1.0)
    with np.errstate(all="ignore"):
        error = (energy - initial) / scale
    h = step_map.step_lengths()
    time = np.arange(steps + 1) * (float(h) if h.numel() == 1 else 1.0)
    with np.errstate(all="ignore"):
        largest = float(np.abs(error).max()) if np.isfinite(error).all() else math.inf
    return xr.DataArray(
        error,
        dims=("batch", "time"),
        coords={"batch": np.arange(batch), "time": time},
        name="energy_error",
        attrs={
            "long_name": "relative energy error (E(t) - E(0)) / |E(0)|",
            "time_units": "system time units" if h.numel() == 1 else "steps (per-unit dt)",
            "drift_slope": fit_slope(error.mean(0), time),
            "drift_slope_units": "relative energy per time unit",
            "max_error": largest,
            "driven": u is not None,
        },
    )


def _name(model: Any) -> str:
    system = getattr(model, "system", None)
    return type(system if system is not None else model).__name__
