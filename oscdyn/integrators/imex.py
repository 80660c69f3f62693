"""IMEX Euler: explicit in the stiffness and the force, implicit in the damping.

``v' = (I + h D)^{-1} (v + h (-K y + F(y, v, u, t)))``, then ``y' = y + h v'``.
First order. This is the time discretization of coRNN (Rusch & Mishra, "Coupled
Oscillatory Recurrent Neural Network (coRNN)", ICLR 2021, eq. 3). Without damping it is
symplectic Euler. Reversible when the force does not read the velocity.
"""

from __future__ import annotations

from typing import Any, ClassVar

from torch import Tensor

from ..systems.base import SecondOrderSystem
from .base import Integrator, pull_back_kick, solve_damping
from .registry import register

__all__ = ["IMEX"]


@register
class IMEX(Integrator):
    name: ClassVar[str] = "imex"
    order: ClassVar[int] = 1
    reversible: ClassVar[bool] = True
    stability_limit: ClassVar[float] = 2.0

    def step(
        self,
        system: SecondOrderSystem,
        y: Tensor,
        v: Tensor,
        u: Tensor | None,
        t: Tensor | float,
        h: Tensor | float,
        cache: Any = None,
    ) -> tuple[Tensor, Tensor]:
        kicked = v + h * system.acceleration(y, v, u, t, include_damping=False)
        v = solve_damping(system, kicked, h)
        return y + h * v, v

    def inverse_step(
        self,
        system: SecondOrderSystem,
        y: Tensor,
        v: Tensor,
        u: Tensor | None,
        t: Tensor | float,
        h: Tensor | float,
        cache: Any = None,
    ) -> tuple[Tensor, Tensor]:
        self._require_reversible(system)
        y_prev = y - h * v
        damped = v if system.damping is None else v + h * system.damping.apply(v)
        v_prev = damped - h * system.acceleration(y_prev, v, u, t, include_damping=False)
        return y_prev, v_prev

    def state_vjp(
        self,
        system: SecondOrderSystem,
        y: Tensor,
        v: Tensor,
        u: Tensor | None,
        t: Tensor | float,
        h: Tensor | float,
        cache: Any,
        grad_y: Tensor,
        grad_v: Tensor,
    ) -> tuple[Tensor, Tensor]:
        grad_kicked = solve_damping(system, grad_v + h * grad_y, h)
        kick_y, kick_v = pull_back_kick(system, y, v, u, t, h * grad_kicked, True, False)
        return grad_y + kick_y, grad_kicked + kick_v
