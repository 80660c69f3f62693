"""oscdyn.analysis against theory: stability regions, limits, energy, gradients, reversibility.

Closed forms for y'' = -omega^2 y (Hairer, Lubich & Wanner, Geometric Numerical
Integration, I.5 and XIII; Hairer & Wanner, Solving ODEs II, IV.2): symplectic Euler and
leapfrog step with trace 2 - x^2 and determinant 1 (x = omega h), so their eigenvalues lie
on the unit circle for x < 2 and one is (x^2 - 2 + sqrt((x^2 - 2)^2 - 4)) / 2 > 1 beyond;
explicit Euler amplifies by sqrt(1 + x^2); RK4 is stable up to x = 2 sqrt(2); the exponential
integrator is the exact flow. Gradient claims: Rusch & Mishra, ICLR 2021 (coRNN) and ICML
2021 (UnICORNN); tanh RNN: Pascanu, Mikolov & Bengio, ICML 2013.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

import oscdyn
from oscdyn import analysis
from oscdyn.analysis import (
    TanhRNN,
    energy_drift,
    fit_growth,
    gradient_norms,
    reversibility_error,
    spectral_radius,
    stability_limit,
    step_jacobian,
)
from oscdyn.systems import (
    CoRNN,
    Duffing,
    HarmonicOscillator,
    Pendulum,
    UnICORNN,
    VanDerPol,
)

OMEGA = 3.0
BELOW = np.linspace(0.05, 1.99, 25)  # omega h below the limit 2
BEYOND = np.linspace(2.01, 6.0, 15)


@pytest.fixture(autouse=True)
def float64():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def compile_quietly(system, integrator, dt):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", oscdyn.StabilityWarning)
        return oscdyn.compile(system, integrator, dt)


# --- the one-step map -----------------------------------------------------------------


def test_step_jacobian_is_the_symplectic_euler_matrix():
    h = 0.2
    rnn = compile_quietly(HarmonicOscillator(OMEGA), "symplectic_euler", h)
    jacobian = step_jacobian(rnn, (torch.tensor([0.3]), torch.tensor([-0.1])))
    expected = torch.tensor([[1 - (h * OMEGA) ** 2, h], [-h * OMEGA**2, 1.0]])
    assert jacobian.shape == (1, 2, 2)
    torch.testing.assert_close(jacobian[0], expected, rtol=0, atol=1e-15)


@pytest.mark.parametrize("model", ["cornn", "unicornn_stack", "tanh"])
def test_step_jacobian_matches_autograd(model):
    torch.manual_seed(0)
    batch = 3
    u = torch.randn(batch, 1)
    if model == "cornn":
        rnn = compile_quietly(CoRNN(1, 5), "imex", 0.05)
        state = (torch.randn(batch, 5), torch.randn(batch, 5))
    elif model == "unicornn_stack":
        rnn = compile_quietly(UnICORNN(1, 4, num_layers=2), "symplectic_euler", 0.2)
        state = (torch.randn(2, batch, 4), torch.randn(2, batch, 4))
    else:
        rnn = TanhRNN(1, 6)
        state = torch.randn(batch, 6)
    jacobian = step_jacobian(rnn, state, u)
    step_map = analysis.as_step_map(rnn)
    x = step_map.initial_state(state, batch)
    encoded = step_map.inputs(u[:, None])[:, 0]
    for b in range(batch):
        expected = torch.autograd.functional.jacobian(
            lambda xb, b=b: step_map.step(xb[None], encoded[b : b + 1], 0)[0], x[b]
        )
        torch.testing.assert_close(jacobian[b], expected, rtol=1e-12, atol=1e-14)


# --- stability regions ------------------------------------------------------------------


@pytest.mark.parametrize("integrator", ["symplectic_euler", "leapfrog"])
def test_symplectic_schemes_have_radius_exactly_one_below_two(integrator):
    radius = spectral_radius(HarmonicOscillator(OMEGA), integrator, BELOW / OMEGA)
    assert radius.dims == ("integrator", "dt")
    np.testing.assert_allclose(radius.values[0], 1.0, rtol=0, atol=1e-12)


@pytest.mark.parametrize("integrator", ["symplectic_euler", "leapfrog"])
def test_symplectic_schemes_exceed_one_beyond_two(integrator):
    radius = spectral_radius(HarmonicOscillator(OMEGA), integrator, BEYOND / OMEGA).values[0]
    trace = BEYOND**2 - 2  # minus the trace of the step matrix
    expected = (trace + np.sqrt(trace**2 - 4)) / 2
    assert (radius > 1 + 0.1).all()
    np.testing.assert_allclose(radius, expected, rtol=1e-12)


def test_euler_amplifies_by_sqrt_one_plus_omega_h_squared_at_every_dt():
    x = np.geomspace(1e-3, 20.0, 30)
    radius = spectral_radius(HarmonicOscillator(OMEGA), "euler", x / OMEGA).values[0]
    np.testing.assert_allclose(radius, np.sqrt(1 + x**2), rtol=1e-13)
    assert (radius > 1).all()


def test_exponential_has_radius_one_at_every_dt_even_beyond_two():
    x = np.array([0.1, 1.0, 1.99, 2.5, 5.0, 10.0, 100.0, 1000.0])
    radius = spectral_radius(HarmonicOscillator(OMEGA), "exponential", x / OMEGA).values[0]
    np.testing.assert_allclose(radius, 1.0, rtol=0, atol=1e-12)


def test_imex_with_damping_is_below_one():
    # complex eigenvalues of the IMEX step: |lambda|^2 = det = 1 / (1 + h c); real beyond
    # h = (c + sqrt(c^2 + 4 omega^2)) / omega^2, where one eigenvalue passes -1
    omega, c = 1.0, 0.5
    system = HarmonicOscillator(omega, damping=c)
    limit = (c + math.sqrt(c * c + 4 * omega * omega)) / omega**2
    dts = np.linspace(0.05, 0.98 * limit, 30)
    radius = spectral_radius(system, "imex", dts).values[0]
    assert (radius < 1).all()
    complex_pair = dts * omega < 2 * (math.sqrt(1 + c * c / 4) - c / 2)  # discriminant < 0
    np.testing.assert_allclose(radius[complex_pair], 1 / np.sqrt(1 + dts * c)[complex_pair])
    assert stability_limit(system, "imex") == pytest.approx(limit, rel=1e-6)


def test_spectral_radius_marks_integrators_that_cannot_run_the_system():
    radius = spectral_radius(Pendulum(1.0), ["leapfrog", "exponential"], [0.1, 0.5])
    assert list(radius["integrator"].values) == ["leapfrog", "exponential"]
    assert np.isnan(radius.sel(integrator="exponential")).all()
    assert "stiffness" in radius.attrs["skipped"]
    np.testing.assert_allclose(radius.sel(integrator="leapfrog"), 1.0, atol=1e-12)


def test_all_means_the_fixed_step_integrators():
    radius = spectral_radius(HarmonicOscillator(1.0), "all", [0.5])
    names = list(radius["integrator"].values)
    assert names == ["imex", "symplectic_euler", "leapfrog", "exponential", "euler", "rk4"]


# --- stability limits -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("integrator", "omega_h"),
    [("leapfrog", 2.0), ("symplectic_euler", 2.0), ("imex", 2.0), ("rk4", 2 * math.sqrt(2))],
)
def test_stability_limit_matches_theory(integrator, omega_h):
    found = stability_limit(HarmonicOscillator(OMEGA), integrator)
    assert found == pytest.approx(omega_h / OMEGA, rel=1e-3)
    assert found * OMEGA == pytest.approx(type(oscdyn.integrators.get(integrator)).stability_limit)


def test_stability_limit_of_euler_is_zero_and_of_exponential_infinite():
    system = HarmonicOscillator(OMEGA)
    assert stability_limit(system, "euler") == 0.0
    assert math.isinf(stability_limit(system, "exponential"))


def test_stability_limit_uses_the_largest_frequency_of_a_stack():
    # UnICORNN: independent units with stiffness alpha + w sech^2(b), steps dt sigmoid(c);
    # at the zero state with zero input (b = 0) the limit is min over units of
    # 2 / (sqrt(alpha + w_i) sigmoid(c_i))
    torch.manual_seed(0)
    stack = UnICORNN(1, 8, num_layers=2)
    with torch.no_grad():
        expected = min(
            float((2 / ((layer.alpha + layer.recurrent_weight).sqrt() * layer.step_scale())).min())
            for layer in stack.layers
        )
    assert stability_limit(stack, "symplectic_euler") == pytest.approx(expected, rel=1e-5)


def test_compiled_omega_dt_reaches_the_limit_at_the_measured_stability_limit():
    # the warning's omega_i h_i (unit_frequencies: sqrt(alpha + max(w_i, 0))) against the
    # spectral radius of the linearised step: omega_dt is 2 exactly where the radius
    # leaves the unit circle, including units with w_i < 0 (stiffness alpha there)
    torch.manual_seed(1)
    stack = UnICORNN(1, 8, num_layers=2, alpha=1.0, step_logit_range=6.0)
    with torch.no_grad():
        stack.layers[0].recurrent_weight.copy_(torch.linspace(-0.9, 4.0, 8))
        stack.layers[1].recurrent_weight.fill_(-0.5)
    limit = stability_limit(stack, "symplectic_euler")
    assert compile_quietly(stack, "symplectic_euler", limit).omega_dt() == pytest.approx(2, 1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        oscdyn.compile(stack, "symplectic_euler", 0.999 * limit)
    with pytest.warns(oscdyn.StabilityWarning, match=r"layer 0: 1 of 8 units"):
        oscdyn.compile(stack, "symplectic_euler", 1.001 * limit)


# --- energy drift and reversibility -----------------------------------------------------


def test_leapfrog_energy_error_scales_as_h_squared():
    system = HarmonicOscillator(1.0)
    state = (torch.tensor([1.0]), torch.tensor([0.0]))
    errors = []
    for dt in (0.1, 0.05, 0.025):
        drift = energy_drift(compile_quietly(system, "leapfrog", dt), state, round(20 / dt))
        assert drift.dims == ("batch", "time")
        assert drift["time"].values[-1] == pytest.approx(20.0)
        errors.append(drift.attrs["max_error"])
        # an oscillating error without drift: the fitted trend over the run is small
        assert abs(drift.attrs["drift_slope"]) * 20.0 < 0.1 * drift.attrs["max_error"]
    for coarse, fine in zip(errors, errors[1:], strict=False):
        assert coarse / fine == pytest.approx(4.0, rel=0.02)


def test_energy_drift_slopes_tell_the_schemes_apart():
    system = Duffing(delta=0.0)
    state = (torch.tensor([[1.0], [0.5]]), torch.tensor([[0.0], [0.3]]))
    slopes = {
        name: energy_drift(compile_quietly(system, name, 0.2), state, 2000).attrs["drift_slope"]
        for name in ("leapfrog", "euler", "rk4")
    }
    assert slopes["euler"] > 1e-2  # pumps energy in (here until the run diverges: inf)
    assert -1e-4 < slopes["rk4"] < -1e-5  # drains it, steadily
    assert abs(slopes["leapfrog"]) < 1e-6  # a larger error than RK4's, but no drift


def test_energy_drift_needs_an_energy():
    rnn = compile_quietly(CoRNN(1, 4), "imex", 0.05)
    with pytest.raises(ValueError, match="no energy"):
        energy_drift(rnn, (torch.zeros(1, 4), torch.zeros(1, 4)), 10)


@pytest.mark.parametrize("integrator", ["imex", "symplectic_euler", "leapfrog", "exponential"])
def test_reversibility_error_is_at_float_precision(integrator):
    system = Duffing(alpha=1.0, beta=1.0, delta=0.2, gamma=0.3, input_size=1)
    rnn = compile_quietly(system, integrator, 0.05)
    torch.manual_seed(0)
    u = torch.randn(2, 1000, 1)
    error = reversibility_error(rnn, (torch.randn(2, 1), torch.randn(2, 1)), 1000, u)
    assert error.dims == ("time",) and error.sizes["time"] == 1001
    # going back, the damping (delta t = 10 over the run) amplifies the rounding
    assert error.attrs["final_error"] < 1e-10
    assert float(error.max()) < 1e-10


def test_reversibility_error_of_a_stack_from_rest():
    torch.manual_seed(0)
    rnn = compile_quietly(UnICORNN(1, 8, num_layers=2), "symplectic_euler", 0.19)
    error = reversibility_error(rnn, None, 500, torch.randn(1, 500, 1))
    assert error.attrs["final_error"] < 1e-12


@pytest.mark.parametrize(
    ("system", "integrator"), [(Duffing(), "euler"), (Duffing(), "rk4"), (VanDerPol(), "leapfrog")]
)
def test_reversibility_error_refuses_schemes_without_an_inverse(system, integrator):
    with pytest.raises(ValueError, match="no exact inverse"):
        reversibility_error(compile_quietly(system, integrator, 0.1), None, 10)


# --- gradient-norm profiles -------------------------------------------------------------


def test_fit_growth_verdicts():
    lag = np.arange(1, 1001)
    assert fit_growth(0.01 * lag, lag).verdict == "exploding"
    assert fit_growth(-0.01 * lag, lag).verdict == "vanishing"
    bounded = fit_growth(np.sin(lag / 10.0), lag)
    assert bounded.verdict == "bounded" and abs(bounded.rate) < 1e-3
    assert fit_growth(-0.01 * lag, lag).rate == pytest.approx(-0.01)
    assert fit_growth(np.where(lag > 500, -np.inf, -lag), lag).verdict == "vanishing"
    diverged = fit_growth(np.where(lag < 10, np.nan, 0.0), lag)
    assert diverged.verdict == "exploding" and math.isinf(diverged.rate)


@pytest.mark.parametrize("model", ["cornn", "unicornn_stack", "tanh", "duffing_free"])
def test_gradient_norms_match_autograd_through_the_whole_run(model):
    torch.manual_seed(1)
    steps, u, state = 25, torch.randn(2, 25, 1), None
    if model == "cornn":
        rnn = compile_quietly(CoRNN(1, 4), "imex", 0.1)
    elif model == "unicornn_stack":
        rnn = compile_quietly(UnICORNN(1, 3, num_layers=2), "symplectic_euler", 0.19)
    elif model == "tanh":
        rnn = TanhRNN(1, 5, recurrent_scale=2.0)
    else:
        rnn, u = compile_quietly(Duffing(), "leapfrog", 0.2), None
        state = (torch.tensor([[1.0], [0.2]]), torch.tensor([[0.0], [0.5]]))
    profile = gradient_norms(rnn, u, state, steps=steps)
    assert profile.dims == ("time",) and profile.sizes["time"] == steps + 1
    assert list(profile["lag"].values) == list(range(steps, -1, -1))
    step_map = analysis.as_step_map(rnn)
    batch = 2
    inputs = None if u is None else step_map.inputs(u)
    states = step_map.run(step_map.initial_state(state, batch), inputs, steps)

    def run_from(t, x):
        for k in range(t, steps):
            x = step_map.step(x, None if inputs is None else inputs[:, k], k)
        return x

    for t in (0, 7, steps - 1, steps):
        expected = 0.0
        for b in range(batch):
            jacobian = torch.autograd.functional.jacobian(
                lambda xb, b=b, t=t: run_from(
                    t, states[t].clone().index_copy(0, torch.tensor([b]), xb[None])
                )[b],
                states[t, b],
            )
            expected = max(expected, float(torch.linalg.matrix_norm(jacobian, ord=2)))
        assert float(profile.sel(time=t)) == pytest.approx(expected, rel=1e-10)


def test_gradient_norms_take_one_backward_sweep(monkeypatch):
    # all T step Jacobians come from one vectorised call (T * size^2 below its chunk size),
    # and the sweep multiplies them once each: no pass per t
    from oscdyn.analysis import gradients

    calls = []
    original = gradients.batched_jacobians

    def counting(step_map, x, u, k):
        calls.append(x.shape[0])
        return original(step_map, x, u, k)

    monkeypatch.setattr(gradients, "batched_jacobians", counting)
    torch.manual_seed(0)
    rnn = compile_quietly(CoRNN(1, 8), "imex", 0.042)
    gradient_norms(rnn, torch.randn(1, 1000, 1))
    assert calls == [1000]


LENGTHS = (1_000, 10_000)
HIDDEN = 16


@pytest.fixture(scope="module")
def profiles():
    """Gradient-norm profiles of coRNN, UnICORNN and a tanh RNN on one input, 1k and 10k."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        generator = torch.Generator().manual_seed(0)
        u = torch.randn(1, max(LENGTHS), 1, generator=generator)
        torch.manual_seed(1)
        models = {
            # sMNIST settings of the paper (gamma, epsilon, dt), its IMEX scheme
            "cornn": compile_quietly(CoRNN(1, HIDDEN, gamma=2.7, epsilon=4.7), "imex", 0.042),
            # psMNIST settings (alpha, dt), symplectic Euler; one layer (each layer of the
            # stack is the same map; stacks are checked against autograd above)
            "unicornn": compile_quietly(
                UnICORNN(1, HIDDEN, num_layers=1, alpha=30.65), "symplectic_euler", 0.19
            ),
            "tanh": TanhRNN(1, HIDDEN),
        }
        result = {
            (name, length): gradient_norms(model, u[:, :length])
            for name, model in models.items()
            for length in LENGTHS
        }
        result["cornn_radius"] = spectral_radius(models["cornn"].system, "imex", [0.042])
        return result
    finally:
        torch.set_default_dtype(previous)


