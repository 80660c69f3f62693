"""Backends that run a compiled oscillator recurrence; ``get(name)``, ``available()``.

``eager`` is the reference loop; ``auto`` picks the fastest backend valid for the system,
integrator and device.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Backend
from .eager import Eager
from .fused import Fused

if TYPE_CHECKING:
    from ..compile import OscillatorRNN

__all__ = ["Backend", "Eager", "Fused", "available", "get"]

_BACKENDS: dict[str, type[Backend]] = {Eager.name: Eager, Fused.name: Fused}
_PREFERENCE = [Eager.name]


def available() -> list[str]:
    """Backend names accepted by ``oscdyn.compile`` (besides ``"auto"``)."""
    return list(_BACKENDS)


def get(name: str, rnn: OscillatorRNN) -> Backend:
    """The backend ``name`` for ``rnn``, or the fastest valid one for ``"auto"``."""
    if name == "auto":
        for candidate in _PREFERENCE:
            backend = _BACKENDS[candidate]()
            if backend.unsupported_reason(rnn) is None:
                return backend
    if name not in _BACKENDS:
        known = ", ".join(f"'{n}'" for n in ["auto", *available()])
        raise ValueError(f"unknown backend '{name}'; known: {known}")
    backend = _BACKENDS[name]()
    reason = backend.unsupported_reason(rnn)
    if reason is not None:
        raise ValueError(f"backend '{name}' cannot run this model: {reason}")
    return backend
