"""The one-step map every stability instrument reads: a recurrent model on a flat state.

A :class:`StepMap` exposes one step of a recurrent model as a function of a flat state
``x`` of shape ``(batch, size)`` (for an oscillator model ``x = [y, v]``), the per-step
input and the step index. The instruments (Jacobians, spectral radii, gradient-norm
profiles, energy drift, reversibility) are written once against it; ``as_step_map`` in
:mod:`oscdyn.analysis.step_maps` builds one for a compiled model.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor

__all__ = ["StepMap", "single_thread"]


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run with one intra-op thread (restored afterwards); also a function decorator.

    The instruments work on small tensors (a state of tens of numbers, matrices of tens of
    rows) step after step, where a second thread only adds synchronisation: measured on a
    loaded 2-core machine, 1000 lattice steps took 0.25 s with 1 thread and 7 s with 2,
    and a 64x64 float64 matrix product 8 us against 0.7 ms.
    """
    threads = torch.get_num_threads()
    if threads > 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if threads > 1:
            torch.set_num_threads(threads)


class StepMap(ABC):
    """One step ``x_{k+1} = step(x_k, u_k, k)`` of a recurrent model on a flat state.

    Shapes: ``x`` is ``(batch, size)``; ``u_k`` is the input of step ``k`` as returned by
    :meth:`inputs` sliced at ``k`` (``(batch, m)``) or ``None``; ``k`` is a Python int or an
    integer tensor ``(batch,)`` (one step index per row, so many steps of one sequence can
    be evaluated as one batch).
    """

    #: length of the flat state
    size: int
    #: inputs per step of the model (``u`` is ``(batch, steps, input_size)``); 0: none
    input_size: int
    #: dtype and device of the model's parameters
    dtype: torch.dtype
    device: torch.device

    @abstractmethod
    def initial_state(self, state: Any, batch: int) -> Tensor:
        """The flat state ``(batch, size)`` for the model's own ``state`` (zeros if None)."""

    @abstractmethod
    def inputs(self, u: Tensor | None) -> Tensor | None:
        """Per-step inputs ``(batch, steps, m)`` as :meth:`step` reads them (``u`` encoded).

        ``u`` is the model's input ``(batch, steps, input_size)`` or ``None`` (no input:
        free, undriven evolution).
        """

    @abstractmethod
    def step(self, x: Tensor, u_k: Tensor | None, k: int | Tensor) -> Tensor:
        """The state after step ``k`` from ``x`` (the state before it), ``(batch, size)``."""

    @property
    def reversible(self) -> bool:
        """Whether :meth:`inverse_step` undoes :meth:`step` exactly."""
        return False

    def inverse_step(self, x: Tensor, u_k: Tensor | None, k: int | Tensor) -> Tensor:
        """The state before step ``k`` from the state after it (reversible models only)."""
        raise NotImplementedError(f"{type(self).__name__} has no inverse step")

    def vector_field(self, x: Tensor, u_k: Tensor | None, k: int | Tensor) -> Tensor | None:
        """``dx/dt`` of the continuous system the step discretizes, or ``None`` if none."""
        return None

    def energy(self, x: Tensor) -> Tensor | None:
        """The undamped, undriven energy ``(batch,)``, or ``None`` where not defined."""
        return None

    def step_lengths(self) -> Tensor:
        """The step of every unit in the system's time units (a 0-d or 1-d tensor)."""
        return torch.ones((), dtype=self.dtype)

    def zero_inputs(self, batch: int, steps: int = 1) -> Tensor | None:
        """:meth:`inputs` of an all-zero input sequence (``None`` for a model without input)."""
        if self.input_size == 0:
            return None
        u = torch.zeros(batch, steps, self.input_size, dtype=self.dtype, device=self.device)
        return self.inputs(u)

    def run(self, x: Tensor, inputs: Tensor | None, steps: int) -> Tensor:
        """States ``(steps + 1, batch, size)`` from ``x``, without gradients."""
        states = [x]
        with torch.no_grad():
            for k in range(steps):
                x = self.step(x, None if inputs is None else inputs[:, k], k)
                states.append(x)
        return torch.stack(states)