@pytest.mark.parametrize("length", LENGTHS)
def test_unicornn_gradients_neither_explode_nor_vanish(profiles, length):
    # the symplectic, undamped step has determinant 1: every d x_T / d x_t has determinant 1,
    # so its largest singular value is at least 1 (no vanishing); it stays below a bound
    # that does not grow with the length (no exploding)
    profile = profiles[("unicornn", length)]
    assert profile.attrs["verdict"] == "bounded"
    assert float(profile.min()) >= 1 - 1e-9
    assert float(profile.max()) < 100.0
    assert abs(profile.attrs["growth_rate"]) < 1e-3


@pytest.mark.parametrize("length", LENGTHS)
def test_cornn_gradients_are_bounded_independently_of_length(profiles, length):
    # Rusch & Mishra's bound: ||d x_T / d x_t|| stays below one constant at every length
    # (here 1.1 at both 1k and 10k steps). The damping epsilon makes it decay at the rate
    # of the damped linear part, log of the step's spectral radius at the equilibrium:
    # it is bounded above, not neutral (a vanishing verdict at these published settings)
    profile = profiles[("cornn", length)]
    assert float(profile.max()) < 1.1
    assert float(profile.sel(time=length)) == 1.0
    assert profile.attrs["verdict"] == "vanishing"
    expected = math.log(float(profiles["cornn_radius"].values[0, 0]))
    assert profile.attrs["growth_rate"] == pytest.approx(expected, rel=0.15)


