"""Gradient norms and clipping that survive exploding gradients.

``torch.nn.utils.clip_grad_norm_`` sums the squares in the gradients' dtype: float32
gradients of finite size above about 1e19 (an oscillator stepped outside its stability
limit over a long sequence reaches 1e22) give an infinite norm, a clip coefficient of 0,
and so zero gradients: the run silently stops learning. Here the norm is accumulated in
float64, where no finite float32 gradient overflows, so such gradients are scaled down to
the clip instead, and the norm itself is there to be recorded (``oscdyn train-task``
records it for every update).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor

__all__ = ["gradient_norm", "clip_grad_norm"]


def _norm(grads: list[Tensor]) -> Tensor:
    if not grads:
        return torch.zeros((), dtype=torch.float64)
    device = grads[0].device
    norms = [torch.linalg.vector_norm(g, dtype=torch.float64).to(device) for g in grads]
    return torch.linalg.vector_norm(torch.stack(norms))


def gradient_norm(parameters: Iterable[Tensor]) -> Tensor:
    """The global 2-norm of the gradients of ``parameters``, accumulated in float64 (0-d,
    on the gradients' device; 0 when none has a gradient). No host synchronisation."""
    return _norm([p.grad for p in parameters if p.grad is not None])


def clip_grad_norm(parameters: Iterable[Tensor], max_norm: float) -> Tensor:
    """Scale the gradients of ``parameters`` in place to a global 2-norm of at most
    ``max_norm``; returns the norm before clipping (:func:`gradient_norm`: ``inf`` or
    ``nan`` when a gradient holds one; then, as with torch's clipping, the non-finite
    entries become ``nan``, so the update is seen to fail rather than silently vanish).
    No host synchronisation.
    """
    if not (0 < max_norm < math.inf):
        raise ValueError(f"max_norm must be positive and finite, got {max_norm}")
    grads = [p.grad for p in parameters if p.grad is not None]
    total = _norm(grads)
    scale = (max_norm / (total + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(scale.to(device=g.device, dtype=g.dtype))
    return total
