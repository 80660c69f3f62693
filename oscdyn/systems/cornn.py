"""coRNN: coupled oscillatory recurrent network (Rusch & Mishra, ICLR 2021)."""

from __future__ import annotations

from typing import ClassVar

import torch
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

    def force(self, y: Tensor, v: Tensor, u: Tensor | None, t: Tensor | float) -> Tensor:
        if u is None:
            u = y.new_zeros(y.shape[0], self.input_size)
        return torch.tanh(self.i2h(torch.cat([u, v, y], -1)))
