"""The classical fourth-order Runge–Kutta method on the first-order form.

Kutta 1901; stable for the undamped oscillator up to ``omega h = 2 sqrt(2)``, where its
amplification factor first exceeds 1 on the imaginary axis. Slightly dissipative below.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from torch import Tensor

from ..systems.base import SecondOrderSystem
from .base import Integrator
from .registry import register

__all__ = ["RK4"]


@register
class RK4(Integrator):
    name: ClassVar[str] = "rk4"
    order: ClassVar[int] = 4
    stability_limit: ClassVar[float] = 2 * math.sqrt(2)

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
        a1 = system.acceleration(y, v, u, t)
        y2, v2 = y + half * v, v + half * a1
        a2 = system.acceleration(y2, v2, u, t + half)
        y3, v3 = y + half * v2, v + half * a2
        a3 = system.acceleration(y3, v3, u, t + half)
        y4, v4 = y + h * v3, v + h * a3
        a4 = system.acceleration(y4, v4, u, t + h)
        y = y + (h / 6) * (v + 2 * v2 + 2 * v3 + v4)
        v = v + (h / 6) * (a1 + 2 * a2 + 2 * a3 + a4)
        return y, v
