"""Chunked associative scan for linear systems with time-varying input.

When the force reads neither the position nor the velocity (``y'' = -K y - D y' + F(u, t)``),
every fixed-step scheme is affine in the state: one step is ``x_{k+1} = M x_k + b_k`` with
``x = (y, v)``, ``M`` the same at every step and ``b_k`` the step of the zero state under
the input of step ``k``. Affine maps compose associatively, later times applied to earlier
ones, ``(M, b_2) o (M, b_1) = (M^2, M b_1 + b_2)``; a chunk of ``L`` steps is the map
``(M^L, e)``, ``e`` the chunk's end state from rest. Time is split into ``C`` chunks:

1. **end sweep**: the integrator's own step advances all chunks together (stacked along the
   batch axis) for ``L`` steps, chunk 0 from the initial state and the others from rest:
   their end states ``e_c``;
2. **carry**: an inclusive log-depth (Hillis-Steele) scan composes the chunk maps,
   ``S_c = M^L S_{c-1} + e_c``, the true state at every chunk end, in ``ceil(log2 C)``
   rounds of ``(M^L)^(2^r)``;
3. **output sweep**: the step advances all ``C`` chunks again from their true starts and
   records the states;
4. the ``T - C L`` leftover steps (fewer than ``C``) run one after the other.

That is ``2 L`` sequential steps instead of ``T``. ``b_k`` is never formed on its own, the
step applies it to cache-sized slabs ``(batch * C, units)``, and the recorded states are the
integrator's own steps: only the chunk starts come from the composed map. Measured on a
2-core CPU, this beats forming ``b`` and applying powers of ``M`` within chunks (a
block-Toeplitz product, or a fixup ``M^(j+1) S`` of each local trajectory): those cost more
passes over the ``(batch, T, units)`` data than the second sweep's arithmetic, and a units-first
layout for batched matrix products costs transposes of the same size.

``M`` is read off the step (basis states stepped in one batched call): a 2x2 block per unit
for independent units (``Diagonal`` or no stiffness and damping; per-unit ``dt`` works), a
dense ``(2n, 2n)`` matrix for coupled ones (``Dense``, ``Circulant``), composed in float64
for a float32 model. Everything is plain torch operations, so gradients (inputs, initial
state, every parameter, a learned ``dt``) come from ordinary autograd.
"""

from __future__ import annotations

import math
from itertools import chain
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import Tensor, nn
from torch.func import functional_call

from ..systems.operators import Diagonal
from .base import Backend, Run

if TYPE_CHECKING:
    from ..compile import OscillatorRNN
    from ..integrators import Integrator
    from ..systems.base import SecondOrderSystem

__all__ = ["Scan"]


