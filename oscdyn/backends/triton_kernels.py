"""The ``triton`` backend: one GPU kernel per layer that loops over time inside.

coRNN, whose units are coupled, has its own kernels (:mod:`oscdyn.backends.triton_cornn`);
this module holds the backend class and the independent-unit kernels.

For systems whose units are independent (``UnICORNNLayer``, ``LinearOscillators`` and
``HarmonicOscillator``: ``Diagonal`` stiffness, no or ``Diagonal`` damping, a force that
reads only the unit's own position and the encoded input) every ``(batch, unit)`` pair is a
scalar recurrence. One Triton program owns one batch row and a block of units; it keeps the
state in registers and walks all the steps, reading the encoded input of each step and
writing the positions. The integrators are ``symplectic_euler`` (UnICORNN's and LinOSS-IMEX's
scheme), ``imex`` and ``leapfrog``.

The backward kernel walks time in reverse in the same layout. Positions need no rebuilding:
the position before step ``k`` is the stored output of step ``k - 1``. Velocities are rebuilt
with the exact inverse of the step (the schemes are reversible because the force does not
read the velocity), re-anchored on a velocity stored every ``anchor_every`` steps in the
forward pass, which bounds float round-off drift (and the growth of the inverse of a damped
step). Each step pulls the state cotangent back in closed form and accumulates the gradients
of the step's input and of the per-unit parameters (step ``h``, stiffness, damping,
UnICORNN's recurrent weight) in registers; per-unit sums over the batch are one reduction
at the end. Memory beyond the inputs and outputs is the anchors: ``batch * units *
ceil(steps / anchor_every)`` values.

Triton is imported when this module is imported, if it is installed: the module imports
fine without it, and :meth:`Triton.unsupported_reason` then says why the backend cannot
run. With ``TRITON_INTERPRET=1`` in the environment before this module is imported, the
kernels run in Triton's CPU interpreter on CPU tensors (slow; for testing the kernels
without a GPU).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import torch
from torch import Tensor

from . import fused_cornn, independent_units
from .base import Backend, Run
from .independent_units import TANH, UnitRecurrence

if TYPE_CHECKING:
    from ..compile import OscillatorRNN

try:  # optional dependency: only the CUDA backend needs it
    import triton
    import triton.language as tl
except Exception as error:  # pragma: no cover - not installed, or a broken install
    triton = None
    tl = None
    _TRITON_IMPORT_ERROR: str | None = f"{type(error).__name__}: {error}"
else:
    _TRITON_IMPORT_ERROR = None

__all__ = ["Triton"]


def _interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


if triton is not None:

    @triton.jit
    def _tanh(s):
        # accurate to a few ulp in float32 and float64 without libdevice (which the
        # interpreter lacks): a Taylor polynomial near 0, exp(-2|s|) elsewhere
        a = tl.abs(s)
        t = tl.exp(-2.0 * a)
        large = (1.0 - t) / (1.0 + t)
        q = s * s  # tanh(a) = a (1 - q/3 + 2q^2/15 - 17q^3/315 + 62q^4/2835 - 1382q^5/155925)
        p = 62.0 / 2835.0 - q * (1382.0 / 155925.0)
        p = -17.0 / 315.0 + q * p
        p = 2.0 / 15.0 + q * p
        p = -1.0 / 3.0 + q * p
        small = a + a * q * p
        r = tl.where(a < 0.1, small, large)
        return tl.where(s < 0, -r, r)

    @triton.jit
    def _accel(y, x, stiff, w, FORCE: tl.constexpr):
        """``-k y + F(y, x)``: the acceleration without damping."""
        if FORCE == 1:
            a = -_tanh(w * y + x) - stiff * y
        else:
            a = x - stiff * y
        return a

    @triton.jit
    def _force_slope(y, x, w, FORCE: tl.constexpr):
        """``dF/ds`` with ``s = w y + x`` (tanh force), or 1 (additive force: ``F = x``)."""
        if FORCE == 1:
            f = _tanh(w * y + x)
            slope = f * f - 1.0
        else:
            slope = tl.full(y.shape, 1.0, y.dtype)
        return slope

    @triton.jit
    def _step(y, v, x, h, stiff, damp, w, FORCE: tl.constexpr, SCHEME: tl.constexpr,
              DAMPED: tl.constexpr):  # fmt: skip
        if SCHEME == 0:  # symplectic Euler: kick (damping explicit), drift
            a = _accel(y, x, stiff, w, FORCE)
            if DAMPED:
                a = a - damp * v
            v = v + h * a
            y = y + h * v
        elif SCHEME == 1:  # IMEX Euler: explicit kick, implicit damping, drift
            v = v + h * _accel(y, x, stiff, w, FORCE)
            if DAMPED:
                v = v / (1.0 + h * damp)
            y = y + h * v
        else:  # leapfrog: half kick (damping explicit), drift, half kick (damping implicit)
            half = 0.5 * h
            a = _accel(y, x, stiff, w, FORCE)
            if DAMPED:
                a = a - damp * v
            v = v + half * a
            y = y + h * v
            v = v + half * _accel(y, x, stiff, w, FORCE)
            if DAMPED:
                v = v / (1.0 + half * damp)
        return y, v

    @triton.jit
    def _inverse_velocity(y, y1, v1, x, h, stiff, damp, w, FORCE: tl.constexpr,
                          SCHEME: tl.constexpr, DAMPED: tl.constexpr):  # fmt: skip
        """The velocity before a step from the state after it and the position before it."""
        if SCHEME == 0:
            v = v1 - h * _accel(y, x, stiff, w, FORCE)
            if DAMPED:
                v = v / (1.0 - h * damp)
        elif SCHEME == 1:
            v = v1
            if DAMPED:
                v = v1 * (1.0 + h * damp)
            v = v - h * _accel(y, x, stiff, w, FORCE)
        else:
            half = 0.5 * h
            v_half = v1
            if DAMPED:
                v_half = v1 * (1.0 + half * damp)
            v_half = v_half - half * _accel(y1, x, stiff, w, FORCE)
            v = v_half - half * _accel(y, x, stiff, w, FORCE)
            if DAMPED:
                v = v / (1.0 - half * damp)
        return v

    @triton.jit
    def _step_vjp(y, v, y1, v1, x, h, stiff, damp, w, gy, gv, FORCE: tl.constexpr,
                  SCHEME: tl.constexpr, DAMPED: tl.constexpr):  # fmt: skip
        """Pull ``(gy, gv)`` on the state after the step back through it.

        Returns the cotangents on ``(y, v)`` before the step, on the input ``x`` and on the
        per-unit ``h``, stiffness, damping and recurrent weight ``w``.
        """
        if SCHEME == 0:
            a = _accel(y, x, stiff, w, FORCE)
            if DAMPED:
                a = a - damp * v
            g_v1 = gv + h * gy
            g_h = gy * v1 + g_v1 * a
            g_a = h * g_v1
            slope = _force_slope(y, x, w, FORCE)
            g_x = g_a * slope
            g_w = g_x * y
            g_k = -g_a * y
            g_y = gy + g_x * w - g_a * stiff
            g_v = g_v1
            g_d = g_a * 0.0
            if DAMPED:
                g_v = g_v1 - g_a * damp
                g_d = -g_a * v
        elif SCHEME == 1:
            g_v1 = gv + h * gy
            g_kick = g_v1
            g_h = gy * v1
            g_d = g_v1 * 0.0
            if DAMPED:
                r = 1.0 / (1.0 + h * damp)
                g_kick = g_v1 * r
                g_h = g_h - g_v1 * v1 * damp * r
                g_d = -g_v1 * v1 * h * r
            g_h = g_h + g_kick * _accel(y, x, stiff, w, FORCE)
            g_a = h * g_kick
            slope = _force_slope(y, x, w, FORCE)
            g_x = g_a * slope
            g_w = g_x * y
            g_k = -g_a * y
            g_y = gy + g_x * w - g_a * stiff
            g_v = g_kick
        else:
            half = 0.5 * h
            a0 = _accel(y, x, stiff, w, FORCE)
            if DAMPED:
                a0 = a0 - damp * v
            v_half = v + half * a0
            # closing half kick: v1 = (v_half + half * a1) * r, a1 = accel(y1)
            g_kick = gv
            g_half = gv * 0.0
            g_d = gv * 0.0
            if DAMPED:
                r = 1.0 / (1.0 + half * damp)
                g_kick = gv * r
                g_half = -gv * v1 * damp * r
                g_d = -gv * v1 * half * r
            g_half = g_half + g_kick * _accel(y1, x, stiff, w, FORCE)
            g_a1 = half * g_kick
            slope1 = _force_slope(y1, x, w, FORCE)
            g_x = g_a1 * slope1
            g_w = g_x * y1
            g_k = -g_a1 * y1
            g_y1 = gy + g_x * w - g_a1 * stiff
            # drift: y1 = y + h v_half
            g_v_half = g_kick + h * g_y1
            g_h = g_y1 * v_half
            # opening half kick: v_half = v + half * a0
            g_half = g_half + g_v_half * a0
            g_a0 = half * g_v_half
            slope0 = _force_slope(y, x, w, FORCE)
            g_x0 = g_a0 * slope0
            g_x = g_x + g_x0
            g_w = g_w + g_x0 * y
            g_k = g_k - g_a0 * y
            g_y = g_y1 + g_x0 * w - g_a0 * stiff
            g_v = g_v_half
            if DAMPED:
                g_v = g_v_half - g_a0 * damp
                g_d = g_d - g_a0 * v
            g_h = g_h + 0.5 * g_half
        return g_y, g_v, g_x, g_h, g_k, g_d, g_w

    @triton.jit
    def _load_unit_parameters(h_ptr, k_ptr, d_ptr, w_ptr, cols, mask, FORCE: tl.constexpr,
                              DAMPED: tl.constexpr):  # fmt: skip
        """Per-unit ``(h, stiffness, damping, w)`` of the block's units."""
        h = tl.load(h_ptr + cols, mask=mask, other=0.0)
        stiff = tl.load(k_ptr + cols, mask=mask, other=0.0)
        damp = stiff
        if DAMPED:
            damp = tl.load(d_ptr + cols, mask=mask, other=0.0)
        w = stiff * 0.0  # the additive force does not read y: dF/dy = 0
        if FORCE == 1:
            w = tl.load(w_ptr + cols, mask=mask, other=0.0)
        return h, stiff, damp, w

    @triton.jit
    def _unit_block(units, BLOCK: tl.constexpr):
        """This program's batch row (axis 0) and block of units (axis 1): ``(row, cols, mask,
        state)``, ``state`` the offsets of the block in a contiguous ``(batch, units)``."""
        row = tl.program_id(0).to(tl.int64)
        cols = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
        return row, cols, cols < units, row * units + cols

    @triton.jit
    def _forward_kernel(
        x_ptr, sx_b, sx_t, sx_u,
        y0_ptr, v0_ptr, h_ptr, k_ptr, d_ptr, w_ptr,
        y_seq_ptr, v_seq_ptr, y_out_ptr, v_out_ptr, anchor_ptr,
        steps, units, anchors,
        SEGMENT: tl.constexpr, BLOCK: tl.constexpr, FORCE: tl.constexpr,
        SCHEME: tl.constexpr, DAMPED: tl.constexpr, HAS_INPUT: tl.constexpr,
        STORE_V: tl.constexpr, STORE_ANCHORS: tl.constexpr,
    ):  # fmt: skip
        row, cols, mask, state = _unit_block(units, BLOCK)
        y = tl.load(y0_ptr + state, mask=mask, other=0.0)
        v = tl.load(v0_ptr + state, mask=mask, other=0.0)
        h, stiff, damp, w = _load_unit_parameters(
            h_ptr, k_ptr, d_ptr, w_ptr, cols, mask, FORCE, DAMPED
        )
        x_ptrs = x_ptr + row * sx_b + cols * sx_u
        out_ptrs = y_seq_ptr + row * steps * units + cols
        v_ptrs = v_seq_ptr + row * steps * units + cols
        anchor_ptrs = anchor_ptr + row * anchors * units + cols
        x_next = y * 0.0
        if HAS_INPUT:
            x_next = tl.load(x_ptrs, mask=mask, other=0.0)
        for k in range(steps):
            x = x_next
            if HAS_INPUT:  # prefetch the next step's input
                x_ptrs += sx_t
                x_next = tl.load(x_ptrs, mask=mask & (k + 1 < steps), other=0.0)
            if STORE_ANCHORS:
                if k % SEGMENT == 0:
                    tl.store(anchor_ptrs, v, mask=mask)
                    anchor_ptrs += units
            y, v = _step(y, v, x, h, stiff, damp, w, FORCE, SCHEME, DAMPED)
            tl.store(out_ptrs, y, mask=mask)
            out_ptrs += units
            if STORE_V:
                tl.store(v_ptrs, v, mask=mask)
                v_ptrs += units
        tl.store(y_out_ptr + state, y, mask=mask)
        tl.store(v_out_ptr + state, v, mask=mask)

    @triton.jit
    def _backward_kernel(
        x_ptr, sx_b, sx_t, sx_u,
        y0_ptr, v0_ptr, h_ptr, k_ptr, d_ptr, w_ptr,
        y_seq_ptr, y_out_ptr, v_out_ptr, anchor_ptr,
        g_seq_ptr, g_y_out_ptr, g_v_out_ptr,
        g_x_ptr, g_y0_ptr, g_v0_ptr, g_h_ptr, g_k_ptr, g_d_ptr, g_w_ptr,
        steps, units, anchors,
        SEGMENT: tl.constexpr, BLOCK: tl.constexpr, FORCE: tl.constexpr,
        SCHEME: tl.constexpr, DAMPED: tl.constexpr, HAS_INPUT: tl.constexpr,
        HAS_G_SEQ: tl.constexpr, STORE_G_X: tl.constexpr,
    ):  # fmt: skip
        row, cols, mask, state = _unit_block(units, BLOCK)
        y0 = tl.load(y0_ptr + state, mask=mask, other=0.0)
        v0 = tl.load(v0_ptr + state, mask=mask, other=0.0)
        h, stiff, damp, w = _load_unit_parameters(
            h_ptr, k_ptr, d_ptr, w_ptr, cols, mask, FORCE, DAMPED
        )
        # the state after the last step and the cotangents on it
        y1 = tl.load(y_out_ptr + state, mask=mask, other=0.0)
        v1 = tl.load(v_out_ptr + state, mask=mask, other=0.0)
        gy = tl.load(g_y_out_ptr + state, mask=mask, other=0.0)
        gv = tl.load(g_v_out_ptr + state, mask=mask, other=0.0)
        acc_h = y0 * 0.0
        acc_k = y0 * 0.0
        acc_d = y0 * 0.0
        acc_w = y0 * 0.0
        last = steps - 1
        seq_offset = row * steps * units + cols
        x_ptrs = x_ptr + row * sx_b + cols * sx_u + last * sx_t
        g_seq_ptrs = g_seq_ptr + seq_offset + last * units
        g_x_ptrs = g_x_ptr + seq_offset + last * units
        y_prev_ptrs = y_seq_ptr + seq_offset + (last - 1) * units
        anchor_ptrs = anchor_ptr + row * anchors * units + cols + (last // SEGMENT) * units
        # loads for the last step, then one step ahead inside the loop
        x_next = y0 * 0.0
        if HAS_INPUT:
            x_next = tl.load(x_ptrs, mask=mask, other=0.0)
        g_next = y0 * 0.0
        if HAS_G_SEQ:
            g_next = tl.load(g_seq_ptrs, mask=mask, other=0.0)
        y_next = tl.load(y_prev_ptrs, mask=mask & (last > 0), other=0.0)
        for i in range(steps):
            k = last - i
            x = x_next
            g_k_seq = g_next
            y = tl.where(k > 0, y_next, y0)
            if HAS_INPUT:
                x_ptrs -= sx_t
                x_next = tl.load(x_ptrs, mask=mask & (k > 0), other=0.0)
            if HAS_G_SEQ:
                g_seq_ptrs -= units
                g_next = tl.load(g_seq_ptrs, mask=mask & (k > 0), other=0.0)
            y_prev_ptrs -= units
            y_next = tl.load(y_prev_ptrs, mask=mask & (k > 1), other=0.0)
            gy = gy + g_k_seq
            # the velocity before the step: the inverse step, or the stored one at anchors
            # (branch-free, so the force shared with the step's VJP is computed once)
            v = _inverse_velocity(y, y1, v1, x, h, stiff, damp, w, FORCE, SCHEME, DAMPED)
            at_anchor = k % SEGMENT == 0
            stored = tl.load(anchor_ptrs, mask=mask & at_anchor & (k > 0), other=0.0)
            v = tl.where(at_anchor, tl.where(k > 0, stored, v0), v)
            anchor_ptrs -= tl.where(at_anchor, units, 0)
            gy, gv, g_x, g_h, g_k, g_d, g_w = _step_vjp(
                y, v, y1, v1, x, h, stiff, damp, w, gy, gv, FORCE, SCHEME, DAMPED
            )
            acc_h += g_h
            acc_k += g_k
            acc_d += g_d
            acc_w += g_w
            if STORE_G_X:
                tl.store(g_x_ptrs, g_x, mask=mask)
                g_x_ptrs -= units
            y1 = y
            v1 = v
        tl.store(g_y0_ptr + state, gy, mask=mask)
        tl.store(g_v0_ptr + state, gv, mask=mask)
        tl.store(g_h_ptr + state, acc_h, mask=mask)
        tl.store(g_k_ptr + state, acc_k, mask=mask)
        tl.store(g_d_ptr + state, acc_d, mask=mask)
        tl.store(g_w_ptr + state, acc_w, mask=mask)


class _Config(NamedTuple):
    force: int
    scheme: int
    damped: bool
    steps: int
    segment: int
    block: int
    num_warps: int


def _grid(config: _Config, batch: int, units: int) -> tuple[int, int]:
    return (batch, -(-units // config.block))


def _launch_forward(
    config: _Config,
    x: Tensor | None,
    y0: Tensor,
    v0: Tensor,
    params: tuple[Tensor, Tensor, Tensor, Tensor],
    store_velocity: bool,
    store_anchors: bool,
) -> tuple[Tensor, Tensor | None, Tensor, Tensor, Tensor]:
    batch, units = y0.shape
    steps, segment = config.steps, config.segment
    y_seq = torch.empty(batch, steps, units, dtype=y0.dtype, device=y0.device)
    v_seq = torch.empty_like(y_seq) if store_velocity else y_seq
    y_out, v_out = torch.empty_like(y0), torch.empty_like(v0)
    anchors = -(-steps // segment) if store_anchors else 0
    # one slot at least: an empty tensor may have no valid pointer to pass to the kernel
    anchor = torch.empty(batch, max(anchors, 1), units, dtype=y0.dtype, device=y0.device)
    x_arg, strides = _input_arg(x, y0)
    h, stiff, damp, w = params
    with _on_device(y0):
        _forward_kernel[_grid(config, batch, units)](
            x_arg, *strides, y0, v0, h, stiff, damp, w,
            y_seq, v_seq, y_out, v_out, anchor,
            steps, units, anchors,
            SEGMENT=segment, BLOCK=config.block, FORCE=config.force, SCHEME=config.scheme,
            DAMPED=config.damped, HAS_INPUT=x is not None, STORE_V=store_velocity,
            STORE_ANCHORS=store_anchors, num_warps=config.num_warps,
        )  # fmt: skip
    return y_seq, (v_seq if store_velocity else None), y_out, v_out, anchor


def _input_arg(x: Tensor | None, like: Tensor) -> tuple[Tensor, tuple[int, int, int]]:
    if x is None:
        return like, (0, 0, 0)
    return x, (x.stride(0), x.stride(1), x.stride(2))


class _on_device:
    """``torch.cuda.device(tensor.device)`` for CUDA tensors, nothing otherwise (interpreter)."""

    def __init__(self, tensor: Tensor) -> None:
        self.context = torch.cuda.device(tensor.device) if tensor.is_cuda else None

    def __enter__(self) -> None:
        if self.context is not None:
            self.context.__enter__()

    def __exit__(self, *exc: object) -> None:
        if self.context is not None:
            self.context.__exit__(*exc)


class _TritonRecurrence(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        config: _Config,
        x: Tensor,
        y0: Tensor,
        v0: Tensor,
        h: Tensor,
        stiff: Tensor,
        damp: Tensor,
        w: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor]:
        x_steps = x if x.numel() else None
        h, stiff, damp, w = (p.contiguous() for p in (h, stiff, damp, w))
        params = (h, stiff, damp, w)
        y_seq, _, y_out, v_out, anchor = _launch_forward(
            config, x_steps, y0, v0, params, store_velocity=False, store_anchors=True
        )
        ctx.config = config
        ctx.has_input = x_steps is not None
        ctx.save_for_backward(x, y0, v0, h, stiff, damp, w, y_seq, y_out, v_out, anchor)
        return y_seq, y_out, v_out

    @staticmethod
    def backward(  # type: ignore[override]
        ctx: Any, g_seq: Tensor | None, g_y_out: Tensor | None, g_v_out: Tensor | None
    ) -> tuple[Tensor | None, ...]:
        x, y0, v0, h, stiff, damp, w, y_seq, y_out, v_out, anchor = ctx.saved_tensors
        config: _Config = ctx.config
        batch, units = y0.shape
        wants_x = ctx.has_input and ctx.needs_input_grad[1]
        g_y_out = torch.zeros_like(y_out) if g_y_out is None else g_y_out.contiguous()
        g_v_out = torch.zeros_like(v_out) if g_v_out is None else g_v_out.contiguous()
        g_seq_arg = y_seq if g_seq is None else g_seq.contiguous()
        g_x = torch.empty_like(y_seq) if wants_x else y_seq
        g_y0, g_v0 = torch.empty_like(y0), torch.empty_like(v0)
        g_h, g_k, g_d, g_w = (torch.empty_like(y0) for _ in range(4))
        x_arg, strides = _input_arg(x if ctx.has_input else None, y0)
        with _on_device(y0):
            _backward_kernel[_grid(config, batch, units)](
                x_arg, *strides, y0, v0, h, stiff, damp, w,
                y_seq, y_out, v_out, anchor,
                g_seq_arg, g_y_out, g_v_out,
                g_x, g_y0, g_v0, g_h, g_k, g_d, g_w,
                config.steps, units, anchor.shape[1],
                SEGMENT=config.segment, BLOCK=config.block, FORCE=config.force,
                SCHEME=config.scheme, DAMPED=config.damped, HAS_INPUT=ctx.has_input,
                HAS_G_SEQ=g_seq is not None, STORE_G_X=wants_x, num_warps=config.num_warps,
            )  # fmt: skip
        needs = ctx.needs_input_grad
        return (
            None,
            g_x if wants_x else None,
            g_y0 if needs[2] else None,
            g_v0 if needs[3] else None,
            g_h.sum(0) if needs[4] else None,
            g_k.sum(0) if needs[5] else None,
            g_d.sum(0) if needs[6] and config.damped else None,
            g_w.sum(0) if needs[7] and config.force == TANH else None,
        )


class Triton(Backend):
    """One Triton kernel per layer that loops over time; CUDA only.

    Systems: ``UnICORNNLayer`` (so each layer of a ``UnICORNN`` stack),
    ``LinearOscillators`` and ``HarmonicOscillator``; integrators ``symplectic_euler``,
    ``imex`` and ``leapfrog``; and ``CoRNN`` with a fixed scalar ``dt`` (``symplectic_euler``
    or ``imex``; up to 128 units in float32, 64 in float64 or with TF32 products:
    :mod:`oscdyn.backends.triton_cornn`). float32 or float64.

    Args:
        block: units per program (a power of two); ``None`` picks from the unit count.
            Independent units only (a coRNN program holds all the units).
        num_warps: warps per program; ``None``: ``block / 32`` (one unit per thread), at
            least 1; coRNN: 8 from 128 units, else 4.
        anchor_every: steps between the velocities stored for the backward pass.
        precision: coRNN's float32 matrix products, ``"ieee"`` (exact float32), ``"tf32"``
            or ``"tf32x3"`` (tensor cores).
    """

    name: ClassVar[str] = "triton"

    def __init__(
        self,
        block: int | None = None,
        num_warps: int | None = None,
        anchor_every: int = 64,
        precision: str = "ieee",
    ) -> None:
        from .triton_cornn import PRECISIONS

        if block is not None and (block < 1 or block & (block - 1)):
            raise ValueError(f"block must be a power of two, got {block}")
        if num_warps is not None and (num_warps < 1 or num_warps & (num_warps - 1)):
            raise ValueError(f"num_warps must be a power of two, got {num_warps}")
        if anchor_every < 1:
            raise ValueError(f"anchor_every must be positive, got {anchor_every}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.block = block
        self.num_warps = num_warps
        self.anchor_every = anchor_every
        self.precision = precision

    def unsupported_reason(self, rnn: OscillatorRNN) -> str | None:
        from .triton_cornn import size_reason

        reason = independent_units.unsupported_reason(rnn)
        cornn_reason = fused_cornn.unsupported_reason(rnn)
        if cornn_reason is None:
            cornn_reason = size_reason(rnn.system.state_size, rnn.dtype, self.precision)
        if reason is not None and cornn_reason is not None:
            return (
                "the triton kernels run independent units or coRNN with a fixed step: "
                f"{reason}; {cornn_reason}"
            )
        if rnn.dtype not in (torch.float32, torch.float64):
            return f"the triton kernels run float32 or float64, not {rnn.dtype}"
        if triton is None:
            return (
                f"Triton is not available ({_TRITON_IMPORT_ERROR}); the triton backend needs "
                "the 'triton' package and a CUDA GPU"
            )
        if not _interpreting():
            if not torch.cuda.is_available():
                return "the triton backend needs a CUDA GPU and none is available"
            if rnn.device.type != "cuda":
                return (
                    "the triton backend needs CUDA tensors; the model is on "
                    f"{rnn.device} (move the system to the GPU before compiling)"
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
        reason = self.unsupported_reason(rnn)
        if reason is not None:
            raise ValueError(f"backend 'triton' cannot run this model: {reason}")
        if y.device.type != "cuda" and not _interpreting():
            raise ValueError(f"backend 'triton' needs CUDA tensors, got the state on {y.device}")
        if fused_cornn.unsupported_reason(rnn) is None:
            from .triton_cornn import run_cornn

            return run_cornn(rnn, u, y, v, steps, keep_velocity, self.precision, self.num_warps)
        recurrence = independent_units.describe(rnn)
        batch, units = y.shape
        config = self._config(recurrence, steps, units)
        x = independent_units.force_input(rnn, u, batch, steps)
        params = independent_units.per_unit_parameters(rnn, y, recurrence)
        y, v = y.contiguous(), v.contiguous()
        tracked = [y, v, *params] + ([] if x is None else [x])
        needs_graph = torch.is_grad_enabled() and any(t.requires_grad for t in tracked)
        if keep_velocity or not needs_graph:
            with torch.no_grad():
                detached = tuple(p.detach().contiguous() for p in params)
                y_seq, v_seq, y_out, v_out, _ = _launch_forward(
                    config, x, y, v, detached, store_velocity=keep_velocity, store_anchors=False
                )
            return y_seq, v_seq, (y_out, v_out)
        x_arg = y.new_empty(0) if x is None else x
        y_seq, y_out, v_out = _TritonRecurrence.apply(config, x_arg, y, v, *params)
        return y_seq, None, (y_out, v_out)

    def _config(self, recurrence: UnitRecurrence, steps: int, units: int) -> _Config:
        block = self.block
        if block is None:
            block = min(128, max(16, 1 << (units - 1).bit_length()))
        num_warps = self.num_warps if self.num_warps is not None else max(1, block // 32)
        return _Config(*recurrence, steps, self.anchor_every, block, num_warps)
