"""The paper systems (issue 3): coRNN, UnICORNN, LinOSS-style layers, lattices, Hamiltonian RNN.

Each test measures against an independent reference: the papers' update equations written
out here with the module's own parameters, closed-form and dense-matrix solutions of the
linear systems (numpy / scipy), energy conservation, ``torch.autograd.gradcheck``.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import Tensor, nn
from torch.func import functional_call

import oscdyn
from oscdyn.systems import (
    CoRNN,
    HamiltonianRNN,
    LatticeOscillators,
    LinearOscillators,
    UnICORNN,
    UnICORNNLayer,
)

ALL_INTEGRATORS = [
    "imex",
    "symplectic_euler",
    "leapfrog",
    "exponential",
    "euler",
    "rk4",
    "torchdiffeq:rk4",
]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Run on one thread: torch's multi-threaded FFT of a tiny lattice is 10-1000x slower
    than the single-threaded one on a busy 2-core machine (measured 5 us vs 0.26-2 ms)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _compile(system: nn.Module, integrator: str, dt, **kwargs):
    """``oscdyn.compile`` without the stability warning that ``euler`` always raises."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", oscdyn.StabilityWarning)
        return oscdyn.compile(system, integrator, dt, **kwargs)


def _randn(*shape: int, seed: int, dtype: torch.dtype = torch.float32, scale: float = 1.0):
    generator = torch.Generator().manual_seed(seed)
    return scale * torch.randn(*shape, generator=generator, dtype=dtype)


def _max_error(a: Tensor, b: Tensor) -> float:
    return float((a - b).detach().abs().max())


# ------------------------------------------------------------------- 1. reference updates


def _cornn_reference(
    system: CoRNN, u: Tensor, y: Tensor, z: Tensor, dt: float, paper: bool
) -> tuple[Tensor, Tensor, Tensor]:
    """coRNN written from its equations; ``i2h`` acts on ``cat(u, z, y)`` (released code).

    paper:    z <- (z + dt (tanh(W y + Wz z + V u + b) - gamma y)) / (1 + dt eps)
    released: z <- z + dt (tanh(W y + Wz z + V u + b) - gamma y - eps z)
    both:     y <- y + dt z
    """
    n_in, hidden = system.input_size, system.state_size
    weight, bias = system.i2h.weight, system.i2h.bias
    V = weight[:, :n_in]
    Wz = weight[:, n_in : n_in + hidden]
    W = weight[:, n_in + hidden :]
    gamma, eps = system.gamma, system.epsilon
    outputs = []
    for k in range(u.shape[1]):
        activation = torch.tanh(y @ W.T + z @ Wz.T + u[:, k] @ V.T + bias)
        if paper:
            z = (z + dt * (activation - gamma * y)) / (1 + dt * eps)
        else:
            z = z + dt * (activation - gamma * y - eps * z)
        y = y + dt * z
        outputs.append(y)
    return torch.stack(outputs, 1), y, z


@pytest.mark.parametrize(("integrator", "paper"), [("imex", True), ("symplectic_euler", False)])
def test_cornn_reproduces_its_reference_update(integrator: str, paper: bool) -> None:
    torch.manual_seed(0)
    batch, steps, n_in, hidden, dt = 3, 60, 2, 8, 0.042
    system = CoRNN(n_in, hidden)  # published sMNIST gamma = 2.7, epsilon = 4.7
    rnn = oscdyn.compile(system, integrator, dt=dt)
    u = _randn(batch, steps, n_in, seed=1)
    y0, z0 = _randn(batch, hidden, seed=2), _randn(batch, hidden, seed=3)
    with torch.no_grad():
        y_seq, (y_T, z_T) = rnn(u, state=(y0, z0))
        ref_seq, ref_y, ref_z = _cornn_reference(system, u, y0, z0, dt, paper)
        # the other form of the update differs measurably: the test can tell them apart
        other_seq, _, _ = _cornn_reference(system, u, y0, z0, dt, not paper)
    assert y_seq.dtype == torch.float32
    assert _max_error(y_seq, ref_seq) < 1e-6
    assert _max_error(y_T, ref_y) < 1e-6
    assert _max_error(z_T, ref_z) < 1e-6
    assert _max_error(y_seq, other_seq) > 1e-4


