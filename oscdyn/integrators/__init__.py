"""Discretizers of ``y'' = -K y - D y' + F(y, y', u, t)`` behind a registry.

``get(name)`` returns an instance, ``available()`` the names, ``table()`` their class facts,
``register(cls)`` adds a scheme.
"""

from .base import Integrator
from .euler import Euler
from .exponential import Exponential
from .imex import IMEX
from .leapfrog import Leapfrog
from .registry import available, get, numeric_facts, register, table
from .rk4 import RK4
from .symplectic_euler import SymplecticEuler
from .torchdiffeq_solver import TorchDiffEq

__all__ = [
    "Integrator",
    "IMEX",
    "SymplecticEuler",
    "Leapfrog",
    "Exponential",
    "Euler",
    "RK4",
    "TorchDiffEq",
    "available",
    "get",
    "register",
    "table",
    "numeric_facts",
]
