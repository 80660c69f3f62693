"""The public API of ``oscdyn.compile`` and ``OscillatorRNN``, and the integrator registry."""

from __future__ import annotations

import math
import warnings
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
import xarray as xr
from torch import Tensor, nn

import oscdyn
from oscdyn.integrators import registry
from oscdyn.systems import (
    Duffing,
    HarmonicOscillator,
    OscillatorChain,
    Pendulum,
    SecondOrderSystem,
    VanDerPol,
)

SCHEMES = ["imex", "symplectic_euler", "leapfrog", "exponential", "euler", "rk4"]

cuda_only = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def _compile(*args: Any, **kwargs: Any) -> oscdyn.OscillatorRNN:
    """``oscdyn.compile`` without the stability warning that euler always raises."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", oscdyn.StabilityWarning)
        return oscdyn.compile(*args, **kwargs)


def _state(batch: int, units: int, seed: int = 0, dtype: torch.dtype = torch.float32):
    generator = torch.Generator().manual_seed(seed)
    y0 = torch.randn(batch, units, generator=generator, dtype=dtype)
    v0 = torch.randn(batch, units, generator=generator, dtype=dtype)
    return y0, v0


def _inputs(batch: int, steps: int, inputs: int, seed: int = 1, dtype=torch.float32) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, steps, inputs, generator=generator, dtype=dtype)


def _closed_form(omega: Tensor, y0: Tensor, v0: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
    """``y(t)``, ``v(t)`` of undamped ``y'' = -omega^2 y``, shapes ``(batch, time, units)``."""
    phase = omega * t[:, None]
    y = y0[:, None] * torch.cos(phase) + v0[:, None] * torch.sin(phase) / omega
    v = -y0[:, None] * omega * torch.sin(phase) + v0[:, None] * torch.cos(phase)
    return y, v


# ---------------------------------------------------------------------------- calling


@pytest.mark.parametrize("integrator", SCHEMES)
def test_forward_shapes_and_final_state(integrator: str) -> None:
    system = Duffing(alpha=torch.tensor([1.0, 2.0, 0.5]), delta=0.1, input_size=2)
    rnn = _compile(system, integrator, dt=0.05)
    u = _inputs(4, 7, 2)
    y_seq, (y_T, v_T) = rnn(u, state=_state(4, 3))
    assert y_seq.shape == (4, 7, 3)
    assert y_T.shape == v_T.shape == (4, 3)
    assert y_seq.dtype == torch.float32
    torch.testing.assert_close(y_seq[:, -1], y_T, rtol=0, atol=0)


def test_returns_an_oscillator_rnn_module() -> None:
    rnn = oscdyn.compile(HarmonicOscillator(1.0), "leapfrog", dt=0.1)
    assert isinstance(rnn, oscdyn.OscillatorRNN)
    assert isinstance(rnn, nn.Module)
    assert rnn.system.state_size == 1
    assert rnn.integrator.name == "leapfrog"
    assert "leapfrog" in repr(rnn)


def test_free_evolution_with_steps() -> None:
    rnn = oscdyn.compile(Duffing(), "leapfrog", dt=0.05)
    state = _state(3, 1)
    y_seq, (y_T, v_T) = rnn(None, state=state, steps=11)
    assert y_seq.shape == (3, 11, 1)
    torch.testing.assert_close(y_seq[:, -1], y_T, rtol=0, atol=0)
    # continuing from the final state is the same as running longer
    y_more, final_more = rnn(None, state=(y_T, v_T), steps=5)
    y_all, final_all = rnn(None, state=state, steps=16)
    torch.testing.assert_close(torch.cat([y_seq, y_more], 1), y_all)
    torch.testing.assert_close(final_more, final_all)


def test_free_evolution_does_not_move_the_state_in_place() -> None:
    rnn = oscdyn.compile(HarmonicOscillator(1.0), "leapfrog", dt=0.1)
    y0, v0 = _state(2, 1)
    copies = y0.clone(), v0.clone()
    rnn(None, state=(y0, v0), steps=5)
    torch.testing.assert_close((y0, v0), copies, rtol=0, atol=0)


def test_system_without_inputs_accepts_an_empty_input() -> None:
    rnn = oscdyn.compile(HarmonicOscillator(torch.tensor([1.0, 2.0])), "exponential", dt=0.1)
    state = _state(3, 2)
    y_free, final_free = rnn(None, state=state, steps=6)
    y_empty, final_empty = rnn(torch.zeros(3, 6, 0), state=state)
    torch.testing.assert_close(y_free, y_empty)
    torch.testing.assert_close(final_free, final_empty)


@pytest.mark.parametrize("integrator", SCHEMES)
def test_batch_first_false_is_the_transposed_layout(integrator: str) -> None:
    system = HarmonicOscillator(torch.tensor([1.0, 3.0]), damping=0.2, input_size=1)
    first = _compile(system, integrator, dt=0.1)
    second = _compile(system, integrator, dt=0.1, batch_first=False)
    u = _inputs(3, 6, 1)
    state = _state(3, 2)
    y_bf, final_bf = first(u, state=state)
    y_tf, final_tf = second(u.transpose(0, 1), state=state)
    assert y_tf.shape == (6, 3, 2)
    torch.testing.assert_close(y_tf, y_bf.transpose(0, 1), rtol=0, atol=0)
    torch.testing.assert_close(final_tf, final_bf, rtol=0, atol=0)


def test_batch_first_false_free_evolution() -> None:
    system = Duffing(alpha=torch.tensor([1.0, 3.0]))
    first = oscdyn.compile(system, "leapfrog", dt=0.1)
    second = oscdyn.compile(system, "leapfrog", dt=0.1, batch_first=False)
    state = _state(3, 2)
    y_bf, final_bf = first(None, state=state, steps=5)
    y_tf, final_tf = second(None, state=state, steps=5)
    assert y_tf.shape == (5, 3, 2)
    torch.testing.assert_close(y_tf, y_bf.transpose(0, 1), rtol=0, atol=0)
    torch.testing.assert_close(final_tf, final_bf, rtol=0, atol=0)


@pytest.mark.parametrize("integrator", SCHEMES)
def test_zero_initial_state_when_state_is_none(integrator: str) -> None:
    system = Duffing(alpha=torch.tensor([1.0, 2.0]), delta=0.1, input_size=1)
    rnn = _compile(system, integrator, dt=0.1)
    u = _inputs(3, 5, 1)
    y_none, final_none = rnn(u)
    zeros = torch.zeros(3, 2)
    y_zero, final_zero = rnn(u, state=(zeros, zeros.clone()))
    torch.testing.assert_close(y_none, y_zero, rtol=0, atol=0)
    torch.testing.assert_close(final_none, final_zero, rtol=0, atol=0)
    assert y_none.abs().sum() > 0  # the input moves the units


@pytest.mark.parametrize(
    ("integrator", "dt", "tolerance"),
    [("exponential", 0.1, 2e-5), ("leapfrog", 0.01, 2e-4), ("rk4", 0.05, 2e-5)],
)
def test_harmonic_free_evolution_matches_closed_form(
    integrator: str, dt: float, tolerance: float
) -> None:
    omega = torch.tensor([1.0, 2.0, 0.5])
    rnn = oscdyn.compile(HarmonicOscillator(omega), integrator, dt=dt)
    y0, v0 = _state(2, 3)
    steps = round(2.0 / dt)
    y_seq, (y_T, v_T) = rnn(None, state=(y0, v0), steps=steps)
    t = dt * torch.arange(1, steps + 1, dtype=torch.float64)
    y_exact, v_exact = _closed_form(omega.double(), y0.double(), v0.double(), t)
    torch.testing.assert_close(y_seq.double(), y_exact, rtol=0, atol=tolerance)
    torch.testing.assert_close(v_T.double(), v_exact[:, -1], rtol=0, atol=tolerance)


def test_harmonic_closed_form_float64() -> None:
    omega = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)
    rnn = oscdyn.compile(HarmonicOscillator(omega), "exponential", dt=0.125).double()
    y0, v0 = _state(2, 3, dtype=torch.float64)
    y_seq, (_, v_T) = rnn(None, state=(y0, v0), steps=40)
    t = 0.125 * torch.arange(1, 41, dtype=torch.float64)  # 0.125 is exact in float32
    y_exact, v_exact = _closed_form(omega, y0, v0, t)
    torch.testing.assert_close(y_seq, y_exact, rtol=0, atol=1e-12)
    torch.testing.assert_close(v_T, v_exact[:, -1], rtol=0, atol=1e-12)


def test_float64_system_keeps_a_float_dt_exact() -> None:
    # a Python float dt is not rounded to float32 on its way into a float64 model
    system = HarmonicOscillator(torch.tensor([1.0, 2.0], dtype=torch.float64))
    rnn = oscdyn.compile(system, "exponential", dt=0.1)
    assert rnn.dt.dtype == torch.float64
    assert float(rnn.dt) == 0.1
    y0, v0 = _state(2, 2, dtype=torch.float64)
    y_seq, _ = rnn(None, state=(y0, v0), steps=200)
    t = 0.1 * torch.arange(1, 201, dtype=torch.float64)
    y_exact, _ = _closed_form(system.omega.detach(), y0, v0, t)
    torch.testing.assert_close(y_seq, y_exact, rtol=0, atol=1e-12)


def test_torchdiffeq_integrator_through_compile() -> None:
    omega = torch.tensor([1.0, 2.0])
    rnn = oscdyn.compile(HarmonicOscillator(omega), "torchdiffeq:dopri5", dt=0.2)
    assert rnn.integrator.method == "dopri5"
    y0, v0 = _state(2, 2)
    y_seq, _ = rnn(None, state=(y0, v0), steps=5)
    t = 0.2 * torch.arange(1, 6, dtype=torch.float64)
    y_exact, _ = _closed_form(omega.double(), y0.double(), v0.double(), t)
    torch.testing.assert_close(y_seq.double(), y_exact, rtol=0, atol=1e-5)


def test_integrator_instance_is_accepted() -> None:
    integrator = oscdyn.integrators.get("leapfrog")
    rnn = oscdyn.compile(Duffing(), integrator, dt=0.1)
    assert rnn.integrator is integrator


# ------------------------------------------------------------------------------- dt


def test_float_dt() -> None:
    rnn = oscdyn.compile(HarmonicOscillator(1.0), "leapfrog", dt=0.1)
    assert isinstance(rnn.dt, Tensor)
    assert rnn.dt.ndim == 0
    assert float(rnn.dt.detach()) == pytest.approx(0.1)
    assert not rnn.dt.requires_grad
    assert list(rnn.parameters()) == list(rnn.system.parameters())  # dt is not a parameter


@pytest.mark.parametrize("integrator", SCHEMES)
def test_per_unit_dt_equals_separate_units(integrator: str) -> None:
    omega = [1.0, 2.0, 3.0]
    damping = [0.1, 0.0, 0.3]
    dts = [0.1, 0.05, 0.02]
    system = HarmonicOscillator(
        torch.tensor(omega), damping=torch.tensor(damping), input_size=1, input_gain=0.5
    )
    rnn = _compile(system, integrator, dt=torch.tensor(dts))
    assert rnn.dt.shape == (3,)
    u = _inputs(2, 8, 1)
    y0, v0 = _state(2, 3)
    y_seq, (y_T, v_T) = rnn(u, state=(y0, v0))
    for i in range(3):
        unit = HarmonicOscillator(
            omega[i], damping=torch.tensor(damping[i]), input_size=1, input_gain=0.5
        )
        single = _compile(unit, integrator, dt=dts[i])
        y_i, (y_T_i, v_T_i) = single(u, state=(y0[:, i : i + 1], v0[:, i : i + 1]))
        torch.testing.assert_close(y_seq[..., i : i + 1], y_i, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(v_T[:, i : i + 1], v_T_i, rtol=1e-5, atol=1e-6)


def test_per_unit_dt_of_one_entry_is_a_scalar_dt() -> None:
    system = HarmonicOscillator(torch.tensor([1.0, 2.0]))
    state = _state(2, 2)
    scalar = oscdyn.compile(system, "leapfrog", dt=0.1)(None, state=state, steps=5)
    per_unit = oscdyn.compile(system, "leapfrog", dt=torch.tensor([0.1, 0.1]))
    torch.testing.assert_close(per_unit(None, state=state, steps=5), scalar)


def test_learned_dt_is_a_positive_parameter() -> None:
    rnn = oscdyn.compile(HarmonicOscillator(1.0), "leapfrog", dt=0.1, learn_dt=True)
    assert isinstance(rnn.log_dt, nn.Parameter)
    assert any(p is rnn.log_dt for p in rnn.parameters())
    assert float(rnn.dt.detach()) == pytest.approx(0.1)
    assert rnn.dt.requires_grad
    with torch.no_grad():
        rnn.log_dt.fill_(-50.0)  # any real log_dt is a positive step
    assert float(rnn.dt.detach()) > 0


@pytest.mark.parametrize("integrator", SCHEMES)
def test_learned_dt_gets_a_gradient(integrator: str) -> None:
    system = Duffing(alpha=torch.tensor([1.0, 2.0]), delta=0.1, input_size=1)
    rnn = _compile(system, integrator, dt=0.1, learn_dt=True)
    y_seq, _ = rnn(_inputs(2, 6, 1), state=_state(2, 2))
    y_seq.square().mean().backward()
    assert rnn.log_dt.grad is not None
    assert torch.isfinite(rnn.log_dt.grad).all()
    assert rnn.log_dt.grad.abs().sum() > 0


def test_learned_per_unit_dt_gets_a_gradient_per_unit() -> None:
    system = HarmonicOscillator(torch.tensor([1.0, 2.0]), input_size=1)
    rnn = oscdyn.compile(system, "exponential", dt=torch.tensor([0.1, 0.2]), learn_dt=True)
    assert rnn.log_dt.shape == (2,)
    y_seq, _ = rnn(_inputs(2, 6, 1), state=_state(2, 2))
    y_seq.square().mean().backward()
    assert (rnn.log_dt.grad.abs() > 0).all()


@pytest.mark.parametrize("integrator", ["exponential", "leapfrog"])
def test_learned_dt_fits_a_trajectory(integrator: str) -> None:
    """Fit the step of a harmonic oscillator to a trajectory sampled with another step."""
    true_dt, start_dt = 0.1, 0.08
    state = (torch.tensor([[1.0], [0.5]]), torch.tensor([[0.0], [1.0]]))
    with torch.no_grad():
        target, _ = oscdyn.compile(HarmonicOscillator(1.0), integrator, dt=true_dt)(
            None, state=state, steps=25
        )
    rnn = oscdyn.compile(HarmonicOscillator(1.0), integrator, dt=start_dt, learn_dt=True)
    optimizer = torch.optim.Adam([rnn.log_dt], lr=0.02)
    losses = []
    for _ in range(25):
        optimizer.zero_grad()
        y_seq, _ = rnn(None, state=state, steps=25)
        loss = (y_seq - target).square().mean()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.1 * losses[0]
    assert abs(float(rnn.dt.detach()) - true_dt) < 0.25 * abs(start_dt - true_dt)


# ------------------------------------------------------------------------- dtypes


@pytest.mark.parametrize("integrator", SCHEMES)
def test_double_matches_float(integrator: str) -> None:
    system = Duffing(alpha=torch.tensor([1.0, 2.0]), delta=0.1, gamma=0.2, input_size=1)
    rnn = _compile(system, integrator, dt=0.1)
    u = _inputs(2, 10, 1)
    state = _state(2, 2)
    y32, final32 = rnn(u, state=state)
    rnn.double()
    assert all(p.dtype == torch.float64 for p in rnn.parameters())
    assert rnn.dt.dtype == torch.float64
    y64, final64 = rnn(u.double(), state=tuple(s.double() for s in state))
    assert y64.dtype == final64[0].dtype == final64[1].dtype == torch.float64
    torch.testing.assert_close(y64.float(), y32, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(tuple(s.float() for s in final64), final32, rtol=1e-5, atol=1e-5)


def test_learned_dt_follows_double() -> None:
    rnn = oscdyn.compile(HarmonicOscillator(1.0), "leapfrog", dt=0.1, learn_dt=True).double()
    assert rnn.log_dt.dtype == torch.float64
    y_seq, _ = rnn(None, state=_state(2, 1, dtype=torch.float64), steps=3)
    assert y_seq.dtype == torch.float64


def test_zero_state_follows_double() -> None:
    rnn = oscdyn.compile(HarmonicOscillator(1.0, input_size=1), "leapfrog", dt=0.1).double()
    y_seq, (y_T, v_T) = rnn(_inputs(2, 3, 1, dtype=torch.float64))
    assert y_seq.dtype == y_T.dtype == v_T.dtype == torch.float64


@pytest.mark.parametrize(
    ("system", "names"),
    [
        pytest.param(
            HarmonicOscillator(torch.tensor([1.0, 2.0]), damping=0.1, input_size=1),
            ["input_gain"],
            id="HarmonicOscillator",
        ),
        pytest.param(
            Duffing(delta=0.1, input_size=1),
            ["alpha", "beta", "gamma", "drive_frequency", "input_gain"],
            id="Duffing",
        ),
        pytest.param(VanDerPol(), ["mu"], id="VanDerPol"),
        pytest.param(Pendulum(damping=0.1), ["omega"], id="Pendulum"),
        pytest.param(OscillatorChain(3, damping=0.1), ["springs"], id="OscillatorChain"),
    ],
)
def test_physical_coefficients_are_parameters(system: SecondOrderSystem, names: list[str]) -> None:
    rnn = oscdyn.compile(system, "leapfrog", dt=0.1)
    parameters = list(rnn.parameters())
    coefficients = [getattr(system, name) for name in names]
    for operator in (system.stiffness, system.damping):
        if operator is not None:
            coefficients.extend(operator.parameters())
    assert coefficients
    for coefficient in coefficients:
        assert isinstance(coefficient, nn.Parameter)
        assert any(coefficient is p for p in parameters)


def test_grey_box_fit_of_duffing_alpha_reduces_the_loss() -> None:
    u = 0.5 * torch.sin(0.7 * torch.arange(60.0))[None, :, None].expand(2, 60, 1)
    state = (torch.tensor([[0.5], [-0.3]]), torch.zeros(2, 1))
    truth = Duffing(alpha=2.0, beta=0.5, delta=0.1, input_size=1)
    with torch.no_grad():
        target, _ = oscdyn.compile(truth, "leapfrog", dt=0.1)(u, state=state)
    model = Duffing(alpha=1.2, beta=0.5, delta=0.1, input_size=1)
    rnn = oscdyn.compile(model, "leapfrog", dt=0.1)
    optimizer = torch.optim.Adam([model.alpha], lr=0.05)
    losses = []
    for _ in range(15):
        optimizer.zero_grad()
        y_seq, _ = rnn(u, state=state)
        loss = (y_seq - target).square().mean()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0]
    assert abs(float(model.alpha.detach()) - 2.0) < abs(1.2 - 2.0)


# --------------------------------------------------------------------- trajectory


@pytest.mark.parametrize("integrator", ["leapfrog", "exponential", "rk4"])
def test_trajectory_dataset(integrator: str) -> None:
    system = Duffing(alpha=torch.tensor([1.0, 2.0, 0.5]), delta=0.1, input_size=1)
    rnn = oscdyn.compile(system, integrator, dt=0.05)
    u = _inputs(2, 9, 1)
    y0, v0 = _state(2, 3)
    ds = rnn.trajectory(u, (y0, v0))
    assert isinstance(ds, xr.Dataset)
    assert ds.position.dims == ds.velocity.dims == ("batch", "time", "unit")
    assert ds.energy.dims == ("batch", "time")
    assert dict(ds.sizes) == {"batch": 2, "time": 10, "unit": 3}
    np.testing.assert_allclose(ds.time.values, 0.05 * np.arange(10), rtol=1e-6, atol=1e-9)
    assert ds.attrs["integrator"] == integrator
    assert ds.attrs["system"] == "Duffing"
    assert ds.attrs["dt"] == pytest.approx(0.05)

    y_seq, (y_T, v_T) = rnn(u, state=(y0, v0))
    np.testing.assert_allclose(ds.position.values[:, 0], y0.numpy(), rtol=0, atol=0)
    np.testing.assert_allclose(ds.velocity.values[:, 0], v0.numpy(), rtol=0, atol=0)
    np.testing.assert_allclose(ds.position.values[:, 1:], y_seq.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(ds.velocity.values[:, -1], v_T.detach().numpy(), rtol=1e-6)
    energy = system.energy(torch.as_tensor(ds.position.values), torch.as_tensor(ds.velocity.values))
    np.testing.assert_allclose(ds.energy.values, energy.detach().numpy(), rtol=1e-6)


def test_trajectory_free_evolution_with_steps() -> None:
    rnn = oscdyn.compile(HarmonicOscillator(torch.tensor([1.0, 2.0])), "leapfrog", dt=0.25)
    state = _state(3, 2)
    ds = rnn.trajectory(None, state, 8)
    assert dict(ds.sizes) == {"batch": 3, "time": 9, "unit": 2}
    assert ds.time.values[0] == 0
    np.testing.assert_allclose(ds.time.values, 0.25 * np.arange(9))
    y_seq, _ = rnn(None, state=state, steps=8)
    np.testing.assert_allclose(ds.position.values[:, 1:], y_seq.detach().numpy(), rtol=1e-6)
    # the harmonic energy is conserved by leapfrog up to a small bounded error
    assert np.ptp(ds.energy.values, axis=1).max() < 0.1 * ds.energy.values.mean()


def test_trajectory_has_no_energy_without_a_hamiltonian() -> None:
    rnn = oscdyn.compile(VanDerPol(), "leapfrog", dt=0.1)
    ds = rnn.trajectory(None, _state(2, 1), 5)
    assert "energy" not in ds
    assert {"position", "velocity"} <= set(ds.data_vars)
    assert ds.attrs["system"] == "VanDerPol"


def test_trajectory_does_not_build_a_graph() -> None:
    rnn = oscdyn.compile(HarmonicOscillator(1.0), "leapfrog", dt=0.1, learn_dt=True)
    y0, v0 = _state(2, 1)
    ds = rnn.trajectory(None, (y0.requires_grad_(), v0), 4)
    assert ds.position.dtype == np.float32
    assert ds.attrs["dt"] == pytest.approx(0.1)


# --------------------------------------------------------------------------- CUDA


@cuda_only
@pytest.mark.parametrize("integrator", ["leapfrog", "exponential", "imex"])
def test_cuda_matches_cpu(integrator: str) -> None:
    system = Duffing(alpha=torch.tensor([1.0, 2.0]), delta=0.1, gamma=0.2, input_size=1)
    rnn = oscdyn.compile(system, integrator, dt=0.1, learn_dt=True)
    u = _inputs(3, 12, 1)
    state = _state(3, 2)
    y_cpu, final_cpu = rnn(u, state=state)
    rnn.cuda()
    assert rnn.dt.device.type == "cuda"
    y_gpu, final_gpu = rnn(u.cuda(), state=tuple(s.cuda() for s in state))
    assert y_gpu.device.type == "cuda"
    torch.testing.assert_close(y_gpu.cpu(), y_cpu, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(tuple(s.cpu() for s in final_gpu), final_cpu, rtol=1e-5, atol=1e-5)
    y_gpu.square().mean().backward()
    assert rnn.log_dt.grad is not None and rnn.log_dt.grad.device.type == "cuda"


# ----------------------------------------------------------------------- registry


def test_available_lists_the_built_in_schemes() -> None:
    names = oscdyn.integrators.available()
    assert set(SCHEMES) | {"torchdiffeq"} <= set(names)
    assert names == sorted(names)


@pytest.mark.parametrize("name", SCHEMES)
def test_get_returns_an_instance_with_the_name(name: str) -> None:
    integrator = oscdyn.integrators.get(name)
    assert isinstance(integrator, oscdyn.Integrator)
    assert integrator.name == name
    assert oscdyn.integrators.get(integrator) is integrator


def test_get_torchdiffeq_method_and_options() -> None:
    integrator = oscdyn.integrators.get("torchdiffeq:rk4", rtol=1e-3)
    assert isinstance(integrator, oscdyn.integrators.TorchDiffEq)
    assert integrator.method == "rk4"
    assert integrator.rtol == 1e-3


@pytest.fixture
def scratch_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registrations in a test do not leak into the rest of the suite."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))


def test_register_a_custom_integrator(scratch_registry: None) -> None:
    class PositionVerlet(oscdyn.Integrator):
        """Drift, kick, drift: the adjoint of leapfrog's kick-drift-kick."""

        name: ClassVar[str] = "test_position_verlet"
        order: ClassVar[int] = 2
        symplectic: ClassVar[bool] = True
        reversible: ClassVar[bool] = True
        stability_limit: ClassVar[float] = 2.0

        def step(self, system, y, v, u, t, h, cache=None):
            y = y + 0.5 * h * v
            v = v + h * system.acceleration(y, v, u, t + 0.5 * h)
            return y + 0.5 * h * v, v

    assert oscdyn.integrators.register(PositionVerlet) is PositionVerlet
    assert "test_position_verlet" in oscdyn.integrators.available()
    assert isinstance(oscdyn.integrators.get("test_position_verlet"), PositionVerlet)
    assert "test_position_verlet" in oscdyn.integrators.table()

    omega = torch.tensor([1.0, 2.0])
    rnn = oscdyn.compile(HarmonicOscillator(omega), "test_position_verlet", dt=0.01)
    assert isinstance(rnn.integrator, PositionVerlet)
    y0, v0 = _state(2, 2)
    y_seq, _ = rnn(None, state=(y0, v0), steps=100)
    t = 0.01 * torch.arange(1, 101, dtype=torch.float64)
    y_exact, _ = _closed_form(omega.double(), y0.double(), v0.double(), t)
    torch.testing.assert_close(y_seq.double(), y_exact, rtol=0, atol=1e-3)
    with pytest.warns(oscdyn.StabilityWarning):
        oscdyn.compile(HarmonicOscillator(omega), "test_position_verlet", dt=1.5)