def _unicornn_layer_reference(
    layer: nn.Module, x: Tensor, y: Tensor, z: Tensor, dt: float
) -> tuple[Tensor, Tensor, Tensor]:
    """UnICORNN (eq. 3): h = dt sigmoid(c); z <- z - h (tanh(w y + V x + b) + alpha y);
    y <- y + h z."""
    V, b = layer.input_map.weight, layer.input_map.bias
    w, c, alpha = layer.recurrent_weight, layer.step_logit, layer.alpha
    h = dt * torch.sigmoid(c)
    outputs = []
    for k in range(x.shape[1]):
        z = z - h * (torch.tanh(w * y + x[:, k] @ V.T + b) + alpha * y)
        y = y + h * z
        outputs.append(y)
    return torch.stack(outputs, 1), y, z


@pytest.mark.parametrize("num_layers", [1, 2])
def test_unicornn_reproduces_its_reference_update(num_layers: int) -> None:
    torch.manual_seed(0)
    batch, steps, n_in, hidden, dt = 3, 80, 2, 8, 0.19
    system = UnICORNN(n_in, hidden, num_layers=num_layers, alpha=30.65)
    rnn = oscdyn.compile(system, "symplectic_euler", dt=dt)
    assert isinstance(rnn, oscdyn.StackedOscillatorRNN)
    u = _randn(batch, steps, n_in, seed=1)
    y0 = _randn(num_layers, batch, hidden, seed=2, scale=0.3)
    z0 = _randn(num_layers, batch, hidden, seed=3, scale=0.3)
    with torch.no_grad():
        y_seq, (y_T, z_T) = rnn(u, state=(y0, z0))
        x = u
        finals_y, finals_z = [], []
        for k, layer in enumerate(system.layers):
            # layer k reads layer k-1's position sequence through its own Linear
            x, y_k, z_k = _unicornn_layer_reference(layer, x, y0[k], z0[k], dt)
            finals_y.append(y_k)
            finals_z.append(z_k)
        # the per-unit step matters: a shared step dt * sigmoid(0) gives other numbers
        layer0 = system.layers[0]
        saved = layer0.step_logit.clone()
        layer0.step_logit.zero_()
        shared_seq, _, _ = _unicornn_layer_reference(layer0, u, y0[0], z0[0], dt)
        layer0.step_logit.copy_(saved)
    assert y_seq.shape == (batch, steps, hidden)
    assert y_T.shape == z_T.shape == (num_layers, batch, hidden)
    assert _max_error(y_seq, x) < 1e-6
    assert _max_error(y_T, torch.stack(finals_y)) < 1e-6
    assert _max_error(z_T, torch.stack(finals_z)) < 1e-6
    if num_layers == 1:
        assert _max_error(y_seq, shared_seq) > 1e-4


def test_unicornn_released_initialisation() -> None:
    torch.manual_seed(0)
    system = UnICORNN(3, 64, num_layers=2)
    for layer in system.layers.requires_grad_(False):
        assert float(layer.step_logit.abs().max()) <= 0.1
        assert float(layer.step_logit.std()) > 0.02  # drawn, not constant
        assert float(layer.recurrent_weight.min()) >= 0.0
        assert float(layer.recurrent_weight.max()) <= 1.0
        assert float(layer.input_map.bias.abs().max()) == 0.0
    assert system.layers[1].input_map.in_features == 64


