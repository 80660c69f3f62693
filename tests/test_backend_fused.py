"""The fused backend agrees with eager in outputs and gradients, with flat saved memory."""

from __future__ import annotations

import warnings

import pytest
import torch

import oscdyn
from oscdyn.systems import (
    CoRNN,
    Duffing,
    HamiltonianRNN,
    HarmonicOscillator,
    LatticeOscillators,
    LinearOscillators,
    OscillatorChain,
    Pendulum,
    UnICORNN,
    VanDerPol,
)

INTEGRATORS = ["imex", "symplectic_euler", "leapfrog", "exponential", "euler", "rk4"]


def _systems() -> list[tuple[str, object, float]]:
    torch.manual_seed(0)
    return [
        ("harmonic", HarmonicOscillator(torch.tensor([1.0, 2.0]), damping=0.1, input_size=1), 0.1),
        ("duffing", Duffing(delta=0.1, gamma=0.3, input_size=1), 0.05),
        ("pendulum", Pendulum(damping=0.2, input_size=1), 0.1),
        ("van_der_pol", VanDerPol(input_size=1), 0.05),
        ("chain", OscillatorChain(3, damping=0.2, input_size=1), 0.1),
        ("cornn", CoRNN(1, 4), 0.042),
        ("unicornn", UnICORNN(1, 4).layers[0], 0.19),
        ("linoss", LinearOscillators(1, 4, 2), 0.3),
        ("lattice", LatticeOscillators(6, 3, input_size=1, nonlinear=True), 0.1),
        ("hamiltonian", HamiltonianRNN(1, 4), 0.1),
    ]


def _loss_and_grads(rnn, u, y0, v0):
    y_seq, (y_T, v_T) = rnn(u, (y0, v0))
    loss = (y_seq**2).sum() + (y_T * v_T).sum()
    inputs = [u, y0, v0, *rnn.parameters()]
    grads = torch.autograd.grad(loss, inputs, allow_unused=True)
    return y_seq.detach(), [
        torch.zeros_like(x) if g is None else g for g, x in zip(grads, inputs, strict=True)
    ]


def _float64_inputs(state_size: int, seed: int):
    """``u`` (3, 40, 1), ``y0`` and ``v0`` (3, state_size), float64, requiring grad."""
    torch.manual_seed(seed)
    u = torch.randn(3, 40, 1, dtype=torch.float64, requires_grad=True)
    y0 = torch.randn(3, state_size, dtype=torch.float64, requires_grad=True)
    v0 = torch.randn(3, state_size, dtype=torch.float64, requires_grad=True)
    return u, y0, v0


def _pair(system, integrator, dt, learn_dt, dtype):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", oscdyn.StabilityWarning)
        eager = oscdyn.compile(system, integrator, dt, learn_dt=learn_dt).to(dtype)
        fused = oscdyn.compile(system, integrator, dt, backend="fused", learn_dt=learn_dt).to(dtype)
    fused.load_state_dict(eager.state_dict())
    return eager, fused


@pytest.mark.parametrize("integrator", INTEGRATORS)
@pytest.mark.parametrize("learn_dt", [False, True])
def test_fused_matches_eager_float64(integrator: str, learn_dt: bool) -> None:
    for name, system, dt in _systems():
        if name == "pendulum" and integrator == "exponential":
            continue  # no stiffness: refused, tested in test_errors
        eager, fused = _pair(system, integrator, dt, learn_dt, torch.float64)
        # short segments and chunks so that anchoring and chunking are exercised
        fused.backend.min_anchor_spacing, fused.backend.chunk = 7, 5
        u, y0, v0 = _float64_inputs(system.state_size, seed=1)
        out_e, grads_e = _loss_and_grads(eager, u, y0, v0)
        out_f, grads_f = _loss_and_grads(fused, u, y0, v0)
        torch.testing.assert_close(out_f, out_e, rtol=0, atol=1e-12, msg=name)
        for index, (g_e, g_f) in enumerate(zip(grads_e, grads_f, strict=True)):
            scale = g_e.abs().max().clamp(min=1.0)
            error = ((g_f - g_e).abs().max() / scale).item()
            assert error < 1e-10, (
                f"{name}/{integrator} gradient {index}: relative error {error:.2e}"
            )


