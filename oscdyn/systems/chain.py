"""A chain of equal masses joined by springs: tridiagonal stiffness."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from .base import SecondOrderSystem
from .operators import Dense, as_float_tensor, damping_operator

__all__ = ["OscillatorChain"]


class _SpringsToStiffness(nn.Module):
    """Maps the spring constants of a chain to its tridiagonal stiffness ``M^-1 K_springs``."""

    def __init__(self, num_masses: int, mass: float, fixed_ends: bool) -> None:
        super().__init__()
        self.num_masses = num_masses
        self.mass = mass
        self.fixed_ends = fixed_ends

    def forward(self, springs: Tensor) -> Tensor:
        n = self.num_masses
        if self.fixed_ends:
            left, right, inner = springs[:-1], springs[1:], springs[1:-1]
        else:
            zero = springs.new_zeros(1)
            left, right, inner = torch.cat([zero, springs]), torch.cat([springs, zero]), springs
        matrix = torch.diag(left + right)
        if n > 1:
            matrix = matrix - torch.diag(inner, 1) - torch.diag(inner, -1)
        return matrix / self.mass

    def right_inverse(self, matrix: Tensor) -> Tensor:
        inner = -torch.diagonal(matrix, 1) * self.mass
        if not self.fixed_ends:
            return inner
        zero = matrix.new_zeros(1)
        diagonal = torch.diagonal(matrix) * self.mass
        first = diagonal[:1] - torch.cat([inner, zero])[:1]
        last = diagonal[-1:] - torch.cat([zero, inner])[-1:]
        return torch.cat([first, inner, last])


class OscillatorChain(SecondOrderSystem):
    """``num_masses`` equal masses on a line joined by springs; input pushes the first mass.

    ``m y_i'' = k_i (y_{i-1} - y_i) + k_{i+1} (y_{i+1} - y_i) - c m y_i' + (B u)_i`` with
    walls at both ends (``fixed_ends=True``: ``num_masses + 1`` springs) or free ends
    (``num_masses - 1`` springs). The stiffness is a ``Dense`` operator parametrised by the
    spring constants (``springs``, trainable), so its tridiagonal structure survives fitting.
    With equal springs ``k`` and fixed ends the frequencies are
    ``2 sqrt(k/m) sin(j pi / (2 (n + 1)))``, ``j = 1..n``.

    Args:
        num_masses: number of masses ``n``.
        spring: spring constant(s), a scalar or one per spring (N/m).
        mass: the common mass (kg).
        damping: damping rate ``c`` (1/s), scalar or per mass.
        input_size: inputs; default gain drives the first mass only.
    """

    position_dependent_force: ClassVar[bool] = False
    has_energy: ClassVar[bool] = True

    def __init__(
        self,
        num_masses: int,
        spring: Tensor | float = 1.0,
        mass: float = 1.0,
        damping: Tensor | float = 0.0,
        fixed_ends: bool = True,
        input_size: int = 0,
        input_gain: Tensor | float | None = None,
    ) -> None:
        super().__init__(state_size=num_masses, input_size=input_size)
        if mass <= 0:
            raise ValueError(f"mass must be positive, got {mass}")
        num_springs = num_masses + 1 if fixed_ends else num_masses - 1
        if num_springs < 1:
            raise ValueError("a chain with free ends needs at least two masses")
        springs = as_float_tensor(spring, "spring").reshape(-1)
        if springs.numel() not in (1, num_springs):
            raise ValueError(
                f"spring must be a scalar or have {num_springs} entries, got {springs.numel()}"
            )
        to_stiffness = _SpringsToStiffness(num_masses, float(mass), fixed_ends)
        self.stiffness = Dense(to_stiffness(springs.expand(num_springs)))
        parametrize.register_parametrization(self.stiffness, "weight", to_stiffness)
        self.damping = damping_operator(damping, num_masses)
        if input_size and input_gain is None:
            input_gain = torch.zeros(num_masses, input_size)
            input_gain[0] = 1.0
        self.register_input_gain(input_gain)

    @property
    def springs(self) -> Tensor:
        """The spring constants (trainable), shape ``(num_springs,)``."""
        return self.stiffness.parametrizations.weight.original
