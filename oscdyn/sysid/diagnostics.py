"""Diagnostics of a fitted model's discretization: stability margin and gradient growth.

* :func:`stability_margin`: the integrator's stability limit ``omega h`` for the undamped
  linear oscillator against the model's largest linear frequency times its step, and the
  largest integration step (s) the scheme would keep stable for this model. The linear
  frequency ignores the stiffening of a cubic spring at large amplitude.
* :func:`gradient_growth_rate`: how ``||d y_t / d x_0||`` (outputs against the initial
  state) grows or decays along a simulation of the data: the least-squares slope of
  ``log ||d y_t / d x_0||`` per sample. Negative: the model forgets its initial state
  (gradients through time vanish at that rate); positive: they explode. The Jacobian comes
  from central finite differences in float64 (all perturbations simulated as one batch).
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch

from ..integrators import get as get_integrator
from .data import IOData
from .models import SimulationModel

__all__ = ["stability_margin", "gradient_growth_rate"]


def stability_margin(model: SimulationModel) -> dict[str, float]:
    """``{"limit": the scheme's omega h limit, "omega_h": the model's omega_max h, "dt_max":
    the largest stable integration step (s) for this model}``; ``inf`` for unconditionally
    stable schemes, NaN where the scheme states no limit."""
    limit = get_integrator(model.settings["integrator"]).stability_limit
    limit = math.nan if limit is None else float(limit)
    omega_h = model.rnn.omega_dt() or 0.0  # largest frequency (rad per time unit) x step
    seconds_per_step = model.settings["sample_time"] / model.settings["substeps"]
    if math.isnan(limit):
        dt_max = math.nan
    elif math.isinf(limit) or omega_h == 0:
        dt_max = math.inf
    else:
        dt_max = limit / omega_h * seconds_per_step
    return {"limit": limit, "omega_h": omega_h, "dt_max": dt_max}


def gradient_growth_rate(
    model: SimulationModel, data: IOData, horizon: int = 200, eps: float = 1e-6
) -> dict[str, float]:
    """``{"rate": slope of log ||dy_t/dx_0|| per sample, "initial": ||dy_1/dx_0||,
    "final": ||dy_T/dx_0||}`` over the first ``horizon`` samples of ``data``'s input, from
    rest at sample 0 (a float64 copy of the model; the model itself is not changed)."""
    probe = copy.deepcopy(model).double()
    probe.configure(**{k: v for k, v in model.settings.items()})
    steps = min(horizon, len(data) - 1)
    units = probe.system.state_size
    with torch.no_grad():
        u = probe.normalize_inputs(torch.as_tensor(data.u[: steps + 1], dtype=torch.float64))
        directions = torch.eye(2 * units, dtype=torch.float64)
        start = torch.cat([directions, -directions]) * eps  # (4n, 2n)
        inputs = u[None].expand(start.shape[0], -1, -1)
        positions = probe._advance((start[:, :units], start[:, units:]), inputs, 0, steps)
        outputs = probe.output(positions, inputs[:, 1:])  # (4n, steps, outputs)
        jacobian = (outputs[: 2 * units] - outputs[2 * units :]) / (2 * eps)
        norms = torch.linalg.vector_norm(jacobian, dim=(0, 2)).numpy()  # Frobenius, per t
    t = np.arange(1, steps + 1, dtype=np.float64)
    usable = norms > 1e-300
    if usable.sum() < 2:
        return {"rate": -math.inf, "initial": float(norms[0]), "final": float(norms[-1])}
    slope = np.polyfit(t[usable], np.log(norms[usable]), 1)[0]
    return {"rate": float(slope), "initial": float(norms[0]), "final": float(norms[-1])}
