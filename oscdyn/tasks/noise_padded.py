"""Noise padding: a task's sequences continued by Gaussian noise up to a longer length.

After the noise-padded CIFAR-10 of coRNN (Rusch & Mishra, ICLR 2021; released code
github.com/tk-rusch/coRNN, ``noisy_CIFAR10``): the informative part (there, 32 rows of an
image) comes first, then ``N(0, 1)`` noise up to 1000 steps, and the answer is read at
the end, so a model must carry what it saw across the noise. The released code draws one
noise pattern and repeats it for every image (``fixed_noise=True`` here); with
``fixed_noise=False`` each sequence gets its own noise, a harder task.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from .base import Baseline, SequenceTask, check_batch_size

__all__ = ["NoisePadded"]


class NoisePadded(SequenceTask):
    """``task``'s inputs ``(batch, task.length, input)`` followed by noise, ``(batch, length,
    input)``; targets, loss, metric and baseline are ``task``'s.

    Args:
        task: a task with one answer per sequence (not ``per_step``).
        length: total steps, greater than ``task.length``.
        noise_std: standard deviation of the padding noise.
        fixed_noise: one pattern (drawn from ``noise_seed``) for every sequence, as coRNN.
        noise_seed: seed of the fixed pattern.
    """

    name: ClassVar[str] = "noise_padded"

    def __init__(
        self,
        task: SequenceTask,
        length: int,
        noise_std: float = 1.0,
        fixed_noise: bool = True,
        noise_seed: int = 0,
    ) -> None:
        if not isinstance(task, SequenceTask):
            raise TypeError(f"task must be a SequenceTask, got {type(task).__name__}")
        if task.per_step:
            raise ValueError(
                f"cannot noise-pad '{task.name}': it has an answer at every step, so padding "
                "would move its targets; pad tasks with one answer per sequence"
            )
        if isinstance(length, bool) or not isinstance(length, int) or length <= task.length:
            raise ValueError(
                f"the padded length must be an integer greater than the task's {task.length} "
                "steps, "
                f"got {length!r}"
            )
        if not noise_std >= 0:
            raise ValueError(f"noise_std must be >= 0, got {noise_std}")
        self.task = task
        self.length = length
        self.input_size = task.input_size
        self.output_size = task.output_size
        self.noise_std = float(noise_std)
        self.fixed_noise = fixed_noise
        self.metric_name = task.metric_name
        self.higher_is_better = task.higher_is_better
        self.padding = length - task.length
        self._pattern = None
        if fixed_noise:
            generator = torch.Generator().manual_seed(noise_seed)
            self._pattern = torch.randn(self.padding, task.input_size, generator=generator)

    def pad(self, inputs: Tensor, generator: torch.Generator) -> Tensor:
        """``inputs`` ``(batch, task.length, input)`` with the noise appended along time."""
        batch = inputs.shape[0]
        if self._pattern is not None:
            noise = self._pattern.expand(batch, -1, -1)
        else:
            noise = torch.randn(batch, self.padding, self.input_size, generator=generator)
        return torch.cat((inputs, self.noise_std * noise.to(inputs.dtype)), dim=1)

    def sample(self, batch_size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        check_batch_size(batch_size)
        inputs, targets = self.task.sample(batch_size, generator)
        return self.pad(inputs, generator), targets

    def test_set(self, size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        inputs, targets = self.task.test_set(size, generator)
        return self.pad(inputs, generator), targets

    def loss(self, output: Tensor, targets: Tensor) -> Tensor:
        return self.task.loss(output, targets)

    def metric(self, output: Tensor, targets: Tensor) -> Tensor:
        return self.task.metric(output, targets)

    def baseline(self) -> Baseline:
        return self.task.baseline()

    def describe(self) -> str:
        kind = "one fixed pattern" if self.fixed_noise else "fresh per sequence"
        return (
            f"{self.task.describe()}; padded with N(0, {self.noise_std:g}^2) noise "
            f"({kind}) to {self.length} steps (coRNN's noise padding)"
        )
