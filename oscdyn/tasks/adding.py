"""The adding problem (Hochreiter & Schmidhuber, Neural Computation 1997).

Each step reads two numbers: a value drawn from ``U[0, 1]`` and a mark, 1 at exactly two
steps and 0 elsewhere; the target is the sum of the two marked values. As in coRNN's
released generator (github.com/tk-rusch/coRNN, ``adding/utils.py``; Rusch & Mishra, ICLR
2021) one mark falls uniformly in the first half ``[0, T // 2)`` and the other in the
second half ``[T // 2, T)``, so the answer depends on inputs about ``T / 2`` steps apart.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from .base import Baseline, SequenceTask, check_batch_size, mean_squared_error

__all__ = ["AddingProblem", "ADDING_BASELINE_MSE"]

#: Variance of the sum of two independent ``U[0, 1]`` values, ``2 * 1/12 = 1/6``: the mean
#: squared error of the best constant prediction (their mean, 1).
ADDING_BASELINE_MSE = 1.0 / 6.0


class AddingProblem(SequenceTask):
    """Inputs ``(batch, length, 2)``: channel 0 values ``U[0, 1]``, channel 1 the two marks.

    Targets ``(batch, 1)``: the sum of the marked values. Loss and metric: mean squared
    error. Baseline: always predict 1, the mean of the sum, MSE ``1/6 ~ 0.167``.
    """

    name: ClassVar[str] = "adding"
    metric_name: ClassVar[str] = "mse"
    higher_is_better: ClassVar[bool] = False

    def __init__(self, length: int = 1000) -> None:
        if isinstance(length, bool) or not isinstance(length, int) or length < 2:
            raise ValueError(f"length must be an integer >= 2 (two marks), got {length!r}")
        self.length = length
        self.input_size = 2
        self.output_size = 1

    def sample(self, batch_size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        check_batch_size(batch_size)
        half = self.length // 2
        values = torch.rand(batch_size, self.length, generator=generator)
        first = torch.randint(0, half, (batch_size,), generator=generator)
        second = torch.randint(half, self.length, (batch_size,), generator=generator)
        rows = torch.arange(batch_size)
        marks = torch.zeros_like(values)
        marks[rows, first] = 1.0
        marks[rows, second] = 1.0
        targets = (values[rows, first] + values[rows, second]).unsqueeze(1)
        return torch.stack((values, marks), dim=-1), targets

    def loss(self, output: Tensor, targets: Tensor) -> Tensor:
        return mean_squared_error(output, targets)

    def metric(self, output: Tensor, targets: Tensor) -> Tensor:
        return mean_squared_error(output, targets)

    def baseline(self) -> Baseline:
        return Baseline(
            ADDING_BASELINE_MSE,
            ADDING_BASELINE_MSE,
            "predict 1 (the mean of the sum): MSE = Var(U1 + U2) = 2/12 = 1/6",
        )

    def describe(self) -> str:
        return (
            f"adding problem, length {self.length}: sum of two marked U[0,1] values, one mark "
            "in each half (Hochreiter & Schmidhuber 1997; coRNN's generator)"
        )
