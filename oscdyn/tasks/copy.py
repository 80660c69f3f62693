"""The copy (memory) task (Hochreiter & Schmidhuber 1997; the form of Arjovsky, Shah &
Bengio, "Unitary evolution recurrent neural networks", ICML 2016, sec. 4.1).

Categories ``0`` (blank), ``1 .. symbols`` (data) and ``symbols + 1`` (delimiter), one-hot.
A sequence of ``delay + 2 * copy_length`` steps shows ``copy_length`` data symbols, then
``delay - 1`` blanks, the delimiter and ``copy_length`` more blanks; the answer is blank
for the first ``delay + copy_length`` steps, then the data symbols in order. The loss is
the cross-entropy averaged over every step.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import Baseline, ClassificationTask, accuracy, check_batch_size

__all__ = ["CopyTask"]


class CopyTask(ClassificationTask):
    """Remember ``copy_length`` symbols for ``delay`` steps and repeat them on cue.

    Inputs ``(batch, delay + 2 copy_length, symbols + 2)`` one-hot; targets
    ``(batch, delay + 2 copy_length)`` class indices (``per_step``). Metric: accuracy on the
    ``copy_length`` recalled symbols (chance ``1 / symbols``). Memoryless baseline (Arjovsky
    et al.): blank for the first ``delay + copy_length`` steps, then a uniform guess among
    the data symbols, cross-entropy ``copy_length * log(symbols) / (delay + 2 copy_length)``.
    """

    name: ClassVar[str] = "copy"
    per_step: ClassVar[bool] = True

    def __init__(self, delay: int = 1000, symbols: int = 8, copy_length: int = 10) -> None:
        for label, value, least in (
            ("delay", delay, 1),
            ("symbols", symbols, 2),
            ("copy_length", copy_length, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"{label} must be an integer >= {least}, got {value!r}")
        self.delay = delay
        self.symbols = symbols
        self.copy_length = copy_length
        self.length = delay + 2 * copy_length
        self.input_size = symbols + 2
        self.output_size = symbols + 2

    @property
    def delimiter(self) -> int:
        return self.symbols + 1

    def sample(self, batch_size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        check_batch_size(batch_size)
        data = torch.randint(
            1, self.symbols + 1, (batch_size, self.copy_length), generator=generator
        )
        categories = torch.zeros(batch_size, self.length, dtype=torch.long)
        categories[:, : self.copy_length] = data
        categories[:, self.delay + self.copy_length - 1] = self.delimiter
        targets = torch.zeros_like(categories)
        targets[:, -self.copy_length :] = data
        return F.one_hot(categories, self.input_size).float(), targets

    def metric(self, output: Tensor, targets: Tensor) -> Tensor:
        recall = slice(-self.copy_length, None)
        return accuracy(output[:, recall], targets[:, recall])

    def baseline(self) -> Baseline:
        loss = self.copy_length * math.log(self.symbols) / self.length
        return Baseline(
            loss,
            1.0 / self.symbols,
            f"memoryless: blank, then a uniform guess among {self.symbols} symbols: "
            f"cross-entropy {self.copy_length} log({self.symbols}) / {self.length}",
        )

    def describe(self) -> str:
        return (
            f"copy task, delay {self.delay}: repeat {self.copy_length} of {self.symbols} "
            f"symbols on cue, {self.length} steps (Arjovsky, Shah & Bengio 2016)"
        )
