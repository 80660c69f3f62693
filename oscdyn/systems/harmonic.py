"""Linear harmonic oscillators: ``y'' = -omega^2 y - c y' + B u``, one or many units."""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor

from .base import SecondOrderSystem
from .operators import Diagonal, as_float_tensor, damping_operator

__all__ = ["HarmonicOscillator"]


class HarmonicOscillator(SecondOrderSystem):
    """Independent linear oscillators ``y_i'' = -omega_i^2 y_i - c_i y_i' + (B u)_i``.

    Args:
        omega: angular frequency (rad per time unit), a float (one unit) or a 1-D tensor
            (one unit each).
        damping: damping rate ``c`` (per time unit), scalar or per unit. A plain ``0`` means
            no damping operator; pass a tensor to keep a zero damping trainable.
        input_size: number of inputs; they act through ``input_gain`` ``B``
            (``(units, input_size)``, default ones).

    Closed form (undamped, undriven): ``y(t) = y0 cos(omega t) + v0 sin(omega t) / omega``.
    """

    position_dependent_force: ClassVar[bool] = False
    has_energy: ClassVar[bool] = True

    def __init__(
        self,
        omega: Tensor | float,
        damping: Tensor | float = 0.0,
        input_size: int = 0,
        input_gain: Tensor | float | None = None,
    ) -> None:
        omega = as_float_tensor(omega, "omega")
        if omega.ndim > 1:
            raise ValueError(
                f"omega must be a float or a 1-D tensor, got shape {tuple(omega.shape)}"
            )
        omega = omega.reshape(-1)
        super().__init__(state_size=omega.numel(), input_size=input_size)
        self.stiffness = Diagonal(omega**2)
        self.damping = damping_operator(damping, self.state_size)
        self.register_input_gain(input_gain)

    @property
    def omega(self) -> Tensor:
        """Angular frequencies, shape ``(units,)``."""
        return self.stiffness.values.clamp(min=0).sqrt()
