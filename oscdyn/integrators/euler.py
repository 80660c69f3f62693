"""Explicit (forward) Euler on the first-order form ``(y, v)' = (v, a(y, v, u, t))``.

First order; amplifies every undamped oscillation by ``sqrt(1 + (omega h)^2)`` per step, so
it is unstable for ``y'' = -omega^2 y`` at every ``h > 0``. Kept as the contrast case.
"""

from __future__ import annotations

from typing import Any, ClassVar

from torch import Tensor

from ..systems.base import SecondOrderSystem
from .base import Integrator, pull_back_kick
from .registry import register

__all__ = ["Euler"]


@register
class Euler(Integrator):
    name: ClassVar[str] = "euler"
    order: ClassVar[int] = 1
    stability_limit: ClassVar[float] = 0.0

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
        return y + h * v, v + h * system.acceleration(y, v, u, t)

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
        kick_y, kick_v = pull_back_kick(system, y, v, u, t, h * grad_v, True, True)
        return grad_y + kick_y, h * grad_y + grad_v + kick_v
