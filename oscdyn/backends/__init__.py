"""Backends that run a compiled oscillator recurrence; ``get(name)``, ``available()``.

``eager`` is the reference loop; ``auto`` picks the fastest backend valid for the system,
integrator and device.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from . import fused_cornn, independent_units
from .base import Backend
from .eager import Eager
from .fused import Fused
from .scan import Scan

if TYPE_CHECKING:
    from ..compile import OscillatorRNN

__all__ = ["Backend", "Eager", "Fused", "Scan", "available", "get"]

_BACKENDS: dict[str, type[Backend]] = {Eager.name: Eager, Fused.name: Fused, Scan.name: Scan}
#: backends imported on first use, ``name -> (module, class)``: ``triton`` imports Triton
#: (slow, and absent from CPU-only installs, where the backend says why it cannot run)
_LAZY: dict[str, tuple[str, str]] = {"triton": (".triton_kernels", "Triton")}


def _auto_candidates(rnn: OscillatorRNN) -> list[str]:
    """What ``auto`` tries, fastest first (the first valid one wins).

    triton (CUDA only) where it applies; on other devices ``fused`` where it has a
    closed-form path (independent-unit systems, :mod:`oscdyn.backends.fused_units`; coRNN
    with a fixed step, :mod:`oscdyn.backends.fused_cornn`), else ``eager``. Measured on the
    2-core CPU (batch 64, length 784, hidden 128, forward+backward, one thread; ``oscdyn
    bench``, README): UnICORNN fused about 0.1 s against eager 0.2 s; coRNN fused 0.17 s
    against eager 0.32 s; LinearOscillators eager 0.11 s, scan 0.14 s (scan wins with two
    idle threads or long sequences: 0.50 s vs 0.87 s at length 4096).
    """
    candidates = ["triton"]
    closed_form = (independent_units.unsupported_reason, fused_cornn.unsupported_reason)
    if any(reason(rnn) is None for reason in closed_form):
        candidates.append(Fused.name)
    return [*candidates, Eager.name]


def available() -> list[str]:
    """Backend names accepted by ``oscdyn.compile`` (besides ``"auto"``)."""
    return [*_BACKENDS, *(name for name in _LAZY if name not in _BACKENDS)]


def _backend_class(name: str) -> type[Backend] | None:
    """The class registered as ``name`` (importing a lazy one), ``None`` if unknown."""
    if name not in _BACKENDS and name in _LAZY:
        module, attribute = _LAZY[name]
        try:
            _BACKENDS[name] = getattr(importlib.import_module(module, __name__), attribute)
        except ImportError as error:  # pragma: no cover - depends on the installation
            raise ValueError(f"backend '{name}' could not be imported: {error}") from error
    return _BACKENDS.get(name)


def get(name: str, rnn: OscillatorRNN) -> Backend:
    """The backend ``name`` for ``rnn``, or the fastest valid one for ``"auto"``."""
    if name == "auto":
        for candidate in _auto_candidates(rnn):
            try:
                candidate_class = _backend_class(candidate)
            except ValueError:  # a lazy backend that cannot be imported here
                continue
            backend = candidate_class()
            if backend.unsupported_reason(rnn) is None:
                return backend
    backend_class = _backend_class(name)
    if backend_class is None:
        known = ", ".join(f"'{n}'" for n in ["auto", *available()])
        raise ValueError(f"unknown backend '{name}'; known: {known}")
    backend = backend_class()
    reason = backend.unsupported_reason(rnn)
    if reason is not None:
        raise ValueError(f"backend '{name}' cannot run this model: {reason}")
    return backend