@pytest.mark.parametrize("integrator", ["symplectic_euler", "imex", "leapfrog"])
def test_fused_matches_eager_float32(integrator: str) -> None:
    torch.manual_seed(2)
    for system, dt in ((UnICORNN(2, 16).layers[0], 0.1), (CoRNN(2, 16), 0.042)):
        eager, fused = _pair(system, integrator, dt, False, torch.float32)
        u = torch.randn(4, 300, 2, requires_grad=True)
        y0 = torch.zeros(4, 16, requires_grad=True)
        v0 = torch.zeros(4, 16, requires_grad=True)
        out_e, grads_e = _loss_and_grads(eager, u, y0, v0)
        out_f, grads_f = _loss_and_grads(fused, u, y0, v0)
        torch.testing.assert_close(out_f, out_e, rtol=1e-5, atol=1e-5)
        for g_e, g_f in zip(grads_e, grads_f, strict=True):
            scale = g_e.abs().max().clamp(min=1e-3)
            assert ((g_f - g_e).abs().max() / scale).item() < 1e-4


def test_reversible_reconstruction_float32_length_10k() -> None:
    """Rebuilding 10^4 states backwards in float32 stays on the stored trajectory."""
    torch.manual_seed(3)
    system = UnICORNN(1, 32).layers[0]
    eager, fused = _pair(system, "symplectic_euler", 0.19, False, torch.float32)
    assert fused.integrator.is_reversible_for(system)
    u = torch.randn(2, 10_000, 1, requires_grad=True)
    y0 = torch.zeros(2, 32, requires_grad=True)
    v0 = torch.zeros(2, 32, requires_grad=True)
    _, grads_e = _loss_and_grads(eager, u, y0, v0)
    _, grads_f = _loss_and_grads(fused, u, y0, v0)
    for g_e, g_f in zip(grads_e, grads_f, strict=True):
        scale = g_e.abs().max().clamp(min=1e-3)
        assert ((g_f - g_e).abs().max() / scale).item() < 1e-3


def _saved_bytes(rnn, steps: int) -> int:
    """Bytes autograd keeps for backward plus stored anchors, sequence-shaped tensors
    (the input, its encoding, the outputs: ``(batch, steps, ...)``) excluded."""
    torch.manual_seed(4)
    u = torch.randn(8, steps, 1, requires_grad=True)
    seen: dict[int, int] = {}
    keep = []

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        if tuple(tensor.shape[:2]) != (8, steps) and tensor.data_ptr() != u.data_ptr():
            seen[tensor.data_ptr()] = tensor.numel() * tensor.element_size()
        keep.append(tensor)
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y_seq, _ = rnn(u)
    saved = sum(seen.values())
    anchors = getattr(y_seq.grad_fn, "anchors", None)
    if anchors:
        saved += sum(y.numel() * y.element_size() * 2 for y, _ in anchors.values())
    return saved


def test_fused_saved_memory_does_not_grow_with_length() -> None:
    system = UnICORNN(1, 16).layers[0]
    fused = oscdyn.compile(system, "symplectic_euler", 0.1, backend="fused")
    eager = oscdyn.compile(system, "symplectic_euler", 0.1)
    short, long = _saved_bytes(fused, 1000), _saved_bytes(fused, 16000)
    assert long <= 1.2 * short, (short, long)
    # the eager graph grows with the sequence, for contrast
    assert _saved_bytes(eager, 4000) > 3 * _saved_bytes(eager, 1000)


