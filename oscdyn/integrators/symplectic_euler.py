"""Symplectic Euler: kick, then drift.

``v' = v + h a(y, v, u, t)``, ``y' = y + h v'``, damping explicit. First order,
symplectic and reversible when the force does not read the velocity (Hairer, Lubich &
Wanner, Geometric Numerical Integration, I.1.2). The scheme of UnICORNN (Rusch & Mishra,
ICML 2021) and of coRNN's released code.
"""

from __future__ import annotations

from typing import Any, ClassVar

from torch import Tensor

from ..systems.base import SecondOrderSystem
from .base import Integrator, pull_back_kick, solve_damping
from .registry import register

__all__ = ["SymplecticEuler"]


@register
class SymplecticEuler(Integrator):
    name: ClassVar[str] = "symplectic_euler"
    order: ClassVar[int] = 1
    symplectic: ClassVar[bool] = True
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
        v = v + h * system.acceleration(y, v, u, t)
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
        undamped = v - h * system.acceleration(y_prev, v, u, t, include_damping=False)
        return y_prev, solve_damping(system, undamped, -h)

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
        grad_v_next = grad_v + h * grad_y
        grad_kick = h * grad_v_next
        kick_y, kick_v = pull_back_kick(system, y, v, u, t, grad_kick, True, True)
        return grad_y + kick_y, grad_v_next + kick_v
