"""The triton backend agrees with eager in outputs and gradients (CUDA only).

The kernel tests need Triton and a CUDA GPU and skip otherwise. With ``TRITON_INTERPRET=1``
set before the test run (and Triton installed) they run in Triton's CPU interpreter on
shorter sequences instead. The refusal tests run everywhere.
"""

from __future__ import annotations

import copy
import os
import warnings

import pytest
import torch

import oscdyn
from oscdyn.backends.triton_kernels import Triton, triton
from oscdyn.systems import CoRNN, HamiltonianRNN, HarmonicOscillator, LinearOscillators, UnICORNN

INTERPRET = os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")
HAS_CUDA = torch.cuda.is_available()
RUNNABLE = triton is not None and (HAS_CUDA or INTERPRET)
DEVICE = "cuda" if HAS_CUDA else "cpu"
# the interpreter runs a few thousand steps a second: shorter sequences there
LONG = 1000 if HAS_CUDA else 200
SHORT = 60 if HAS_CUDA else 30

needs_kernels = pytest.mark.skipif(
    not RUNNABLE, reason="the triton backend needs Triton and a CUDA GPU (or TRITON_INTERPRET=1)"
)

INTEGRATORS = ["symplectic_euler", "imex", "leapfrog"]
UNITS = 48  # not a multiple of the block: masked lanes are exercised


def _system(name: str, inputs: int = 3) -> tuple[object, float]:
    if name == "unicornn":
        return UnICORNN(inputs, UNITS).layers[0], 0.19
    if name == "linoss":
        return LinearOscillators(inputs, UNITS, 5), 0.3
    if name == "harmonic":
        omega = torch.rand(UNITS) * 2 + 0.5
        return HarmonicOscillator(omega, damping=torch.rand(UNITS) * 0.2, input_size=inputs), 0.1
    raise ValueError(name)


SYSTEMS = ["unicornn", "linoss", "harmonic"]


def _compile(system, integrator: str, dt, dtype: torch.dtype, learn_dt: bool = False):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", oscdyn.StabilityWarning)
        return oscdyn.compile(system, integrator, dt, learn_dt=learn_dt).to(DEVICE, dtype)


def _loss_and_grads(rnn, u, y0, v0, steps=None, use_seq=True, use_final=True):
    y_seq, (y_T, v_T) = rnn(u, (y0, v0), steps=steps)
    weight = torch.linspace(-1, 1, y_seq.shape[-1], dtype=y_seq.dtype, device=y_seq.device)
    loss = 0.0
    if use_seq:
        loss = loss + (y_seq * weight).pow(2).sum()
    if use_final:
        loss = loss + (y_T * v_T).sum() + y_T.sum()
    inputs = [t for t in (u, y0, v0) if t is not None] + list(rnn.parameters())
    grads = torch.autograd.grad(loss, inputs, allow_unused=True)
    grads = [torch.zeros_like(x) if g is None else g for g, x in zip(grads, inputs, strict=True)]
    return y_seq.detach(), (y_T.detach(), v_T.detach()), grads


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach(), b.detach()
    scale = b.norm()
    if scale == 0:
        return float((a - b).norm())
    return float((a - b).norm() / scale)


def _run_all(rnn, steps, dtype, inputs, batch, **loss):
    """Outputs and gradients of ``rnn`` on fixed random data."""
    torch.manual_seed(5)
    units = rnn.system.state_size
    # float32 values: the float64 reference sees the same data as the float32 runs
    u = torch.randn(batch, steps, inputs).double() if inputs else None
    y0 = 0.5 * torch.randn(batch, units).double()
    v0 = 0.5 * torch.randn(batch, units).double()
    u, y0, v0 = (None if t is None else t.to(DEVICE, dtype).requires_grad_() for t in (u, y0, v0))
    out, final, grads = _loss_and_grads(rnn, u, y0, v0, steps if u is None else None, **loss)
    names = [n for n, t in (("u", u), ("y0", y0), ("v0", v0)) if t is not None]
    names += [n for n, _ in rnn.named_parameters()]
    values = {"output": out, "final y": final[0], "final v": final[1]}
    values.update((f"grad {n}", g) for n, g in zip(names, grads, strict=True))
    return values


def _errors(actual: dict, expected: dict) -> dict[str, float]:
    return {k: _relative(actual[k].double(), expected[k].double()) for k in expected}