def test_unicornn_step_logit_range_spreads_the_unit_steps() -> None:
    torch.manual_seed(0)
    released = UnICORNN(3, 256, num_layers=2)
    torch.manual_seed(0)
    same = UnICORNN(3, 256, num_layers=2, step_logit_range=0.1)
    for a, b in zip(released.parameters(), same.parameters(), strict=True):
        assert torch.equal(a, b)  # the default is the released draw, RNG order unchanged
    wide = UnICORNN(3, 256, num_layers=2, step_logit_range=6.0)
    for layer in wide.layers.requires_grad_(False):
        logits = layer.step_logit
        assert float(logits.abs().max()) <= 6.0
        assert float(logits.min()) < -5.0 and float(logits.max()) > 5.0
        scale = layer.step_scale()
        assert float(scale.max() / scale.min()) > 100  # steps spread over two decades
    with pytest.raises(ValueError, match="step_logit_range must be >= 0, got -1"):
        UnICORNN(1, 4, step_logit_range=-1.0)
    with pytest.raises(ValueError, match="step_logit_range must be >= 0, got nan"):
        UnICORNNLayer(1, 4, step_logit_range=float("nan"))


# ------------------------------------------------------ 2. LinOSS-style layer, closed form


def _linear_oscillators_closed_form(
    A: np.ndarray,
    B: np.ndarray,
    C: np.ndarray,
    D: np.ndarray,
    u: np.ndarray,
    y0: np.ndarray,
    v0: np.ndarray,
    dt: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact response of y'' = -A y + B u (A diagonal, u held over each step), C y + D u."""
    y, v = y0.copy(), v0.copy()
    dt = np.broadcast_to(dt, A.shape)
    omega = np.sqrt(A)
    zero = A == 0
    safe = np.where(zero, 1.0, omega)
    cos, sin = np.cos(omega * dt), np.sin(omega * dt)
    outputs = []
    for k in range(u.shape[1]):
        f = u[:, k] @ B.T
        # A > 0: oscillation about the static deflection f / A
        particular = f / np.where(zero, 1.0, A)
        deviation = y - particular
        y_osc = particular + deviation * cos + v * sin / safe
        v_osc = -deviation * safe * sin + v * cos
        # A = 0: uniform acceleration under the constant force f
        y_free = y + v * dt + 0.5 * f * dt**2
        v_free = v + f * dt
        y = np.where(zero, y_free, y_osc)
        v = np.where(zero, v_free, v_osc)
        outputs.append(y @ C.T + u[:, k] @ D.T)
    return np.stack(outputs, 1), y, v


@pytest.mark.parametrize("per_unit_dt", [False, True])
def test_linear_oscillators_exponential_is_the_exact_zero_order_hold_response(
    per_unit_dt: bool,
) -> None:
    torch.manual_seed(0)
    batch, steps, n_in, hidden, n_out = 3, 200, 2, 6, 3
    system = LinearOscillators(n_in, hidden, n_out).double()
    a_hat = torch.tensor([0.3, 2.5, -0.4, 0.01, 7.0, 1.0], dtype=torch.float64)
    with torch.no_grad():
        system.stiffness.parametrizations.diagonal.original.copy_(a_hat)
    A = system.stiffness.values.detach()
    assert float(A[2]) == 0.0  # relu of a negative A_hat: a free (A = 0) unit
    assert torch.equal(A, torch.relu(a_hat))
    dt = torch.tensor([0.1, 0.3, 0.2, 0.5, 0.05, 0.7]) if per_unit_dt else 0.3
    rnn = oscdyn.compile(system, "exponential", dt=dt)
    u = _randn(batch, steps, n_in, seed=1, dtype=torch.float64)
    y0 = _randn(batch, hidden, seed=2, dtype=torch.float64)
    v0 = _randn(batch, hidden, seed=3, dtype=torch.float64)
    with torch.no_grad():
        out, (y_T, v_T) = rnn(u, state=(y0, v0))
    assert out.shape == (batch, steps, n_out)
    assert y_T.shape == v_T.shape == (batch, hidden)
    ref_out, ref_y, ref_v = _linear_oscillators_closed_form(
        A.numpy(),
        system.input_matrix.detach().numpy(),
        system.output_matrix.detach().numpy(),
        system.feedthrough.detach().numpy(),
        u.numpy(),
        y0.numpy(),
        v0.numpy(),
        np.asarray(torch.as_tensor(dt, dtype=torch.float64)),
    )
    assert np.abs(out.numpy() - ref_out).max() < 1e-10
    assert np.abs(y_T.numpy() - ref_y).max() < 1e-10
    assert np.abs(v_T.numpy() - ref_v).max() < 1e-10
    # the free unit drifts (no restoring force): it is really A = 0, not a tiny A
    assert np.abs(ref_y[:, 2]).max() > 1.0
    # the readout includes the feedthrough D u
    positions_only = ref_out - np.einsum("btk,ok->bto", u.numpy(), system.feedthrough.detach())
    assert np.abs(out.numpy() - positions_only).max() > 1e-2


def test_linear_oscillators_matches_the_augmented_matrix_exponential() -> None:
    """Second, independent reference: scipy expm of [[0, I, 0], [-A, 0, B], [0, 0, 0]] dt."""
    torch.manual_seed(1)
    batch, steps, n_in, hidden, n_out, dt = 2, 50, 3, 4, 2, 0.25
    system = LinearOscillators(n_in, hidden, n_out).double()
    with torch.no_grad():
        system.stiffness.parametrizations.diagonal.original.copy_(
            torch.tensor([-1.0, 0.5, 3.0, 0.0], dtype=torch.float64)
        )
    rnn = oscdyn.compile(system, "exponential", dt=dt)
    u = _randn(batch, steps, n_in, seed=4, dtype=torch.float64)
    with torch.no_grad():
        out, (y_T, v_T) = rnn(u)  # zero initial state
    A = np.diag(system.stiffness.values.detach().numpy())
    B = system.input_matrix.detach().numpy()
    C = system.output_matrix.detach().numpy()
    D = system.feedthrough.detach().numpy()
    n = hidden
    generator = np.zeros((2 * n + n_in, 2 * n + n_in))
    generator[:n, n : 2 * n] = np.eye(n)
    generator[n : 2 * n, :n] = -A
    generator[n : 2 * n, 2 * n :] = B
    phi = scipy.linalg.expm(generator * dt)
    state = np.zeros((batch, 2 * n))
    expected = []
    for k in range(steps):
        augmented = np.concatenate([state, u[:, k].numpy()], 1)
        state = (augmented @ phi.T)[:, : 2 * n]
        expected.append(state[:, :n] @ C.T + u[:, k].numpy() @ D.T)
    assert np.abs(out.numpy() - np.stack(expected, 1)).max() < 1e-10
    assert np.abs(y_T.numpy() - state[:, :n]).max() < 1e-10
    assert np.abs(v_T.numpy() - state[:, n:]).max() < 1e-10


# ------------------------------------------------------------------------- 3. lattices


def _explicit_circulant(stencil: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """K[i, i + o (mod shape)] += s[o] with s the symmetrised, centred stencil."""
    symmetric = 0.5 * (stencil + np.flip(stencil))
    size = math.prod(shape)
    K = np.zeros((size, size))
    centre = [k // 2 for k in stencil.shape]
    for site in itertools.product(*(range(n) for n in shape)):
        for index in itertools.product(*(range(k) for k in stencil.shape)):
            other = tuple(
                (s + i - c) % n for s, i, c, n in zip(site, index, centre, shape, strict=True)
            )
            K[np.ravel_multi_index(site, shape), np.ravel_multi_index(other, shape)] += symmetric[
                index
            ]
    return K


@pytest.mark.parametrize("shape", [(6,), (3, 4), (2, 5)])
def test_lattice_stiffness_is_the_periodic_laplacian(shape: tuple[int, ...]) -> None:
    omega0, coupling = 0.75, 1.25  # exact in float32, where the stencil is first built
    system = LatticeOscillators(shape, omega0=omega0, coupling=coupling).double()
    size = math.prod(shape)
    # build omega0^2 I + coupling * (periodic -Laplacian) by hand, neighbour by neighbour
    expected = np.zeros((size, size))
    for site in itertools.product(*(range(n) for n in shape)):
        i = np.ravel_multi_index(site, shape)
        expected[i, i] += omega0**2
        for axis in range(len(shape)):
            for step in (-1, 1):
                neighbour = list(site)
                neighbour[axis] = (neighbour[axis] + step) % shape[axis]
                expected[i, np.ravel_multi_index(tuple(neighbour), shape)] -= coupling
                expected[i, i] += coupling
    K = system.stiffness.to_dense().detach().numpy()
    assert np.abs(K - expected).max() < 1e-12
    # apply() is the same operator
    y = _randn(3, size, seed=0, dtype=torch.float64)
    applied = system.stiffness.apply(y).detach().numpy()
    assert np.abs(applied - y.numpy() @ expected.T).max() < 1e-12


@pytest.mark.parametrize(("shape", "kernel"), [((7,), 5), ((4, 5), 3), ((5, 6), 5)])
def test_lattice_stiffness_from_a_learned_stencil_is_its_circulant(
    shape: tuple[int, ...], kernel: int
) -> None:
    system = LatticeOscillators(shape, kernel_size=kernel).double()
    stencil = _randn(*(kernel,) * len(shape), seed=5, dtype=torch.float64, scale=0.3)
    centre = (kernel // 2,) * len(shape)
    stencil[centre] = stencil.abs().sum() + 0.5  # diagonally dominant: K stays positive
    with torch.no_grad():
        system.stiffness.stencil.copy_(stencil)  # not symmetric: K uses its symmetric part
    expected = _explicit_circulant(stencil.numpy(), shape)
    K = system.stiffness.to_dense().detach().numpy()
    assert np.abs(K - K.T).max() < 1e-12
    assert np.abs(K - expected).max() < 1e-12
    eigenvalues = np.sort(system.stiffness.eigenvalues().detach().numpy())
    assert np.abs(eigenvalues - np.linalg.eigvalsh(expected)).max() < 1e-12


def _step_matrix(rnn: oscdyn.OscillatorRNN, size: int, steps: int = 1) -> np.ndarray:
    """The (2n, 2n) map (y0, v0) -> (y_steps, v_steps) of the compiled free evolution."""
    eye = torch.eye(2 * size, dtype=torch.float64)
    with torch.no_grad():
        _, (y, v) = rnn(None, state=(eye[:, :size], eye[:, size:]), steps=steps)
    return torch.cat([y, v], 1).numpy().T


@pytest.mark.parametrize("shape", [(6,), (3, 4)])
def test_lattice_exponential_flow_is_the_dense_exponential(shape: tuple[int, ...]) -> None:
    dt = 0.37
    system = LatticeOscillators(shape, omega0=0.8, coupling=1.1).double()
    rnn = oscdyn.compile(system, "exponential", dt=dt)
    size = system.state_size
    K = system.stiffness.to_dense().detach().numpy()
    generator = np.block([[np.zeros((size, size)), np.eye(size)], [-K, np.zeros((size, size))]])
    phi = scipy.linalg.expm(generator * dt)
    assert np.abs(_step_matrix(rnn, size) - phi).max() < 1e-12
    assert np.abs(_step_matrix(rnn, size, 40) - np.linalg.matrix_power(phi, 40)).max() < 1e-12
    # orthogonal in the energy coordinates (sqrt(K) y, v)
    root = scipy.linalg.sqrtm(K).real
    scale = scipy.linalg.block_diag(root, np.eye(size))
    Q = scale @ _step_matrix(rnn, size) @ np.linalg.inv(scale)
    assert np.abs(Q.T @ Q - np.eye(2 * size)).max() < 1e-12


@pytest.mark.slow
@pytest.mark.parametrize("shape", [(16,), (6, 8)])
def test_lattice_exponential_preserves_the_energy_norm(shape: tuple[int, ...]) -> None:
    steps, dt = 10_000, 0.3
    system = LatticeOscillators(shape, omega0=0.9, coupling=1.2).double()
    assert not system.bias.detach().any()  # undriven
    rnn = oscdyn.compile(system, "exponential", dt=dt)
    size = system.state_size
    y0 = _randn(2, size, seed=0, dtype=torch.float64)
    v0 = _randn(2, size, seed=1, dtype=torch.float64)
    trajectory = rnn.trajectory(None, state=(y0, v0), steps=steps)
    y, v = trajectory.position.values, trajectory.velocity.values
    K = system.stiffness.to_dense().detach().numpy()
    norm = (v**2).sum(-1) + np.einsum("bti,ij,btj->bt", y, K, y)
    drift = np.abs(norm / norm[:, :1] - 1)
    # The bound: 1e-12 over 10^4 steps. Undamped flows are applied as three exactly
    # area-preserving shears in lattice coordinates, so the error is rounding noise (measured
    # ~1e-14); a rotation with fixed cos/sin coefficients conjugated by the FFT each step
    # drifted linearly to ~3e-12.
    assert drift.max() < 1e-12
    # the state really moves (a frozen trajectory would pass trivially)
    assert np.abs(y[:, -1] - y[:, 0]).max() > 0.1


# -------------------------------------------------------------------- 4. Hamiltonian RNN


@pytest.mark.slow
def test_hamiltonian_rnn_leapfrog_conserves_energy_over_1e5_steps() -> None:
    torch.manual_seed(0)
    steps, hidden, dt = 100_000, 6, 0.02
    system = HamiltonianRNN(0, hidden, alpha=1.0).double()
    with torch.no_grad():
        system.recurrent.mul_(1.5)  # |W| = 1.5: a strongly nonlinear potential
        system.bias.copy_(_randn(hidden, seed=3, dtype=torch.float64, scale=0.5))
    omega = system.max_frequency()
    assert omega * dt < 0.05  # well inside leapfrog's limit omega dt < 2
    rnn = oscdyn.compile(system, "leapfrog", dt=dt)
    y0 = _randn(2, hidden, seed=0, dtype=torch.float64)
    v0 = _randn(2, hidden, seed=1, dtype=torch.float64)
    energy = rnn.trajectory(None, state=(y0, v0), steps=steps).energy.values
    # the same energy from the module's own function, independently at t = 0
    H0 = system.energy(y0, v0).detach().numpy()
    assert np.abs(energy[:, 0] - H0).max() < 1e-12
    error = np.abs(energy / energy[:, :1] - 1)
    tenth = steps // 10
    first, last = error[:, :tenth].max(), error[:, -tenth:].max()
    assert error.max() < 1e-3
    assert last < 1.5 * first  # bounded: no secular drift
    assert error.max() > 1e-9  # a discretization error is there to be bounded


def test_hamiltonian_rnn_energy_and_force_agree() -> None:
    """``F = -grad V`` of the documented potential: energy() is the flow's Hamiltonian."""
    torch.manual_seed(0)
    system = HamiltonianRNN(2, 5, alpha=0.75).double()
    with torch.no_grad():
        system.bias.copy_(_randn(5, seed=2, dtype=torch.float64))
    y = _randn(3, 5, seed=0, dtype=torch.float64).requires_grad_()
    v = torch.zeros_like(y)
    (grad,) = torch.autograd.grad(system.energy(y, v).sum(), y)
    acceleration = system.acceleration(y, v, None, 0.0)
    assert _max_error(acceleration, -grad) < 1e-12
    W, b = system.recurrent.detach(), system.bias.detach()
    expected = -0.75 * y - torch.tanh(y @ W.T + b) @ W
    assert _max_error(acceleration, expected) < 1e-12


# ------------------------------------------------------------------------- 5. gradcheck

# Small instances in float64: (system, input size, integrators that apply).
GRAD_SYSTEMS: dict[str, tuple[Callable[[], nn.Module], int]] = {
    "cornn": (lambda: CoRNN(2, 3), 2),
    "unicornn": (lambda: UnICORNN(2, 3, num_layers=2, alpha=3.0), 2),
    "linear_oscillators": (lambda: _linoss_with_free_unit(2, 3, 2), 2),
    "lattice_1d": (lambda: LatticeOscillators(4, input_size=2), 2),
    "lattice_2d_nonlinear": (lambda: LatticeOscillators((2, 3), input_size=1, nonlinear=True), 1),
    "hamiltonian_rnn": (lambda: HamiltonianRNN(2, 3, alpha=1.0), 2),
}


def _linoss_with_free_unit(n_in: int, hidden: int, n_out: int) -> LinearOscillators:
    system = LinearOscillators(n_in, hidden, n_out)
    with torch.no_grad():
        system.stiffness.parametrizations.diagonal.original[0] = -0.5
    return system


def _applies(name: str, integrator: str) -> bool:
    return not (name == "unicornn" and integrator.startswith("torchdiffeq"))


GRAD_CASES = [
    (name, integrator)
    for name in GRAD_SYSTEMS
    for integrator in ALL_INTEGRATORS
    if _applies(name, integrator)
]


@pytest.mark.parametrize(("name", "integrator"), GRAD_CASES)
def test_gradcheck_inputs_state_and_parameters(name: str, integrator: str) -> None:
    torch.manual_seed(0)
    make, n_in = GRAD_SYSTEMS[name]
    system = make().double()
    for parameter in system.parameters():  # move off the zero initialisations (biases)
        with torch.no_grad():
            parameter.add_(0.1 * torch.randn_like(parameter))
    rnn = _compile(system, integrator, dt=0.1)
    batch, steps = 2, 3
    stacked = isinstance(rnn, oscdyn.StackedOscillatorRNN)
    state_shape = (batch, system.state_size)
    if stacked:
        state_shape = (len(system), *state_shape)
    u = _randn(batch, steps, n_in, seed=1, dtype=torch.float64, scale=0.5).requires_grad_()
    y0 = _randn(*state_shape, seed=2, dtype=torch.float64, scale=0.5).requires_grad_()
    v0 = _randn(*state_shape, seed=3, dtype=torch.float64, scale=0.5).requires_grad_()
    names = [n for n, _ in rnn.named_parameters()]
    params = [p.detach().clone().requires_grad_() for _, p in rnn.named_parameters()]
    assert params

    def simulate(u: Tensor, y0: Tensor, v0: Tensor, *params: Tensor) -> tuple[Tensor, ...]:
        out, (y_T, v_T) = functional_call(
            rnn, dict(zip(names, params, strict=True)), (u,), {"state": (y0, v0)}
        )
        return out, y_T, v_T

    assert torch.autograd.gradcheck(simulate, (u, y0, v0, *params))


# -------------------------------------------------------- 6. compile, shapes and refusals


SHAPE_SYSTEMS: dict[str, tuple[Callable[[], nn.Module], int, int, tuple[int, ...] | None]] = {
    # name: (factory, input size, output size, final-state leading dims or None)
    "cornn": (lambda: CoRNN(3, 5), 3, 5, None),
    "unicornn": (lambda: UnICORNN(3, 5, num_layers=3), 3, 5, (3,)),
    "linear_oscillators": (lambda: LinearOscillators(3, 5, 2), 3, 2, None),
    "lattice_1d": (lambda: LatticeOscillators(5, input_size=3), 3, 5, None),
    "lattice_2d": (lambda: LatticeOscillators((2, 3), kernel_size=3, input_size=3), 3, 6, None),
    "hamiltonian_rnn": (lambda: HamiltonianRNN(3, 5), 3, 5, None),
}


@pytest.mark.parametrize("integrator", ALL_INTEGRATORS)
@pytest.mark.parametrize("name", list(SHAPE_SYSTEMS))
def test_compile_with_every_integrator_gives_the_documented_shapes(
    name: str, integrator: str
) -> None:
    torch.manual_seed(0)
    make, n_in, n_out, leading = SHAPE_SYSTEMS[name]
    system = make()
    if not _applies(name, integrator):
        with pytest.raises(ValueError, match=r"torchdiffeq.*(scalar step|per-unit)"):
            _compile(system, integrator, dt=0.05)
        return
    rnn = _compile(system, integrator, dt=0.02)
    batch, steps = 4, 7
    units = 5 if name != "lattice_2d" else 6
    u = _randn(batch, steps, n_in, seed=0)
    out, (y_T, v_T) = rnn(u)
    assert out.shape == (batch, steps, n_out)
    state_shape = (*(leading or ()), batch, units)
    assert y_T.shape == v_T.shape == state_shape
    assert torch.isfinite(out).all()
    # the same run, written (time, batch, input), gives the transposed output
    rnn_tb = _compile(system, integrator, dt=0.02, batch_first=False)
    out_tb, (y_tb, _) = rnn_tb(u.transpose(0, 1))
    assert out_tb.shape == (steps, batch, n_out)
    torch.testing.assert_close(out_tb.transpose(0, 1), out)
    torch.testing.assert_close(y_tb, y_T)
    # every scheme discretizes the same ODE: close to RK4 at this small dt
    reference, _ = _compile(system, "rk4", dt=0.02)(u)
    assert _max_error(out, reference) < 5e-3 * (1 + float(reference.detach().abs().max()))


def test_integrators_that_do_not_apply_are_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="torchdiffeq") as info:
        oscdyn.compile(UnICORNN(2, 4), "torchdiffeq:dopri5", dt=0.1)
    assert "scalar step" in str(info.value) or "per-unit" in str(info.value)
    # a per-unit dt cannot step a lattice: its stiffness couples the units
    with pytest.raises(ValueError, match="independent units"):
        oscdyn.compile(LatticeOscillators(4), "exponential", dt=torch.full((4,), 0.1))
    # coRNN's units are coupled only through the force: a per-unit dt is fine there
    rnn = oscdyn.compile(CoRNN(1, 4), "imex", dt=torch.full((4,), 0.1))
    assert rnn(torch.zeros(2, 3, 1))[0].shape == (2, 3, 4)