def test_fused_without_grad_runs_plain_loop() -> None:
    system = Duffing(delta=0.1, input_size=1)
    fused = oscdyn.compile(system, "leapfrog", 0.05, backend="fused")
    eager = oscdyn.compile(system, "leapfrog", 0.05)
    u = torch.randn(2, 30, 1)
    with torch.no_grad():
        torch.testing.assert_close(fused(u)[0], eager(u)[0])
    assert fused.trajectory(u).position.shape == (2, 31, 1)


def test_fused_rejects_bad_options() -> None:
    from oscdyn.backends import Fused

    with pytest.raises(ValueError, match="anchors"):
        Fused(anchors=0)


def _graph_node_names(node, seen=None) -> set[str]:
    """Names of the autograd nodes reachable from ``node``."""
    seen = set() if seen is None else seen
    if node is not None and node not in seen:
        seen.add(node)
        for child, _ in node.next_functions:
            _graph_node_names(child, seen)
    return {type(n).__name__ for n in seen}


@pytest.mark.parametrize("integrator", ["symplectic_euler", "imex", "leapfrog"])
@pytest.mark.parametrize("input_grad", [False, True])
def test_independent_units_take_the_closed_form_path(integrator: str, input_grad: bool) -> None:
    """UnICORNN layers, LinearOscillators and diagonal harmonic oscillators run the
    closed-form path (no autograd in the backward) and match eager in float64, with and
    without an input gradient, damped and undamped."""
    torch.manual_seed(5)
    systems = (
        (UnICORNN(2, 5).layers[0], 0.19),
        (LinearOscillators(2, 5, 3), 0.3),
        (HarmonicOscillator(torch.tensor([1.0, 2.0, 0.5]), damping=0.3, input_size=2), 0.1),
        (HarmonicOscillator(torch.tensor([1.0, 2.0, 0.5]), input_size=2), 0.1),
    )
    for system, dt in systems:
        eager, fused = _pair(system, integrator, dt, True, torch.float64)
        fused.backend.min_anchor_spacing = 6
        u = torch.randn(3, 25, 2, dtype=torch.float64, requires_grad=input_grad)
        y0 = torch.randn(3, system.state_size, dtype=torch.float64)
        v0 = torch.randn(3, system.state_size, dtype=torch.float64)
        results = []
        for rnn in (eager, fused):
            y_seq, (y_T, v_T) = rnn(u, (y0, v0))
            loss = (y_seq**2).sum() + (y_T * v_T).sum()
            inputs = [*rnn.parameters()] + ([u] if input_grad else [])
            results.append((y_seq.detach(), torch.autograd.grad(loss, inputs)))
        assert "_UnitRecurrenceFunctionBackward" in _graph_node_names(y_seq.grad_fn)
        (out_e, grads_e), (out_f, grads_f) = results
        torch.testing.assert_close(out_f, out_e, rtol=0, atol=1e-12)
        for g_e, g_f in zip(grads_e, grads_f, strict=True):
            scale = g_e.abs().max().clamp(min=1.0)
            assert ((g_f - g_e).abs().max() / scale).item() < 1e-10, type(system).__name__


@pytest.mark.parametrize("integrator", ["symplectic_euler", "imex"])
@pytest.mark.parametrize("recompute", [False, True])
@pytest.mark.parametrize("free", [False, True])
def test_cornn_takes_the_closed_form_path(integrator: str, recompute: bool, free: bool) -> None:
    """coRNN with a fixed step runs its closed-form path (stored or recomputed segments,
    a length that is not a multiple of the segment) and matches eager in float64: outputs,
    final state and the gradients of the input, initial state and every weight."""
    from oscdyn.backends import Fused

    torch.manual_seed(6)
    system = CoRNN(0 if free else 2, 6, gamma=2.7, epsilon=4.7)
    eager, fused = _pair(system, integrator, 0.1, False, torch.float64)
    fused.backend = Fused(recompute=recompute)
    u = None if free else torch.randn(3, 27, 2, dtype=torch.float64, requires_grad=True)
    y0 = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    v0 = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    results = []
    for rnn in (eager, fused):
        y_seq, (y_T, v_T) = rnn(u, (y0, v0), steps=27 if free else None)
        loss = (y_seq**2).sum() + (y_T * v_T).sum() + v_T.sum()
        inputs = [y0, v0, *rnn.parameters()] + ([] if free else [u])
        results.append((y_seq.detach(), torch.autograd.grad(loss, inputs)))
    assert "_CoRNNRecurrenceBackward" in _graph_node_names(y_seq.grad_fn)
    (out_e, grads_e), (out_f, grads_f) = results
    torch.testing.assert_close(out_f, out_e, rtol=0, atol=1e-12)
    for g_e, g_f in zip(grads_e, grads_f, strict=True):
        scale = g_e.abs().max().clamp(min=1.0)
        assert ((g_f - g_e).abs().max() / scale).item() < 1e-10


