"""The Duffing oscillator: a spring with a cubic term, damped and driven."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from .base import SecondOrderSystem
from .operators import Diagonal, as_float_tensor, damping_operator

__all__ = ["Duffing"]


class Duffing(SecondOrderSystem):
    """``y'' = -alpha y - delta y' - beta y^3 + gamma cos(drive_frequency t) + B u``.

    Stiffness ``alpha`` (``Diagonal``), damping ``delta`` (``Diagonal``), force: the cubic
    spring, the harmonic drive and the input. Coefficients are scalars or 1-D tensors
    (one independent oscillator per entry) and trainable parameters, so the model can be
    fitted to data (grey-box identification: the Silverbox circuit is
    ``y'' = -k y - c y' - k3 y^3 + b u``). Energy: ``v^2/2 + alpha y^2/2 + beta y^4/4``.

    Duffing, "Erzwungene Schwingungen bei veränderlicher Eigenfrequenz", 1918; defaults are
    a hardening spring (alpha = beta = 1) with light damping and no drive.
    """

    has_energy: ClassVar[bool] = True

    def __init__(
        self,
        alpha: Tensor | float = 1.0,
        beta: Tensor | float = 1.0,
        delta: Tensor | float = 0.1,
        gamma: Tensor | float = 0.0,
        drive_frequency: Tensor | float = 1.0,
        input_size: int = 0,
        input_gain: Tensor | float | None = None,
    ) -> None:
        coefficients = {
            name: as_float_tensor(value, name).reshape(-1)
            for name, value in dict(
                alpha=alpha, beta=beta, gamma=gamma, drive_frequency=drive_frequency
            ).items()
        }
        sizes = {c.numel() for c in coefficients.values()} - {1}
        if len(sizes) > 1:
            raise ValueError(f"coefficients must be scalars or share one length, got {sizes}")
        size = sizes.pop() if sizes else 1
        super().__init__(state_size=size, input_size=input_size)
        self.stiffness = Diagonal(coefficients["alpha"].expand(size).clone())
        self.damping = damping_operator(delta, size)
        self.beta = nn.Parameter(coefficients["beta"])
        self.gamma = nn.Parameter(coefficients["gamma"])
        self.drive_frequency = nn.Parameter(coefficients["drive_frequency"])
        self.register_input_gain(input_gain)

    @property
    def alpha(self) -> Tensor:
        """Linear stiffness, shape ``(units,)``."""
        return self.stiffness.values

    def force(self, y: Tensor, v: Tensor, u: Tensor | None, t: Tensor | float) -> Tensor:
        drive = self.gamma * torch.cos(self.drive_frequency * t)
        return -self.beta * y**3 + drive + self.drive(u)

    def force_vjp(
        self, y: Tensor, v: Tensor, u: Tensor | None, t: Tensor | float, cotangent: Tensor
    ) -> tuple[Tensor, None]:
        return -3 * self.beta * y * y * cotangent, None

    def potential(self, y: Tensor) -> Tensor:
        return 0.25 * (self.beta * y**4).sum(-1)
