"""coRNN: coupled oscillatory recurrent network (Rusch & Mishra, ICLR 2021)."""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import SecondOrderSystem
from .operators import Diagonal

__all__ = ["CoRNN"]


class CoRNN(SecondOrderSystem):
    """``y'' = -gamma y - epsilon y' + tanh(W y + Wz y' + V u + b)`` on ``hidden_size`` units.

    T. K. Rusch and S. Mishra, "Coupled Oscillatory Recurrent Neural Network (coRNN): An
    accurate and (gradient) stable architecture for learning long time dependencies",
    ICLR 2021 (github.com/tk-rusch/coRNN). ``gamma`` is the stiffness and ``epsilon`` the
    damping (both fixed hyperparameters, ``Diagonal`` operators); the force couples units
    through ``W`` and ``Wz``, held, as in the released code, in one ``nn.Linear`` ``i2h``
    acting on ``cat(u, y', y)`` (PyTorch's default initialisation).

    Schemes: ``imex`` reproduces the paper (damping implicit, eq. 3),
    ``z <- (z + dt (tanh(...) - gamma y)) / (1 + dt epsilon)``, ``y <- y + dt z``;
    ``symplectic_euler`` reproduces the released code (damping explicit). The force reads
    the velocity, so no scheme is symplectic or reversible here.

    Published settings (hidden size, dt, gamma, epsilon): sMNIST 256, 0.042, 2.7, 4.7;
    psMNIST 256, 0.076, 0.4, 8.0; adding problem (released defaults) 128, 0.06, 66, 15.
    """

    velocity_dependent_force: ClassVar[bool] = True

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        gamma: float = 2.7,
        epsilon: float = 4.7,
    ) -> None:
        super().__init__(state_size=hidden_size, input_size=input_size)
        self.stiffness = Diagonal(gamma, size=hidden_size, trainable=False)
        self.damping = Diagonal(epsilon, size=hidden_size, trainable=False)
        self.i2h = nn.Linear(input_size + 2 * hidden_size, hidden_size)

    @property
    def gamma(self) -> float:
        return float(self.stiffness.values)

    @property
    def epsilon(self) -> float:
        return float(self.damping.values)

    def encode_input(self, u: Tensor) -> Tensor:
        """``V u + b``: the input columns of ``i2h`` and its bias, for the whole sequence."""
        return F.linear(u, self.i2h.weight[:, : self.input_size], self.i2h.bias)

    def force(self, y: Tensor, v: Tensor, u: Tensor | None, t: Tensor | float) -> Tensor:
        """``tanh(W y + Wz v + x)`` with ``x = encode_input(u)`` of the step (bias if None)."""
        start = self.input_size
        weight = self.i2h.weight
        drive = self.i2h.bias if u is None else u
        velocity_part = F.linear(v, weight[:, start : start + self.state_size])
        return torch.tanh(drive + velocity_part + F.linear(y, weight[:, start + self.state_size :]))

    def force_vjp(
        self, y: Tensor, v: Tensor, u: Tensor | None, t: Tensor | float, cotangent: Tensor
    ) -> tuple[Tensor, Tensor]:
        force = self.force(y, v, u, t)
        grad_pre = cotangent * (1 - force * force)
        start = self.input_size
        weight = self.i2h.weight
        grad_v = grad_pre @ weight[:, start : start + self.state_size]
        grad_y = grad_pre @ weight[:, start + self.state_size :]
        return grad_y, grad_v
