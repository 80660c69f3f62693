"""Layers of oscillator systems, each driven by the output of the layer below."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from .base import SecondOrderSystem

__all__ = ["SystemStack"]


class SystemStack(nn.Module):
    """``layers[0]`` reads the input; ``layers[k]`` reads the output sequence of ``layers[k-1]``.

    Each layer runs over the whole sequence before the next (as multi-layer ``torch.nn.RNN``
    and the released UnICORNN do), so layer ``k`` at step ``n`` sees layer ``k-1``'s output
    of the same step. ``oscdyn.compile`` turns a stack into a
    :class:`~oscdyn.compile.StackedOscillatorRNN`. All layers share one ``state_size``.
    """

    def __init__(self, layers: Sequence[SecondOrderSystem]) -> None:
        super().__init__()
        if not layers:
            raise ValueError("a SystemStack needs at least one layer")
        for k, layer in enumerate(layers):
            if not isinstance(layer, SecondOrderSystem):
                raise TypeError(
                    f"layers[{k}] must be a SecondOrderSystem, got {type(layer).__name__}"
                )
            if layer.state_size != layers[0].state_size:
                raise ValueError(
                    f"layers[{k}] has state_size {layer.state_size}, layers[0] has "
                    f"{layers[0].state_size}; a stack's layers share one state size"
                )
            if k and layer.input_size != layers[k - 1].output_size:
                raise ValueError(
                    f"layers[{k}] takes {layer.input_size} inputs but layers[{k - 1}] gives "
                    f"{layers[k - 1].output_size} outputs"
                )
        self.layers = nn.ModuleList(layers)

    @property
    def input_size(self) -> int:
        return self.layers[0].input_size

    @property
    def state_size(self) -> int:
        return self.layers[0].state_size

    @property
    def output_size(self) -> int:
        return self.layers[-1].output_size

    def __len__(self) -> int:
        return len(self.layers)
