"""The abstract long-dependency task: seeded, batched sequences generated on the fly.

A task draws ``(inputs, targets)`` from a ``torch.Generator``: ``inputs`` is
``(batch, time, input_size)`` float32 on the CPU; ``targets`` is ``(batch, output_size)``
(regression), ``(batch,)`` class indices (one label per sequence) or ``(batch, time)`` class
indices (``per_step`` tasks, an answer at every step). It states its loss, its metric and
the score of a trivial predictor (:class:`Baseline`), so a learning curve can be read
against what a model without memory achieves.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "SequenceTask",
    "ClassificationTask",
    "Baseline",
    "check_batch_size",
    "mean_squared_error",
    "accuracy",
]


@dataclass(frozen=True)
class Baseline:
    """What a predictor without memory of the inputs scores on a task.

    Attributes:
        loss: its expected training loss (the task's :meth:`SequenceTask.loss`).
        metric: its expected value of the task's metric.
        description: what the predictor does and why it scores that.
    """

    loss: float
    metric: float
    description: str


def check_batch_size(batch_size: int, name: str = "batch_size") -> int:
    """``batch_size`` as a positive int, else ``ValueError`` naming ``name``."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"{name} must be a positive integer, got {batch_size!r}")
    return batch_size


def mean_squared_error(output: Tensor, targets: Tensor) -> Tensor:
    """Mean of ``(output - targets)^2`` over every entry (a 0-d tensor)."""
    return F.mse_loss(output, targets)


def accuracy(logits: Tensor, labels: Tensor) -> Tensor:
    """Fraction of ``argmax(logits, -1) == labels`` (a 0-d float tensor)."""
    return (logits.argmax(-1) == labels).float().mean()


class SequenceTask(ABC):
    """A sequence task: inputs ``(batch, time, input_size)``, seeded, generated on the fly.

    Class facts: ``name`` (the ``oscdyn train-task`` name); ``per_step`` (targets at every
    step, so a model reads out its whole state sequence, not only the last state);
    ``metric_name`` and ``higher_is_better`` (how to read :meth:`metric`). Instances set
    ``length`` (steps), ``input_size`` and ``output_size``.
    """

    name: ClassVar[str]
    per_step: ClassVar[bool] = False
    metric_name: ClassVar[str]
    higher_is_better: ClassVar[bool]

    length: int
    input_size: int
    output_size: int

    @abstractmethod
    def sample(self, batch_size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """A training batch ``(inputs, targets)`` drawn with ``generator`` (CPU tensors)."""

    def test_set(self, size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """The held-out set: ``size`` sequences drawn with ``generator`` (a generator seeded
        apart from the training stream). Tasks read from a file override this."""
        return self.sample(size, generator)

    @abstractmethod
    def loss(self, output: Tensor, targets: Tensor) -> Tensor:
        """The training loss of a model ``output`` (0-d tensor, differentiable)."""

    @abstractmethod
    def metric(self, output: Tensor, targets: Tensor) -> Tensor:
        """The reported score of ``output`` (0-d tensor)."""

    @abstractmethod
    def baseline(self) -> Baseline:
        """Loss and metric of the trivial, memoryless predictor."""

    @abstractmethod
    def describe(self) -> str:
        """One line: the task, its length and the paper it comes from."""


class ClassificationTask(SequenceTask):
    """Cross-entropy loss and accuracy; ``output`` is logits ``(..., output_size)``."""

    metric_name: ClassVar[str] = "accuracy"
    higher_is_better: ClassVar[bool] = True

    def loss(self, output: Tensor, targets: Tensor) -> Tensor:
        return F.cross_entropy(output.reshape(-1, output.shape[-1]), targets.reshape(-1))

    def metric(self, output: Tensor, targets: Tensor) -> Tensor:
        return accuracy(output, targets)
