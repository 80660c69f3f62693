"""The plain Python loop over time: the reference every other backend is tested against."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import torch
from torch import Tensor

from .base import Backend, Run

if TYPE_CHECKING:
    from ..compile import OscillatorRNN

__all__ = ["Eager", "run_loop"]


class Eager(Backend):
    name: ClassVar[str] = "eager"

    def run(
        self,
        rnn: OscillatorRNN,
        u: Tensor | None,
        y: Tensor,
        v: Tensor,
        steps: int,
        keep_velocity: bool = False,
    ) -> Run:
        return run_loop(rnn, u, y, v, steps, keep_velocity)


def run_loop(
    rnn: OscillatorRNN,
    u: Tensor | None,
    y: Tensor,
    v: Tensor,
    steps: int,
    keep_velocity: bool = False,
    anchors: dict[int, tuple[Tensor, Tensor]] | None = None,
    anchor_every: int = 1,
) -> Run:
    """Step ``steps`` times from ``(y, v)``; ``u`` is ``(batch, steps, input)`` or ``None``.

    With ``anchors``, the state before step ``k`` is stored there when
    ``k % anchor_every == 0`` (the ``fused`` backend's checkpoints).
    """
    system, integrator = rnn.system, rnn.integrator
    h = rnn.step_size()
    cache = integrator.prepare(system, h)
    # one split of the input: slicing u[:, k] at every step would make autograd build (and
    # zero) a full-size input gradient per step, a backward quadratic in the length
    inputs = [None] * steps if u is None else u.unbind(1)
    recording = torch.is_grad_enabled()
    if recording:
        positions: list[Tensor] | Tensor = []
        velocities: list[Tensor] | Tensor | None = [] if keep_velocity else None
    else:  # without a graph, write into the outputs: no second copy from a final stack
        positions = y.new_empty(y.shape[0], steps, *y.shape[1:])
        velocities = v.new_empty(positions.shape) if keep_velocity else None
    for k in range(steps):
        if anchors is not None and k % anchor_every == 0:
            anchors[k] = (y, v)
        y, v = integrator.step(system, y, v, inputs[k], k * h, h, cache)
        if recording:
            positions.append(y)
            if velocities is not None:
                velocities.append(v)
        else:
            positions[:, k] = y
            if velocities is not None:
                velocities[:, k] = v
    if recording:
        positions = torch.stack(positions, 1)
        velocities = None if velocities is None else torch.stack(velocities, 1)
    return positions, velocities, (y, v)
