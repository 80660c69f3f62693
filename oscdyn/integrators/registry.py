"""The integrator registry: ``get(name)``, ``available()``, ``register(cls)``, ``table()``."""

from __future__ import annotations

import math
from typing import Any

from ..tables import aligned_table
from .base import Integrator

__all__ = ["register", "get", "available", "table", "numeric_facts"]

_REGISTRY: dict[str, type[Integrator]] = {}


def register(cls: type[Integrator]) -> type[Integrator]:
    """Class decorator: make ``cls`` available as ``get(cls.name)``.

    A class whose constructor takes a ``method`` is reached as ``"name:method"``.
    """
    if not (isinstance(cls, type) and issubclass(cls, Integrator)):
        raise TypeError(f"register expects an Integrator subclass, got {cls!r}")
    _REGISTRY[cls.name] = cls
    return cls


def available() -> list[str]:
    """Registered integrator names (``torchdiffeq`` is used as ``"torchdiffeq:<method>"``)."""
    return sorted(_REGISTRY)


def get(name: str | Integrator, **options: Any) -> Integrator:
    """An integrator instance from its name (``"leapfrog"``, ``"torchdiffeq:dopri5"``, ...).

    An :class:`Integrator` instance is returned as it is. ``options`` go to the constructor.
    """
    if isinstance(name, Integrator):
        if options:
            raise ValueError("options cannot be given with an Integrator instance")
        return name
    if not isinstance(name, str):
        raise TypeError(f"integrator must be a name or an Integrator, got {type(name).__name__}")
    key, _, method = name.partition(":")
    if key not in _REGISTRY:
        known = ", ".join(f"'{n}'" for n in available())
        raise ValueError(
            f"unknown integrator '{name}'; known: {known} (torchdiffeq as 'torchdiffeq:<method>')"
        )
    if method:
        return _REGISTRY[key](method, **options)
    return _REGISTRY[key](**options)


def numeric_facts(name: str | Integrator) -> dict[str, float | bool]:
    """``order``, ``symplectic``, ``reversible``, ``stability_limit`` of an integrator as
    numbers (``nan`` where a fact is ``None``), for tables and datasets."""
    facts = type(get(name)).facts()
    order, limit = facts["order"], facts["stability_limit"]
    return {
        "order": math.nan if order is None else float(order),
        "symplectic": bool(facts["symplectic"]),
        "reversible": bool(facts["reversible"]),
        "stability_limit": math.nan if limit is None else float(limit),
    }


def table() -> str:
    """The registered integrators and their class facts as a plain-text table."""
    rows = [_REGISTRY[name].facts() for name in available()]
    columns = list(rows[0])
    cells = [[str(row[c]) for c in columns] for row in rows]
    return "\n".join(aligned_table(columns, cells, left=range(len(columns))))
