"""``inverse_step`` undoes ``step`` to float64 precision for every reversible integrator.

The systems have forces that do not read the velocity (damping is a linear operator, not
part of the force), with input, drive, damping and coupling. Where the units are
independent the step may also be a per-unit tensor.
"""

from __future__ import annotations

import pytest
import torch

from oscdyn.integrators import get
from oscdyn.systems import Duffing, HarmonicOscillator, OscillatorChain, Pendulum, VanDerPol

REVERSIBLE = ["imex", "symplectic_euler", "leapfrog", "exponential"]
NOT_REVERSIBLE = ["euler", "rk4"]
TOLERANCE = 1e-12


@pytest.fixture(autouse=True)
def float64():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def harmonic():
    return HarmonicOscillator(
        torch.tensor([0.5, 1.0, 2.0]), damping=torch.tensor([0.1, 0.3, 0.0]), input_size=2
    )


def duffing():
    return Duffing(
        alpha=torch.tensor([1.0, 2.0]),
        beta=torch.tensor([1.0, 0.5]),
        delta=0.2,
        gamma=torch.tensor([0.3, 0.5]),
        drive_frequency=1.1,
        input_size=1,
    )


def pendulum():
    return Pendulum(omega=torch.tensor([1.0, 1.5]), damping=0.2, input_size=1)


def chain():
    return OscillatorChain(
        4, spring=torch.tensor([1.0, 2.0, 0.5, 1.5, 1.0]), damping=0.1, input_size=1
    )


SYSTEMS = {"harmonic": harmonic, "duffing": duffing, "pendulum": pendulum, "chain": chain}
# independent units: a per-unit step is valid
PER_UNIT = ["harmonic", "duffing", "pendulum"]


def random_state(system, batch: int = 5, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randn(batch, system.state_size, generator=g)
    v = torch.randn(batch, system.state_size, generator=g)
    u = torch.randn(batch, system.input_size, generator=g) if system.input_size else None
    return y, v, u


def cases(systems=SYSTEMS):
    for system_name in systems:
        for integrator in REVERSIBLE:
            if integrator == "exponential" and system_name == "pendulum":
                continue  # no stiffness operator: see test_exponential_needs_stiffness
            yield system_name, integrator


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp(min=1.0))


@pytest.mark.parametrize("h", [0.1, 0.6])
@pytest.mark.parametrize(("system_name", "integrator_name"), list(cases()))
def test_inverse_step_undoes_step(system_name, integrator_name, h):
    system = SYSTEMS[system_name]()
    integrator = get(integrator_name)
    integrator.check(system)
    assert integrator.reversible and integrator.is_reversible_for(system)
    y, v, u = random_state(system)
    t = 0.7
    cache = integrator.prepare(system, h)
    with torch.no_grad():
        y1, v1 = integrator.step(system, y, v, u, t, h, cache)
        assert relative_error(y1, y) > 1e-3  # the step moved the state
        y0, v0 = integrator.inverse_step(system, y1, v1, u, t, h, cache)
        # without a prepared cache the integrator builds what it needs itself
        y0_nocache, v0_nocache = integrator.inverse_step(system, y1, v1, u, t, h)
    error = max(relative_error(y0, y), relative_error(v0, v))
    print(f"{integrator_name} on {system_name}, h={h}: inverse error {error:.2e}")
    assert error < TOLERANCE, f"{integrator_name} on {system_name}: inverse error {error:.2e}"
    error = max(relative_error(y0_nocache, y), relative_error(v0_nocache, v))
    assert error < TOLERANCE, f"{integrator_name} on {system_name} (no cache): {error:.2e}"


