"""Every integrator against the torchdiffeq reference, and torchdiffeq through the registry.

The reference is ``torchdiffeq:dopri5`` at rtol 1e-10, atol 1e-12, compiled like any other
integrator (one ``odeint`` per step on the sampling grid). Each fixed-step integrator, at a
small step, must agree with it within ``C dt^order``: a scheme of a lower order than declared
misses that bound by an order of magnitude or more.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torchdiffeq import odeint

import oscdyn
from oscdyn.integrators import TorchDiffEq, get
from oscdyn.systems import Duffing, VanDerPol

DURATION = 3.0
SAMPLE_DT = 0.1
# error constants C in C dt^order; measured C_eff: euler up to 18 (it amplifies, so its
# constant is the largest), the others up to 5
C = {"euler": 30.0}
C_DEFAULT = 10.0
DT = {1: 0.005, 2: 0.01, 4: 0.05}
FIXED_STEP = ["imex", "symplectic_euler", "leapfrog", "exponential", "euler", "rk4"]
Y0 = [[1.0, -0.5], [0.2, 1.5]]
V0 = [[0.5, 0.0], [-1.0, 0.3]]


@pytest.fixture(autouse=True)
def float64():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


SYSTEMS = {
    "duffing": lambda: Duffing(
        alpha=torch.tensor([1.0, 0.5]),
        beta=torch.tensor([1.0, 2.0]),
        delta=0.2,
        gamma=torch.tensor([0.5, 0.3]),
        drive_frequency=1.3,
    ),
    "van_der_pol": lambda: VanDerPol(mu=torch.tensor([1.0, 0.5]), omega=torch.tensor([1.0, 1.5])),
}


def simulate(system, integrator, dt: float):
    """``(y, v)`` on the sampling grid (after each ``SAMPLE_DT``), ``(batch, samples, units)``."""
    steps = round(DURATION / dt)
    stride = round(SAMPLE_DT / dt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", oscdyn.StabilityWarning)
        rnn = oscdyn.compile(system, integrator, dt=dt)
    ds = rnn.trajectory(None, (torch.tensor(Y0), torch.tensor(V0)), steps=steps)
    return ds.position.values[:, stride::stride], ds.velocity.values[:, stride::stride]


def error(result, reference) -> float:
    (y, v), (y_ref, v_ref) = result, reference
    return float(np.max(np.abs(y - y_ref) + np.abs(v - v_ref)))


_REFERENCES: dict[tuple[str, float], tuple[np.ndarray, np.ndarray]] = {}


def reference(system_name: str, rtol: float = 1e-10):
    """dopri5 (``rtol``, ``atol = rtol / 100``) through the registry, one odeint per sample.

    At rtol 1e-10 its error is ~2e-9 (measured against scipy's DOP853 at rtol 1e-14), far
    below every bound below; the convergence fits, whose smallest errors are ~1e-8, use
    rtol 1e-12 (error ~1e-11).
    """
    key = (system_name, rtol)
    if key not in _REFERENCES:
        solver = get("torchdiffeq:dopri5", rtol=rtol, atol=rtol / 100)
        _REFERENCES[key] = simulate(SYSTEMS[system_name](), solver, SAMPLE_DT)
    return _REFERENCES[key]


@pytest.mark.parametrize("system_name", list(SYSTEMS))
def test_reference_agrees_with_one_tight_odeint_call(system_name):
    """Restarting dopri5 at each step costs nothing in accuracy: one call at rtol 1e-12."""
    system = SYSTEMS[system_name]()

    def first_order(t, state):
        y, v = state
        return v, system.acceleration(y, v, None, t)

    times = torch.arange(0, round(DURATION / SAMPLE_DT) + 1) * SAMPLE_DT
    with torch.no_grad():
        y, v = odeint(
            first_order,
            (torch.tensor(Y0), torch.tensor(V0)),
            times,
            rtol=1e-12,
            atol=1e-14,
            method="dopri5",
        )
    tight = (y[1:].transpose(0, 1).numpy(), v[1:].transpose(0, 1).numpy())
    assert error(reference(system_name), tight) < 1e-8


@pytest.mark.parametrize("integrator", FIXED_STEP)
@pytest.mark.parametrize("system_name", list(SYSTEMS))
def test_integrator_agrees_with_dopri5(system_name, integrator):
    order = get(integrator).order
    dt = DT[order]
    err = error(simulate(SYSTEMS[system_name](), integrator, dt), reference(system_name))
    constant = C.get(integrator, C_DEFAULT)
    print(f"{system_name}/{integrator} dt={dt}: error {err:.3e}, C_eff {err / dt**order:.3f}")
    assert err < constant * dt**order, (
        f"{integrator} on {system_name}: error {err:.3e} >= {constant} dt^{order}"
    )


def test_fixed_step_torchdiffeq_rk4_converges():
    """``torchdiffeq:rk4`` takes one step per interval: fourth order, measured."""
    system = SYSTEMS["duffing"]
    dts = [0.05 / 2**k for k in range(4)]
    tight = reference("duffing", rtol=1e-12)
    errors = [error(simulate(system(), "torchdiffeq:rk4", dt), tight) for dt in dts]
    slope = float(np.polyfit(np.log(dts), np.log(errors), 1)[0])
    print(f"torchdiffeq:rk4 slope {slope:.3f}, errors {errors}")
    assert min(errors) > 1e-11
    assert abs(slope - 4) < 0.15, f"torchdiffeq:rk4 fitted order {slope:.3f}"


def test_fixed_step_torchdiffeq_midpoint_is_second_order():
    system = SYSTEMS["van_der_pol"]
    dts = [0.05 / 2**k for k in range(4)]
    tight = reference("van_der_pol", rtol=1e-12)
    errors = [error(simulate(system(), "torchdiffeq:midpoint", dt), tight) for dt in dts]
    slope = float(np.polyfit(np.log(dts), np.log(errors), 1)[0])
    print(f"torchdiffeq:midpoint slope {slope:.3f}, errors {errors}")
    assert abs(slope - 2) < 0.15, f"torchdiffeq:midpoint fitted order {slope:.3f}"


def test_torchdiffeq_euler_is_explicit_euler():
    """The same scheme through torchdiffeq and oscdyn: identical to round-off."""
    system = SYSTEMS["van_der_pol"]
    ours = simulate(system(), "euler", 0.05)
    theirs = simulate(system(), "torchdiffeq:euler", 0.05)
    assert error(ours, theirs) < 1e-12


def test_registry_builds_torchdiffeq_solvers():
    solver = get("torchdiffeq:rk4")
    assert isinstance(solver, TorchDiffEq) and solver.method == "rk4"
    solver = get("torchdiffeq:dopri5", rtol=1e-10, atol=1e-12)
    assert (solver.method, solver.rtol, solver.atol) == ("dopri5", 1e-10, 1e-12)
    with pytest.raises(ValueError, match="unknown torchdiffeq method 'nope'"):
        get("torchdiffeq:nope")
    system = SYSTEMS["duffing"]()
    with pytest.raises(ValueError, match="scalar dt"):
        get("torchdiffeq:rk4").step(
            system, torch.zeros(1, 2), torch.zeros(1, 2), None, 0.0, torch.tensor([0.1, 0.2])
        )
