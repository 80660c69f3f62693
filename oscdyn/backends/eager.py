"""The plain Python loop over time: the reference every other backend is tested against."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import torch
from torch import Tensor

from .base import Backend, Run

if TYPE_CHECKING:
    from ..compile import OscillatorRNN

__all__ = ["Eager"]


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
        system, integrator = rnn.system, rnn.integrator
        h = rnn.step_size()
        cache = integrator.prepare(system, h)
        positions, velocities = [], []
        for k in range(steps):
            u_k = None if u is None else u[:, k]
            y, v = integrator.step(system, y, v, u_k, k * h, h, cache)
            positions.append(y)
            if keep_velocity:
                velocities.append(v)
        v_seq = torch.stack(velocities, 1) if keep_velocity else None
        return torch.stack(positions, 1), v_seq, (y, v)
