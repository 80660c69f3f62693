"""Oscillator systems ``y'' = -K y - D y' + F(y, y', u, t)`` and their linear operators."""

from .base import SecondOrderSystem
from .chain import OscillatorChain
from .cornn import CoRNN
from .duffing import Duffing
from .hamiltonian_rnn import HamiltonianRNN
from .harmonic import HarmonicOscillator
from .lattice import LatticeOscillators
from .linear_oscillators import LinearOscillators
from .operators import Circulant, Dense, Diagonal, LinearFlow, Operator
from .pendulum import Pendulum
from .stack import SystemStack
from .unicornn import UnICORNN, UnICORNNLayer
from .unitary import (
    ContractiveReLURNN,
    ModReLU,
    OrthogonalMatrix,
    UnitaryRNN,
    from_contractive_relu,
    orthogonal_dilation,
)
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
    "SystemStack",
    "CoRNN",
    "UnICORNN",
    "UnICORNNLayer",
    "LinearOscillators",
    "LatticeOscillators",
    "HamiltonianRNN",
    "OrthogonalMatrix",
    "ModReLU",
    "UnitaryRNN",
    "ContractiveReLURNN",
    "from_contractive_relu",
    "orthogonal_dilation",
]
