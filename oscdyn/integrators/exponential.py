"""Exponential integrator: the linear part solved exactly, the force by Strang splitting.

The step is ``v += h/2 F``, then the exact flow of ``y'' = -K y - D y'`` over ``h`` (from
the stiffness operator's ``flow``: closed form for ``Diagonal``, one eigendecomposition for
``Dense``, the FFT for ``Circulant``), then ``v += h/2 F`` (the trigonometric splitting of
Hairer, Lubich & Wanner, Geometric Numerical Integration, XIII.2; Strang 1968). Second
order, unconditionally stable for the linear part; symplectic (without damping) and
reversible when the force does not read the velocity. When the force reads neither ``y``
nor ``v`` (a linear system driven by its input), the force is held at its midpoint value
over the step and solved exactly, so a linear system with piecewise-constant input is
integrated to float precision.
"""

from __future__ import annotations

import math
from functools import cached_property
from typing import ClassVar

from torch import Tensor

from ..systems.base import SecondOrderSystem
from ..systems.operators import LinearFlow
from .base import Integrator, closing_half_kick
from .registry import register

__all__ = ["Exponential"]


class LinearFlows:
    """The exact linear flows over ``h`` and ``-h``, built once per forward pass."""

    def __init__(self, system: SecondOrderSystem, h: Tensor | float) -> None:
        self.system = system
        self.h = h

    @cached_property
    def forward(self) -> LinearFlow:
        return self.system.stiffness.flow(self.h, self.system.damping)

    @cached_property
    def backward(self) -> LinearFlow:
        return self.system.stiffness.flow(-self.h, self.system.damping)

    @cached_property
    def forward_transpose(self) -> LinearFlow:
        return self.forward.transpose()


@register
class Exponential(Integrator):
    name: ClassVar[str] = "exponential"
    order: ClassVar[int] = 2
    symplectic: ClassVar[bool] = True
    reversible: ClassVar[bool] = True
    stability_limit: ClassVar[float] = math.inf
    needs: ClassVar[tuple[str, ...]] = ("stiffness",)

    def prepare(self, system: SecondOrderSystem, h: Tensor | float) -> LinearFlows:
        return LinearFlows(system, h)

    def step(
        self,
        system: SecondOrderSystem,
        y: Tensor,
        v: Tensor,
        u: Tensor | None,
        t: Tensor | float,
        h: Tensor | float,
        cache: LinearFlows | None = None,
    ) -> tuple[Tensor, Tensor]:
        flow = (cache or self.prepare(system, h)).forward
        return self._advance(system, flow, y, v, u, t, h)

    def inverse_step(
        self,
        system: SecondOrderSystem,
        y: Tensor,
        v: Tensor,
        u: Tensor | None,
        t: Tensor | float,
        h: Tensor | float,
        cache: LinearFlows | None = None,
    ) -> tuple[Tensor, Tensor]:
        # symmetric: the step by -h from t + h, with the backward flow, undoes the step
        self._require_reversible(system)
        flow = (cache or self.prepare(system, h)).backward
        return self._advance(system, flow, y, v, u, t + h, -h)

    def state_vjp(
        self,
        system: SecondOrderSystem,
        y: Tensor,
        v: Tensor,
        u: Tensor | None,
        t: Tensor | float,
        h: Tensor | float,
        cache: LinearFlows | None,
        grad_y: Tensor,
        grad_v: Tensor,
    ) -> tuple[Tensor, Tensor]:
        if system.velocity_dependent_force:
            return super().state_vjp(system, y, v, u, t, h, cache, grad_y, grad_v)
        flows = cache or self.prepare(system, h)
        if not system.position_dependent_force:
            return flows.forward_transpose(grad_y, grad_v)
        half = 0.5 * h
        v_half = v + half * system.force(y, v, u, t)
        y_next, v_flowed = flows.forward(y, v_half)
        end_y, _ = system.force_vjp(y_next, v_flowed, u, t + h, half * grad_v)
        grad_y_flowed, grad_v_half = flows.forward_transpose(grad_y + end_y, grad_v)
        start_y, _ = system.force_vjp(y, v, u, t, half * grad_v_half)
        return grad_y_flowed + start_y, grad_v_half

    @staticmethod
    def _advance(
        system: SecondOrderSystem,
        flow: LinearFlow,
        y: Tensor,
        v: Tensor,
        u: Tensor | None,
        t: Tensor | float,
        h: Tensor | float,
    ) -> tuple[Tensor, Tensor]:
        half = 0.5 * h
        if not (system.position_dependent_force or system.velocity_dependent_force):
            return flow(y, v, system.force(y, v, u, t + half))
        v = v + half * system.force(y, v, u, t)
        y, v = flow(y, v)
        return y, closing_half_kick(system, y, v, u, t + h, half, force_only=True)