class Scan(Backend):
    """Chunked scan for systems whose force reads neither ``y`` nor ``v``.

    Args:
        chunk: steps per chunk ``L``; ``None`` picks the number of chunks ``C`` so that one
            slab of chunk states ``(batch * C, units)`` holds about ``slab_elements`` numbers
            (at most ``sqrt(steps)`` chunks, preferring a ``C`` that divides the length), then
            ``L = steps // C``.
        slab_elements: that target; ``None``: 65536 on a CPU (a slab stays in the L2 cache
            and element-wise operations on it still use the intra-op threads), ``2**22``
            elsewhere (about ``sqrt(steps)`` chunks, the fewest sequential steps).
        max_coupled_units: the largest coupled system (``Dense``, ``Circulant``) accepted;
            its step is composed as a dense ``(2n, 2n)`` matrix.
    """

    name: ClassVar[str] = "scan"

    def __init__(
        self,
        chunk: int | None = None,
        slab_elements: int | None = None,
        max_coupled_units: int = 256,
    ) -> None:
        if chunk is not None and chunk < 1:
            raise ValueError(f"chunk must be a positive number of steps, got {chunk}")
        if (slab_elements is not None and slab_elements < 1) or max_coupled_units < 1:
            raise ValueError(
                "slab_elements and max_coupled_units must be positive, got "
                f"{slab_elements} and {max_coupled_units}"
            )
        self.chunk = chunk
        self.slab_elements = slab_elements
        self.max_coupled_units = max_coupled_units

    def unsupported_reason(self, rnn: OscillatorRNN) -> str | None:
        system, integrator = rnn.system, rnn.integrator
        name = type(system).__name__
        if integrator.name == "torchdiffeq":
            return (
                f"integrator '{integrator.name}' chooses its steps adaptively, so one step is "
                "not a fixed affine map of the state; use eager"
            )
        reads = [
            what
            for what, flag in (
                ("position", system.position_dependent_force),
                ("velocity", system.velocity_dependent_force),
            )
            if flag
        ]
        if reads:
            return (
                f"{name}'s force reads the {' and '.join(reads)} (a nonlinear system); the scan "
                "needs a linear one, whose force F(u, t) reads only the input and time"
            )
        if not _independent_units(system) and system.state_size > self.max_coupled_units:
            return (
                f"{name} couples its {system.state_size} units, and the scan composes its step "
                f"as a dense (2n, 2n) matrix: at most {self.max_coupled_units} coupled units "
                "(Scan(max_coupled_units=...)); use eager or fused"
            )
        return None

    def run(
        self,
        rnn: OscillatorRNN,
        u: Tensor | None,
        y: Tensor,
        v: Tensor,
        steps: int,
        keep_velocity: bool = False,
    ) -> Run:
        """Advance ``steps`` steps from ``(y, v)`` ``(batch, units)``; ``u`` ``(batch, steps,
        input)`` (encoded) or None. Returns positions ``(batch, steps, units)``, velocities
        (same shape, with ``keep_velocity``; else None) and the final ``(y, v)``."""
        system, integrator = rnn.system, rnn.integrator
        h = rnn.step_size()
        cache = integrator.prepare(system, h)
        batch, units = y.shape
        chunks, length = self._layout(steps, batch * units, y.device)
        stepper = _Stepper(system, integrator, h, cache)
        if chunks > 1:
            main = chunks * length
            linear = _step_matrix(stepper, u, y)
            y_seq, v_seq, (y, v) = _chunked(stepper, linear, u, y, v, chunks, length, keep_velocity)
        else:  # too short to chunk: the plain loop below
            main = 0
            y_seq, v_seq = y.new_empty(batch, 0, units), y.new_empty(batch, 0, units)
        if main == steps:
            return y_seq, (v_seq if keep_velocity else None), (y, v)
        # the leftover steps, one after the other
        positions, velocities = [y_seq], [v_seq]
        tail = None if u is None else u[:, main:].unbind(1)
        for offset in range(steps - main):
            u_k = None if tail is None else tail[offset]
            y, v = stepper.step(y, v, u_k, float(main + offset))
            positions.append(y[:, None])
            velocities.append(v[:, None])
        y_seq = torch.cat(positions, 1)
        v_seq = torch.cat(velocities, 1) if keep_velocity else None
        return y_seq, v_seq, (y, v)

    def _layout(self, steps: int, slab: int, device: torch.device | str = "cpu") -> tuple[int, int]:
        """``(C, L)``: ``C`` chunks of ``L`` steps, ``C L <= steps`` (the rest runs after);
        ``slab`` is ``batch * units``."""
        if self.chunk is not None:
            length = min(self.chunk, steps)
            return steps // length, length
        target = self.slab_elements
        if target is None:
            target = 65536 if torch.device(device).type == "cpu" else 1 << 22
        chunks = max(1, min(target // max(slab, 1), math.isqrt(steps)))
        # prefer a chunk count a little below the target that divides the length (no leftover)
        for candidate in range(chunks, max(1, (3 * chunks + 3) // 4) - 1, -1):
            if steps % candidate == 0:
                chunks = candidate
                break
        return chunks, steps // chunks


class _Stepper:
    """The integrator's step at a given step index; ``t = index * h``."""

    def __init__(
        self, system: SecondOrderSystem, integrator: Integrator, h: Tensor | float, cache: Any
    ) -> None:
        self.system, self.integrator, self.h, self.cache = system, integrator, h, cache

    def step(
        self, y: Tensor, v: Tensor, u: Tensor | None, index: Tensor | float
    ) -> tuple[Tensor, Tensor]:
        """One step of rows ``(rows, units)``; ``index`` a float or a column ``(rows, 1)``."""
        return self.integrator.step(self.system, y, v, u, index * self.h, self.h, self.cache)


class _StepMatrix:
    """The linear part ``M`` of one step (base of the two layouts)."""

    matrix: Tensor

    def product(self, left: Tensor, right: Tensor) -> Tensor:
        """``left @ right``."""
        return left @ right

    def power(self, exponent: int) -> Tensor:
        """``M^exponent`` (``exponent >= 1``) by repeated squaring."""
        result, base = None, self.matrix
        while True:
            if exponent & 1:
                result = base if result is None else self.product(result, base)
            exponent >>= 1
            if not exponent:
                return result
            base = self.product(base, base)

    def apply(self, power: Tensor, y: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """``power (y, v)`` for states ``y, v`` ``(..., units)``, in their dtype."""
        raise NotImplementedError


class _UnitBlocks(_StepMatrix):
    """Independent units: ``matrix`` ``(units, 2, 2)``, ``[unit, out, in]`` over ``(y, v)``."""

    def __init__(self, matrix: Tensor) -> None:
        self.matrix = matrix

    def product(self, left: Tensor, right: Tensor) -> Tensor:
        # element-wise: a batched matmul of tiny 2x2 blocks is far slower on a CPU
        return (left[..., :, :, None] * right[..., None, :, :]).sum(-2)

    def apply(self, power: Tensor, y: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        power = power.to(y.dtype)
        return (
            power[:, 0, 0] * y + power[:, 0, 1] * v,
            power[:, 1, 0] * y + power[:, 1, 1] * v,
        )


class _Dense(_StepMatrix):
    """Coupled units: ``matrix`` ``(2n, 2n)`` acting on ``x = cat(y, v)`` (``x' = M x``)."""

    def __init__(self, matrix: Tensor) -> None:
        self.matrix = matrix
        self.units = matrix.shape[0] // 2

    def apply(self, power: Tensor, y: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        state = torch.cat([y, v], -1) @ power.to(y.dtype).T
        return state[..., : self.units], state[..., self.units :]


def _independent_units(system: SecondOrderSystem) -> bool:
    return all(op is None or isinstance(op, Diagonal) for op in (system.stiffness, system.damping))


def _step_matrix(stepper: _Stepper, u: Tensor | None, like: Tensor) -> _StepMatrix:
    """Read ``M`` off the step: basis states stepped in one call, minus the zero state's step.

    A model in a lower precision than float64 is stepped with its floating parameters and
    buffers cast to float64 (differentiably): powers of a once-rounded ``M`` would drift by
    about ``T * eps`` over ``T`` steps, more than the sequential loop's own round-off.
    """
    units = like.shape[1]
    dtype = _accurate_dtype(like)
    if _independent_units(stepper.system):
        # per unit: rows (y=1, v=0), (y=0, v=1), (0, 0)
        eye = torch.eye(2, 3, dtype=dtype, device=like.device)
        y_basis = eye[0][:, None].expand(3, units)
        v_basis = eye[1][:, None].expand(3, units)
    else:
        # rows e_1 .. e_2n of x = (y, v), then 0
        eye = torch.eye(2 * units, 2 * units + 1, dtype=dtype, device=like.device).T
        y_basis, v_basis = eye[:, :units], eye[:, units:]
    rows = y_basis.shape[0]
    u_zero = None if u is None else torch.zeros(rows, u.shape[-1], dtype=dtype, device=u.device)
    y_basis, v_basis = y_basis.contiguous(), v_basis.contiguous()
    if dtype == like.dtype:
        y_out, v_out = stepper.step(y_basis, v_basis, u_zero, 0.0)
    else:
        h = stepper.h.to(dtype) if isinstance(stepper.h, Tensor) else stepper.h
        module = _BasisStep(stepper.system, stepper.integrator)
        tensors = chain(module.named_parameters(), module.named_buffers())
        upcast = {name: t.to(dtype) for name, t in tensors if t.is_floating_point()}
        y_out, v_out = functional_call(module, upcast, (y_basis, v_basis, u_zero, h))
    # subtracting the zero state's step removes the input (and any constant) part
    y_out, v_out = y_out[:-1] - y_out[-1:], v_out[:-1] - v_out[-1:]
    if _independent_units(stepper.system):
        # [unit, out, in]: rows are the inputs, (y_out, v_out) the outputs
        return _UnitBlocks(torch.stack([y_out, v_out], 1).permute(2, 1, 0))
    return _Dense(torch.cat([y_out, v_out], 1).T)


class _BasisStep(nn.Module):
    """One step at ``t = 0`` as a module call, so ``functional_call`` can swap in float64
    parameters (parametrizations included)."""

    def __init__(self, system: SecondOrderSystem, integrator: Integrator) -> None:
        super().__init__()
        self.system = system
        self.integrator = integrator

    def forward(
        self, y: Tensor, v: Tensor, u: Tensor | None, h: Tensor | float
    ) -> tuple[Tensor, Tensor]:
        cache = self.integrator.prepare(self.system, h)
        return self.integrator.step(self.system, y, v, u, 0.0, h, cache)


def _accurate_dtype(like: Tensor) -> torch.dtype:
    """float64 to compose the step of a lower-precision model (where the device has it)."""
    if like.dtype == torch.float64 or like.device.type == "mps":
        return like.dtype
    return torch.float64


def _chunked(
    stepper: _Stepper,
    linear: _StepMatrix,
    u: Tensor | None,
    y0: Tensor,
    v0: Tensor,
    chunks: int,
    length: int,
    keep_velocity: bool,
) -> tuple[Tensor, Tensor | None, tuple[Tensor, Tensor]]:
    """The first ``chunks * length`` steps. Returns ``y_seq``, ``v_seq`` (or None) and the
    state after the last chunk; shapes as :meth:`Scan.run`."""
    batch, units = y0.shape
    inputs = None
    if u is not None:
        inputs = u[:, : chunks * length].unflatten(1, (chunks, length)).unbind(2)
    first = torch.arange(chunks, dtype=y0.dtype, device=y0.device).mul_(length)
    # 1. end sweep, chunk 0 from (y0, v0), the others from rest (all C of them: slicing
    # off the last one would copy every step's input)
    zeros = y0.new_zeros(batch, chunks - 1, units)
    y = torch.cat([y0[:, None], zeros], 1).flatten(0, 1)
    v = torch.cat([v0[:, None], zeros], 1).flatten(0, 1)
    index = first.repeat(batch)[:, None]
    for j in range(length):
        u_j = None if inputs is None else inputs[j].flatten(0, 1)
        y, v = stepper.step(y, v, u_j, index + j)
    # 2. carry: S_c = M^L S_{c-1} + e_c, the true state at the end of chunk c
    ends = (y.unflatten(0, (batch, chunks))[:, :-1], v.unflatten(0, (batch, chunks))[:, :-1])
    y, v = _carry(linear, linear.power(length), *ends)
    # 3. output sweep over all chunks from their true starts (y0, v0), S_0, .., S_{C-2}
    y = torch.cat([y0[:, None], y], 1).flatten(0, 1)
    v = torch.cat([v0[:, None], v], 1).flatten(0, 1)
    record = _Recorder(batch * chunks, length, units, y0, keep_velocity)
    for j in range(length):
        u_j = None if inputs is None else inputs[j].flatten(0, 1)
        y, v = stepper.step(y, v, u_j, index + j)
        record(j, y, v)
    y_seq, v_seq = record.sequences(batch, chunks * length)
    final = (y.unflatten(0, (batch, chunks))[:, -1], v.unflatten(0, (batch, chunks))[:, -1])
    return y_seq, v_seq, final


class _Recorder:
    """Collects the output sweep's states: written into one buffer when no graph is recorded
    (no extra pass), stacked once otherwise (slice writes would make backward clone the
    buffer at every step)."""

    def __init__(
        self, rows: int, length: int, units: int, like: Tensor, keep_velocity: bool
    ) -> None:
        self.direct = not torch.is_grad_enabled()
        self.keep_velocity = keep_velocity
        if self.direct:
            self.positions = like.new_empty(rows, length, units)
            self.velocities = like.new_empty(rows, length, units) if keep_velocity else None
        else:
            self.positions, self.velocities = [], []

    def __call__(self, j: int, y: Tensor, v: Tensor) -> None:
        if self.direct:
            self.positions[:, j] = y
            if self.keep_velocity:
                self.velocities[:, j] = v
        else:
            self.positions.append(y)
            if self.keep_velocity:
                self.velocities.append(v)

    def sequences(self, batch: int, steps: int) -> tuple[Tensor, Tensor | None]:
        """``(batch, steps, units)`` positions and velocities (None unless kept)."""
        if self.direct:
            y_seq, v_seq = self.positions, self.velocities
        else:
            y_seq = torch.stack(self.positions, 1)
            v_seq = torch.stack(self.velocities, 1) if self.keep_velocity else None
        y_seq = y_seq.view(batch, steps, -1)
        return y_seq, None if v_seq is None else v_seq.view(batch, steps, -1)


def _carry(linear: _StepMatrix, power: Tensor, y: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
    """Inclusive scan ``S_c = M^L S_{c-1} + e_c`` over axis 1 of ``y, v`` ``(batch, C, units)``.

    Hillis-Steele: after the round with shift ``s``, ``S_c`` sums the ``2 s`` chunk ends up to
    ``c``, the earlier half carried across by ``(M^L)^s``: ``ceil(log2 C)`` rounds.
    """
    chunks, shift = y.shape[1], 1
    while shift < chunks:
        carried_y, carried_v = linear.apply(power, y[:, :-shift], v[:, :-shift])
        y = torch.cat([y[:, :shift], y[:, shift:] + carried_y], 1)
        v = torch.cat([v[:, :shift], v[:, shift:] + carried_v], 1)
        shift *= 2
        if shift < chunks:
            power = linear.product(power, power)
    return y, v