def test_cornn_bound_is_the_same_at_both_lengths(profiles):
    short, long = (float(profiles[("cornn", n)].max()) for n in LENGTHS)
    assert long == pytest.approx(short, rel=0.05)


@pytest.mark.parametrize("length", LENGTHS)
def test_tanh_rnn_gradients_vanish_on_the_same_input(profiles, length):
    profile = profiles[("tanh", length)]
    assert profile.attrs["verdict"] == "vanishing"
    assert profile.attrs["growth_rate"] < -0.1
    # the profile is kept as a log, far below the smallest float64 at 10k steps
    assert float(profile["log_norm"].sel(time=0)) < -0.1 * length
    assert np.isfinite(profile["log_norm"].values).all()


def test_tanh_rnn_forward_matches_its_step_map():
    torch.manual_seed(0)
    rnn = TanhRNN(2, 4)
    u = torch.randn(3, 6, 2)
    h_seq, h_last = rnn(u)
    h = torch.zeros(3, 4)
    for k in range(6):
        h = torch.tanh(h @ rnn.recurrent.T + rnn.input_map(u[:, k]))
        torch.testing.assert_close(h_seq[:, k], h)
    torch.testing.assert_close(h_last, h)


def test_gradient_norms_flag_a_diverging_run():
    rnn = compile_quietly(Duffing(delta=0.0), "euler", 0.5)
    profile = gradient_norms(rnn, None, (torch.tensor([1.0]), torch.tensor([0.0])), steps=200)
    assert profile.attrs["verdict"] == "exploding"
