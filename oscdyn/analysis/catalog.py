"""The built-in systems by name, as the stability study builds them.

Each entry builds a system with its published or textbook defaults (``conservative=True``:
the same system without damping, on which the energy drift is measured) and names the step
``dt`` of the study's gradient-norm, energy and reversibility runs (the paper's step for the
networks). Neural systems are small (16 units) so a study takes seconds on a CPU.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..systems import (
    CoRNN,
    Duffing,
    HamiltonianRNN,
    HarmonicOscillator,
    LatticeOscillators,
    LinearOscillators,
    OscillatorChain,
    Pendulum,
    SecondOrderSystem,
    SystemStack,
    UnICORNN,
    VanDerPol,
)

__all__ = ["StudySystem", "STUDY_SYSTEMS", "study_system"]

#: units of the neural systems in the study
HIDDEN = 16


@dataclass(frozen=True)
class StudySystem:
    """A named system of the stability study.

    Attributes:
        name: the ``oscdyn stability --system`` name.
        build: ``build(conservative)`` -> a fresh system (float32, as constructed).
        dt: the step of the gradient-norm, energy and reversibility runs.
        description: one line, with the paper or textbook it comes from.
    """

    name: str
    build: Callable[[bool], SecondOrderSystem | SystemStack]
    dt: float
    description: str


def _duffing(conservative: bool) -> Duffing:
    return Duffing(alpha=1.0, beta=1.0, delta=0.0 if conservative else 0.1)


STUDY_SYSTEMS: dict[str, StudySystem] = {
    entry.name: entry
    for entry in (
        StudySystem(
            "harmonic",
            lambda conservative: HarmonicOscillator(1.0),
            0.1,
            "harmonic oscillator y'' = -y (omega = 1)",
        ),
        StudySystem(
            "chain",
            lambda conservative: OscillatorChain(8, spring=1.0),
            0.1,
            "8 equal masses and springs between fixed walls (omega_max = 2 sin(4 pi / 9))",
        ),
        StudySystem(
            "duffing",
            _duffing,
            0.1,
            "Duffing y'' = -y - 0.1 y' - y^3 (Duffing 1918); energy on delta = 0",
        ),
        StudySystem(
            "van_der_pol",
            lambda conservative: VanDerPol(mu=1.0),
            0.05,
            "van der Pol y'' = -y + (1 - y^2) y' (van der Pol 1926): unstable origin, limit cycle",
        ),
        StudySystem(
            "pendulum",
            lambda conservative: Pendulum(omega=1.0),
            0.1,
            "pendulum y'' = -sin(y), no stiffness operator",
        ),
        StudySystem(
            "cornn",
            lambda conservative: CoRNN(1, HIDDEN, gamma=2.7, epsilon=4.7),
            0.042,
            f"coRNN, {HIDDEN} units, sMNIST gamma = 2.7, epsilon = 4.7, dt = 0.042 "
            "(Rusch & Mishra, ICLR 2021)",
        ),
        StudySystem(
            "unicornn",
            lambda conservative: UnICORNN(1, HIDDEN, num_layers=2, alpha=30.65),
            0.19,
            f"UnICORNN, 2 layers of {HIDDEN} units, alpha = 30.65, dt = 0.19 "
            "(Rusch & Mishra, ICML 2021)",
        ),
        StudySystem(
            "linoss",
            lambda conservative: LinearOscillators(1, HIDDEN, 1),
            0.1,
            f"LinOSS layer, {HIDDEN} oscillators, A ~ U(0, 1) (Rusch & Rus, ICLR 2025)",
        ),
        StudySystem(
            "lattice",
            lambda conservative: LatticeOscillators(HIDDEN, omega0=1.0, coupling=1.0),
            0.1,
            f"ring of {HIDDEN} oscillators coupled by a Laplacian stencil (after Magnasco 2023)",
        ),
        StudySystem(
            "hamiltonian",
            lambda conservative: HamiltonianRNN(1, HIDDEN, alpha=1.0),
            0.1,
            f"Hamiltonian RNN, {HIDDEN} units, alpha = 1 (Rusch, Pearson & Zygalakis 2019)",
        ),
    )
}


def study_system(name: str) -> StudySystem:
    """The :class:`StudySystem` called ``name`` (``ValueError`` listing the known names)."""
    if name not in STUDY_SYSTEMS:
        raise ValueError(f"unknown system '{name}'; known: {', '.join(STUDY_SYSTEMS)}")
    return STUDY_SYSTEMS[name]
