"""The van der Pol oscillator: nonlinear damping that pumps small and damps large motion."""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor, nn

from .base import SecondOrderSystem
from .operators import Diagonal, as_float_tensor

__all__ = ["VanDerPol"]


class VanDerPol(SecondOrderSystem):
    """``y'' = -omega^2 y + mu (1 - y^2) y' + B u``.

    The force reads the velocity, so symplectic schemes are not symplectic here and no
    energy is conserved; the limit cycle has amplitude about 2 for small ``mu``.
    van der Pol, "On relaxation-oscillations", Phil. Mag. 1926. Defaults: ``mu = 1``,
    ``omega = 1``.
    """

    velocity_dependent_force: ClassVar[bool] = True

    def __init__(
        self,
        mu: Tensor | float = 1.0,
        omega: Tensor | float = 1.0,
        input_size: int = 0,
        input_gain: Tensor | float | None = None,
    ) -> None:
        omega = as_float_tensor(omega, "omega").reshape(-1)
        super().__init__(state_size=omega.numel(), input_size=input_size)
        self.stiffness = Diagonal(omega**2)
        self.mu = nn.Parameter(as_float_tensor(mu, "mu").reshape(-1))
        self.register_input_gain(input_gain)

    def force(self, y: Tensor, v: Tensor, u: Tensor | None, t: Tensor | float) -> Tensor:
        return self.mu * (1 - y * y) * v + self.drive(u)

    def force_vjp(
        self, y: Tensor, v: Tensor, u: Tensor | None, t: Tensor | float, cotangent: Tensor
    ) -> tuple[Tensor, Tensor]:
        return -2 * self.mu * y * v * cotangent, self.mu * (1 - y * y) * cotangent
