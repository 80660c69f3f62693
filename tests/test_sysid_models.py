"""oscdyn.sysid models: the oscillator network's force derivative, input holds, initial states."""

from __future__ import annotations

import math

import pytest
import torch

from oscdyn.sysid import DuffingModel, OscillatorNetwork, OscNetModel, PositiveDiagonal
from oscdyn.sysid.initial_state import end_point_weights


def test_oscillator_network_force_vjp_matches_autograd() -> None:
    torch.manual_seed(0)
    system = OscillatorNetwork(5, 2, hidden=7, coupling=0.5).double()
    y, v = torch.randn(3, 5, dtype=torch.float64), torch.randn(3, 5, dtype=torch.float64)
    u = system.encode_input(torch.randn(3, 1, 2, dtype=torch.float64))[:, 0]
    cotangent = torch.randn(3, 5, dtype=torch.float64)
    y_in = y.clone().requires_grad_()
    (expected,) = torch.autograd.grad(system.force(y_in, v, u, 0.0), y_in, cotangent)
    grad_y, grad_v = system.force_vjp(y, v, u, 0.0, cotangent)
    torch.testing.assert_close(grad_y, expected)
    assert grad_v is None


@pytest.mark.parametrize("integrator", ["symplectic_euler", "leapfrog", "exponential", "imex"])
def test_fused_and_eager_agree_on_the_network_gradients(integrator: str) -> None:
    grads = {}
    for backend in ("eager", "fused"):
        model = OscNetModel(units=4, seed=1, coupling=0.5).double()
        model.configure(integrator, substeps=2, hold="bandlimited", backend=backend)
        torch.manual_seed(2)
        u = torch.randn(3, 40, 1, dtype=torch.float64)
        y = torch.randn(3, 10, 1, dtype=torch.float64)
        model(u, y).pow(2).mean().backward()
        grads[backend] = {n: p.grad.clone() for n, p in model.named_parameters()}
    for name, grad in grads["eager"].items():
        torch.testing.assert_close(grads["fused"][name], grad, rtol=1e-7, atol=1e-10)


def test_holds_between_samples() -> None:
    model = DuffingModel().double()
    t = torch.arange(120, dtype=torch.float64)
    u = torch.sin(2 * math.pi * 0.2 * t)[None, :, None]  # 0.2 cycles per sample
    errors = {}
    for hold in ("zoh", "foh", "bandlimited"):
        model.configure("leapfrog", substeps=3, hold=hold)
        held = model._held_inputs(u, 30, 50)[0, :, 0]
        midpoints = 30 + (torch.arange(150, dtype=torch.float64) + 0.5) / 3
        errors[hold] = float((held - torch.sin(2 * math.pi * 0.2 * midpoints)).abs().max())
    assert errors["bandlimited"] < 1e-2 < errors["foh"] < errors["zoh"]


def test_window_fit_recovers_the_state_of_the_model_itself() -> None:
    # simulate the model from a known state, then estimate that state from 30 samples
    model = DuffingModel(stiffness=1.0, damping=0.1, cubic=0.3, gain=0.5).double()
    model.configure("leapfrog", substeps=2, hold="foh")
    torch.manual_seed(3)
    u = 0.5 * torch.randn(4, 60, 1, dtype=torch.float64)
    # amplitudes up to about 1: the cubic term changes the stiffness by up to 30 %
    start = (
        0.5 * torch.randn(4, 1, dtype=torch.float64),
        0.5 * torch.randn(4, 1, dtype=torch.float64),
    )
    with torch.no_grad():
        positions = model._advance(start, u, 0, 59)
        outputs = model.output(torch.cat([start[0][:, None], positions], 1), u)
        (y0, v0), sample = model.initial_state(u[:, :30], outputs[:, :30])
        predicted = model(u, outputs[:, :30])
    assert sample == 0
    torch.testing.assert_close(y0, start[0], atol=1e-6, rtol=0)
    torch.testing.assert_close(v0, start[1], atol=1e-5, rtol=0)
    torch.testing.assert_close(predicted, outputs[:, 30:], atol=1e-5, rtol=0)


def test_end_point_weights_are_exact_for_quadratics() -> None:
    value, slope = end_point_weights(5, 2)
    t = torch.arange(-4, 1, dtype=torch.float64)
    samples = 2.0 + 3.0 * t - 0.5 * t**2
    assert float(value @ samples) == pytest.approx(2.0)
    assert float(slope @ samples) == pytest.approx(3.0)


def test_positive_diagonal_stays_positive_and_clamps() -> None:
    operator = PositiveDiagonal(torch.tensor([0.5, 2.0]))
    with torch.no_grad():
        operator.log_values -= 10.0
    assert (operator.values > 0).all()
    operator.clamp_(1e-3, 1.0)
    torch.testing.assert_close(operator.values, torch.tensor([1e-3, 1e-3]))
    with pytest.raises(ValueError, match="positive"):
        PositiveDiagonal(torch.tensor([1.0, 0.0]))
