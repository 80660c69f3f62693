"""The scan backend agrees with eager in outputs and gradients on every linear system."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch

import oscdyn
from oscdyn.backends import Scan
from oscdyn.systems import (
    CoRNN,
    Duffing,
    HarmonicOscillator,
    LatticeOscillators,
    LinearOscillators,
    OscillatorChain,
    UnICORNN,
)

INTEGRATORS = ["imex", "symplectic_euler", "leapfrog", "exponential", "euler", "rk4"]


def _systems() -> list[tuple[str, object, object]]:
    """``(name, system, dt)``: every kind of linear system the backend runs."""
    torch.manual_seed(0)
    return [
        ("harmonic", HarmonicOscillator(torch.tensor([1.0, 2.0]), damping=0.1, input_size=1), 0.1),
        ("harmonic_undamped", HarmonicOscillator(torch.tensor([0.5, 1.5, 3.0]), input_size=1), 0.2),
        (
            "harmonic_per_unit_dt",
            HarmonicOscillator(torch.tensor([1.0, 2.0, 4.0]), damping=0.3, input_size=1),
            torch.tensor([0.05, 0.1, 0.2]),
        ),
        ("chain", OscillatorChain(3, damping=0.2, input_size=1), 0.1),
        ("linoss", LinearOscillators(1, 4, 2), 0.3),
        ("linoss_per_unit_dt", LinearOscillators(1, 3, 2), torch.tensor([0.1, 0.3, 0.6])),
        ("lattice", LatticeOscillators(6, 3, input_size=1), 0.1),
        ("lattice_2d", LatticeOscillators((3, 4), 3, input_size=1), 0.1),
    ]


def _pair(system, integrator, dt, dtype, learn_dt=False, **scan_options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", oscdyn.StabilityWarning)
        eager = oscdyn.compile(system, integrator, dt, learn_dt=learn_dt).to(dtype)
        scan = oscdyn.compile(system, integrator, dt, backend="scan", learn_dt=learn_dt).to(dtype)
    scan.load_state_dict(eager.state_dict())
    for option, value in scan_options.items():
        setattr(scan.backend, option, value)
    return eager, scan


def _outputs_and_grads(rnn, u, y0, v0):
    y_seq, (y_T, v_T) = rnn(u, (y0, v0))
    ramp = torch.linspace(0, 1, y_seq.shape[1], dtype=y_seq.dtype)[:, None]
    loss = (y_seq**2).sum() + (y_seq * ramp).sum() + (y_T * v_T).sum()
    inputs = [u, y0, v0, *rnn.parameters()]
    grads = torch.autograd.grad(loss, inputs, allow_unused=True)
    grads = [torch.zeros_like(x) if g is None else g for g, x in zip(grads, inputs, strict=True)]
    return [y_seq.detach(), y_T.detach(), v_T.detach()], grads


def _relative_error(actual: torch.Tensor, expected: torch.Tensor, floor: float) -> float:
    scale = expected.abs().max().clamp(min=floor)
    return ((actual - expected).abs().max() / scale).item()


def _inputs(system, batch, steps, dtype, seed):
    generator = torch.Generator().manual_seed(seed)
    u = torch.randn(batch, steps, system.input_size, generator=generator, dtype=dtype)
    y0 = torch.randn(batch, system.state_size, generator=generator, dtype=dtype)
    v0 = torch.randn(batch, system.state_size, generator=generator, dtype=dtype)
    return u.requires_grad_(), y0.requires_grad_(), v0.requires_grad_()


def _assert_agree(eager, scan, inputs, tolerance, label, floor=1.0):
    outputs_e, grads_e = _outputs_and_grads(eager, *inputs)
    outputs_s, grads_s = _outputs_and_grads(scan, *inputs)
    for index, (o_e, o_s) in enumerate(zip(outputs_e, outputs_s, strict=True)):
        error = _relative_error(o_s, o_e, floor)
        assert error < tolerance, f"{label} output {index}: relative error {error:.2e}"
    names = ["u", "y0", "v0", *(name for name, _ in scan.named_parameters())]
    for name, g_e, g_s in zip(names, grads_e, grads_s, strict=True):
        error = _relative_error(g_s, g_e, floor)
        assert error < tolerance, f"{label} gradient of {name}: relative error {error:.2e}"


@pytest.mark.parametrize("integrator", INTEGRATORS)
@pytest.mark.parametrize("learn_dt", [False, True])
def test_scan_matches_eager_float64(integrator: str, learn_dt: bool) -> None:
    """Outputs, final state and gradients (input, initial state, parameters, dt) to 1e-10."""
    for name, system, dt in _systems():
        # chunk=5 on 37 steps: 7 chunks and 2 leftover steps; None: the automatic layout
        for chunk in (5, None):
            eager, scan = _pair(system, integrator, dt, torch.float64, learn_dt, chunk=chunk)
            inputs = _inputs(system, 3, 37, torch.float64, seed=1)
            _assert_agree(eager, scan, inputs, 1e-10, f"{name}/{integrator}/chunk={chunk}")


@pytest.mark.parametrize("integrator", INTEGRATORS)
def test_scan_matches_eager_float32(integrator: str) -> None:
    """Relative agreement to 1e-5 in float32 (outputs and gradients, learned dt), over 101
    steps: 10 chunks and a leftover step. (Over a few hundred steps eager's own float32
    round-off, against a float64 run, reaches 1e-5; the test below covers long sequences.)"""
    torch.manual_seed(2)
    systems = [
        ("linoss", LinearOscillators(2, 16, 3), torch.full((16,), 0.2)),
        ("harmonic", HarmonicOscillator(torch.linspace(0.5, 3.0, 8), 0.05, input_size=2), 0.1),
        ("chain", OscillatorChain(5, damping=0.1, input_size=1), 0.1),
        ("lattice", LatticeOscillators(8, 3, input_size=1), 0.1),
    ]
    for name, system, dt in systems:
        eager, scan = _pair(system, integrator, dt, torch.float32, learn_dt=True)
        inputs = _inputs(system, 4, 101, torch.float32, seed=3)
        _assert_agree(eager, scan, inputs, 1e-5, f"{name}/{integrator}", floor=1e-3)


def test_float32_long_sequence_as_accurate_as_eager() -> None:
    """At length 784 (psMNIST) the float32 scan is as close to a float64 run as eager is."""
    torch.manual_seed(8)
    system = LinearOscillators(1, 32, 4)
    eager, scan = _pair(system, "symplectic_euler", 0.3, torch.float32)
    reference = copy.deepcopy(eager).double()
    inputs = _inputs(system, 4, 784, torch.float32, seed=9)
    exact_outputs, exact_grads = _outputs_and_grads(
        reference, *(x.detach().double().requires_grad_() for x in inputs)
    )
    for rnn in (eager, scan):
        outputs, grads = _outputs_and_grads(rnn, *inputs)
        errors = [
            _relative_error(a.double(), b, 1e-3)
            for a, b in zip(outputs + grads, exact_outputs + exact_grads, strict=True)
        ]
        if rnn is eager:
            eager_error = max(errors)
        else:
            assert max(errors) < max(2 * eager_error, 1e-5), (max(errors), eager_error)


def test_automatic_layout() -> None:
    """The default chunks keep one slab of states near ``slab_elements``, without leftover
    where a divisor is close."""
    scan = Scan()
    assert scan._layout(784, 64 * 128) == (8, 98)
    assert scan._layout(4096, 64 * 128) == (8, 512)
    chunks, length = scan._layout(101, 8)  # a prime length: chunks of equal size and a rest
    assert chunks > 1 and chunks * length <= 101 and 101 - chunks * length < chunks
    assert scan._layout(3, 4) == (1, 3)  # too short to chunk: the plain loop
    assert Scan(chunk=10)._layout(37, 4) == (3, 10)
    # off the CPU the slabs grow until about sqrt(T) chunks
    assert scan._layout(784, 64 * 128, "cuda") == (28, 28)
    assert Scan(slab_elements=1 << 22)._layout(784, 64 * 128) == (28, 28)


@pytest.mark.parametrize("steps", [1, 2, 9, 10, 11, 64])
def test_lengths_around_the_chunk(steps: int) -> None:
    """Lengths shorter than, equal to, and not a multiple of the chunk."""
    system = LinearOscillators(1, 4, 2)
    eager, scan = _pair(system, "symplectic_euler", 0.3, torch.float64, chunk=10)
    inputs = _inputs(system, 2, steps, torch.float64, seed=4)
    _assert_agree(eager, scan, inputs, 1e-10, f"steps={steps}")


def test_forward_without_graph_matches() -> None:
    """Without a graph the output sweep writes into one buffer instead of stacking: the
    same numbers."""
    system = LinearOscillators(2, 8, 3)
    eager, scan = _pair(system, "exponential", 0.2, torch.float64, chunk=6)
    u, y0, v0 = (x.detach() for x in _inputs(system, 3, 40, torch.float64, seed=10))
    with_graph, (y_T, v_T) = scan(u, (y0, v0))
    with torch.no_grad():
        without_graph, (y_T_ng, v_T_ng) = scan(u, (y0, v0))
        reference, _ = eager(u, (y0, v0))
    assert with_graph.requires_grad and not without_graph.requires_grad
    torch.testing.assert_close(without_graph, with_graph.detach(), rtol=0, atol=0)
    torch.testing.assert_close((y_T_ng, v_T_ng), (y_T.detach(), v_T.detach()), rtol=0, atol=0)
    torch.testing.assert_close(without_graph, reference, rtol=0, atol=1e-12)


def test_free_evolution_and_constant_force() -> None:
    """No input (``u=None``); the lattice's bias is a constant force in every step."""
    torch.manual_seed(5)
    lattice = LatticeOscillators(5, 3)
    with torch.no_grad():
        lattice.bias.copy_(torch.randn(5))
    for system in (HarmonicOscillator(torch.tensor([1.0, 3.0]), damping=0.2), lattice):
        eager, scan = _pair(system, "leapfrog", 0.1, torch.float64, chunk=6)
        y0 = torch.randn(2, system.state_size, dtype=torch.float64)
        v0 = torch.randn(2, system.state_size, dtype=torch.float64)
        y_e, (yT_e, vT_e) = eager(None, (y0, v0), steps=50)
        y_s, (yT_s, vT_s) = scan(None, (y0, v0), steps=50)
        for a, b in ((y_s, y_e), (yT_s, yT_e), (vT_s, vT_e)):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_trajectory_keeps_velocities() -> None:
    """``trajectory`` (the keep_velocity path): positions, velocities and energy as eager."""
    torch.manual_seed(6)
    for system in (
        HarmonicOscillator(torch.tensor([1.0, 2.0]), damping=0.1, input_size=1),
        OscillatorChain(4, input_size=1),
    ):
        eager, scan = _pair(system, "exponential", 0.1, torch.float64, chunk=7)
        u = torch.randn(2, 45, 1, dtype=torch.float64)
        state = (
            torch.randn(2, system.state_size, dtype=torch.float64),
            torch.randn(2, system.state_size, dtype=torch.float64),
        )
        ds_e, ds_s = eager.trajectory(u, state), scan.trajectory(u, state)
        assert ds_s.attrs["backend"] == "scan"
        for variable in ("position", "velocity", "energy"):
            difference = abs(ds_s[variable].values - ds_e[variable].values).max()
            assert difference < 1e-10, (variable, difference)