def _compare(system, integrator, dt, dtype, steps, learn_dt=False, inputs=3, batch=4, **loss):
    """Relative errors of triton against eager in ``dtype``; for float32 also against eager
    in float64, and eager float32's own error: ``(vs_eager, vs_float64, eager_vs_float64)``."""
    reference = copy.deepcopy(system) if dtype == torch.float32 else None
    rnn = _compile(system, integrator, dt, dtype, learn_dt)
    expected = _run_all(rnn, steps, dtype, inputs, batch, **loss)
    rnn.backend = Triton(anchor_every=16)
    actual = _run_all(rnn, steps, dtype, inputs, batch, **loss)
    errors = _errors(actual, expected)
    if reference is None:
        return errors
    exact_rnn = _compile(reference, integrator, dt, torch.float64, learn_dt)
    exact = _run_all(exact_rnn, steps, torch.float64, inputs, batch, **loss)
    return errors, _errors(actual, exact), _errors(expected, exact)


def _check_float32(label: str, errors: tuple[dict, dict, dict], tolerance: float = 1e-5) -> None:
    """Each quantity within ``tolerance`` of eager float32, or, where eager float32 is itself
    further than that from the float64 result, no further from it than eager (2x margin)."""
    vs_eager, vs_exact, eager_vs_exact = errors
    bad = {
        k: f"{e:.2e} (vs float64 {vs_exact[k]:.2e}, eager vs float64 {eager_vs_exact[k]:.2e})"
        for k, e in vs_eager.items()
        if not (e <= tolerance or vs_exact[k] <= 2 * eager_vs_exact[k] + 1e-7)
    }
    worst = max(vs_eager, key=vs_eager.get)
    print(
        f"triton vs eager {label}: max relative error {vs_eager[worst]:.2e} ({worst}); "
        f"vs float64 {max(vs_exact.values()):.2e}, eager float32 vs float64 "
        f"{max(eager_vs_exact.values()):.2e}"
    )
    assert not bad, f"{label}: {bad}"


def _report(label: str, errors: dict[str, float]) -> None:
    worst = max(errors, key=errors.get)
    print(f"triton vs eager {label}: max relative error {errors[worst]:.2e} ({worst})")


@needs_kernels
@pytest.mark.parametrize("integrator", INTEGRATORS)
@pytest.mark.parametrize("name", SYSTEMS)
def test_triton_matches_eager_float32(name: str, integrator: str) -> None:
    torch.manual_seed(0)
    system, dt = _system(name)
    for steps in (1, 17, LONG):
        errors = _compare(system, integrator, dt, torch.float32, steps)
        _check_float32(f"float32 {name}/{integrator} T={steps}", errors)


@needs_kernels
@pytest.mark.parametrize("learn_dt", [False, True])
@pytest.mark.parametrize("integrator", INTEGRATORS)
@pytest.mark.parametrize("name", SYSTEMS)
def test_triton_matches_eager_float64(name: str, integrator: str, learn_dt: bool) -> None:
    torch.manual_seed(1)
    system, dt = _system(name)
    errors = _compare(system, integrator, dt, torch.float64, SHORT, learn_dt=learn_dt)
    _report(f"float64 {name}/{integrator} learn_dt={learn_dt}", errors)
    bad = {k: f"{e:.2e}" for k, e in errors.items() if not e <= 1e-10}
    assert not bad, f"{name}/{integrator}: {bad}"


@needs_kernels
@pytest.mark.parametrize("integrator", INTEGRATORS)
def test_triton_per_unit_learned_dt(integrator: str) -> None:
    torch.manual_seed(2)
    system = LinearOscillators(2, UNITS, 3)
    dt = torch.rand(UNITS) * 0.3 + 0.05
    errors = _compare(system, integrator, dt, torch.float64, SHORT, learn_dt=True, inputs=2)
    assert max(errors.values()) <= 1e-10, errors


@needs_kernels
@pytest.mark.parametrize(
    "loss", [{"use_seq": False}, {"use_final": False}], ids=["final-only", "sequence-only"]
)
def test_triton_partial_losses(loss: dict[str, bool]) -> None:
    torch.manual_seed(3)
    system, dt = _system("unicornn")
    errors = _compare(system, "symplectic_euler", dt, torch.float64, SHORT, **loss)
    assert max(errors.values()) <= 1e-10, errors


@needs_kernels
@pytest.mark.parametrize("name", ["unicornn", "harmonic"])
def test_triton_free_evolution(name: str) -> None:
    torch.manual_seed(4)
    if name == "unicornn":  # no input: the force reads the bias
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the empty input weight
            system, dt = UnICORNN(0, UNITS).layers[0], 0.19
        torch.nn.init.uniform_(system.input_map.bias, -1, 1)
    else:
        system, dt = HarmonicOscillator(torch.rand(UNITS) + 0.5, damping=0.1), 0.1
    errors = _compare(system, "leapfrog", dt, torch.float64, SHORT, inputs=0)
    assert max(errors.values()) <= 1e-10, errors