def test_register_as_a_decorator(scratch_registry: None) -> None:
    @oscdyn.integrators.register
    class Frozen(oscdyn.Integrator):
        name: ClassVar[str] = "test_frozen"
        order: ClassVar[int] = 0

        def step(self, system, y, v, u, t, h, cache=None):
            return y, v

    rnn = oscdyn.compile(Duffing(), "test_frozen", dt=0.1)
    y0, v0 = _state(2, 1)
    y_seq, (y_T, v_T) = rnn(None, state=(y0, v0), steps=3)
    torch.testing.assert_close(y_seq, y0[:, None].expand(2, 3, 1))
    torch.testing.assert_close(v_T, v0)


def test_register_rejects_what_is_not_an_integrator(scratch_registry: None) -> None:
    with pytest.raises(TypeError, match="Integrator"):
        oscdyn.integrators.register(object)


def _table_rows() -> dict[str, dict[str, str]]:
    lines = oscdyn.integrators.table().splitlines()
    header = lines[0].split()
    return {line.split()[0]: dict(zip(header, line.split(), strict=True)) for line in lines[2:]}


def test_table_lists_every_integrator_with_its_facts() -> None:
    rows = _table_rows()
    assert set(rows) == set(oscdyn.integrators.available())
    for name, row in rows.items():
        cls = type(oscdyn.integrators.get(name))
        for fact in ("order", "symplectic", "reversible"):
            assert row[fact] == str(getattr(cls, fact)), (name, fact)


@pytest.mark.parametrize(
    ("name", "order", "symplectic", "reversible"),
    [
        ("imex", 1, False, True),
        ("symplectic_euler", 1, True, True),
        ("leapfrog", 2, True, True),
        ("exponential", 2, None, True),
        ("euler", 1, False, False),
        ("rk4", 4, False, False),
    ],
)
def test_class_facts(name: str, order: int, symplectic: bool | None, reversible: bool) -> None:
    cls = type(oscdyn.integrators.get(name))
    assert cls.order == order
    assert cls.reversible is reversible
    if symplectic is not None:
        assert cls.symplectic is symplectic
    row = _table_rows()[name]
    assert row["order"] == str(order)
    assert row["reversible"] == str(reversible)


@pytest.mark.parametrize(
    ("name", "limit"),
    [("imex", 2.0), ("symplectic_euler", 2.0), ("leapfrog", 2.0), ("rk4", 2 * math.sqrt(2))],
)
def test_stability_limits(name: str, limit: float) -> None:
    assert type(oscdyn.integrators.get(name)).stability_limit == pytest.approx(limit)
    assert math.isinf(type(oscdyn.integrators.get("exponential")).stability_limit)
