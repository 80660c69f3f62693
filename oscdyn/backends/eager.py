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
    positions, velocities = [], []
    for k in range(steps):
        if anchors is not None and k % anchor_every == 0:
            anchors[k] = (y, v)
        y, v = integrator.step(system, y, v, None if u is None else u[:, k], k * h, h, cache)
        positions.append(y)
        if keep_velocity:
            velocities.append(v)
    v_seq = torch.stack(velocities, 1) if keep_velocity else None
    return torch.stack(positions, 1), v_seq, (y, v)
