"""Störmer–Verlet (leapfrog): half kick, drift, half kick.

Second order; symplectic and time-reversible when the force does not read the velocity
(Hairer, Lubich & Wanner, Geometric Numerical Integration, I.1.4). Linear damping is
explicit in the first half kick and implicit in the last, so the damped scheme stays
symmetric and second order; a velocity-dependent force is evaluated at a predicted
velocity in the last half kick, which keeps second order (but not symmetry).
"""

from __future__ import annotations

from typing import Any, ClassVar

from torch import Tensor

from ..systems.base import SecondOrderSystem
from .base import Integrator, closing_half_kick, pull_back_kick, solve_damping
from .registry import register

__all__ = ["Leapfrog"]


@register
class Leapfrog(Integrator):
    name: ClassVar[str] = "leapfrog"
    order: ClassVar[int] = 2
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
        half = 0.5 * h
        v = v + half * system.acceleration(y, v, u, t)
        y = y + h * v
        return y, closing_half_kick(system, y, v, u, t + h, half, force_only=False)

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
        # a symmetric method: stepping back by -h from t + h undoes the step
        self._require_reversible(system)
        return self.step(system, y, v, u, t + h, -h, cache)

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
        if system.velocity_dependent_force:
            return super().state_vjp(system, y, v, u, t, h, cache, grad_y, grad_v)
        half = 0.5 * h
        v_half = v + half * system.acceleration(y, v, u, t)
        y_next = y + h * v_half
        grad_kicked = solve_damping(system, grad_v, half)
        end_y, _ = pull_back_kick(system, y_next, v_half, u, t + h, half * grad_kicked, True, False)
        grad_y_next = grad_y + end_y
        grad_v_half = grad_kicked + h * grad_y_next
        start_y, start_v = pull_back_kick(system, y, v, u, t, half * grad_v_half, True, True)
        return grad_y_next + start_y, grad_v_half + start_v
