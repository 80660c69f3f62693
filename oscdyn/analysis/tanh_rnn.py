"""A plain tanh RNN: the baseline whose hidden-state gradients vanish.

``h_{k+1} = tanh(W h_k + U u_k + b)`` (Elman, "Finding structure in time", Cognitive
Science 1990). Its state Jacobian ``diag(1 - h^2) W`` has norm below ``|W|`` and shrinks
further where units saturate, so ``||dh_T/dh_t||`` decays exponentially in ``T - t``
unless ``|W| > 1`` (Bengio, Simard & Frasconi 1994; Pascanu, Mikolov & Bengio, "On the
difficulty of training recurrent neural networks", ICML 2013). Used as the contrast case
of the gradient-norm profiles.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from .base import StepMap

__all__ = ["TanhRNN"]


class TanhRNN(nn.Module):
    """``h_{k+1} = tanh(W h_k + U u_k + b)``, called like an oscdyn model.

    ``h_seq, h_T = rnn(u, state=h0)`` with ``u`` ``(batch, time, input_size)``, ``h_seq``
    ``(batch, time, hidden_size)``, ``h0`` ``(batch, hidden_size)`` (zeros if ``None``).
    Initialisation as ``torch.nn.RNN``: every entry uniform in ``+-1/sqrt(hidden_size)``
    (so ``|W|_2`` is about ``2/sqrt(3)`` for large sizes), ``W`` then scaled by
    ``recurrent_scale``.
    """

    def __init__(self, input_size: int, hidden_size: int, recurrent_scale: float = 1.0) -> None:
        super().__init__()
        if input_size < 1 or hidden_size < 1:
            raise ValueError(
                f"input_size and hidden_size must be positive, got {input_size}, {hidden_size}"
            )
        bound = 1.0 / math.sqrt(hidden_size)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.recurrent = nn.Parameter(
            torch.empty(hidden_size, hidden_size).uniform_(-bound, bound) * recurrent_scale
        )
        self.input_map = nn.Linear(input_size, hidden_size)
        nn.init.uniform_(self.input_map.weight, -bound, bound)
        nn.init.uniform_(self.input_map.bias, -bound, bound)

    def forward(self, u: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Run the recurrence over ``u``; returns ``(h_seq, h_T)``."""
        if u.ndim != 3 or u.shape[-1] != self.input_size:
            raise ValueError(f"u must be (batch, time, {self.input_size}), got {tuple(u.shape)}")
        step_map = self.step_map()
        h = step_map.initial_state(state, u.shape[0])
        drive = step_map.inputs(u)
        outputs = []
        for k in range(u.shape[1]):
            h = step_map.step(h, drive[:, k], k)
            outputs.append(h)
        return torch.stack(outputs, 1), h

    def step_map(self) -> StepMap:
        """The one-step map ``h -> tanh(W h + U u + b)`` (flat state ``h``)."""
        return TanhStepMap(self)

    def extra_repr(self) -> str:
        return f"input_size={self.input_size}, hidden_size={self.hidden_size}"


class TanhStepMap(StepMap):
    """:class:`StepMap` of a :class:`TanhRNN`; the flat state is ``h``."""

    def __init__(self, rnn: TanhRNN) -> None:
        self.rnn = rnn
        self.size = rnn.hidden_size
        self.input_size = rnn.input_size
        self.dtype = rnn.recurrent.dtype
        self.device = rnn.recurrent.device

    def initial_state(self, state: Any, batch: int) -> Tensor:
        if state is None:
            return torch.zeros(batch, self.size, dtype=self.dtype, device=self.device)
        h = torch.as_tensor(state, dtype=self.dtype, device=self.device)
        h = h[None] if h.ndim == 1 else h
        return h.expand(batch, -1) if h.shape[0] == 1 and batch > 1 else h

    def inputs(self, u: Tensor | None) -> Tensor | None:
        return None if u is None else self.rnn.input_map(u)

    def step(self, x: Tensor, u_k: Tensor | None, k: int | Tensor) -> Tensor:
        drive = self.rnn.input_map.bias if u_k is None else u_k
        return torch.tanh(x @ self.rnn.recurrent.T + drive)
