"""Oscillator systems ``y'' = -K y - D y' + F(y, y', u, t)`` and their linear operators."""

from .base import SecondOrderSystem
from .chain import OscillatorChain
from .duffing import Duffing
from .harmonic import HarmonicOscillator
from .operators import Circulant, Dense, Diagonal, LinearFlow, Operator
from .pendulum import Pendulum
from .van_der_pol import VanDerPol

__all__ = [
    "SecondOrderSystem",
    "Operator",
    "Diagonal",
    "Dense",
    "Circulant",
    "LinearFlow",
    "HarmonicOscillator",
    "OscillatorChain",
    "Duffing",
    "VanDerPol",
    "Pendulum",
]