@pytest.mark.parametrize(("system_name", "integrator_name"), list(cases()))
def test_many_steps_forward_then_back(system_name, integrator_name):
    """50 steps forward with a varying input, 50 inverse steps back to the start."""
    system = SYSTEMS[system_name]()
    integrator = get(integrator_name)
    y, v, _ = random_state(system, batch=3, seed=1)
    g = torch.Generator().manual_seed(2)
    inputs = [
        torch.randn(3, system.input_size, generator=g) if system.input_size else None
        for _ in range(50)
    ]
    h = 0.05
    cache = integrator.prepare(system, h)
    state = (y, v)
    with torch.no_grad():
        for k, u in enumerate(inputs):
            state = integrator.step(system, *state, u, k * h, h, cache)
        for k in reversed(range(len(inputs))):
            state = integrator.inverse_step(system, *state, inputs[k], k * h, h, cache)
    error = max(relative_error(state[0], y), relative_error(state[1], v))
    print(f"{integrator_name} on {system_name}: 50 steps there and back, error {error:.2e}")
    assert error < 10 * TOLERANCE, f"{integrator_name} on {system_name}: {error:.2e} after 50"


@pytest.mark.parametrize(("system_name", "integrator_name"), list(cases(PER_UNIT)))
def test_inverse_step_with_per_unit_dt(system_name, integrator_name):
    system = SYSTEMS[system_name]()
    integrator = get(integrator_name)
    y, v, u = random_state(system, seed=3)
    h = torch.linspace(0.05, 0.4, system.state_size)
    t = 3 * h  # the time of step 3 of each unit
    cache = integrator.prepare(system, h)
    with torch.no_grad():
        y1, v1 = integrator.step(system, y, v, u, t, h, cache)
        y0, v0 = integrator.inverse_step(system, y1, v1, u, t, h, cache)
        # each unit stepped with its own h equals a scalar step of that unit
        for unit in range(system.state_size):
            scalar_h = float(h[unit])
            ys, vs = integrator.step(system, y, v, u, 3 * scalar_h, scalar_h)
            assert relative_error(y1[:, unit], ys[:, unit]) < 1e-14
            assert relative_error(v1[:, unit], vs[:, unit]) < 1e-14
    error = max(relative_error(y0, y), relative_error(v0, v))
    print(f"{integrator_name} on {system_name}, per-unit dt: inverse error {error:.2e}")
    assert error < TOLERANCE, f"{integrator_name} on {system_name}, per-unit dt: {error:.2e}"


@pytest.mark.parametrize("integrator_name", REVERSIBLE)
def test_velocity_dependent_force_cannot_be_inverted(integrator_name):
    system = VanDerPol(mu=torch.tensor([1.0, 0.5]), omega=torch.tensor([1.0, 2.0]))
    assert system.velocity_dependent_force
    integrator = get(integrator_name)
    assert not integrator.is_reversible_for(system)
    y, v, u = random_state(system)
    y1, v1 = integrator.step(system, y, v, u, 0.0, 0.1)  # stepping itself is fine
    assert torch.isfinite(y1).all() and torch.isfinite(v1).all()
    with pytest.raises(ValueError, match=r"(?=.*VanDerPol)(?=.*velocity)"):
        integrator.inverse_step(system, y1, v1, u, 0.0, 0.1)


@pytest.mark.parametrize("integrator_name", NOT_REVERSIBLE)
def test_non_reversible_integrators_raise(integrator_name):
    integrator = get(integrator_name)
    assert not integrator.reversible
    system = harmonic()
    assert not integrator.is_reversible_for(system)
    y, v, u = random_state(system)
    with pytest.raises(NotImplementedError, match=f"'{integrator_name}' is not reversible"):
        integrator.inverse_step(system, y, v, u, 0.0, 0.1)


def test_exponential_needs_stiffness():
    with pytest.raises(ValueError, match="stiffness"):
        get("exponential").check(pendulum())


def test_reversible_facts():
    assert {name: get(name).reversible for name in REVERSIBLE + NOT_REVERSIBLE} == {
        "imex": True,
        "symplectic_euler": True,
        "leapfrog": True,
        "exponential": True,
        "euler": False,
        "rk4": False,
    }