def test_public_names_and_defaults() -> None:
    import oscdyn.systems as systems

    for cls in (CoRNN, UnICORNN, LinearOscillators, LatticeOscillators, HamiltonianRNN):
        assert cls.__name__ in systems.__all__
        assert getattr(systems, cls.__name__) is cls
    cornn = CoRNN(1, 2)
    assert (cornn.gamma, cornn.epsilon) == pytest.approx((2.7, 4.7))
    assert cornn.i2h.in_features == 1 + 2 + 2
    assert HamiltonianRNN(1, 2).alpha == 1.0
    assert all(layer.alpha == pytest.approx(30.65) for layer in UnICORNN(1, 2, 2).layers)


@pytest.mark.parametrize(
    ("cls", "citations"),
    [
        (CoRNN, ["Rusch", "Mishra", "ICLR 2021"]),
        (UnICORNN, ["Rusch", "Mishra", "ICML 2021"]),
        (LinearOscillators, ["Rusch", "ICLR 2025"]),
        (LatticeOscillators, ["Magnasco", "2023"]),
        (HamiltonianRNN, ["Rusch", "arXiv:1911.05035", "2019"]),
    ],
)
def test_docstrings_cite_their_paper(cls: type, citations: list[str]) -> None:
    doc = " ".join((cls.__doc__ or "").split())
    for citation in citations:
        assert citation in doc, f"{cls.__name__} docstring should cite {citation!r}"