def _check_trajectory_and_no_grad(rnn, u, variables: tuple[str, ...]) -> None:
    """``trajectory(u)`` and a no-grad forward on triton equal eager's (float64)."""
    expected = rnn.trajectory(u)
    with torch.no_grad():
        y_e, (yT_e, vT_e) = rnn(u)
    rnn.backend = Triton()
    actual = rnn.trajectory(u)
    assert actual.attrs["backend"] == "triton"
    for variable in variables:
        torch.testing.assert_close(
            torch.as_tensor(actual[variable].values),
            torch.as_tensor(expected[variable].values),
            rtol=1e-10,
            atol=1e-12,
        )
    with torch.no_grad():
        y_t, (yT_t, vT_t) = rnn(u)
    for a, b in ((y_t, y_e), (yT_t, yT_e), (vT_t, vT_e)):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@needs_kernels
def test_triton_trajectory_and_no_grad() -> None:
    torch.manual_seed(6)
    system, dt = _system("harmonic", inputs=2)
    rnn = _compile(system, "imex", dt, torch.float64)
    u = torch.randn(3, SHORT, 2, dtype=torch.float64, device=DEVICE)
    _check_trajectory_and_no_grad(rnn, u, ("position", "velocity", "energy"))


@needs_kernels
def test_triton_stacked_unicornn_float32() -> None:
    torch.manual_seed(7)
    stack = UnICORNN(3, UNITS, num_layers=2)
    exact_rnn = oscdyn.compile(copy.deepcopy(stack), "symplectic_euler", 0.19)
    exact_rnn = exact_rnn.to(DEVICE, torch.float64)
    rnn = oscdyn.compile(stack, "symplectic_euler", 0.19).to(DEVICE)
    u64 = torch.randn(4, LONG, 3, device=DEVICE).double()

    def run(model, dtype):
        u = u64.to(dtype).requires_grad_()
        y_seq, (y_T, v_T) = model(u)
        loss = y_seq.pow(2).sum() + (y_T * v_T).sum()
        grads = torch.autograd.grad(loss, [u, *model.parameters()])
        names = ["u"] + [n for n, _ in model.named_parameters()]
        values = {"output": y_seq.detach(), "final y": y_T, "final v": v_T}
        values.update((f"grad {n}", g) for n, g in zip(names, grads, strict=True))
        return values

    exact = run(exact_rnn, torch.float64)
    expected = run(rnn, torch.float32)
    for layer in rnn.layers:
        layer.backend = Triton()
    actual = run(rnn, torch.float32)
    errors = (_errors(actual, expected), _errors(actual, exact), _errors(expected, exact))
    _check_float32(f"float32 stacked UnICORNN T={LONG}", errors)


@needs_kernels
def test_triton_reconstruction_float32_long() -> None:
    """Velocities rebuilt backwards over 10^4 steps (re-anchored) keep the gradients right."""
    torch.manual_seed(8)
    steps = 10_000 if HAS_CUDA else 1000
    system, dt = UnICORNN(1, 32).layers[0], 0.19
    errors = _compare(system, "symplectic_euler", dt, torch.float32, steps, inputs=1, batch=2)
    _check_float32(f"float32 unicornn T={steps}", errors)


# coRNN: one program holds every unit of its batch rows (oscdyn.backends.triton_cornn)

CORNN_UNITS = [20, 64]  # masked lanes; the most float64 holds on chip


@needs_kernels
@pytest.mark.parametrize("units", CORNN_UNITS)
@pytest.mark.parametrize("integrator", ["symplectic_euler", "imex"])
def test_triton_cornn_matches_eager_float64(integrator: str, units: int) -> None:
    torch.manual_seed(10)
    system = CoRNN(3, units, gamma=2.7, epsilon=4.7)
    errors = _compare(system, integrator, 0.042, torch.float64, LONG, batch=19)
    _report(f"coRNN {integrator} {units} units float64", errors)
    assert max(errors.values()) <= 1e-10, errors


@needs_kernels
@pytest.mark.parametrize("integrator", ["symplectic_euler", "imex"])
def test_triton_cornn_matches_eager_float32(integrator: str) -> None:
    torch.manual_seed(11)
    system = CoRNN(2, 128, gamma=0.4, epsilon=8.0)  # coRNN's psMNIST setting
    errors = _compare(system, integrator, 0.076, torch.float32, LONG, inputs=2, batch=50)
    _check_float32(f"float32 coRNN {integrator} T={LONG}", errors)


