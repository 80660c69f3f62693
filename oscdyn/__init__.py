"""oscdyn: oscillator networks as second-order ODE systems, discretized into fast recurrences.

import oscdyn
from oscdyn.systems import Duffing
rnn = oscdyn.compile(Duffing(), "leapfrog", dt=0.05)
y_seq, (y_T, v_T) = rnn(None, state=(y0, v0), steps=1000)
"""

from . import backends, integrators, systems
from .compile import OscillatorRNN, StabilityWarning, StackedOscillatorRNN, compile
from .integrators import Integrator
from .systems import SecondOrderSystem

__version__ = "0.1.0"

__all__ = [
    "compile",
    "OscillatorRNN",
    "StackedOscillatorRNN",
    "StabilityWarning",
    "SecondOrderSystem",
    "Integrator",
    "systems",
    "integrators",
    "backends",
    "__version__",
]
