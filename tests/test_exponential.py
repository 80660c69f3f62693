"""The exponential integrator is exact for linear systems with piecewise-constant input.

Each reference advances the exact solution step by step with the input held over the step:
the analytic formulas of the damped oscillator per unit (every regime: undamped, under-,
critically and overdamped, zero frequency), and ``scipy.linalg.expm`` of the full augmented
matrix for coupled systems (a chain with dense stiffness, periodic lattices with circulant
stiffness). Stiffness matrices are rebuilt from the physical parameters in the test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch

import oscdyn
from oscdyn.systems import HarmonicOscillator, OscillatorChain, SecondOrderSystem
from oscdyn.systems.operators import Circulant, Dense, Diagonal

TOLERANCE = 1e-10


@pytest.fixture(autouse=True)
def float64():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def exact_step(y: float, v: float, f: float, omega: float, c: float, h: float):
    """``(y, v)`` after ``h`` of ``y'' = -omega^2 y - c y' + f``, ``f`` constant: closed form."""
    if omega == 0.0:
        if c == 0.0:
            return y + v * h + 0.5 * f * h * h, v + f * h
        drift = f / c
        decay = math.exp(-c * h)
        return y + drift * h + (v - drift) * (1 - decay) / c, drift + (v - drift) * decay
    rest = f / omega**2  # equilibrium under the constant force
    z = y - rest
    rate = c / 2
    discriminant = rate**2 - omega**2
    if discriminant < 0:  # underdamped (undamped when c = 0)
        omega_d = math.sqrt(-discriminant)
        a, b = z, (v + rate * z) / omega_d
        decay = math.exp(-rate * h)
        cos, sin = math.cos(omega_d * h), math.sin(omega_d * h)
        z_next = decay * (a * cos + b * sin)
        v_next = -rate * z_next + decay * omega_d * (b * cos - a * sin)
    elif discriminant == 0:  # critically damped
        b = v + rate * z
        decay = math.exp(-rate * h)
        z_next = (z + b * h) * decay
        v_next = (b - rate * (z + b * h)) * decay
    else:  # overdamped: roots r1 > r2 of r^2 + c r + omega^2, r1 without cancellation
        r2 = -rate - math.sqrt(discriminant)
        r1 = omega**2 / r2
        a = (v - r2 * z) / (r1 - r2)
        b = z - a
        z_next = a * math.exp(r1 * h) + b * math.exp(r2 * h)
        v_next = a * r1 * math.exp(r1 * h) + b * r2 * math.exp(r2 * h)
    return z_next + rest, v_next


def closed_form_trajectory(omega, damping, gain, u, y0, v0, h):
    """Positions and velocities ``(batch, steps, units)`` from :func:`exact_step`."""
    forces = u @ gain.T  # (batch, steps, units)
    batch, steps, units = forces.shape
    ys, vs = np.zeros((batch, steps, units)), np.zeros((batch, steps, units))
    for b in range(batch):
        for unit in range(units):
            y, v = y0[b, unit], v0[b, unit]
            for k in range(steps):
                y, v = exact_step(y, v, forces[b, k, unit], omega[unit], damping[unit], h)
                ys[b, k, unit], vs[b, k, unit] = y, v
    return ys, vs


def run_exponential(system, dt, u, y0, v0):
    rnn = oscdyn.compile(system, "exponential", dt=dt)
    ds = rnn.trajectory(torch.tensor(u), (torch.tensor(y0), torch.tensor(v0)))
    return ds.position.values[:, 1:], ds.velocity.values[:, 1:]


def assert_exact(result, reference, what: str) -> float:
    (y, v), (y_ref, v_ref) = result, reference
    scale = max(1.0, np.abs(y_ref).max(), np.abs(v_ref).max())
    error = max(np.abs(y - y_ref).max(), np.abs(v - v_ref).max()) / scale
    print(f"{what}: max error {error:.2e} (scale {scale:.3g})")
    assert error < TOLERANCE, f"{what}: exponential is off the exact solution by {error:.3e}"
    return error


HARMONIC_CASES = {
    # name: (omega, damping)
    "undamped": ([1.3], [0.0]),
    "underdamped": ([1.3], [0.4]),
    "critically_damped": ([1.0], [2.0]),
    "overdamped": ([1.3], [5.0]),
    "zero_frequency": ([0.0], [0.0]),
    "zero_frequency_damped": ([0.0], [0.7]),
    # several units at once, in every regime; omega * dt up to 2.5 (beyond explicit limits)
    "vector": ([0.0, 0.0, 0.5, 1.3, 4.0, 10.0], [0.0, 0.7, 0.1, 0.0, 20.0, 3.0]),
}


