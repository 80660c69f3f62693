"""The discretizer interface: one step of ``y'' = -K y - D y' + F(y, y', u, t)``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch
from torch import Tensor

from ..systems.base import SecondOrderSystem

__all__ = ["Integrator"]


class Integrator(ABC):
    """A one-step scheme mapping ``(y, v)`` at time ``t`` to ``(y, v)`` at ``t + h``.

    Class facts (read by the registry table, the stability checks and the backends):

    * ``name``: registry key; ``order``: global order of accuracy (``None`` if adaptive);
    * ``symplectic``, ``reversible``: hold when the system's force does not read the
      velocity (see :meth:`is_reversible_for`);
    * ``stability_limit``: largest ``omega * h`` for which the undamped oscillator
      ``y'' = -omega^2 y`` stays bounded (``inf``: unconditionally stable; ``0``: never);
    * ``needs``: operators the system must have (``"stiffness"``, ``"damping"``);
    * ``per_unit_step``: accepts a per-unit step ``h`` of shape ``(units,)``.

    ``h`` is a float or a tensor broadcastable to the state (a per-unit step). ``u`` is the
    input of the step, held constant over it, or ``None``. Shapes: ``y, v`` ``(batch, units)``.
    """

    name: ClassVar[str]
    order: ClassVar[int | None]
    symplectic: ClassVar[bool] = False
    reversible: ClassVar[bool] = False
    stability_limit: ClassVar[float | None] = None
    needs: ClassVar[tuple[str, ...]] = ()
    per_unit_step: ClassVar[bool] = True

    def check(self, system: SecondOrderSystem) -> None:
        """Raise ``ValueError`` if this scheme cannot run ``system``, saying why."""
        for operator in self.needs:
            if getattr(system, operator) is None:
                raise ValueError(
                    f"integrator '{self.name}' needs a {operator} operator, but "
                    f"{type(system).__name__} has {operator}=None"
                )

    def is_reversible_for(self, system: SecondOrderSystem) -> bool:
        """Whether :meth:`inverse_step` undoes :meth:`step` exactly for this system."""
        return self.reversible and not system.velocity_dependent_force

    def prepare(self, system: SecondOrderSystem, h: Tensor | float) -> Any:
        """Work shared by all steps of a forward pass (e.g. an exact flow): ``cache``."""
        return None

    @abstractmethod
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
        """Advance ``(y, v)`` from ``t`` to ``t + h``."""

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
        """Given the state at ``t + h``, return the state at ``t`` that :meth:`step` came from."""
        raise NotImplementedError(f"integrator '{self.name}' is not reversible")

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
        """Pull the cotangent ``(grad_y, grad_v)`` of the step's output back to ``(y, v)``.

        The step starts at ``(y, v)``; the backward sweep of the ``fused`` backend calls this
        once per step. This default differentiates :meth:`step` with autograd; schemes
        override it with the closed form (which calls ``system.force_vjp``).
        """
        with torch.enable_grad():
            y_in = y.detach().requires_grad_()
            v_in = v.detach().requires_grad_()
            y_out, v_out = self.step(system, y_in, v_in, u, t, h, cache)
            grads = torch.autograd.grad(
                (y_out, v_out), (y_in, v_in), (grad_y, grad_v), allow_unused=True
            )
        return tuple(  # type: ignore[return-value]
            torch.zeros_like(x) if g is None else g for g, x in zip(grads, (y, v), strict=True)
        )

    def _require_reversible(self, system: SecondOrderSystem) -> None:
        if not self.is_reversible_for(system):
            raise ValueError(
                f"integrator '{self.name}' cannot invert a step of {type(system).__name__}: "
                "its force reads the velocity, so the step has no explicit inverse"
            )

    @classmethod
    def facts(cls) -> dict[str, Any]:
        """The class facts as a dict (one row of ``oscdyn.integrators.table()``)."""
        return {
            "name": cls.name,
            "order": cls.order,
            "symplectic": cls.symplectic,
            "reversible": cls.reversible,
            "stability_limit": cls.stability_limit,
            "needs": ",".join(cls.needs) or "-",
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def solve_damping(system: SecondOrderSystem, x: Tensor, s: Tensor | float) -> Tensor:
    """``(I + s D)^{-1} x``: the implicit damping solve (``x`` itself without damping)."""
    return x if system.damping is None else system.damping.solve_shifted(x, s)


def pull_back_kick(
    system: SecondOrderSystem,
    y: Tensor,
    v: Tensor,
    u: Tensor | None,
    t: Tensor | float,
    grad_kick: Tensor,
    include_stiffness: bool,
    include_damping: bool,
) -> tuple[Tensor, Tensor]:
    """Cotangents on ``(y, v)`` of a kick ``-K y - D v + F`` (parts as flagged) read at ``g``."""
    grad_y, grad_v = system.force_vjp(y, v, u, t, grad_kick)
    if grad_v is None:
        grad_v = torch.zeros_like(v)
    if include_stiffness and system.stiffness is not None:
        grad_y = grad_y - system.stiffness.apply(grad_kick)
    if include_damping and system.damping is not None:
        grad_v = grad_v - system.damping.apply(grad_kick)
    return grad_y, grad_v


def closing_half_kick(
    system: SecondOrderSystem,
    y: Tensor,
    v: Tensor,
    u: Tensor | None,
    t: Tensor | float,
    half: Tensor | float,
    force_only: bool,
) -> Tensor:
    """The last half kick of a symmetric splitting at time ``t``: ``v + half * kick``.

    With ``force_only`` (exponential splitting: the linear part is in the exact flow) the
    kick is ``F``; otherwise it is ``-K y + F`` with the linear damping taken implicitly,
    which keeps the damped scheme symmetric. A force that reads the velocity sees a
    predicted end velocity (one fixed-point iteration), which keeps second order.
    """

    def kick(velocity: Tensor) -> Tensor:
        if force_only:
            return system.force(y, velocity, u, t)
        return system.acceleration(y, velocity, u, t, include_damping=False)

    v_end = v
    if system.velocity_dependent_force:
        v_end = v + half * kick(v)
        if not force_only and system.damping is not None:
            v_end = v_end - half * system.damping.apply(v)
    kicked = v + half * kick(v_end)
    return kicked if force_only else solve_damping(system, kicked, half)
