"""The ``triton`` backend's coRNN path: the whole recurrence in one kernel launch per pass.

coRNN (:class:`~oscdyn.systems.CoRNN`, Rusch & Mishra, ICLR 2021) couples its units
through ``s = tanh(W_y y + W_v v + x)``, so a batch row's step needs every unit of the
previous one. One Triton program owns ``BLOCK_B`` batch rows and all the units (padded to a
power of two; see :func:`size_reason`); it keeps ``W_yᵀ`` and ``W_vᵀ`` on chip for the
whole sequence and walks the steps with two ``(BLOCK_B, units) x (units, units)`` products
each (``tl.dot``), with the same algebra as the ``fused`` coRNN path
(:mod:`oscdyn.backends.fused_cornn`): the forward stores, time-major, every step's velocity
and force ``s``; the backward walks time in reverse, pulls ``(gy, gv)`` back with ``W_v``
and ``W_y`` and writes each step's force-input cotangent ``delta``; the weight gradients
are then the same few long products over the stored sequence. Launch overhead is paid twice
per training step instead of thousands of times, which is what bounds the per-op paths on a
GPU at batch 50 and 128 units.

Matrix products run in ``ieee`` precision by default (exact float32 arithmetic, no TF32);
``precision="tf32"`` or ``"tf32x3"`` uses tensor cores (``tf32`` rounds the operands to 10
mantissa bits). float64 always uses ``ieee``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

import torch
from torch import Tensor

from .base import Run, refuse_double_backward
from .fused_cornn import outer_sum, recurrence_gradients
from .triton_kernels import _on_device, tl, triton

if TYPE_CHECKING:
    from ..compile import OscillatorRNN

__all__ = ["ON_CHIP_BYTES", "PRECISIONS", "run_cornn", "size_reason"]

#: shared memory the two recurrent matrices may take (padded units squared, twice, in the
#: dot's operand width): 128 float32 units with ``ieee`` products fit an H100 (227 KiB per
#: program); float64 or TF32 products at 128 units asked for 272 KiB and did not
ON_CHIP_BYTES = 128 * 1024
#: ``tl.dot`` input precisions accepted for float32
PRECISIONS = ("ieee", "tf32", "tf32x3")


class _Config(NamedTuple):
    imex: bool
    h: float
    gamma: float
    epsilon: float
    steps: int
    block_b: int
    block_h: int
    precision: str
    num_warps: int


def _padded(units: int) -> int:
    """Units rounded up to a power of two, at least 16 (``tl.dot``'s smallest side)."""
    return max(16, 1 << (units - 1).bit_length())


def size_reason(units: int, dtype: torch.dtype, precision: str) -> str | None:
    """Why the kernels cannot hold ``units`` coRNN units on chip (``None`` if they can)."""
    width = 8 if dtype == torch.float64 or precision != "ieee" else 4
    needed = 2 * _padded(units) ** 2 * width
    if needed <= ON_CHIP_BYTES:
        return None
    largest = max(n for n in (16, 32, 64, 128) if 2 * n * n * width <= ON_CHIP_BYTES)
    kind = "float64" if dtype == torch.float64 else f"float32 with precision {precision!r}"
    return (
        f"the coRNN kernel keeps both recurrent matrices in shared memory: at most {largest} "
        f"units in {kind}, got {units}"
    )


def _constants(config: _Config, like: Tensor) -> Tensor:
    """The step's constants, computed in double precision and passed to the kernels as a
    tensor of the state's dtype (a Python float would reach them as float32).

    ``h, gamma, epsilon, 1 / (1 + h epsilon)`` for the forward;
    with ``q = gv + h gy`` the velocity's cotangent is ``scale q`` (imex: ``scale = 1 / (1 +
    h epsilon)``, else 1), so the backward takes ``h scale``, ``keep = d v' / d v`` along the
    damping and ``h gamma scale``."""
    h, gamma, epsilon = config.h, config.gamma, config.epsilon
    inverse = 1.0 / (1.0 + h * epsilon)
    scale = inverse if config.imex else 1.0
    keep = inverse if config.imex else 1.0 - h * epsilon
    values = [h, gamma, epsilon, inverse, h * scale, keep, h * gamma * scale]
    return torch.tensor(values, dtype=like.dtype, device=like.device)


if triton is not None:
    from .triton_kernels import _tanh

    # slots of _constants
    _H, _GAMMA, _EPSILON, _INVERSE = (tl.constexpr(i) for i in range(4))
    _DELTA_SCALE, _KEEP, _POSITION_PULL = (tl.constexpr(i) for i in range(4, 7))

    @triton.jit
    def _program_tile(batch, units, BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr):
        # this program's batch rows and the (padded) units: the (BLOCK_B, BLOCK_H) mask and
        # the offsets row * units + col of a contiguous (batch, units) state
        rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
        cols = tl.arange(0, BLOCK_H)
        mask = (rows < batch)[:, None] & (cols < units)[None, :]
        return rows, cols, mask, rows[:, None] * units + cols[None, :]

    @triton.jit
    def _load_matrices(first_ptr, second_ptr, cols, units):
        # two row-major (units, units) matrices, zero-padded to (BLOCK_H, BLOCK_H)
        square = (cols < units)[:, None] & (cols < units)[None, :]
        matrix = cols[:, None] * units + cols[None, :]
        first = tl.load(first_ptr + matrix, mask=square, other=0.0)
        return first, tl.load(second_ptr + matrix, mask=square, other=0.0)

    @triton.jit
    def _cornn_forward_kernel(
        x_ptr, sx_b, sx_t, sx_u, y0_ptr, v0_ptr, w_y_t_ptr, w_v_t_ptr,
        y_seq_ptr, vel_ptr, force_ptr, y_out_ptr, v_out_ptr,
        constants_ptr, batch, steps, units,
        IMEX: tl.constexpr, BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr,
        PRECISION: tl.constexpr, STORE: tl.constexpr,
    ):  # fmt: skip
        h = tl.load(constants_ptr + _H)
        gamma = tl.load(constants_ptr + _GAMMA)
        epsilon = tl.load(constants_ptr + _EPSILON)
        inverse = tl.load(constants_ptr + _INVERSE)
        rows, cols, mask, state = _program_tile(batch, units, BLOCK_B, BLOCK_H)
        plane = batch * units  # one time-major step
        y = tl.load(y0_ptr + state, mask=mask, other=0.0)
        v = tl.load(v0_ptr + state, mask=mask, other=0.0)
        w_y_t, w_v_t = _load_matrices(w_y_t_ptr, w_v_t_ptr, cols, units)
        x_rows = x_ptr + rows[:, None] * sx_b + cols[None, :] * sx_u
        out_rows = y_seq_ptr + rows[:, None] * (steps * units) + cols[None, :]
        for t in range(steps):
            x = tl.load(x_rows + t * sx_t, mask=mask, other=0.0)
            z = x + tl.dot(y, w_y_t, input_precision=PRECISION)
            z += tl.dot(v, w_v_t, input_precision=PRECISION)
            s = _tanh(z)
            kick = s - gamma * y
            if IMEX:
                v = (v + h * kick) * inverse
            else:
                v = v + h * (kick - epsilon * v)
            y = y + h * v
            tl.store(out_rows + t * units, y, mask=mask)
            if STORE:
                tl.store(vel_ptr + (t + 1) * plane + state, v, mask=mask)
                tl.store(force_ptr + t * plane + state, s, mask=mask)
        tl.store(y_out_ptr + state, y, mask=mask)
        tl.store(v_out_ptr + state, v, mask=mask)

    @triton.jit
    def _cornn_backward_kernel(
        force_ptr, g_seq_ptr, gy_ptr, gv_ptr, w_y_ptr, w_v_ptr, delta_ptr,
        constants_ptr, batch, steps, units,
        HAS_G_SEQ: tl.constexpr, BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr,
        PRECISION: tl.constexpr,
    ):  # fmt: skip
        h = tl.load(constants_ptr + _H)
        delta_scale = tl.load(constants_ptr + _DELTA_SCALE)
        keep = tl.load(constants_ptr + _KEEP)
        position_pull = tl.load(constants_ptr + _POSITION_PULL)
        rows, cols, mask, state = _program_tile(batch, units, BLOCK_B, BLOCK_H)
        plane = batch * units
        gy = tl.load(gy_ptr + state, mask=mask, other=0.0)
        gv = tl.load(gv_ptr + state, mask=mask, other=0.0)
        w_y, w_v = _load_matrices(w_y_ptr, w_v_ptr, cols, units)
        g_rows = g_seq_ptr + rows[:, None] * (steps * units) + cols[None, :]
        for k in range(steps):
            t = steps - 1 - k
            if HAS_G_SEQ:
                gy += tl.load(g_rows + t * units, mask=mask, other=0.0)
            q = gv + h * gy
            s = tl.load(force_ptr + t * plane + state, mask=mask, other=0.0)
            delta = delta_scale * q * (1.0 - s * s)
            tl.store(delta_ptr + t * plane + state, delta, mask=mask)
            gv = keep * q + tl.dot(delta, w_v, input_precision=PRECISION)
            gy = gy - position_pull * q + tl.dot(delta, w_y, input_precision=PRECISION)
        tl.store(gy_ptr + state, gy, mask=mask)
        tl.store(gv_ptr + state, gv, mask=mask)


def _grid(config: _Config, batch: int) -> tuple[int]:
    return (-(-batch // config.block_b),)


def _forward(
    config: _Config, x: Tensor, y0: Tensor, v0: Tensor, w_y: Tensor, w_v: Tensor, store: bool
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Launch the forward; returns ``(y_seq, velocities, forces, y_out, v_out)``
    (``velocities`` ``(steps + 1, batch, units)`` and ``forces`` only when ``store``)."""
    batch, units = y0.shape
    steps = config.steps
    y_seq = y0.new_empty(batch, steps, units)
    velocities = y0.new_empty(steps + 1 if store else 1, batch, units)
    velocities[0] = v0
    forces = y0.new_empty(steps if store else 1, batch, units)
    y_out, v_out = torch.empty_like(y0), torch.empty_like(v0)
    w_y_t, w_v_t = w_y.t().contiguous(), w_v.t().contiguous()
    with _on_device(y0):
        _cornn_forward_kernel[_grid(config, batch)](
            x, x.stride(0), x.stride(1), x.stride(2), y0, v0, w_y_t, w_v_t,
            y_seq, velocities, forces, y_out, v_out, _constants(config, y0), batch, steps, units,
            IMEX=config.imex, BLOCK_B=config.block_b, BLOCK_H=config.block_h,
            PRECISION=config.precision, STORE=store, num_warps=config.num_warps,
        )  # fmt: skip
    return y_seq, velocities, forces, y_out, v_out


class _TritonCoRNN(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, config: _Config, x: Tensor, y0: Tensor, v0: Tensor, w_y: Tensor, w_v: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        y_seq, velocities, forces, y_out, v_out = _forward(config, x, y0, v0, w_y, w_v, True)
        ctx.config = config
        ctx.save_for_backward(y0, w_y, w_v, y_seq, velocities, forces)
        return y_seq, y_out, v_out

    @staticmethod
    def backward(  # type: ignore[override]
        ctx: Any, g_seq: Tensor | None, g_y_out: Tensor | None, g_v_out: Tensor | None
    ) -> tuple[Tensor | None, ...]:
        refuse_double_backward()
        y0, w_y, w_v, y_seq, velocities, forces = ctx.saved_tensors
        config: _Config = ctx.config
        batch, units = y0.shape
        # the kernel pulls these back in place: fresh contiguous copies
        dense = torch.contiguous_format
        gy = torch.zeros_like(y0) if g_y_out is None else g_y_out.clone(memory_format=dense)
        gv = torch.zeros_like(y0) if g_v_out is None else g_v_out.clone(memory_format=dense)
        deltas = y0.new_empty(config.steps, batch, units)
        g_seq_arg = y_seq if g_seq is None else g_seq.contiguous()
        with _on_device(y0):
            _cornn_backward_kernel[_grid(config, batch)](
                forces, g_seq_arg, gy, gv, w_y.contiguous(), w_v.contiguous(), deltas,
                _constants(config, y0), batch, config.steps, units,
                HAS_G_SEQ=g_seq is not None, BLOCK_B=config.block_b, BLOCK_H=config.block_h,
                PRECISION=config.precision, num_warps=config.num_warps,
            )  # fmt: skip
        needs = ctx.needs_input_grad
        g_w_v = outer_sum(deltas, velocities[: config.steps]) if needs[5] else None
        return recurrence_gradients(needs, deltas, gy, gv, y0, y_seq, g_w_v)


def run_cornn(
    rnn: OscillatorRNN,
    u: Tensor | None,
    y: Tensor,
    v: Tensor,
    steps: int,
    keep_velocity: bool,
    precision: str,
    num_warps: int | None,
) -> Run:
    """Run a coRNN the ``fused`` coRNN path accepts (:func:`fused_cornn.unsupported_reason`).

    ``u``: the encoded input ``V u + b``, ``(batch, steps, units)``, or ``None`` (the force
    reads the bias). ``precision``: ``tl.dot``'s for float32 (one of :data:`PRECISIONS`).
    """
    from ..integrators.imex import IMEX

    system = rnn.system
    batch, units = y.shape
    dtype_precision = "ieee" if y.dtype == torch.float64 else precision
    warps = num_warps if num_warps is not None else (8 if units > 64 else 4)
    config = _Config(
        isinstance(rnn.integrator, IMEX), rnn.step_size(), system.gamma, system.epsilon,
        steps, 16, _padded(units), dtype_precision, warps,
    )  # fmt: skip
    start = system.input_size
    weight = system.i2h.weight
    w_v, w_y = weight[:, start : start + units], weight[:, start + units :]
    x = system.i2h.bias.expand(batch, steps, units) if u is None else u
    y, v = y.contiguous(), v.contiguous()
    tracked = (x, y, v, w_y, w_v)
    needs_graph = torch.is_grad_enabled() and any(t.requires_grad for t in tracked)
    if keep_velocity or not needs_graph:
        with torch.no_grad():
            y_seq, velocities, _, y_out, v_out = _forward(
                config, x, y, v, w_y.detach(), w_v.detach(), store=keep_velocity
            )
        v_seq = velocities[1:].transpose(0, 1) if keep_velocity else None
        return y_seq, v_seq, (y_out, v_out)
    y_seq, y_out, v_out = _TritonCoRNN.apply(config, x, y, v, w_y, w_v)
    return y_seq, None, (y_out, v_out)