@needs_kernels
@pytest.mark.parametrize("loss", [{"use_seq": False}, {"use_final": False}])
def test_triton_cornn_partial_losses_and_free_evolution(loss: dict[str, bool]) -> None:
    torch.manual_seed(13)
    errors = _compare(CoRNN(3, 24), "symplectic_euler", 0.06, torch.float64, SHORT, **loss)
    assert max(errors.values()) <= 1e-10, errors
    free = _compare(CoRNN(0, 24), "imex", 0.06, torch.float64, SHORT, inputs=0, **loss)
    assert max(free.values()) <= 1e-10, free


@needs_kernels
def test_triton_cornn_trajectory_and_no_grad() -> None:
    torch.manual_seed(14)
    rnn = _compile(CoRNN(2, 24), "imex", 0.042, torch.float64)
    u = torch.randn(3, SHORT, 2, dtype=torch.float64, device=DEVICE)
    _check_trajectory_and_no_grad(rnn, u, ("position", "velocity"))


@pytest.mark.skipif(not (triton is not None and HAS_CUDA), reason="tensor cores need a GPU")
def test_triton_cornn_tf32_is_close() -> None:
    """``precision="tf32x3"`` keeps float32 accuracy; ``"tf32"`` stays within 1e-2."""
    torch.manual_seed(15)
    system = CoRNN(2, 64, gamma=0.4, epsilon=8.0)
    rnn = _compile(system, "imex", 0.076, torch.float32)
    expected = _run_all(rnn, LONG, torch.float32, 2, 50)
    for precision, tolerance in (("tf32x3", 1e-4), ("tf32", 1e-2)):
        rnn.backend = Triton(precision=precision)
        errors = _errors(_run_all(rnn, LONG, torch.float32, 2, 50), expected)
        _report(f"coRNN {precision}", errors)
        assert max(errors.values()) <= tolerance, (precision, errors)


# refusals: run everywhere


def _cpu_rnn(system, integrator="symplectic_euler", dt=0.1):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", oscdyn.StabilityWarning)
        return oscdyn.compile(system, integrator, dt)


def test_triton_refuses_coupled_systems() -> None:
    reason = Triton().unsupported_reason(_cpu_rnn(HamiltonianRNN(1, 4), "leapfrog"))
    assert reason is not None and "HamiltonianRNN" in reason


def test_triton_refuses_cornn_it_cannot_run() -> None:
    learned = oscdyn.compile(CoRNN(1, 4), "imex", 0.042, learn_dt=True)
    reason = Triton().unsupported_reason(learned)
    assert reason is not None and "fixed scalar dt" in reason
    wide = _cpu_rnn(CoRNN(1, 129), dt=0.042)
    reason = Triton().unsupported_reason(wide)
    assert reason is not None and "at most 128 units in float32" in reason
    reason = Triton(precision="tf32").unsupported_reason(_cpu_rnn(CoRNN(1, 65), dt=0.042))
    assert reason is not None and "at most 64 units in float32 with precision 'tf32'" in reason
    reason = Triton().unsupported_reason(_cpu_rnn(CoRNN(1, 65), dt=0.042).double())
    assert reason is not None and "at most 64 units in float64" in reason
    reason = Triton().unsupported_reason(_cpu_rnn(CoRNN(1, 4), "leapfrog", dt=0.042))
    assert reason is not None and "leapfrog" in reason


def test_triton_refuses_other_integrators() -> None:
    for integrator in ("rk4", "exponential", "euler"):
        reason = Triton().unsupported_reason(_cpu_rnn(UnICORNN(1, 4).layers[0], integrator))
        assert reason is not None and integrator in reason


def test_triton_refuses_without_cuda_or_triton() -> None:
    rnn = _cpu_rnn(UnICORNN(1, 4).layers[0])
    reason = Triton().unsupported_reason(rnn)
    if INTERPRET and triton is not None:
        assert reason is None
    else:
        assert reason is not None and ("CUDA" in reason or "Triton" in reason)
        with pytest.raises(ValueError, match="triton"):
            Triton().run(rnn, None, torch.zeros(1, 4), torch.zeros(1, 4), 3)


def test_triton_refuses_half_precision() -> None:
    rnn = _cpu_rnn(UnICORNN(1, 4).layers[0]).to(torch.bfloat16)
    reason = Triton().unsupported_reason(rnn)
    assert reason is not None and "bfloat16" in reason


def test_triton_options_are_checked() -> None:
    with pytest.raises(ValueError, match="power of two"):
        Triton(block=48)
    with pytest.raises(ValueError, match="anchor_every"):
        Triton(anchor_every=0)
    with pytest.raises(ValueError, match="precision must be one of"):
        Triton(precision="bf16")
