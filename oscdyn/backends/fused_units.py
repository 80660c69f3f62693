"""The ``fused`` backend's path for independent-unit systems: closed forms on whole tensors.

For the recurrences of :mod:`oscdyn.backends.independent_units` (UnICORNN layers,
LinearOscillators, diagonal HarmonicOscillator with ``symplectic_euler``, ``imex`` or
``leapfrog``) each step is a handful of elementwise operations on the ``(batch, units)``
state, and so is its exact derivative. This path is the ``triton`` kernels' algorithm written
with PyTorch operations, one time step at a time (the CPU counterpart of those kernels):

* forward without a graph, writing the positions into the output and storing the velocity
  every ``segment`` steps;
* backward in reverse time: the position before step ``k`` is the stored output of step
  ``k - 1``; the velocity is rebuilt with the exact inverse of the step, re-anchored on the
  stored velocities (bounding float round-off drift); the state cotangent is pulled back in
  closed form, and the cotangents of the step's input and of the per-unit parameters (step
  ``h``, stiffness, damping, recurrent weight ``w``) are accumulated per step, with no
  autograd call at all.

Memory beyond the inputs and outputs: ``ceil(steps / segment)`` velocities.

On the CPU in float32 and float64 the same algorithm runs as C kernels over the whole
sequence (:mod:`oscdyn.backends.cpu_kernels`; no per-step ATen overhead) when a C compiler
could build them; the torch operations here are the path otherwise (CUDA without triton,
other dtypes, no compiler).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from . import cpu_kernels
from .base import Run, refuse_double_backward
from .independent_units import (
    IMEX_SCHEME,
    SYMPLECTIC_EULER,
    TANH,
    UnitRecurrence,
    describe,
    force_input,
    per_unit_parameters,
)

if TYPE_CHECKING:
    from ..compile import OscillatorRNN

__all__ = ["run_units"]


def run_units(
    rnn: OscillatorRNN, u: Tensor | None, y: Tensor, v: Tensor, steps: int, segment: int
) -> Run:
    """Run a supported independent-unit ``rnn`` with the closed-form backward.

    ``u``: the encoded input ``(batch, steps, input)`` or ``None``; ``segment``: steps
    between stored velocities.
    """
    recurrence = describe(rnn)
    batch = y.shape[0]
    x = force_input(rnn, u, batch, steps)
    h, stiff, damp, w = per_unit_parameters(rnn, y, recurrence)
    x_arg = y.new_empty(0) if x is None else x
    options = (recurrence, steps, segment)
    y_seq, y_out, v_out = _UnitRecurrenceFunction.apply(options, x_arg, y, v, h, stiff, damp, w)
    return y_seq, None, (y_out, v_out)


def _restoring_force(
    y: Tensor, x: Tensor | None, stiff: Tensor, w: Tensor, force: int
) -> tuple[Tensor, Tensor | None]:
    """``(k y - F(y, x), tanh(w y + x))``: minus the undamped acceleration, and the tanh of a
    tanh force (``None`` for ``F = x``)."""
    if force == TANH:
        t = torch.addcmul(x, w, y).tanh_()
        return torch.addcmul(t, stiff, y), t
    restoring = torch.mul(stiff, y)
    if x is not None:
        restoring -= x
    return restoring, None


def _step(
    recurrence: UnitRecurrence,
    y: Tensor,
    v: Tensor,
    x: Tensor | None,
    h: Tensor,
    stiff: Tensor,
    damp: Tensor,
    w: Tensor,
) -> tuple[Tensor, Tensor]:
    force, scheme, damped = recurrence
    if scheme == SYMPLECTIC_EULER:  # kick (damping explicit), drift
        restoring, _ = _restoring_force(y, x, stiff, w, force)
        if damped:
            restoring.addcmul_(damp, v)
        v = torch.addcmul(v, h, restoring, value=-1.0)
        return torch.addcmul(y, h, v), v
    if scheme == IMEX_SCHEME:  # explicit kick, implicit damping, drift
        restoring, _ = _restoring_force(y, x, stiff, w, force)
        v = torch.addcmul(v, h, restoring, value=-1.0)
        if damped:
            v = v / (1.0 + h * damp)
        return torch.addcmul(y, h, v), v
    half = 0.5 * h  # leapfrog: half kick (damping explicit), drift, half kick (implicit)
    restoring, _ = _restoring_force(y, x, stiff, w, force)
    if damped:
        restoring.addcmul_(damp, v)
    v = torch.addcmul(v, half, restoring, value=-1.0)
    y = torch.addcmul(y, h, v)
    restoring, _ = _restoring_force(y, x, stiff, w, force)
    v = torch.addcmul(v, half, restoring, value=-1.0)
    if damped:
        v = v / (1.0 + half * damp)
    return y, v


class _Accumulators:
    """Per-unit parameter cotangents summed over steps, ``(batch, units)`` each (or None)."""

    def __init__(self, like: Tensor, wanted: tuple[bool, bool, bool, bool]) -> None:
        self.h, self.stiff, self.damp, self.w = (
            torch.zeros_like(like) if want else None for want in wanted
        )

    @staticmethod
    def add(total: Tensor | None, a: Tensor, b: Tensor | None = None, scale: float = 1.0) -> None:
        """``total += scale * a * b`` (``b`` None: ``scale * a``); nothing if not wanted."""
        if total is None:
            return
        if b is None:
            total.add_(a, alpha=scale)
        else:
            total.addcmul_(a, b, value=scale)


def _pull_back_kick(
    g_a: Tensor,
    tanh: Tensor | None,
    y: Tensor,
    params: tuple[Tensor, Tensor, Tensor, Tensor],
    gy: Tensor,
    acc: _Accumulators,
    g_x_out: Tensor | None,
) -> Tensor:
    """Pull the cotangent ``g_a`` of an undamped acceleration ``-k y + F(y, x)`` back.

    Adds the cotangent on ``y`` into ``gy`` (in place) and the parameters' into ``acc``;
    returns the cotangent on ``x`` (written into ``g_x_out`` when given).
    """
    _, stiff, _, w = params
    if tanh is None:  # F = x
        g_x = g_a if g_x_out is None else g_x_out.copy_(g_a)
    else:  # dF/ds = tanh^2 - 1
        slope = torch.addcmul(tanh.new_full((), -1.0), tanh, tanh)
        g_x = torch.mul(g_a, slope, out=g_x_out) if g_x_out is not None else g_a * slope
        acc.add(acc.w, g_x, y)
        gy.addcmul_(g_x, w)
    gy.addcmul_(g_a, stiff, value=-1.0)
    acc.add(acc.stiff, g_a, y, -1.0)
    return g_x


def _reverse_step(
    recurrence: UnitRecurrence,
    y: Tensor,
    y1: Tensor,
    v1: Tensor,
    anchor: Tensor | None,
    x: Tensor | None,
    params: tuple[Tensor, Tensor, Tensor, Tensor],
    gy: Tensor,
    gv: Tensor,
    acc: _Accumulators,
    g_x_out: Tensor | None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Undo one step and pull the cotangents back through it.

    From the state after the step, ``(y1, v1)``, and the position before it, ``y``: the
    velocity before it (``anchor`` if stored, else the exact inverse step). The cotangents
    ``(gy, gv)`` on the state after the step (tensors this function may overwrite) become
    those on the state before it; the step input's cotangent goes into ``g_x_out`` (when
    given) and the parameters' into ``acc``. Returns ``(v, gy, gv)``.
    """
    force, scheme, damped = recurrence
    h, stiff, damp, w = params
    if scheme == SYMPLECTIC_EULER:
        restoring, tanh = _restoring_force(y, x, stiff, w, force)
        if anchor is not None:
            v = anchor
        else:
            v = torch.addcmul(v1, h, restoring)
            if damped:
                v = v / (1.0 - h * damp)
        if damped:
            restoring.addcmul_(damp, v)
        g_v1 = gv.addcmul_(h, gy)
        acc.add(acc.h, gy, v1)
        acc.add(acc.h, g_v1, restoring, -1.0)
        g_a = h * g_v1
        _pull_back_kick(g_a, tanh, y, params, gy, acc, g_x_out)
        if damped:
            acc.add(acc.damp, g_a, v, -1.0)
            g_v1.addcmul_(g_a, damp, value=-1.0)
        return v, gy, g_v1
    if scheme == IMEX_SCHEME:
        restoring, tanh = _restoring_force(y, x, stiff, w, force)
        if anchor is not None:
            v = anchor
        else:
            v = v1 * (1.0 + h * damp) if damped else v1
            v = torch.addcmul(v, h, restoring)
        g_v1 = gv.addcmul_(h, gy)
        acc.add(acc.h, gy, v1)
        g_kick = g_v1
        if damped:
            g_kick = g_v1 / (1.0 + h * damp)
            acc.add(acc.h, g_kick, v1 * damp, -1.0)
            acc.add(acc.damp, g_kick, v1 * h, -1.0)
        acc.add(acc.h, g_kick, restoring, -1.0)
        _pull_back_kick(h * g_kick, tanh, y, params, gy, acc, g_x_out)
        return v, gy, g_kick
    # leapfrog: v_half = v + half (a(y) - d v), y1 = y + h v_half,
    # v1 = (v_half + half a(y1)) / (1 + half d)
    half = 0.5 * h
    restoring1, tanh1 = _restoring_force(y1, x, stiff, w, force)
    restoring0, tanh0 = _restoring_force(y, x, stiff, w, force)
    if anchor is not None:
        v = anchor
    else:
        v_half = v1 * (1.0 + half * damp) if damped else v1
        v_half = torch.addcmul(v_half, half, restoring1)
        v = torch.addcmul(v_half, half, restoring0)
        if damped:
            v = v / (1.0 - half * damp)
    if damped:
        restoring0.addcmul_(damp, v)
    v_half = torch.addcmul(v, half, restoring0, value=-1.0)
    g_kick = gv
    if damped:
        g_kick = gv / (1.0 + half * damp)
        acc.add(acc.damp, g_kick, v1 * half, -1.0)
        restoring1.addcmul_(v1, damp)
    g_half = torch.mul(g_kick, restoring1).neg_()  # cotangent on half = h / 2
    g_x1 = _pull_back_kick(half * g_kick, tanh1, y1, params, gy, acc, None)
    g_v_half = torch.addcmul(g_kick, h, gy)
    acc.add(acc.h, gy, v_half)
    g_half.addcmul_(g_v_half, restoring0, value=-1.0)
    acc.add(acc.h, g_half, scale=0.5)
    g_a0 = half * g_v_half
    _pull_back_kick(g_a0, tanh0, y, params, gy, acc, g_x_out)
    if g_x_out is not None:
        g_x_out += g_x1
    if damped:
        acc.add(acc.damp, g_a0, v, -1.0)
        g_v_half.addcmul_(g_a0, damp, value=-1.0)
    return v, gy, g_v_half


