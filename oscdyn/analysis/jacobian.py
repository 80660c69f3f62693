"""The Jacobian of one step of a recurrent model with respect to its state.

``step_jacobian`` linearises the map ``x_k -> x_{k+1}`` (``x = [y, v]``) at a given state
and input with ``torch.func.jacrev``, vectorised over the batch with ``torch.func.vmap``;
``batched_jacobians`` does the same for many (state, input, step) rows at once, which is how
the gradient-norm profile gets the Jacobians of a whole sequence in a few calls.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from .base import StepMap, single_thread
from .step_maps import as_step_map

__all__ = ["step_jacobian", "batched_jacobians", "continuous_jacobians"]

#: rows per vectorised Jacobian call: keeps ``rows * size * size`` near 2^22 numbers
ELEMENTS_PER_CALL = 1 << 22


def _jacobians(
    function: Callable[[Tensor, Tensor | None, int | Tensor], Tensor],
    x: Tensor,
    u: Tensor | None,
    k: Tensor,
) -> Tensor:
    def single(xi: Tensor, ui: Tensor | None, ki: Tensor) -> Tensor:
        return function(xi[None], None if ui is None else ui[None], ki[None])[0]

    transform = torch.func.vmap(torch.func.jacrev(single), in_dims=(0, None if u is None else 0, 0))
    size = x.shape[-1]
    rows = max(1, ELEMENTS_PER_CALL // (size * size))
    parts = []
    try:
        for start in range(0, x.shape[0], rows):
            stop = start + rows
            parts.append(
                transform(x[start:stop], None if u is None else u[start:stop], k[start:stop])
            )
    except RuntimeError as error:
        if "vmap" not in str(error):
            raise
        return _jacobians_row_by_row(function, x, u, k)
    return torch.cat(parts) if len(parts) > 1 else parts[0]


def _jacobians_row_by_row(
    function: Callable[[Tensor, Tensor | None, int | Tensor], Tensor],
    x: Tensor,
    u: Tensor | None,
    k: Tensor,
) -> Tensor:
    """The fallback for steps ``vmap`` cannot batch (data-dependent control flow, such as
    an adaptive ``torchdiffeq`` solver): one ``torch.autograd.functional.jacobian`` per row,
    with the step index as a Python int."""
    jacobians = []
    for i, step in enumerate(k.tolist()):
        u_i = None if u is None else u[i : i + 1]

        def row(xi: Tensor, u_i: Tensor | None = u_i, step: int = step) -> Tensor:
            return function(xi[None], u_i, step)[0]

        jacobians.append(torch.autograd.functional.jacobian(row, x[i]))
    return torch.stack(jacobians)


def _steps(k: int | Tensor, rows: int, device: torch.device) -> Tensor:
    k = torch.as_tensor(k, dtype=torch.long, device=device)
    return k.expand(rows) if k.ndim == 0 else k


def batched_jacobians(
    step_map: StepMap, x: Tensor, u: Tensor | None, k: int | Tensor = 0
) -> Tensor:
    """``d step(x_i, u_i, k_i) / d x_i`` for every row ``i``: ``(rows, size, size)``.

    ``x``: states ``(rows, size)``; ``u``: per-step inputs as :meth:`StepMap.inputs`
    returns them, one row each (``(rows, m)``), or ``None``; ``k``: step indices ``(rows,)``
    or one int. Rows are independent (different samples or different steps of a sequence).
    """
    return _jacobians(step_map.step, x, u, _steps(k, x.shape[0], x.device))


def continuous_jacobians(
    step_map: StepMap, x: Tensor, u: Tensor | None, k: int | Tensor = 0
) -> Tensor | None:
    """``d f(x_i) / d x_i`` of the vector field ``f`` the step discretizes, or ``None``.

    The linearisation of the ODE ``x' = f(x, u, t)`` itself (``(rows, size, size)``):
    ``[[0, I], [-K + dF/dy, -D + dF/dv]]`` for an oscillator system.
    """
    steps = _steps(k, x.shape[0], x.device)
    if step_map.vector_field(x[:1], None if u is None else u[:1], steps[:1]) is None:
        return None
    return _jacobians(step_map.vector_field, x, u, steps)  # type: ignore[arg-type]


@single_thread()
def step_jacobian(model: Any, state: Any = None, u: Tensor | None = None, k: int = 0) -> Tensor:
    """The Jacobian of one step with respect to the state, ``(batch, size, size)``.

    Args:
        model: a compiled oscillator model (``oscdyn.compile(...)``), a
            :class:`~oscdyn.analysis.TanhRNN` or any module with ``step_map()``.
        state: the model's state: ``(y, v)``, each ``(batch, units)`` or ``(units,)``
            (stacks: ``(num_layers, batch, units)``); ``h`` for a tanh RNN; zeros if None.
        u: the step's input ``(batch, input_size)``; zeros if None (for a model with input).
        k: the step index (the step starts at time ``k dt``).

    The flat state is ``x = [y, v]`` (stacks: layer after layer), so the matrix is
    ``[[dy'/dy, dy'/dv], [dv'/dy, dv'/dv]]``. Computed with ``torch.func.jacrev``.
    """
    step_map = as_step_map(model)
    batch = 1
    if u is not None:
        batch = u.shape[0]
    elif state is not None:
        batch = step_map.initial_state(state, 1).shape[0]
    x = step_map.initial_state(state, batch)
    if u is None:
        inputs = step_map.zero_inputs(batch)
    else:
        inputs = step_map.inputs(u.reshape(batch, 1, -1))
    u_k = None if inputs is None else inputs[:, 0]
    return batched_jacobians(step_map, x, u_k, k)
