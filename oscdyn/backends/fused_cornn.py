"""The ``fused`` backend's path for coRNN: its step and exact derivative as GEMMs.

coRNN (:class:`~oscdyn.systems.CoRNN`, Rusch & Mishra, ICLR 2021) couples its units through
``s = tanh(W_y y + W_v v + x)`` with ``x = V u + b``; with ``symplectic_euler`` (the released
code) or ``imex`` (the paper, eq. 3) a step is

    v' = v + h (s - gamma y - epsilon v)        or   v' = (v + h (s - gamma y)) / (1 + h epsilon)
    y' = y + h v'.

The force reads the velocity, so the step has no explicit inverse and past states must be
kept or recomputed. This path runs forward without a graph and keeps, per step, the
velocity and ``s`` (``recompute=False``; memory grows with the length like twice the
outputs, against the eager graph's dozen tensors per step), or the state every
``segment`` steps, recomputing each segment's velocities and forces in the backward
(``recompute=True``; one more forward pass). The backward pulls the cotangents back in
closed form, two ``(batch, units) x (units, units)`` products per step, and gets
``dW_y = sum_k delta_kᵀ y_k`` and ``dW_v = sum_k delta_kᵀ v_k`` as a few long products over
the stored sequence instead of per step. No autograd call.

Applies to a fixed scalar ``dt`` (a learned or per-unit step takes the generic path).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

import torch
from torch import Tensor

from .base import Run, refuse_double_backward

if TYPE_CHECKING:
    from ..compile import OscillatorRNN

__all__ = [
    "outer_sum",
    "position_outer_sum",
    "recurrence_gradients",
    "run_cornn",
    "unsupported_reason",
]


class _Step(NamedTuple):
    """The constants of the step: scheme (``imex`` or not), ``h``, ``gamma``, ``epsilon``."""

    imex: bool
    h: float
    gamma: float
    epsilon: float


def unsupported_reason(rnn: OscillatorRNN) -> str | None:
    """Why ``rnn`` cannot take this path (``None`` if it can)."""
    from ..integrators.imex import IMEX
    from ..integrators.symplectic_euler import SymplecticEuler
    from ..systems.cornn import CoRNN

    system = rnn.system
    if type(system) is not CoRNN:
        return f"the coRNN path implements CoRNN, not {type(system).__name__}"
    if type(rnn.integrator) not in (SymplecticEuler, IMEX):
        return f"the coRNN path implements symplectic_euler and imex, not {rnn.integrator.name}"
    if not isinstance(rnn.step_size(), float):
        return "the coRNN path needs a fixed scalar dt (learned or per-unit dt: generic path)"
    for operator in (system.stiffness, system.damping):
        if operator.values.numel() != 1 or operator.values.requires_grad:
            return "the coRNN path needs fixed scalar gamma and epsilon"
    return None


def run_cornn(
    rnn: OscillatorRNN, u: Tensor | None, y: Tensor, v: Tensor, steps: int, segment: int | None
) -> Run:
    """Run a supported coRNN with the closed-form backward.

    ``u``: the encoded input ``V u + b``, ``(batch, steps, units)``, or ``None`` (the force
    reads the bias); ``segment``: steps between stored states when recomputing, ``None`` to
    store every step's velocity and force.
    """
    from ..integrators.imex import IMEX

    system = rnn.system
    step = _Step(isinstance(rnn.integrator, IMEX), rnn.step_size(), system.gamma, system.epsilon)
    start, units = system.input_size, system.state_size
    weight = system.i2h.weight
    w_v, w_y = weight[:, start : start + units], weight[:, start + units :]
    x = system.i2h.bias.expand(y.shape[0], steps, units) if u is None else u
    options = (step, steps, segment)
    y_seq, y_out, v_out = _CoRNNRecurrence.apply(options, x, y, v, w_y, w_v)
    return y_seq, None, (y_out, v_out)


def _advance(
    step: _Step,
    x: Tensor,
    y: Tensor,
    weights_t: tuple[Tensor, Tensor],
    positions: Tensor,
    velocities: Tensor,
    forces: Tensor,
) -> Tensor:
    """Run ``len(forces)`` steps from ``(y, velocities[0])``; returns the last ``y``.

    Writes, for step ``j``: the position after it into ``positions[:, j]`` (batch-major,
    ``(batch, steps, units)``), the velocity after it into ``velocities[j + 1]`` and ``s``
    into ``forces[j]`` (time-major, ``(steps, batch, units)``: contiguous per step).
    ``x``: the segment's ``(batch, steps, units)`` force input; ``weights_t``:
    ``(W_yᵀ, W_vᵀ)``.
    """
    w_y_t, w_v_t = weights_t
    h, gamma, epsilon = step.h, step.gamma, step.epsilon
    # one split per buffer: unbind is cheaper than slicing at every step
    steps_x, steps_y, steps_s = x.unbind(1), positions.unbind(1), forces.unbind(0)
    steps_v = velocities.unbind(0)
    v = steps_v[0]
    for j, s in enumerate(steps_s):
        torch.addmm(steps_x[j], y, w_y_t, out=s).addmm_(v, w_v_t).tanh_()
        kick = torch.add(s, y, alpha=-gamma)
        v_next = steps_v[j + 1]
        if step.imex:
            torch.add(v, kick, alpha=h, out=v_next).mul_(1.0 / (1.0 + h * epsilon))
        else:
            kick.add_(v, alpha=-epsilon)
            torch.add(v, kick, alpha=h, out=v_next)
        y = torch.add(y, v_next, alpha=h, out=steps_y[j])
        v = v_next
    return y


def _pull_back(
    step: _Step,
    weights: tuple[Tensor, Tensor],
    forces: Tensor,
    g_seq: Tensor | None,
    offset: int,
    gy: Tensor,
    gv: Tensor,
    deltas: Tensor,
) -> tuple[Tensor, Tensor]:
    """Pull ``(gy, gv)`` back through steps ``offset + len(forces) - 1 .. offset``.

    ``forces[j]`` is ``s`` of step ``offset + j``; ``deltas[offset + j]`` (time-major)
    receives that step's force-input cotangent ``delta = h c (1 - s^2)``, ``c`` the
    velocity's. ``gy`` is updated in place. Returns ``(gy, gv)`` before the first step.
    """
    w_y, w_v = weights
    h, gamma, epsilon = step.h, step.gamma, step.epsilon
    # with q = gv + h gy, the velocity's cotangent is c = scale q: imex 1 / (1 + h eps)
    scale = 1.0 / (1.0 + h * epsilon) if step.imex else 1.0
    keep = scale if step.imex else 1.0 - h * epsilon  # d v' / d v along the damping
    one = forces.new_ones(())
    zero = forces.new_zeros(())
    stop = offset + len(forces)
    steps_g = [None] * len(forces) if g_seq is None else g_seq[:, offset:stop].unbind(1)
    steps_delta, steps_s = deltas[offset:stop].unbind(0), forces.unbind(0)
    for j in range(len(forces) - 1, -1, -1):
        if steps_g[j] is not None:
            gy.add_(steps_g[j])
        q = torch.add(gv, gy, alpha=h)
        s = steps_s[j]
        slope = torch.addcmul(one, s, s, value=-1.0)
        delta = torch.addcmul(zero, q, slope, value=h * scale, out=steps_delta[j])
        gv = torch.addmm(q, delta, w_v, beta=keep)
        gy.add_(q, alpha=-h * gamma * scale).addmm_(delta, w_y)
    return gy, gv


def outer_sum(deltas: Tensor, states: Tensor) -> Tensor:
    """``sum_(t, b) deltas[t, b]ᵀ states[t, b]`` over time-major ``(time, batch, units)``."""
    return deltas.flatten(0, 1).t() @ states.flatten(0, 1)


def position_outer_sum(deltas: Tensor, y0: Tensor, y_seq: Tensor) -> Tensor:
    """``sum_k deltas[k]ᵀ y_(k-1)``: time-major ``deltas``, positions ``y0`` and the
    batch-major outputs ``y_seq`` (one product per batch row: no transposed copy)."""
    total = deltas[0].t() @ y0
    for row, positions in enumerate(y_seq[:, :-1]):
        total.addmm_(deltas[1:, row].t(), positions)
    return total


def recurrence_gradients(
    needs: tuple[bool, ...],
    deltas: Tensor,
    gy: Tensor,
    gv: Tensor,
    y0: Tensor,
    y_seq: Tensor,
    g_w_v: Tensor | None,
) -> tuple[Tensor | None, ...]:
    """What a coRNN recurrence's ``backward`` returns for its inputs ``(options, x, y0, v0,
    W_y, W_v)``, each only where ``needs`` asks: ``x``'s from the time-major force-input
    cotangents ``deltas``, the initial state's ``(gy, gv)``, ``W_y``'s from ``deltas`` and
    the positions, and ``g_w_v`` (the caller's ``W_v`` gradient, ``None`` if not needed)."""
    return (
        None,
        deltas.transpose(0, 1) if needs[1] else None,
        gy if needs[2] else None,
        gv if needs[3] else None,
        position_outer_sum(deltas, y0, y_seq) if needs[4] else None,
        g_w_v,
    )


class _CoRNNRecurrence(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        options: tuple[_Step, int, int | None],
        x: Tensor,
        y0: Tensor,
        v0: Tensor,
        w_y: Tensor,
        w_v: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor]:
        step, steps, segment = options
        batch, units = y0.shape
        weights_t = (w_y.t(), w_v.t())
        y_seq = y0.new_empty(batch, steps, units)
        if segment is None:  # keep every step's velocity and force
            velocities = y0.new_empty(steps + 1, batch, units)
            forces = y0.new_empty(steps, batch, units)
            velocities[0] = v0
            y = _advance(step, x, y0, weights_t, y_seq, velocities, forces)
            v = velocities[steps].clone()
            stored = (velocities, forces)
        else:  # keep the velocity at every segment start
            anchors = y0.new_empty(-(-steps // segment), batch, units)
            velocities = y0.new_empty(segment + 1, batch, units)
            forces = y0.new_empty(segment, batch, units)
            y, v = y0, v0
            for index, start in enumerate(range(0, steps, segment)):
                stop = min(start + segment, steps)
                anchors[index] = v
                velocities[0] = v
                y = _advance(
                    step,
                    x[:, start:stop],
                    y,
                    weights_t,
                    y_seq[:, start:stop],
                    velocities,
                    forces[: stop - start],
                )
                v = velocities[stop - start].clone()
            stored = (anchors,)
        ctx.options = options
        ctx.save_for_backward(x, y0, w_y, w_v, y_seq, *stored)
        return y_seq, y.clone(), v

    @staticmethod
    def backward(  # type: ignore[override]
        ctx: Any, g_seq: Tensor | None, g_y_out: Tensor | None, g_v_out: Tensor | None
    ) -> tuple[Tensor | None, ...]:
        refuse_double_backward()
        x, y0, w_y, w_v, y_seq, *stored = ctx.saved_tensors
        step, steps, segment = ctx.options
        batch, units = y0.shape
        weights = (w_y, w_v)
        gy = torch.zeros_like(y0) if g_y_out is None else g_y_out.clone()
        gv = torch.zeros_like(y0) if g_v_out is None else g_v_out
        deltas = y0.new_empty(steps, batch, units)  # the force inputs' cotangents
        g_w_v = torch.zeros_like(w_v) if ctx.needs_input_grad[5] else None
        if segment is None:
            velocities, forces = stored
            gy, gv = _pull_back(step, weights, forces, g_seq, 0, gy, gv, deltas)
            if g_w_v is not None:
                g_w_v = outer_sum(deltas, velocities[:steps])
        else:
            (anchors,) = stored
            weights_t = (w_y.t(), w_v.t())
            velocities = y0.new_empty(segment + 1, batch, units)
            forces = y0.new_empty(segment, batch, units)
            scratch = y0.new_empty(batch, segment, units)
            starts = range(0, steps, segment)
            for index, start in reversed(list(enumerate(starts))):
                stop = min(start + segment, steps)
                length = stop - start
                y = y0 if start == 0 else y_seq[:, start - 1]
                velocities[0] = anchors[index]
                _advance(
                    step,
                    x[:, start:stop],
                    y,
                    weights_t,
                    scratch[:, :length],
                    velocities,
                    forces[:length],
                )
                gy, gv = _pull_back(step, weights, forces[:length], g_seq, start, gy, gv, deltas)
                if g_w_v is not None:
                    g_w_v += outer_sum(deltas[start:stop], velocities[:length])
        return recurrence_gradients(ctx.needs_input_grad, deltas, gy, gv, y0, y_seq, g_w_v)