class _UnitRecurrenceFunction(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        options: tuple[UnitRecurrence, int, int],
        x: Tensor,
        y0: Tensor,
        v0: Tensor,
        h: Tensor,
        stiff: Tensor,
        damp: Tensor,
        w: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor]:
        recurrence, steps, segment = options
        ctx.kernel = cpu_kernels.unit_kernel_applies(x, y0, v0, h, stiff, damp, w)
        if ctx.kernel:
            params = (h, stiff, damp, w)
            x_steps = x if x.numel() else None
            y_seq, y, v, anchors = cpu_kernels.unit_forward(
                recurrence, x_steps, y0, v0, params, steps, segment
            )
        else:
            inputs = x.unbind(1) if x.numel() else [None] * steps
            y_seq = y0.new_empty(y0.shape[0], steps, y0.shape[1])
            anchors = y0.new_empty(-(-steps // segment), *y0.shape)
            y, v = y0, v0
            for k in range(steps):
                if k % segment == 0:
                    anchors[k // segment] = v
                y, v = _step(recurrence, y, v, inputs[k], h, stiff, damp, w)
                y_seq[:, k] = y
        ctx.options = options
        ctx.save_for_backward(x, y0, v0, h, stiff, damp, w, y_seq, y, v, anchors)
        return y_seq, y, v

    @staticmethod
    def backward(  # type: ignore[override]
        ctx: Any, g_seq: Tensor | None, g_y_out: Tensor | None, g_v_out: Tensor | None
    ) -> tuple[Tensor | None, ...]:
        refuse_double_backward()
        x, y0, v0, h, stiff, damp, w, y_seq, y1, v1, anchors = ctx.saved_tensors
        recurrence, steps, segment = ctx.options
        needs = ctx.needs_input_grad
        has_input = x.numel() > 0
        wants_x = has_input and needs[1]
        wants_params = (
            needs[4],
            needs[5],
            needs[6] and recurrence.damped,
            needs[7] and recurrence.force == TANH,
        )
        if ctx.kernel:
            saved = (x if has_input else None, y0, v0, h, stiff, damp, w, y_seq, y1, v1, anchors)
            wanted = (wants_x, needs[2], needs[3], *wants_params)
            grads = cpu_kernels.unit_backward(
                recurrence, segment, saved, (g_seq, g_y_out, g_v_out), wanted
            )
            return (None, *grads)
        acc = _Accumulators(y0, wants_params)
        gy = torch.zeros_like(y0) if g_y_out is None else g_y_out.clone()
        gv = torch.zeros_like(v0) if g_v_out is None else g_v_out.clone()
        inputs = x.unbind(1) if has_input else [None] * steps
        positions = y_seq.unbind(1)
        g_positions = g_seq.unbind(1) if g_seq is not None else None
        g_x = torch.empty_like(y_seq) if wants_x else None
        params = (h, stiff, damp, w)
        for k in range(steps - 1, -1, -1):
            if g_positions is not None:
                gy.add_(g_positions[k])
            y = positions[k - 1] if k > 0 else y0
            anchor = anchors[k // segment] if k % segment == 0 else None
            g_x_k = None if g_x is None else g_x[:, k]
            v, gy, gv = _reverse_step(
                recurrence, y, y1, v1, anchor, inputs[k], params, gy, gv, acc, g_x_k
            )
            y1, v1 = y, v
        return (
            None,
            g_x,
            gy if needs[2] else None,
            gv if needs[3] else None,
            None if acc.h is None else acc.h.sum(0),
            None if acc.stiff is None else acc.stiff.sum(0),
            None if acc.damp is None else acc.damp.sum(0),
            None if acc.w is None else acc.w.sum(0),
        )
