"""LinOSS-style linear oscillatory state-space layer (Rusch & Rus, ICLR 2025)."""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from .base import SecondOrderSystem
from .operators import Diagonal

__all__ = ["LinearOscillators"]


class LinearOscillators(SecondOrderSystem):
    """``y'' = -A y + B u`` with ``A = relu(A_hat)`` diagonal; output ``C y + D u``.

    T. K. Rusch and D. Rus, "Oscillatory State-Space Models", ICLR 2025. The paper's
    LinOSS-IMEX step is ``symplectic_euler`` (``z <- z + dt (-A y + B u)``,
    ``y <- y + dt z``); ``exponential`` solves the layer exactly for piecewise-constant
    input (zero-order hold), and the ``scan`` backend can run it in parallel over time.
    The paper's LinOSS-IM (implicit in ``A``) is not one of oscdyn's schemes. Real ``B``, ``C``
    here (the paper allows complex ones). Initialisation as the paper: ``A_hat ~ U(0, 1)``;
    ``B``, ``C``, ``D`` uniform in ``+-1/sqrt(fan_in)``. Learn per-unit steps with
    ``oscdyn.compile(..., dt=torch.full((hidden_size,), dt), learn_dt=True)``.
    """

    position_dependent_force: ClassVar[bool] = False
    has_energy: ClassVar[bool] = True

    def __init__(self, input_size: int, hidden_size: int, output_size: int) -> None:
        super().__init__(state_size=hidden_size, input_size=input_size)
        if input_size < 1 or output_size < 1:
            raise ValueError(
                f"input_size and output_size must be positive, got {input_size}, {output_size}"
            )
        self._output_size = output_size
        self.stiffness = Diagonal(torch.rand(hidden_size))
        parametrize.register_parametrization(self.stiffness, "diagonal", nn.ReLU())
        self.input_matrix = nn.Parameter(_uniform(hidden_size, input_size))
        self.output_matrix = nn.Parameter(_uniform(output_size, hidden_size))
        self.feedthrough = nn.Parameter(_uniform(output_size, input_size))

    @property
    def output_size(self) -> int:
        return self._output_size

    def encode_input(self, u: Tensor) -> Tensor:
        """``B u`` for the whole sequence (the force of each step)."""
        return u @ self.input_matrix.T

    def force(self, y: Tensor, v: Tensor, u: Tensor | None, t: Tensor | float) -> Tensor:
        return torch.zeros_like(y) if u is None else u

    def readout(self, positions: Tensor, u: Tensor | None) -> Tensor:
        output = positions @ self.output_matrix.T
        return output if u is None else output + u @ self.feedthrough.T


def _uniform(rows: int, cols: int) -> Tensor:
    bound = 1.0 / math.sqrt(cols)
    return torch.empty(rows, cols).uniform_(-bound, bound)
