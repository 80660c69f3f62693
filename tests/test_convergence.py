"""Measured convergence order of every fixed-step integrator.

The step is halved several times; the slope of log(error) against log(dt), fitted with
``numpy.polyfit``, must be the integrator's declared ``order`` within 0.15. The error is the
largest ``|y - y_ref| + |v - v_ref|`` on a common coarse time grid. Step ranges are chosen so
that the error is in the asymptotic regime and far above float64 round-off (also for rk4).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp
from torchdiffeq import odeint

import oscdyn
from oscdyn.integrators import get
from oscdyn.systems import Duffing, HarmonicOscillator

FIXED_STEP = ["imex", "symplectic_euler", "leapfrog", "exponential", "euler", "rk4"]
# largest step of the halving sequence, by order (omega_max * dt stays <= 0.2)
FIRST_DT = {1: 0.02, 2: 0.05, 4: 0.1}
HALVINGS = 5
DURATION = 3.0
SAMPLES = 30  # coarse grid: every DURATION / SAMPLES time units

OMEGA = np.array([0.7, 1.3, 2.0])
DAMPING = np.array([0.3, 0.5, 1.0])  # underdamped: c < 2 omega
Y0 = np.array([[1.0, -0.4, 0.3]])
V0 = np.array([[0.5, 0.8, -1.1]])


@pytest.fixture(autouse=True)
def float64():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def step_sizes(order: int) -> list[float]:
    return [FIRST_DT[order] / 2**k for k in range(HALVINGS)]


def simulate(system, integrator: str, dt: float, y0: np.ndarray, v0: np.ndarray):
    """Positions and velocities on the coarse grid, ``(samples + 1, batch, units)`` each."""
    steps = round(DURATION / dt)
    assert steps % SAMPLES == 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", oscdyn.StabilityWarning)  # euler is always "unstable"
        rnn = oscdyn.compile(system, integrator, dt=dt)
    ds = rnn.trajectory(None, (torch.tensor(y0), torch.tensor(v0)), steps=steps)
    stride = steps // SAMPLES
    position = ds.position.values[:, ::stride].transpose(1, 0, 2)
    velocity = ds.velocity.values[:, ::stride].transpose(1, 0, 2)
    return position, velocity


def grid() -> np.ndarray:
    return np.linspace(0.0, DURATION, SAMPLES + 1)


def damped_harmonic_exact(t: np.ndarray, omega, damping, y0, v0):
    """Closed form of the free underdamped oscillator ``y'' = -omega^2 y - c y'``."""
    t = t[:, None, None]
    rate = damping / 2
    omega_d = np.sqrt(omega**2 - rate**2)
    a, b = y0, (v0 + rate * y0) / omega_d
    decay = np.exp(-rate * t)
    cos, sin = np.cos(omega_d * t), np.sin(omega_d * t)
    y = decay * (a * cos + b * sin)
    v = -rate * y + decay * omega_d * (b * cos - a * sin)
    return y, v


def error(result, reference) -> float:
    (y, v), (y_ref, v_ref) = result, reference
    return float(np.max(np.abs(y - y_ref) + np.abs(v - v_ref)))


def fitted_slope(dts: list[float], errors: list[float]) -> float:
    return float(np.polyfit(np.log(dts), np.log(errors), 1)[0])


def check_order(integrator: str, make_system, reference) -> None:
    order = get(integrator).order
    dts = step_sizes(order)
    errors = [error(simulate(make_system(), integrator, dt, Y0, V0), reference) for dt in dts]
    # the smallest error must stay far above round-off, or the fit measures noise
    assert min(errors) > 1e-11, f"{integrator}: errors {errors} reach round-off"
    slope = fitted_slope(dts, errors)
    print(f"{integrator}: slope {slope:.4f}, errors {errors[0]:.2e} .. {errors[-1]:.2e}")
    assert abs(slope - order) < 0.15, (
        f"{integrator}: fitted order {slope:.3f}, declared {order}; errors "
        + ", ".join(f"{e:.3e}" for e in errors)
    )


def test_declared_orders():
    assert {name: get(name).order for name in FIXED_STEP} == {
        "imex": 1,
        "symplectic_euler": 1,
        "leapfrog": 2,
        "exponential": 2,
        "euler": 1,
        "rk4": 4,
    }


