"""Step maps of compiled oscillator models, and ``as_step_map`` for any supported model.

The flat state of an :class:`~oscdyn.compile.OscillatorRNN` is ``x = [y, v]``
(``(batch, 2 units)``); of a :class:`~oscdyn.compile.StackedOscillatorRNN` the layers'
``[y, v]`` one after the other (``(batch, 2 units layers)``). One step is exactly the step
the ``eager`` backend takes: ``integrator.step(system, y, v, u_k, k h, h, cache)``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..compile import OscillatorRNN, StackedOscillatorRNN
from .base import StepMap

__all__ = ["OscillatorStepMap", "StackStepMap", "as_step_map"]


def _pair(state: Any, name: str) -> tuple[Tensor, Tensor]:
    if not (isinstance(state, (tuple, list)) and len(state) == 2):
        raise TypeError(f"{name} must be a pair (y, v) of tensors, got {type(state).__name__}")
    return state[0], state[1]


class OscillatorStepMap(StepMap):
    """One step of a compiled :class:`~oscdyn.compile.OscillatorRNN` on ``x = [y, v]``."""

    def __init__(self, rnn: OscillatorRNN) -> None:
        self.rnn = rnn
        self.system = rnn.system
        self.integrator = rnn.integrator
        self.h = rnn.step_size()
        self.cache = self.integrator.prepare(self.system, self.h)
        self.units = self.system.state_size
        self.size = 2 * self.units
        self.input_size = self.system.input_size
        self.dtype = rnn.dtype
        self.device = rnn.device

    def initial_state(self, state: Any, batch: int) -> Tensor:
        if state is None:
            return torch.zeros(batch, self.size, dtype=self.dtype, device=self.device)
        y, v = _pair(state, "state")
        x = torch.cat([torch.as_tensor(y), torch.as_tensor(v)], -1)
        x = x.to(dtype=self.dtype, device=self.device)
        x = x[None] if x.ndim == 1 else x
        if x.shape[-1] != self.size:
            raise ValueError(
                f"state (y, v) must have {self.units} units each, got {tuple(x.shape)} joined"
            )
        return x.expand(batch, -1) if x.shape[0] == 1 and batch > 1 else x

    def inputs(self, u: Tensor | None) -> Tensor | None:
        if u is None or self.system.input_size == 0:
            return None
        return self.system.encode_input(u)

    def _time(self, k: int | Tensor) -> Tensor | float:
        if isinstance(k, int):
            return k * self.h
        return k.to(self.dtype).reshape(-1, 1) * self.h

    def step(self, x: Tensor, u_k: Tensor | None, k: int | Tensor) -> Tensor:
        y, v = x[..., : self.units], x[..., self.units :]
        y, v = self.integrator.step(self.system, y, v, u_k, self._time(k), self.h, self.cache)
        return torch.cat([y, v], -1)

    @property
    def reversible(self) -> bool:
        return self.integrator.is_reversible_for(self.system)

    def inverse_step(self, x: Tensor, u_k: Tensor | None, k: int | Tensor) -> Tensor:
        y, v = x[..., : self.units], x[..., self.units :]
        t = self._time(k)
        y, v = self.integrator.inverse_step(self.system, y, v, u_k, t, self.h, self.cache)
        return torch.cat([y, v], -1)

    def vector_field(self, x: Tensor, u_k: Tensor | None, k: int | Tensor) -> Tensor:
        y, v = x[..., : self.units], x[..., self.units :]
        return torch.cat([v, self.system.acceleration(y, v, u_k, self._time(k))], -1)

    def energy(self, x: Tensor) -> Tensor | None:
        if not self.system.has_energy:
            return None
        return self.system.energy(x[..., : self.units], x[..., self.units :])

    def step_lengths(self) -> Tensor:
        return torch.as_tensor(self.h, dtype=self.dtype, device=self.device).detach()


class StackStepMap(StepMap):
    """One step of a :class:`~oscdyn.compile.StackedOscillatorRNN`: the layers in turn.

    Layer ``l`` at step ``k`` reads layer ``l - 1``'s readout of its new positions (as the
    compiled stack does), so the step's Jacobian is block lower-triangular in the layers.
    ``inputs`` are the raw inputs; each step encodes them for the first layer.
    """

    def __init__(self, rnn: StackedOscillatorRNN) -> None:
        self.rnn = rnn
        self.layers = [OscillatorStepMap(layer) for layer in rnn.layers]
        self.units = self.layers[0].units
        self.size = sum(layer.size for layer in self.layers)
        self.input_size = self.layers[0].input_size
        self.dtype = self.layers[0].dtype
        self.device = self.layers[0].device

    def initial_state(self, state: Any, batch: int) -> Tensor:
        if state is None:
            return torch.zeros(batch, self.size, dtype=self.dtype, device=self.device)
        y, v = _pair(state, "state")
        y = torch.as_tensor(y, dtype=self.dtype, device=self.device)
        v = torch.as_tensor(v, dtype=self.dtype, device=self.device)
        if y.ndim != 3 or y.shape[0] != len(self.layers) or v.shape != y.shape:
            raise ValueError(
                f"state must be (y0, v0), each (num_layers={len(self.layers)}, batch, units); "
                f"got {tuple(y.shape)} and {tuple(v.shape)}"
            )
        x = torch.cat([torch.cat([y[i], v[i]], -1) for i in range(len(self.layers))], -1)
        return x.expand(batch, -1) if x.shape[0] == 1 and batch > 1 else x

    def inputs(self, u: Tensor | None) -> Tensor | None:
        return None if u is None or self.layers[0].system.input_size == 0 else u

    def _split(self, x: Tensor) -> list[Tensor]:
        return list(torch.split(x, [layer.size for layer in self.layers], -1))

    @staticmethod
    def _encode(layer: OscillatorStepMap, raw: Tensor | None) -> Tensor | None:
        if raw is None or layer.system.input_size == 0:
            return None
        return layer.system.encode_input(raw[:, None])[:, 0]

    @staticmethod
    def _output(layer: OscillatorStepMap, x: Tensor, raw: Tensor | None) -> Tensor:
        positions = x[:, None, : layer.units]
        return layer.system.readout(positions, None if raw is None else raw[:, None])[:, 0]

    def step(self, x: Tensor, u_k: Tensor | None, k: int | Tensor) -> Tensor:
        raw, out = u_k, []
        for layer, part in zip(self.layers, self._split(x), strict=True):
            new = layer.step(part, self._encode(layer, raw), k)
            raw = self._output(layer, new, raw)
            out.append(new)
        return torch.cat(out, -1)

    @property
    def reversible(self) -> bool:
        return all(layer.reversible for layer in self.layers)

    def inverse_step(self, x: Tensor, u_k: Tensor | None, k: int | Tensor) -> Tensor:
        # every layer's input of step k is known from the state after it
        raw, out = u_k, []
        for layer, part in zip(self.layers, self._split(x), strict=True):
            out.append(layer.inverse_step(part, self._encode(layer, raw), k))
            raw = self._output(layer, part, raw)
        return torch.cat(out, -1)

    def vector_field(self, x: Tensor, u_k: Tensor | None, k: int | Tensor) -> Tensor:
        raw, out = u_k, []
        for layer, part in zip(self.layers, self._split(x), strict=True):
            out.append(layer.vector_field(part, self._encode(layer, raw), k))
            raw = self._output(layer, part, raw)
        return torch.cat(out, -1)

    def energy(self, x: Tensor) -> Tensor | None:
        energies = [
            layer.energy(part) for layer, part in zip(self.layers, self._split(x), strict=True)
        ]
        if any(e is None for e in energies):
            return None
        return torch.stack(energies).sum(0)

    def step_lengths(self) -> Tensor:
        return torch.cat([layer.step_lengths().reshape(-1) for layer in self.layers])


def as_step_map(model: Any) -> StepMap:
    """The :class:`StepMap` of ``model``.

    ``model``: a compiled :class:`~oscdyn.compile.OscillatorRNN` or
    :class:`~oscdyn.compile.StackedOscillatorRNN`, any module with a ``step_map()`` method
    (e.g. :class:`~oscdyn.analysis.TanhRNN`), or a :class:`StepMap`.
    """
    if isinstance(model, StepMap):
        return model
    if isinstance(model, OscillatorRNN):
        return OscillatorStepMap(model)
    if isinstance(model, StackedOscillatorRNN):
        return StackStepMap(model)
    if callable(getattr(model, "step_map", None)):
        return model.step_map()
    raise TypeError(
        "expected a compiled oscillator model (oscdyn.compile(...)), a module with a "
        f"step_map() method or a StepMap, got {type(model).__name__}"
    )