def test_gradcheck_float64() -> None:
    """Finite differences agree with the backend's gradients of inputs and initial state
    (the parameters' gradients are checked against eager above)."""
    torch.manual_seed(7)
    system = HarmonicOscillator(torch.tensor([1.0, 2.5]), damping=0.1, input_size=1)
    rnn = oscdyn.compile(system, "leapfrog", 0.2, backend="scan").double()
    rnn.backend.chunk = 3
    u = torch.randn(2, 10, 1, dtype=torch.float64, requires_grad=True)
    y0 = torch.randn(2, 2, dtype=torch.float64, requires_grad=True)
    v0 = torch.randn(2, 2, dtype=torch.float64, requires_grad=True)

    def run(u, y0, v0):
        y_seq, (_, v_T) = rnn(u, (y0, v0))
        return y_seq, v_T

    assert torch.autograd.gradcheck(run, (u, y0, v0))


@pytest.mark.parametrize(
    "system, integrator, reads",
    [
        (Duffing(input_size=1), "leapfrog", "position"),
        (UnICORNN(1, 4).layers[0], "symplectic_euler", "position"),
        (LatticeOscillators(6, 3, input_size=1, nonlinear=True), "exponential", "position"),
        (CoRNN(1, 4), "imex", "position and velocity"),
    ],
)
def test_refuses_nonlinear_systems(system, integrator: str, reads: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", oscdyn.StabilityWarning)
        with pytest.raises(
            ValueError, match=f"backend 'scan' cannot run this model: .*reads the {reads}"
        ):
            oscdyn.compile(system, integrator, 0.05, backend="scan")


def test_refuses_adaptive_integrators_and_large_coupled_systems() -> None:
    system = HarmonicOscillator(torch.tensor([1.0, 2.0]), input_size=1)
    with pytest.raises(ValueError, match="backend 'scan' cannot run .*adaptively"):
        oscdyn.compile(system, "torchdiffeq:dopri5", 0.1, backend="scan")
    chain = oscdyn.compile(OscillatorChain(8, input_size=1), "leapfrog", 0.1)
    reason = Scan(max_coupled_units=4).unsupported_reason(chain)
    assert reason is not None and "8 units" in reason and "max_coupled_units" in reason
    assert Scan().unsupported_reason(chain) is None
    # independent units have no such limit
    wide = oscdyn.compile(LinearOscillators(1, 64, 1), "leapfrog", 0.1)
    assert Scan(max_coupled_units=4).unsupported_reason(wide) is None


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="chunk must be a positive"):
        Scan(chunk=0)
    with pytest.raises(ValueError, match="must be positive"):
        Scan(max_coupled_units=0)


