"""Hamiltonian RNN (Rusch, Pearson & Zygalakis, arXiv:1911.05035, 2019)."""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import SecondOrderSystem
from .operators import Diagonal

__all__ = ["HamiltonianRNN"]


class HamiltonianRNN(SecondOrderSystem):
    """A separable Hamiltonian ``H = |v|^2/2 + V(y; u)`` discretized symplectically.

    K. Rusch, J. W. Pearson and K. C. Zygalakis, "Constructing gradient controllable
    recurrent neural networks using Hamiltonian dynamics", arXiv:1911.05035 (2019). The
    paper's point: a symplectic discretization of a Hamiltonian system inherits its long-time
    stability, and one hyperparameter controls the hidden-state gradient.

    The potential chosen here is::

        V(y; u) = alpha |y|^2 / 2 + sum_i log cosh((W y + U u + b)_i)

    so ``F = -grad V = -W^T tanh(W y + U u + b)`` and the stiffness is ``alpha I``. Why this
    one: the Hessian ``alpha I + W^T diag(sech^2) W`` is symmetric positive definite, so the
    linearised dynamics are pure oscillation with frequencies between ``sqrt(alpha)`` and
    ``sqrt(alpha + |W|^2)``; under ``leapfrog`` (or ``symplectic_euler``) with
    ``dt * sqrt(alpha + |W|^2) < 2`` the step map is symplectic with eigenvalues on the unit
    circle, so hidden-state gradients neither explode nor vanish. ``alpha`` (``>= 0``) is the
    gradient-control hyperparameter: it sets the lowest frequency, i.e. how fast information
    rotates between position and velocity. ``log cosh`` grows linearly, so the force is
    bounded (``|F| <= |W|``) like a tanh RNN. Defaults: ``alpha = 1``, ``W`` orthogonal.
    """

    has_energy: ClassVar[bool] = True

    def __init__(self, input_size: int, hidden_size: int, alpha: float = 1.0) -> None:
        super().__init__(state_size=hidden_size, input_size=input_size)
        if not math.isfinite(alpha) or alpha < 0:
            raise ValueError(f"alpha must be finite and >= 0, got {alpha}")
        self.stiffness = Diagonal(alpha, size=hidden_size, trainable=False)
        self.recurrent = nn.Parameter(nn.init.orthogonal_(torch.empty(hidden_size, hidden_size)))
        self.input_map = nn.Linear(input_size, hidden_size) if input_size else None
        self.bias = nn.Parameter(torch.zeros(hidden_size))

    @property
    def alpha(self) -> float:
        return float(self.stiffness.values)

    def _preactivation(self, y: Tensor, u: Tensor | None) -> Tensor:
        z = y @ self.recurrent.T + self.bias
        return z if u is None else z + u

    def encode_input(self, u: Tensor) -> Tensor:
        """``U u + c`` for the whole sequence (what the force reads per step)."""
        return self.input_map(u)

    def force(self, y: Tensor, v: Tensor, u: Tensor | None, t: Tensor | float) -> Tensor:
        return -torch.tanh(self._preactivation(y, u)) @ self.recurrent

    def force_vjp(
        self, y: Tensor, v: Tensor, u: Tensor | None, t: Tensor | float, cotangent: Tensor
    ) -> tuple[Tensor, None]:
        activation = torch.tanh(self._preactivation(y, u))
        grad_pre = -(cotangent @ self.recurrent.T) * (1 - activation * activation)
        return grad_pre @ self.recurrent, None

    def potential(self, y: Tensor) -> Tensor:
        """``sum log cosh(W y + b)`` (the undriven potential; ``alpha`` is in the stiffness)."""
        z = self._preactivation(y, None)
        # log cosh z = |z| + log(1 + exp(-2|z|)) - log 2, stable for large |z|
        return (z.abs() + F.softplus(-2 * z.abs()) - math.log(2.0)).sum(-1)

    def unit_frequencies(self) -> None:
        """``None``: ``W`` couples the units, so no unit has a frequency of its own."""
        return None

    def max_frequency(self) -> float:
        """``sqrt(alpha + |W|_2^2)``: the largest frequency of the linearised dynamics."""
        with torch.no_grad():
            norm = float(torch.linalg.matrix_norm(self.recurrent, ord=2))
        return math.sqrt(self.alpha + norm**2)