@pytest.mark.parametrize("dt", [0.25, 0.8])
@pytest.mark.parametrize("case", list(HARMONIC_CASES))
def test_forced_harmonic_oscillator_is_exact(case, dt):
    omega, damping = (np.array(x) for x in HARMONIC_CASES[case])
    units, steps, batch = len(omega), 300, 2
    g = np.random.default_rng(0)
    u = g.normal(size=(batch, steps, 1))
    y0, v0 = g.normal(size=(batch, units)), g.normal(size=(batch, units))
    system = HarmonicOscillator(torch.tensor(omega), damping=torch.tensor(damping), input_size=1)
    result = run_exponential(system, dt, u, y0, v0)
    reference = closed_form_trajectory(omega, damping, np.ones((units, 1)), u, y0, v0, dt)
    assert_exact(result, reference, f"harmonic {case} dt={dt}")


def test_forced_harmonic_with_input_matrix_and_per_unit_dt():
    """Two inputs through a random gain, and a different step per unit."""
    omega, damping = np.array([0.0, 0.8, 2.0, 6.0]), np.array([0.3, 0.0, 0.5, 15.0])
    dt = np.array([0.1, 0.3, 0.25, 0.05])
    g = np.random.default_rng(1)
    gain = g.normal(size=(4, 2))
    u = g.normal(size=(3, 200, 2))
    y0, v0 = g.normal(size=(3, 4)), g.normal(size=(3, 4))
    system = HarmonicOscillator(
        torch.tensor(omega), damping=torch.tensor(damping), input_size=2, input_gain=gain
    )
    y, v = run_exponential(system, torch.tensor(dt), u, y0, v0)
    for unit in range(4):
        reference = closed_form_trajectory(
            omega[[unit]], damping[[unit]], gain[[unit]], u, y0[:, [unit]], v0[:, [unit]], dt[unit]
        )
        assert_exact((y[..., [unit]], v[..., [unit]]), reference, f"per-unit dt, unit {unit}")


