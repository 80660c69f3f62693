"""Hidden-state gradient norms ``||d(y_T, v_T) / d(y_t, v_t)||`` along a sequence.

The profile over ``t`` is what decides whether a recurrent model can learn long
dependencies: it explodes or vanishes exponentially in ``T - t`` for a generic RNN
(Pascanu, Mikolov & Bengio, ICML 2013). Oscillator networks are built to keep it bounded:
coRNN bounds it from above independently of the length (Rusch & Mishra, ICLR 2021), and
UnICORNN's symplectic, undamped step has determinant 1, so its norm is never below 1
(Rusch & Mishra, ICML 2021).

All of ``d x_T / d x_t`` for ``t = T, T-1, ..., 0`` come from one backward sweep: the
forward pass stores the states, the step Jacobians ``J_k = d x_{k+1} / d x_k`` are computed
for many steps at once (``torch.func.jacrev`` vectorised over time), and the product
``G_t = G_{t+1} J_t`` (``G_T = I``) is accumulated backwards, one small matrix product per
step, rescaled as it goes (the scale is kept as a log, so a profile can vanish far below the
smallest float without underflowing).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch import Tensor

from .base import StepMap, single_thread
from .growth import DEFAULT_TOLERANCE, fit_growth
from .jacobian import ELEMENTS_PER_CALL, batched_jacobians
from .step_maps import as_step_map

__all__ = ["gradient_norms", "log_jacobian_norms"]


def _batch(step_map: StepMap, u: Tensor | None, state: Any) -> int:
    if u is not None:
        return u.shape[0]
    if state is None:
        return 1
    return step_map.initial_state(state, 1).shape[0]


@contextlib.contextmanager
def flush_denormals() -> Iterator[None]:
    """Denormal numbers flushed to zero (restored afterwards): a decaying Jacobian product
    otherwise fills with denormals, and every operation on them is many times slower."""
    flushing = torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if flushing:
            torch.set_flush_denormal(False)


def log_jacobian_norms(step_map: StepMap, states: Tensor, inputs: Tensor | None) -> Tensor:
    """``log ||d x_T / d x_t||_2`` for ``t = 0 .. T``, shape ``(T + 1, batch)``.

    ``states``: ``(T + 1, batch, size)`` from :meth:`StepMap.run`; ``inputs``: the per-step
    inputs ``(batch, T, m)`` or ``None``. The norm is the spectral norm (largest singular
    value). One backward sweep over the sequence (see the module docstring), in
    :func:`flush_denormals`.
    """
    steps, batch, size = states.shape[0] - 1, states.shape[1], states.shape[2]
    chunk = max(1, ELEMENTS_PER_CALL // (batch * size * size))
    eye = torch.eye(size, dtype=states.dtype, device=states.device)
    product = eye.expand(batch, size, size).clone()  # d x_T / d x_t, rescaled
    log_scale = torch.zeros(batch, 1, 1, dtype=states.dtype, device=states.device)
    logs = [torch.zeros(batch, dtype=states.dtype, device=states.device)]  # t = T: identity
    with torch.no_grad(), flush_denormals():
        for stop in range(steps, 0, -chunk):
            start = max(0, stop - chunk)
            count = stop - start
            x = states[start:stop].reshape(count * batch, size)
            u = None
            if inputs is not None:
                u = inputs[:, start:stop].transpose(0, 1).reshape(count * batch, -1)
            k = torch.arange(start, stop, device=states.device).repeat_interleave(batch)
            jacobians = batched_jacobians(step_map, x, u, k).reshape(count, batch, size, size)
            products, scales = [], []
            for offset in range(count - 1, -1, -1):
                product = product @ jacobians[offset]
                scale = product.abs().amax((-1, -2), keepdim=True)
                product = product / torch.where(scale > 0, scale, torch.ones_like(scale))
                log_scale = log_scale + scale.log()
                products.append(product)
                scales.append(log_scale)
            stacked = torch.stack(products)
            finite = torch.isfinite(stacked).all(-1).all(-1)  # a diverged run gives NaN
            norms = torch.linalg.matrix_norm(
                torch.where(finite[..., None, None], stacked, torch.zeros_like(stacked)), ord=2
            )
            norms = torch.where(finite, norms, torch.full_like(norms, math.nan))
            logs.extend((norms.log() + torch.stack(scales)[..., 0, 0]).unbind(0))
    return torch.stack(logs[::-1])


@single_thread()
def gradient_norms(
    model: Any,
    u: Tensor | None = None,
    state: Any = None,
    steps: int | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> xr.DataArray:
    """``||d(y_T, v_T) / d(y_t, v_t)||`` for every ``t = 0 .. T``, one backward sweep.

    Args:
        model: a compiled oscillator model, a :class:`~oscdyn.analysis.TanhRNN` or any
            module with ``step_map()``.
        u: inputs ``(batch, T, input_size)``, or ``None`` for free, undriven evolution over
            ``steps`` (then the model's force sees no input).
        state: the initial state (``(y0, v0)``; ``h0`` for a tanh RNN); zeros if None.
        steps: ``T`` when ``u`` is None.
        tolerance: see :func:`~oscdyn.analysis.fit_growth`.

    Returns a DataArray over ``time`` (the step index ``t``, with coordinate ``lag = T - t``
    and ``log_norm``, its natural log, which stays finite where the norm underflows). The
    norm is the spectral norm of the Jacobian, the largest over the batch. Attrs:
    ``growth_rate`` (fitted ``d log norm / d lag``, per step), ``fitted_change`` (over the
    profile) and ``verdict`` (``exploding``, ``vanishing`` or ``bounded``).
    """
    step_map = as_step_map(model)
    if u is None:
        if steps is None or steps < 1:
            raise ValueError("give u (batch, T, input) or steps= for free evolution")
    else:
        if u.ndim != 3 or (step_map.input_size and u.shape[-1] != step_map.input_size):
            raise ValueError(f"u must be (batch, T, {step_map.input_size}), got {tuple(u.shape)}")
        if steps is not None and steps != u.shape[1]:
            raise ValueError(f"steps={steps} disagrees with u's length {u.shape[1]}")
        steps = u.shape[1]
    batch = _batch(step_map, u, state)
    with torch.no_grad():
        x0 = step_map.initial_state(state, batch)
        inputs = None if u is None else step_map.inputs(u)
        states = step_map.run(x0, inputs, steps)
    if inputs is not None:
        inputs = inputs.detach()
    log_norm = log_jacobian_norms(step_map, states, inputs).amax(1).cpu().numpy()
    time = np.arange(steps + 1)
    lag = steps - time
    fit = fit_growth(log_norm[:-1], lag[:-1], tolerance) if steps > 1 else None
    with np.errstate(over="ignore"):
        norm = np.exp(log_norm)
    return xr.DataArray(
        norm,
        dims=("time",),
        coords={"time": time, "lag": ("time", lag), "log_norm": ("time", log_norm)},
        name="gradient_norm",
        attrs={
            "long_name": "||d x_T / d x_t||_2, x = (y, v), max over the batch",
            "time_units": "steps",
            "steps": steps,
            "growth_rate": math.nan if fit is None else fit.rate,
            "growth_rate_units": "per step (natural log)",
            "fitted_change": math.nan if fit is None else fit.change,
            "verdict": "" if fit is None else fit.verdict,
            "tolerance": tolerance,
        },
    )
