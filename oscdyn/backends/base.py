"""The backend interface: how an :class:`~oscdyn.compile.OscillatorRNN` runs a sequence."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar

import torch
from torch import Tensor

if TYPE_CHECKING:
    from ..compile import OscillatorRNN

__all__ = ["Backend", "Run", "refuse_double_backward"]

#: positions ``(batch, steps, units)``, velocities (same, or ``None``), final ``(y, v)``
Run = tuple[Tensor, Tensor | None, tuple[Tensor, Tensor]]


class Backend(ABC):
    """Runs the recurrence of a compiled system; every backend must match ``eager``."""

    name: ClassVar[str]

    def unsupported_reason(self, rnn: OscillatorRNN) -> str | None:
        """Why this backend cannot run ``rnn`` (``None`` if it can)."""
        return None

    @abstractmethod
    def run(
        self,
        rnn: OscillatorRNN,
        u: Tensor | None,
        y: Tensor,
        v: Tensor,
        steps: int,
        keep_velocity: bool = False,
    ) -> Run:
        """Advance ``steps`` steps from ``(y, v)``; ``u``: ``(batch, steps, input)`` or None."""


def refuse_double_backward() -> None:
    """Raise if a hand-written (closed-form, no-graph) backward is asked for a graph.

    Call at the top of such a ``backward``: with ``create_graph=True`` it would otherwise
    fail obscurely (``out=`` operations on tensors that require grad) or be silently wrong.
    """
    if torch.is_grad_enabled():
        raise RuntimeError(
            "the fused backend's closed-form backward cannot be differentiated again "
            "(create_graph=True); use backend='eager'"
        )
