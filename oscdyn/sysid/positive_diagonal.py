"""A ``Diagonal`` operator kept positive by a log parametrisation, for fitting.

Stiffness and damping must stay non-negative while a model is trained; storing
``log(values)`` keeps them positive and makes a gradient step relative (a mode at 0.01
rad/sample moves as easily as one at 1), which suits Adam on coefficients that differ by
orders of magnitude. Every integrator and flow sees an ordinary ``Diagonal`` through
``values``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor, nn

from ..systems.operators import Diagonal, as_float_tensor

__all__ = ["PositiveDiagonal", "cached_values"]


class PositiveDiagonal(Diagonal):
    """``diag(exp(log_values))``; ``values`` must be positive at construction."""

    def __init__(self, values: Tensor | float | Sequence[float], size: int | None = None) -> None:
        values = as_float_tensor(values, "values")
        if (values <= 0).any():
            raise ValueError(f"values must be positive, got {values}")
        super().__init__(values, size=size, trainable=False)
        del self.diagonal  # the buffer of Diagonal; replaced by the log parameter
        self.log_values = nn.Parameter(values.log().contiguous())
        self._cached: Tensor | None = None

    @property
    def values(self) -> Tensor:
        if self._cached is not None:
            return self._cached
        return self.log_values.exp()

    def clamp_(self, low: float | None = None, high: float | None = None) -> None:
        """Clamp the values into ``[low, high]`` in place (a projection after an update)."""
        with torch.no_grad():
            log_low = None if low is None else torch.log(torch.as_tensor(low)).item()
            log_high = None if high is None else torch.log(torch.as_tensor(high)).item()
            self.log_values.clamp_(min=log_low, max=log_high)


@contextlib.contextmanager
def cached_values(module: nn.Module) -> Iterator[None]:
    """Within the block, every :class:`PositiveDiagonal` in ``module`` computes
    ``exp(log_values)`` once (in the autograd graph) instead of at every step."""
    operators = [m for m in module.modules() if isinstance(m, PositiveDiagonal)]
    for operator in operators:
        operator._cached = operator.log_values.exp()
    try:
        yield
    finally:
        for operator in operators:
            operator._cached = None