def test_cornn_learned_step_takes_the_generic_path() -> None:
    _, fused = _pair(CoRNN(1, 4), "imex", 0.042, True, torch.float64)
    y_seq, _ = fused(torch.randn(2, 5, 1, dtype=torch.float64))
    assert "_CoRNNRecurrenceBackward" not in _graph_node_names(y_seq.grad_fn)
    assert "_RecurrenceBackward" in _graph_node_names(y_seq.grad_fn)


def test_cornn_recompute_keeps_saved_memory_sublinear() -> None:
    """Stored per step, coRNN's saved memory grows with the length; recomputed segments
    keep ``ceil(sqrt(T))`` states (sequence-shaped tensors excluded)."""
    from oscdyn.backends import Fused

    system = CoRNN(1, 16)
    stored = oscdyn.compile(system, "imex", 0.042, backend="fused")
    recomputed = oscdyn.compile(system, "imex", 0.042, backend="fused")
    recomputed.backend = Fused(recompute=True)
    assert _saved_bytes(stored, 4000) > 3.5 * _saved_bytes(stored, 1000)
    assert _saved_bytes(recomputed, 4000) < 2.2 * _saved_bytes(recomputed, 1000)


@pytest.mark.parametrize("integrator", ["imex", "leapfrog", "rk4"])
def test_generic_recompute_matches_eager_float64(integrator: str) -> None:
    """Non-reversible pairs on the generic path: with ``recompute=True`` the backward
    recomputes sqrt(T)-long segments from stored states and still matches eager."""
    from oscdyn.backends import Fused

    for system, dt in (
        (VanDerPol(input_size=1), 0.05),
        (CoRNN(1, 4), 0.042),  # learned dt: the generic path, not coRNN's closed form
    ):
        eager, fused = _pair(system, integrator, dt, True, torch.float64)
        fused.backend = Fused(recompute=True, chunk=5)
        assert not fused.integrator.is_reversible_for(system)
        u, y0, v0 = _float64_inputs(system.state_size, seed=7)
        out_e, grads_e = _loss_and_grads(eager, u, y0, v0)
        out_f, grads_f = _loss_and_grads(fused, u, y0, v0)
        assert "_RecurrenceBackward" in _graph_node_names(fused(u, (y0, v0))[0].grad_fn)
        torch.testing.assert_close(out_f, out_e, rtol=0, atol=1e-12)
        for g_e, g_f in zip(grads_e, grads_f, strict=True):
            scale = g_e.abs().max().clamp(min=1.0)
            assert ((g_f - g_e).abs().max() / scale).item() < 1e-10


def test_cornn_double_backward_is_refused() -> None:
    """The coRNN closed form has no graph of its own: create_graph=True says so clearly."""
    fused = oscdyn.compile(CoRNN(1, 4), "imex", 0.05, backend="fused")
    u = torch.randn(2, 6, 1, requires_grad=True)
    y_seq, _ = fused(u)
    assert "_CoRNNRecurrenceBackward" in _graph_node_names(y_seq.grad_fn)
    with pytest.raises(RuntimeError, match="create_graph"):
        torch.autograd.grad(y_seq.sum(), u, create_graph=True)
