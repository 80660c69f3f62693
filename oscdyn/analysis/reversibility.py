"""Reversibility error: step forward, then back with ``inverse_step``, compare.

A reversible scheme (symplectic Euler, leapfrog, IMEX, the exponential integrator, for a
force that does not read the velocity) has an explicit inverse step, so backpropagation can
rebuild past states instead of storing them (the ``fused`` backend; Gomez et al., "The
reversible residual network", NeurIPS 2017; UnICORNN's released code). In exact arithmetic
the rebuilt states equal the stored ones; in floats the difference grows with the number of
steps and with the instability of the backward map.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import xarray as xr
from torch import Tensor

from .base import single_thread
from .step_maps import as_step_map

__all__ = ["reversibility_error"]


@single_thread()
def reversibility_error(
    model: Any, state: Any, steps: int, u: Tensor | None = None
) -> xr.DataArray:
    """Relative error of the states rebuilt by stepping ``steps`` forward and all the way back.

    Runs ``x_0 -> x_T`` with ``step``, then ``x_T -> x~_0`` with ``inverse_step``, and returns
    ``||x~_t - x_t|| / max_s ||x_s||`` (max over the batch) for every ``t = 0 .. T`` as a DataArray
    over ``time`` (steps); ``attrs["final_error"]`` is the error at ``t = 0``: how far the
    round trip lands from the start. ``state``: ``(y0, v0)``; ``u``: inputs
    ``(batch, steps, input_size)`` or ``None`` (undriven). Raises ``ValueError`` where the
    integrator has no exact inverse for the system (a non-reversible scheme, or a force that
    reads the velocity).
    """
    step_map = as_step_map(model)
    if not step_map.reversible:
        integrator = getattr(getattr(model, "integrator", None), "name", type(model).__name__)
        raise ValueError(
            f"'{integrator}' has no exact inverse step for this system (not a reversible "
            "scheme, or the force reads the velocity)"
        )
    if steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps}")
    batch = u.shape[0] if u is not None else step_map.initial_state(state, 1).shape[0]
    with torch.no_grad():
        x0 = step_map.initial_state(state, batch)
        inputs = None if u is None else step_map.inputs(u)
        states = step_map.run(x0, inputs, steps)
        x = states[-1]
        # relative to the largest state of the run (a start at rest has norm 0)
        scale = states.norm(dim=-1).amax(0).clamp(min=torch.finfo(x.dtype).tiny)
        errors = [torch.zeros(batch, dtype=x.dtype, device=x.device)]
        for k in range(steps - 1, -1, -1):
            x = step_map.inverse_step(x, None if inputs is None else inputs[:, k], k)
            errors.append((x - states[k]).norm(dim=-1) / scale)
        error = torch.stack(errors[::-1]).amax(1).cpu().numpy()
    return xr.DataArray(
        error,
        dims=("time",),
        coords={"time": np.arange(steps + 1)},
        name="reversibility_error",
        attrs={
            "long_name": "||x~_t - x_t|| / max_s ||x_s||, T steps forward and back to t",
            "time_units": "steps",
            "final_error": float(error[0]),
            "steps": steps,
        },
    )
