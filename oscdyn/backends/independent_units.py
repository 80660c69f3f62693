"""Systems whose units are independent scalar recurrences, described for the fast kernels.

``UnICORNNLayer``, ``LinearOscillators`` and ``HarmonicOscillator`` with a ``Diagonal``
stiffness, no or ``Diagonal`` damping and a force that reads only the unit's own position
and the encoded input make every ``(batch, unit)`` pair a scalar recurrence

    y'' = -k y - d y' + F(y, x),   F = -tanh(w y + x)  (UnICORNN)  or  F = x  (linear),

stepped by ``symplectic_euler``, ``imex`` or ``leapfrog`` with a per-unit step ``h``. The
``triton`` backend (one GPU kernel per layer) and the ``fused`` backend's elementwise CPU path
(:mod:`oscdyn.backends.fused_units`) both run this description: which pairs qualify
(:func:`unsupported_reason`), the per-step force input (:func:`force_input`) and the per-unit
parameters (:func:`per_unit_parameters`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import torch
from torch import Tensor

if TYPE_CHECKING:
    from ..compile import OscillatorRNN

__all__ = [
    "ADDITIVE",
    "TANH",
    "SYMPLECTIC_EULER",
    "IMEX_SCHEME",
    "LEAPFROG",
    "UnitRecurrence",
    "describe",
    "force_input",
    "per_unit_parameters",
    "unsupported_reason",
]

ADDITIVE = 0  # F = x (the encoded input, or zero)
TANH = 1  # F = -tanh(w * y + x) (UnICORNN)
# schemes (the triton kernels' constexpr SCHEME)
SYMPLECTIC_EULER, IMEX_SCHEME, LEAPFROG = 0, 1, 2


class UnitRecurrence(NamedTuple):
    """The kind of scalar recurrence: force (``ADDITIVE``/``TANH``), scheme, damping."""

    force: int
    scheme: int
    damped: bool


def _force_kinds() -> dict[type, int]:
    from ..systems.harmonic import HarmonicOscillator
    from ..systems.linear_oscillators import LinearOscillators
    from ..systems.unicornn import UnICORNNLayer

    return {UnICORNNLayer: TANH, LinearOscillators: ADDITIVE, HarmonicOscillator: ADDITIVE}


def _scheme_numbers() -> dict[type, int]:
    from ..integrators.imex import IMEX
    from ..integrators.leapfrog import Leapfrog
    from ..integrators.symplectic_euler import SymplecticEuler

    return {SymplecticEuler: SYMPLECTIC_EULER, IMEX: IMEX_SCHEME, Leapfrog: LEAPFROG}


def unsupported_reason(rnn: OscillatorRNN) -> str | None:
    """Why ``rnn`` is not an independent-unit recurrence (``None`` if it is)."""
    from ..systems.operators import Diagonal

    system, integrator = rnn.system, rnn.integrator
    name = type(system).__name__
    if type(system) not in _force_kinds():
        return (
            "independent-unit kernels implement UnICORNNLayer, LinearOscillators and "
            f"HarmonicOscillator, not {name}"
        )
    if not isinstance(system.stiffness, Diagonal):
        return f"{name} has a {type(system.stiffness).__name__} stiffness, not Diagonal"
    if system.damping is not None and not isinstance(system.damping, Diagonal):
        return f"{name} has a {type(system.damping).__name__} damping, not Diagonal"
    if system.velocity_dependent_force:
        return f"{name}'s force reads the velocity: the step has no explicit inverse"
    if type(integrator) not in _scheme_numbers():
        return (
            "independent-unit kernels implement the integrators symplectic_euler, imex and "
            f"leapfrog, not '{integrator.name}'"
        )
    return None


def describe(rnn: OscillatorRNN) -> UnitRecurrence:
    """The recurrence of a supported ``rnn`` (check :func:`unsupported_reason` first)."""
    system = rnn.system
    return UnitRecurrence(
        _force_kinds()[type(system)],
        _scheme_numbers()[type(rnn.integrator)],
        system.damping is not None,
    )


def force_input(rnn: OscillatorRNN, u: Tensor | None, batch: int, steps: int) -> Tensor | None:
    """What the force adds each step, ``(batch, steps, units)``; ``None``: nothing."""
    system = rnn.system
    units = system.state_size
    if _force_kinds()[type(system)] == TANH:
        if u is None:  # free evolution: the force reads the bias
            return system.input_map.bias.expand(batch, steps, units)
        return u
    if u is None:
        return None
    from ..systems.harmonic import HarmonicOscillator

    if isinstance(system, HarmonicOscillator):  # the force is B u, read per step
        drive = system.drive(u)
        return drive if isinstance(drive, Tensor) else None
    return u


def per_unit_parameters(
    rnn: OscillatorRNN, like: Tensor, recurrence: UnitRecurrence
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Per-unit ``(h, stiffness, damping, w)``, each ``(units,)`` (differentiable).

    Where the recurrence has no damping or no tanh force, the slot holds a detached
    placeholder of the right shape (never read).
    """
    system = rnn.system
    units = system.state_size

    def per_unit(value: Tensor | float) -> Tensor:
        if not isinstance(value, Tensor):
            return torch.full((units,), value, dtype=like.dtype, device=like.device)
        return value.to(like.device).expand(units)

    h = per_unit(rnn.step_size())
    stiff = per_unit(system.stiffness.values)
    damp = per_unit(system.damping.values) if recurrence.damped else h.detach()
    w = system.recurrent_weight if recurrence.force == TANH else h.detach()
    return h, stiff, damp, w