def test_closed_form_reference_agrees_with_expm():
    """The test's own analytic reference, checked against scipy's matrix exponential."""
    h = 0.37
    regimes = list(zip(*HARMONIC_CASES["vector"], strict=True)) + [(1.0, 2.0), (1.3, 0.4)]
    for omega, c in regimes:
        phi = scipy.linalg.expm(h * np.array([[0, 1, 0], [-(omega**2), -c, 1], [0, 0, 0]]))
        for y, v, f in [(1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (0.3, -0.7, 2.0)]:
            expected = phi[:2] @ np.array([y, v, f])
            np.testing.assert_allclose(
                exact_step(y, v, f, omega, c, h), expected, rtol=1e-13, atol=1e-14
            )


# --- coupled systems against the matrix exponential of the whole system ---------------------


def expm_trajectory(stiffness, damping, gain, u, y0, v0, h):
    """Exact stepping of ``y'' = -K y - D y' + B u`` with ``u`` held over each step."""
    n, m = gain.shape
    generator = np.zeros((2 * n + m, 2 * n + m))
    generator[:n, n : 2 * n] = np.eye(n)
    generator[n : 2 * n, :n] = -stiffness
    generator[n : 2 * n, n : 2 * n] = -damping
    generator[n : 2 * n, 2 * n :] = gain
    phi = scipy.linalg.expm(h * generator)
    state_map, input_map = phi[: 2 * n, : 2 * n], phi[: 2 * n, 2 * n :]
    state = np.concatenate([y0, v0], -1)
    states = []
    for k in range(u.shape[1]):
        state = state @ state_map.T + u[:, k] @ input_map.T
        states.append(state)
    states = np.stack(states, 1)
    return states[..., :n], states[..., n:]


def chain_stiffness(springs: np.ndarray, mass: float, fixed_ends: bool) -> np.ndarray:
    """``M^-1 K`` of masses joined by springs (walls at both ends when ``fixed_ends``)."""
    n = len(springs) - 1 if fixed_ends else len(springs) + 1
    matrix = np.zeros((n, n))
    # spring j joins mass j-1 and mass j (index -1 / n: a wall) for fixed ends
    for j, k in enumerate(springs):
        left, right = (j - 1, j) if fixed_ends else (j, j + 1)
        for a, b in ((left, right), (right, left)):
            if 0 <= a < n:
                matrix[a, a] += k
                if 0 <= b < n:
                    matrix[a, b] -= k
    return matrix / mass


CHAIN_DAMPING = {
    "undamped": 0.0,  # no damping operator: eigendecomposition path
    "uniform": 0.3,  # a Diagonal damping: matrix-exponential path
    "per_mass": [0.1, 0.0, 0.5, 2.0, 0.05],
}


@pytest.mark.parametrize("fixed_ends", [True, False])
@pytest.mark.parametrize("damping", list(CHAIN_DAMPING))
def test_chain_is_exact(damping, fixed_ends):
    n, mass, dt, steps = 5, 1.5, 0.3, 300
    springs = np.array([1.0, 2.0, 0.5, 1.5, 1.0, 0.8])[: n + 1 if fixed_ends else n - 1]
    g = np.random.default_rng(2)
    gain = g.normal(size=(n, 2))
    u = g.normal(size=(2, steps, 2))
    y0, v0 = g.normal(size=(2, n)), g.normal(size=(2, n))
    damping_value = CHAIN_DAMPING[damping]
    system = OscillatorChain(
        n,
        spring=torch.tensor(springs),
        mass=mass,
        damping=damping_value if isinstance(damping_value, float) else torch.tensor(damping_value),
        fixed_ends=fixed_ends,
        input_size=2,
        input_gain=gain,
    )
    assert isinstance(system.stiffness, Dense)
    stiffness = chain_stiffness(springs, mass, fixed_ends)
    np.testing.assert_allclose(system.stiffness.to_dense().detach().numpy(), stiffness, atol=1e-15)
    damping_matrix = np.diag(np.broadcast_to(np.asarray(damping_value, dtype=float), (n,)))
    reference = expm_trajectory(stiffness, damping_matrix, gain, u, y0, v0, dt)
    result = run_exponential(system, dt, u, y0, v0)
    assert_exact(result, reference, f"chain {damping} fixed_ends={fixed_ends}")


class Lattice(SecondOrderSystem):
    """Units on a periodic lattice coupled by a convolution stencil, driven linearly."""

    position_dependent_force = False
    has_energy = True

    def __init__(self, stencil, shape, damping=None, input_size=1, input_gain=None):
        stiffness = Circulant(torch.as_tensor(stencil), shape)
        super().__init__(state_size=stiffness.size, input_size=input_size)
        self.stiffness = stiffness
        self.damping = damping
        self.register_input_gain(input_gain)


def circulant_matrix(stencil, shape) -> np.ndarray:
    """Dense matrix of the symmetrised periodic convolution, entry by entry."""
    stencil = np.asarray(stencil, dtype=float)
    stencil = 0.5 * (stencil + np.flip(stencil))
    size, centre = math.prod(shape), np.array(stencil.shape) // 2
    matrix = np.zeros((size, size))
    for site in np.ndindex(*shape):
        for offset in np.ndindex(*stencil.shape):
            other = tuple((np.array(site) + np.array(offset) - centre) % np.array(shape))
            matrix[np.ravel_multi_index(site, shape), np.ravel_multi_index(other, shape)] += (
                stencil[offset]
            )
    return matrix


LATTICES = {
    "ring": ([-1.0, 2.3, -1.0], (8,)),
    "ring_wide_stencil": ([0.2, -1.0, 3.1, -1.0, 0.2], (9,)),
    "plane": ([[0.0, -0.6, 0.0], [-1.0, 3.6, -1.0], [0.0, -0.6, 0.0]], (4, 5)),
}


def lattice_damping(kind: str, lattice: str):
    """``(operator or None, dense matrix)`` for each kind of damping on a lattice."""
    shape = LATTICES[lattice][1]
    size = math.prod(shape)
    if kind == "none":
        return None, np.zeros((size, size))
    if kind == "uniform":
        return Diagonal(torch.tensor(0.2), size=size), 0.2 * np.eye(size)
    if kind == "circulant":
        stencil = (
            [0.05, 0.3, 0.05] if len(shape) == 1 else [[0, 0.05, 0], [0, 0.3, 0], [0, 0.05, 0]]
        )
        return Circulant(torch.tensor(stencil, dtype=torch.float64), shape), circulant_matrix(
            stencil, shape
        )
    values = np.linspace(0.0, 1.5, size)  # per unit: falls back to the matrix exponential
    return Diagonal(torch.tensor(values)), np.diag(values)


@pytest.mark.parametrize("damping", ["none", "uniform", "circulant", "diagonal"])
@pytest.mark.parametrize("lattice", list(LATTICES))
def test_circulant_lattice_is_exact(lattice, damping):
    stencil, shape = LATTICES[lattice]
    size, dt, steps = math.prod(shape), 0.4, 200
    g = np.random.default_rng(3)
    gain = g.normal(size=(size, 1))
    u = g.normal(size=(2, steps, 1))
    y0, v0 = g.normal(size=(2, size)), g.normal(size=(2, size))
    damping_op, damping_matrix = lattice_damping(damping, lattice)
    system = Lattice(stencil, shape, damping=damping_op, input_gain=gain)
    stiffness = circulant_matrix(stencil, shape)
    assert np.linalg.eigvalsh(stiffness).min() > -1e-12  # a physical (PSD) stiffness
    reference = expm_trajectory(stiffness, damping_matrix, gain, u, y0, v0, dt)
    result = run_exponential(system, dt, u, y0, v0)
    assert_exact(result, reference, f"lattice {lattice} damping={damping}")
