"""The second-order system every oscillator model is written as.

Per unit, on positions ``y`` and velocities ``v = y'``::

    y'' = -K y - D v + F(y, v, u, t)

``K`` (``stiffness``) and ``D`` (``damping``) are structured linear operators or ``None``;
``F`` (``force``) is the rest: nonlinear, explicit, reading the input ``u`` of the step.
Inputs are held constant over a step (zero-order hold): ``u`` is the input sample of the
step that starts at ``t``.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import Tensor, nn

from .operators import Diagonal, Operator

__all__ = ["SecondOrderSystem"]


class SecondOrderSystem(nn.Module):
    """Base class of oscillator systems ``y'' = -K y - D y' + F(y, y', u, t)``.

    Subclasses set ``stiffness`` and ``damping`` (operators or ``None``) in ``__init__``,
    override :meth:`force` and, where ``F`` is conservative, :meth:`potential`; they declare
    what ``F`` reads with the class facts below (integrators rely on them).

    Shapes: ``y``, ``v`` are ``(batch, state_size)``; ``u`` is ``(batch, input_size)`` or
    ``None`` (no input); ``t`` is a float or a tensor broadcastable to ``y``.
    """

    #: ``F`` reads ``v``. Symplectic / reversible schemes lose those properties when True.
    velocity_dependent_force: ClassVar[bool] = False
    #: ``F`` reads ``y``. When neither this nor ``velocity_dependent_force`` holds, the
    #: exponential integrator solves the step exactly (``F`` constant over the step).
    position_dependent_force: ClassVar[bool] = True
    #: :meth:`potential` is defined, so :meth:`energy` is (the undamped, undriven Hamiltonian).
    has_energy: ClassVar[bool] = False

    stiffness: Operator | None
    damping: Operator | None

    def __init__(self, state_size: int, input_size: int = 0) -> None:
        super().__init__()
        if state_size < 1:
            raise ValueError(f"state_size must be a positive integer, got {state_size}")
        if input_size < 0:
            raise ValueError(f"input_size must be non-negative, got {input_size}")
        self.state_size = int(state_size)
        self.input_size = int(input_size)
        self.stiffness = None
        self.damping = None

    def register_input_gain(self, gain: Tensor | float | None = None) -> None:
        """Add a trainable input matrix ``B`` (``(state_size, input_size)``) used by :meth:`drive`.

        ``gain`` is a matrix, a scalar times ones, or ``None`` for ones.
        """
        if self.input_size == 0:
            self.input_gain = None
            return
        shape = (self.state_size, self.input_size)
        if gain is None:
            gain = 1.0
        gain = torch.as_tensor(gain, dtype=torch.get_default_dtype())
        if gain.ndim == 0:
            gain = gain.expand(shape)
        if tuple(gain.shape) != shape:
            raise ValueError(f"input_gain must have shape {shape}, got {tuple(gain.shape)}")
        self.input_gain = nn.Parameter(gain.detach().clone())

    def drive(self, u: Tensor | None) -> Tensor | float:
        """The linear input force ``B u`` (shape ``(batch, state_size)``), 0 without input."""
        if u is None or self.input_gain is None:
            return 0.0
        return u @ self.input_gain.T

    def encode_input(self, u: Tensor) -> Tensor:
        """Map the input sequence ``(batch, time, input_size)`` to what :meth:`force` reads.

        Called once per forward pass on the whole sequence, so an input projection
        ``V u + b`` is one large matrix product instead of one per step; ``force`` then
        receives ``encode_input(u)[:, k]`` as its ``u``. Default: ``u`` unchanged.
        """
        return u

    def force(self, y: Tensor, v: Tensor, u: Tensor | None, t: Tensor | float) -> Tensor:
        """The force ``F(y, v, u, t)``, shape ``(batch, state_size)``. Default: ``B u``."""
        return torch.zeros_like(y) + self.drive(u)

    def force_vjp(
        self, y: Tensor, v: Tensor, u: Tensor | None, t: Tensor | float, cotangent: Tensor
    ) -> tuple[Tensor, Tensor | None]:
        """``(J_y^T g, J_v^T g)`` for ``J = dF/d(y, v)``, ``g = cotangent``; ``None`` for ``v``
        when the force does not read it.

        Used by the ``fused`` backend's backward sweep. This default differentiates
        :meth:`force` with autograd; systems override it with the closed form for speed.
        """
        if not (self.position_dependent_force or self.velocity_dependent_force):
            return torch.zeros_like(y), None
        with torch.enable_grad():
            y_in = y.detach().requires_grad_()
            v_in = v.detach().requires_grad_(self.velocity_dependent_force)
            inputs = [y_in, v_in] if self.velocity_dependent_force else [y_in]
            grads = torch.autograd.grad(
                self.force(y_in, v_in, u, t), inputs, cotangent, allow_unused=True
            )
        grad_y = torch.zeros_like(y) if grads[0] is None else grads[0]
        if not self.velocity_dependent_force:
            return grad_y, None
        return grad_y, torch.zeros_like(v) if grads[1] is None else grads[1]

    def potential(self, y: Tensor) -> Tensor:
        """``V(y)`` with ``F = -grad V`` for the undriven force, shape ``(batch,)``.

        Defined where ``has_energy`` is True; zero where the force does not read ``y``.
        """
        if not self.position_dependent_force and not self.velocity_dependent_force:
            return torch.zeros(y.shape[:-1], dtype=y.dtype, device=y.device)
        raise NotImplementedError(
            f"{type(self).__name__} has no energy: its force has no potential"
        )

    def acceleration(
        self,
        y: Tensor,
        v: Tensor,
        u: Tensor | None,
        t: Tensor | float,
        include_damping: bool = True,
    ) -> Tensor:
        """``-K y - D v + F(y, v, u, t)``; without ``-D v`` when ``include_damping`` is False."""
        a = self.force(y, v, u, t)
        if self.stiffness is not None:
            a = a - self.stiffness.apply(y)
        if include_damping and self.damping is not None:
            a = a - self.damping.apply(v)
        return a

    def energy(self, y: Tensor, v: Tensor) -> Tensor:
        """``|v|^2/2 + y^T K y/2 + V(y)`` summed over units, shape ``(batch,)``.

        The Hamiltonian of the undamped, undriven system; raises where ``F`` has no potential.
        """
        energy = 0.5 * (v * v).sum(-1) + self.potential(y)
        if self.stiffness is not None:
            energy = energy + self.stiffness.energy(y)
        return energy

    @property
    def output_size(self) -> int:
        """Size of :meth:`readout`'s output (``state_size`` unless a subclass maps it)."""
        return self.state_size

    def readout(self, positions: Tensor, u: Tensor | None) -> Tensor:
        """The model's output from the positions ``(batch, time, state_size)`` and inputs.

        Applied once to the whole sequence after the recurrence. Default: the positions.
        """
        return positions

    def step_scale(self) -> Tensor | None:
        """A per-unit factor ``(state_size,)`` on the compiled step ``dt``, or ``None``.

        For models that learn each unit's time step (UnICORNN's ``sigmoid(c)``).
        """
        return None

    def unit_frequencies(self) -> Tensor | None:
        """Each unit's largest linear angular frequency ``(state_size,)`` (rad per time unit).

        Defined for independent units (a ``Diagonal`` stiffness): ``sqrt(k_i)``; ``None``
        otherwise. Systems whose force adds stiffness per unit override this with the bound
        of its linearisation (UnICORNN: ``sqrt(alpha + w_i)``). Compiled with a per-unit
        step ``h_i``, an explicit scheme is stable when every ``omega_i h_i`` is below its
        ``stability_limit``.
        """
        if not isinstance(self.stiffness, Diagonal):
            return None
        with torch.no_grad():
            return self.stiffness.eigenvalues().clamp(min=0).sqrt()

    def max_frequency(self) -> float | None:
        """Largest linear angular frequency ``sqrt(lambda_max(K))`` (rad per time unit).

        Used for the stability warnings of explicit schemes; ``None`` without stiffness.
        Systems whose force adds stiffness override this (or :meth:`unit_frequencies`) with
        its linearisation.
        """
        units = self.unit_frequencies()
        if units is not None:
            return float(units.max())
        if self.stiffness is None:
            return None
        with torch.no_grad():
            return math.sqrt(max(float(self.stiffness.max_eigenvalue()), 0.0))

    def extra_repr(self) -> str:
        return f"state_size={self.state_size}, input_size={self.input_size}"
