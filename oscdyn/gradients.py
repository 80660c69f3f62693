"""Gradient-norm clipping that survives exploding gradients.

``torch.nn.utils.clip_grad_norm_`` sums the squares in the gradients' dtype: float32
gradients of finite size above about 1e19 (an oscillator stepped outside its stability
limit over a long sequence reaches 1e22) give an infinite norm, a clip coefficient of 0,
and so zero gradients: the run silently stops learning. Here the norm is accumulated in
float64 (finite up to about 1e154), so such gradients are scaled down to the clip instead.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor

__all__ = ["clip_grad_norm"]


def clip_grad_norm(parameters: Iterable[Tensor], max_norm: float) -> Tensor:
    """Scale the gradients of ``parameters`` in place to a global 2-norm of at most
    ``max_norm``; returns the norm before clipping (0-d float64, on the gradients' device;
    ``inf`` or ``nan`` when a gradient holds one; then, as with torch's clipping, the
    non-finite entries become ``nan``, so the update is seen to fail rather than silently
    vanish). No host synchronisation.
    """
    if not (0 < max_norm < math.inf):
        raise ValueError(f"max_norm must be positive and finite, got {max_norm}")
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.zeros((), dtype=torch.float64)
    norms = [torch.linalg.vector_norm(g, dtype=torch.float64) for g in grads]
    total = torch.linalg.vector_norm(torch.stack([n.to(norms[0].device) for n in norms]))
    scale = (max_norm / (total + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(scale.to(device=g.device, dtype=g.dtype))
    return total
