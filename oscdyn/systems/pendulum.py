"""The simple pendulum: gravity as a nonlinear force, no linear stiffness."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from .base import SecondOrderSystem
from .operators import as_float_tensor, damping_operator

__all__ = ["Pendulum"]


class Pendulum(SecondOrderSystem):
    """``y'' = -omega^2 sin(y) - c y' + B u``, ``y`` the angle (rad), ``omega = sqrt(g / L)``.

    All of gravity is in the force, so the system has no stiffness operator and the
    ``exponential`` integrator does not apply. Energy: ``v^2/2 + omega^2 (1 - cos y)``.
    """

    has_energy: ClassVar[bool] = True

    def __init__(
        self,
        omega: Tensor | float = 1.0,
        damping: Tensor | float = 0.0,
        input_size: int = 0,
        input_gain: Tensor | float | None = None,
    ) -> None:
        omega = as_float_tensor(omega, "omega").reshape(-1)
        super().__init__(state_size=omega.numel(), input_size=input_size)
        self.omega = nn.Parameter(omega)
        self.damping = damping_operator(damping, self.state_size)
        self.register_input_gain(input_gain)

    def force(self, y: Tensor, v: Tensor, u: Tensor | None, t: Tensor | float) -> Tensor:
        return -(self.omega**2) * torch.sin(y) + self.drive(u)

    def force_vjp(
        self, y: Tensor, v: Tensor, u: Tensor | None, t: Tensor | float, cotangent: Tensor
    ) -> tuple[Tensor, None]:
        return -(self.omega**2) * torch.cos(y) * cotangent, None

    def potential(self, y: Tensor) -> Tensor:
        return (self.omega**2 * (1 - torch.cos(y))).sum(-1)

    def max_frequency(self) -> float:
        """Small-angle frequency ``max(omega)``."""
        with torch.no_grad():
            return float(self.omega.abs().max())
