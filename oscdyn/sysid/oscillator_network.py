"""A black-box oscillator network: ``N`` damped oscillators coupled through a tanh layer.

    y'' = -diag(k) y - diag(c) y' + W tanh(A y + V u + a) + B u

Stiffness ``k`` and damping ``c`` are :class:`PositiveDiagonal` (each unit a damped
oscillator, so every integrator applies, the exponential one in closed form); the force
reads positions and inputs only, so ``symplectic_euler``, ``leapfrog`` and ``exponential``
stay reversible (the ``fused`` backend rebuilds states instead of storing them). With
``W = 0`` the network is a bank of linear modes; ``tanh`` supplies odd nonlinearities
(``tanh(x) = x - x^3/3 + ...``: a cubic spring as in the Duffing oscillator).
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..systems.base import SecondOrderSystem
from .positive_diagonal import PositiveDiagonal

__all__ = ["OscillatorNetwork"]


class OscillatorNetwork(SecondOrderSystem):
    """``units`` oscillators, ``hidden`` tanh features (default ``units``), ``input_size`` inputs.

    Frequencies start log-spaced over ``[omega_min, omega_max]`` (rad per time unit) with
    damping ratio ``zeta``; the input gain ``B`` is scaled by each unit's stiffness so every
    unit starts with a static gain of order one; the coupling ``W`` starts small
    (``coupling``), so the initial network is nearly a bank of linear modes.
    """

    position_dependent_force: ClassVar[bool] = True

    def __init__(
        self,
        units: int,
        input_size: int,
        hidden: int | None = None,
        omega_min: float = 0.05,
        omega_max: float = 1.0,
        zeta: float = 0.1,
        coupling: float = 0.1,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(state_size=units, input_size=input_size)
        if input_size < 1:
            raise ValueError("an oscillator network for identification needs an input")
        if not 0 < omega_min <= omega_max:
            raise ValueError(f"need 0 < omega_min <= omega_max, got {omega_min}, {omega_max}")
        hidden = units if hidden is None else int(hidden)
        self.hidden = hidden
        omega = torch.logspace(math.log10(omega_min), math.log10(omega_max), units)
        self.stiffness = PositiveDiagonal(omega**2)
        self.damping = PositiveDiagonal(2 * zeta * omega)

        def normal(*shape: int) -> Tensor:
            return torch.randn(*shape, generator=generator)

        self.coupling_in = nn.Parameter(normal(hidden, units) / math.sqrt(units))  # A
        self.coupling_out = nn.Parameter(coupling * normal(units, hidden) / math.sqrt(hidden))  # W
        self.input_to_hidden = nn.Parameter(normal(hidden, input_size) / math.sqrt(input_size))
        self.hidden_bias = nn.Parameter(torch.zeros(hidden))  # a
        gain = normal(units, input_size) / math.sqrt(input_size) * omega[:, None] ** 2
        self.input_gain = nn.Parameter(gain)  # B

    def encode_input(self, u: Tensor) -> Tensor:
        """``[V u + a, B u]`` for the whole sequence, ``(batch, time, hidden + units)``."""
        return torch.cat(
            [F.linear(u, self.input_to_hidden, self.hidden_bias), F.linear(u, self.input_gain)],
            -1,
        )

    def force(self, y: Tensor, v: Tensor, u: Tensor | None, t: Tensor | float) -> Tensor:
        if u is None:
            hidden = self.hidden_bias
            direct: Tensor | float = 0.0
        else:
            hidden, direct = u[..., : self.hidden], u[..., self.hidden :]
        return (
            F.linear(torch.tanh(F.linear(y, self.coupling_in) + hidden), self.coupling_out) + direct
        )

    def force_vjp(
        self, y: Tensor, v: Tensor, u: Tensor | None, t: Tensor | float, cotangent: Tensor
    ) -> tuple[Tensor, None]:
        hidden = self.hidden_bias if u is None else u[..., : self.hidden]
        activation = torch.tanh(F.linear(y, self.coupling_in) + hidden)
        return (
            (cotangent @ self.coupling_out) * (1 - activation * activation)
        ) @ self.coupling_in, None

    def extra_repr(self) -> str:
        return f"units={self.state_size}, hidden={self.hidden}, input_size={self.input_size}"