# --- (a) harmonic oscillator -----------------------------------------------------------------


@pytest.mark.parametrize("integrator", [n for n in FIXED_STEP if n != "exponential"])
def test_order_harmonic(integrator):
    reference = damped_harmonic_exact(grid(), OMEGA, 0.0, Y0, V0)
    check_order(integrator, lambda: HarmonicOscillator(torch.tensor(OMEGA)), reference)


@pytest.mark.parametrize("integrator", [n for n in FIXED_STEP if n != "exponential"])
def test_order_damped_harmonic(integrator):
    reference = damped_harmonic_exact(grid(), OMEGA, DAMPING, Y0, V0)
    check_order(
        integrator,
        lambda: HarmonicOscillator(torch.tensor(OMEGA), damping=torch.tensor(DAMPING)),
        reference,
    )


@pytest.mark.parametrize("damping", [0.0, DAMPING], ids=["undamped", "damped"])
@pytest.mark.parametrize("dt", [0.1, 0.75])
def test_exponential_exact_on_harmonic(damping, dt):
    steps = 40
    system = HarmonicOscillator(torch.tensor(OMEGA), damping=torch.as_tensor(damping))
    rnn = oscdyn.compile(system, "exponential", dt=dt)
    ds = rnn.trajectory(None, (torch.tensor(Y0), torch.tensor(V0)), steps=steps)
    y_ref, v_ref = damped_harmonic_exact(np.arange(steps + 1) * dt, OMEGA, damping, Y0, V0)
    result = (ds.position.values.transpose(1, 0, 2), ds.velocity.values.transpose(1, 0, 2))
    err = error(result, (y_ref, v_ref))
    print(f"exponential on the harmonic oscillator: max error {err:.2e}")
    assert err < 1e-12, f"exponential is off the exact solution by {err:.3e}"


# --- (b) damped, driven Duffing oscillator ---------------------------------------------------


def make_duffing() -> Duffing:
    return Duffing(
        alpha=torch.tensor([1.0, 0.5, 2.0]),
        beta=torch.tensor([1.0, 2.0, 0.5]),
        delta=0.2,
        gamma=torch.tensor([0.5, 0.3, 0.8]),
        drive_frequency=1.3,
    )


@pytest.fixture(scope="module")
def duffing_reference():
    """dopri5 at rtol 1e-12 over the whole interval, on the coarse grid."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        system = make_duffing()

        def first_order(t, state):
            y, v = state
            return v, system.acceleration(y, v, None, t)

        with torch.no_grad():
            y, v = odeint(
                first_order,
                (torch.tensor(Y0), torch.tensor(V0)),
                torch.tensor(grid()),
                rtol=1e-12,
                atol=1e-14,
                method="dopri5",
            )
    finally:
        torch.set_default_dtype(previous)
    return y.numpy(), v.numpy()


@pytest.mark.parametrize("integrator", FIXED_STEP)
def test_order_driven_duffing(integrator, duffing_reference):
    check_order(integrator, make_duffing, duffing_reference)


def test_duffing_reference_is_converged(duffing_reference):
    """The reference is far more accurate than the smallest error the fits use (~1e-10).

    Checked against scipy's DOP853 on a hand-written right-hand side, which also checks the
    library's Duffing force against its formula.
    """
    alpha, beta, gamma = np.array([1.0, 0.5, 2.0]), np.array([1.0, 2.0, 0.5]), [0.5, 0.3, 0.8]

    def rhs(t, state):
        y, v = state[:3], state[3:]
        a = -alpha * y - 0.2 * v - beta * y**3 + np.array(gamma) * np.cos(1.3 * t)
        return np.concatenate([v, a])

    solution = solve_ivp(
        rhs,
        (0.0, DURATION),
        np.concatenate([Y0[0], V0[0]]),
        method="DOP853",
        t_eval=grid(),
        rtol=1e-13,
        atol=1e-14,
    )
    y, v = solution.y[:3].T[:, None], solution.y[3:].T[:, None]
    assert error((y, v), duffing_reference) < 1e-9
