"""Oscillators on a periodic lattice coupled by a convolution (exact flow by FFT)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .base import SecondOrderSystem
from .operators import Circulant

__all__ = ["LatticeOscillators"]


def _laplacian_stencil(kernel_size: int, rank: int) -> Tensor:
    """``-Delta``: the nearest-neighbour discrete Laplacian (sign flipped), centred."""
    stencil = torch.zeros((kernel_size,) * rank)
    centre = (kernel_size // 2,) * rank
    stencil[centre] = 2.0 * rank
    for axis in range(rank):
        for step in (-1, 1):
            index = list(centre)
            index[axis] += step
            stencil[tuple(index)] = -1.0
    return stencil


class LatticeOscillators(SecondOrderSystem):
    """Units on a periodic 1-D or 2-D grid: ``y'' = -K y + F``, ``K`` a circular convolution.

    After M. O. Magnasco, "Convolutional unitary or orthogonal recurrent neural networks",
    arXiv:2302.07396 (2023): a recurrence whose linear part is a convolution on a torus is
    diagonalised by the FFT, so its exact propagator ``exp`` is computed in ``O(n log n)``
    and is orthogonal (unitary in complex form). Here the linear part is a lattice of
    oscillators, ``K`` a learned symmetric stencil of side ``kernel_size`` (a ``Circulant``
    with ``nonnegative=True``, initialised to ``omega0^2 + coupling * (-Delta)``), and the
    ``exponential`` integrator applies its exact flow, orthogonal in the energy coordinates
    ``(sqrt(K) y, v)``.

    The force is the input drive ``B u + b`` (linear lattice: ``exponential`` is exact for
    piecewise-constant input) or, with ``nonlinear=True``, ``-tanh(w * y + B u + b)`` per site
    (then Strang splitting). Units are the flattened lattice, ``prod(shape)`` of them.
    """

    def __init__(
        self,
        shape: int | Sequence[int],
        kernel_size: int = 3,
        input_size: int = 0,
        omega0: float = 1.0,
        coupling: float = 1.0,
        nonlinear: bool = False,
    ) -> None:
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        if kernel_size < 3 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and >= 3, got {kernel_size}")
        super().__init__(state_size=math.prod(shape), input_size=input_size)
        stencil = coupling * _laplacian_stencil(kernel_size, len(shape))
        stencil[(kernel_size // 2,) * len(shape)] += omega0**2
        self.stiffness = Circulant(stencil, shape, nonnegative=True)
        self.nonlinear = nonlinear
        self.position_dependent_force = nonlinear
        self.has_energy = not nonlinear
        self.bias = nn.Parameter(torch.zeros(self.state_size))
        self.input_map = (
            nn.Parameter(torch.randn(self.state_size, input_size) / math.sqrt(input_size))
            if input_size
            else None
        )
        self.site_weight = nn.Parameter(torch.ones(self.state_size)) if nonlinear else None

    @property
    def shape(self) -> tuple[int, ...]:
        return self.stiffness.shape

    def encode_input(self, u: Tensor) -> Tensor:
        """``B u`` for the whole sequence (what the force reads per step)."""
        return u @ self.input_map.T

    def force(self, y: Tensor, v: Tensor, u: Tensor | None, t: Tensor | float) -> Tensor:
        drive = self.bias.expand_as(y) if u is None else self.bias + u
        if self.nonlinear:
            return -torch.tanh(self.site_weight * y + drive)
        return drive

    def force_vjp(
        self, y: Tensor, v: Tensor, u: Tensor | None, t: Tensor | float, cotangent: Tensor
    ) -> tuple[Tensor, None]:
        if not self.nonlinear:
            return torch.zeros_like(y), None
        force = self.force(y, v, u, t)
        return -cotangent * (1 - force * force) * self.site_weight, None

    def potential(self, y: Tensor) -> Tensor:
        """``-b . y`` for the linear lattice (the bias is a constant force)."""
        if self.nonlinear:
            return super().potential(y)
        return -(self.bias * y).sum(-1)