def test_lazy_backends_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """``triton`` is listed and imported on first use; ``auto`` skips a lazy backend whose
    module cannot be imported, and naming it says why (the registry beside scan's)."""
    from oscdyn import backends

    assert {"eager", "fused", "scan", "triton"} <= set(backends.available())
    monkeypatch.setitem(backends._LAZY, "ghost", (".does_not_exist", "Ghost"))
    candidates = backends._auto_candidates
    monkeypatch.setattr(backends, "_auto_candidates", lambda rnn: ["ghost", *candidates(rnn)])
    system = LinearOscillators(1, 4, 1)
    auto = oscdyn.compile(system, "leapfrog", 0.1, backend="auto").backend.name
    assert auto == "fused"  # independent units on the CPU: the closed-form path
    # coRNN: fused with a fixed step (its closed-form path), eager with a learned one
    assert oscdyn.compile(CoRNN(1, 4), "imex", 0.04, backend="auto").backend.name == "fused"
    learned = oscdyn.compile(CoRNN(1, 4), "imex", 0.04, backend="auto", learn_dt=True)
    assert learned.backend.name == "eager"
    with pytest.raises(ValueError, match="backend 'ghost' could not be imported"):
        oscdyn.compile(system, "leapfrog", 0.1, backend="ghost")
