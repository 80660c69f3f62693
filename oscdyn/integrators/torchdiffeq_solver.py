"""Any torchdiffeq solver, one call of ``odeint`` per step, as an accuracy reference.

``get("torchdiffeq:dopri5", rtol=1e-10, atol=1e-12)`` integrates the first-order form
``(y, v)' = (v, a(y, v, u, t))`` over each step with the input held constant (Chen et al.,
"Neural Ordinary Differential Equations", NeurIPS 2018; github.com/rtqichen/torchdiffeq).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor
from torchdiffeq import odeint
from torchdiffeq._impl.odeint import SOLVERS

from ..systems.base import SecondOrderSystem
from .base import Integrator
from .registry import register

__all__ = ["TorchDiffEq"]


@register
class TorchDiffEq(Integrator):
    """``method``: a torchdiffeq solver name; ``rtol``, ``atol``, ``options`` go to ``odeint``."""

    name: ClassVar[str] = "torchdiffeq"
    order: ClassVar[int | None] = None
    per_unit_step: ClassVar[bool] = False

    def __init__(
        self,
        method: str = "dopri5",
        rtol: float = 1e-7,
        atol: float = 1e-9,
        options: dict[str, Any] | None = None,
    ) -> None:
        if method not in SOLVERS:
            raise ValueError(
                f"unknown torchdiffeq method '{method}'; known: {', '.join(sorted(SOLVERS))}"
            )
        self.method = method
        self.rtol = rtol
        self.atol = atol
        self.options = options

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
        start = torch.as_tensor(t, dtype=y.dtype, device=y.device)
        step = torch.as_tensor(h, dtype=y.dtype, device=y.device)
        if start.numel() != 1 or step.numel() != 1:
            raise ValueError("torchdiffeq integrators need a scalar dt (no per-unit steps)")
        times = torch.stack([start.reshape(()), (start + step).reshape(())])

        def first_order(time: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
            position, velocity = state
            return velocity, system.acceleration(position, velocity, u, time)

        ys, vs = odeint(
            first_order,
            (y, v),
            times,
            rtol=self.rtol,
            atol=self.atol,
            method=self.method,
            options=self.options,
        )
        return ys[-1], vs[-1]

    def __repr__(self) -> str:
        return f"TorchDiffEq(method={self.method!r}, rtol={self.rtol}, atol={self.atol})"
