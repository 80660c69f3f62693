"""Bad input gets a clear error naming the argument, the expected form and what was given."""

from __future__ import annotations

import math
import warnings

import pytest
import torch

import oscdyn
from oscdyn.systems import (
    Duffing,
    HarmonicOscillator,
    OscillatorChain,
    Pendulum,
    UnICORNN,
    VanDerPol,
)

cuda_only = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.fixture
def driven() -> oscdyn.OscillatorRNN:
    """Two Duffing units driven by one input."""
    return oscdyn.compile(Duffing(alpha=torch.tensor([1.0, 2.0]), input_size=1), "leapfrog", 0.1)


def _state(batch: int, units: int, dtype: torch.dtype = torch.float32):
    return torch.zeros(batch, units, dtype=dtype), torch.zeros(batch, units, dtype=dtype)


# ------------------------------------------------------------------------------ u


def test_u_with_wrong_ndim(driven: oscdyn.OscillatorRNN) -> None:
    with pytest.raises(ValueError, match=r"u must have shape \(batch, time, input\).*got \(4, 5\)"):
        driven(torch.zeros(4, 5))


def test_u_with_wrong_input_size(driven: oscdyn.OscillatorRNN) -> None:
    with pytest.raises(ValueError, match=r"u must have shape.*input=1.*Duffing.*got \(4, 5, 3\)"):
        driven(torch.zeros(4, 5, 3))


def test_u_layout_named_for_time_first() -> None:
    system = Duffing(input_size=1)
    rnn = oscdyn.compile(system, "leapfrog", 0.1, batch_first=False)
    with pytest.raises(ValueError, match=r"\(time, batch, input\).*got \(5, 4\)"):
        rnn(torch.zeros(5, 4))


def test_u_not_a_tensor(driven: oscdyn.OscillatorRNN) -> None:
    with pytest.raises(TypeError, match="u must be a torch.Tensor, got list"):
        driven([[[0.0]]])


def test_steps_disagreeing_with_u(driven: oscdyn.OscillatorRNN) -> None:
    with pytest.raises(ValueError, match="steps=7 .*u's length 5"):
        driven(torch.zeros(4, 5, 1), steps=7)


def test_u_none_without_steps() -> None:
    rnn = oscdyn.compile(Duffing(), "leapfrog", 0.1)
    with pytest.raises(ValueError, match="steps="):
        rnn(None, state=_state(2, 1))


@pytest.mark.parametrize("steps", [0, -3, 2.5])
def test_steps_not_a_positive_integer(steps) -> None:
    rnn = oscdyn.compile(Duffing(), "leapfrog", 0.1)
    with pytest.raises(ValueError, match=f"steps must be a positive integer, got {steps}"):
        rnn(None, state=_state(2, 1), steps=steps)


def test_system_with_inputs_but_u_none(driven: oscdyn.OscillatorRNN) -> None:
    with pytest.raises(ValueError, match=r"Duffing takes 1 input\(s\): u \(batch, time, 1\)"):
        driven(None, state=_state(2, 2), steps=5)


def test_free_evolution_without_state() -> None:
    rnn = oscdyn.compile(Duffing(), "leapfrog", 0.1)
    with pytest.raises(ValueError, match=r"state=\(y0, v0\) is required"):
        rnn(None, steps=5)


# -------------------------------------------------------------------------- state


@pytest.mark.parametrize(
    ("y0_shape", "v0_shape", "pattern"),
    [
        ((4, 3), (4, 2), r"state\[0\] \(y0\) must have shape \(4, 2\), got \(4, 3\)"),
        ((4, 2), (4, 2, 1), r"state\[1\] \(v0\) must have shape \(4, 2\), got \(4, 2, 1\)"),
        ((2,), (2,), r"state\[0\] \(y0\) must have shape \(4, 2\), got \(2,\)"),
    ],
)
def test_state_with_wrong_shape(
    driven: oscdyn.OscillatorRNN, y0_shape, v0_shape, pattern: str
) -> None:
    state = (torch.zeros(*y0_shape), torch.zeros(*v0_shape))
    with pytest.raises(ValueError, match=pattern):
        driven(torch.zeros(4, 5, 1), state=state)


def test_state_batch_mismatch_with_u(driven: oscdyn.OscillatorRNN) -> None:
    with pytest.raises(
        ValueError, match=r"state\[0\] \(y0\) must have shape \(4, 2\), got \(3, 2\)"
    ):
        driven(torch.zeros(4, 5, 1), state=_state(3, 2))


def test_state_halves_with_different_batches() -> None:
    rnn = oscdyn.compile(Duffing(), "leapfrog", 0.1)
    with pytest.raises(ValueError, match=r"y0 \(3, 1\) and v0 \(2, 1\) differ in shape"):
        rnn(None, state=(torch.zeros(3, 1), torch.zeros(2, 1)), steps=4)


def test_state_not_a_pair(driven: oscdyn.OscillatorRNN) -> None:
    with pytest.raises(TypeError, match=r"state must be a pair \(y0, v0\)"):
        driven(torch.zeros(4, 5, 1), state=torch.zeros(4, 2))


# ------------------------------------------------------------------ dtype / device


def test_float64_input_into_float32_model(driven: oscdyn.OscillatorRNN) -> None:
    with pytest.raises(TypeError, match=r"u has dtype torch.float64 .*model is torch.float32"):
        driven(torch.zeros(4, 5, 1, dtype=torch.float64))


def test_float64_state_into_float32_model() -> None:
    rnn = oscdyn.compile(Duffing(), "leapfrog", 0.1)
    with pytest.raises(TypeError, match=r"y0\) has dtype torch.float64 .*model is torch.float32"):
        rnn(None, state=_state(2, 1, torch.float64), steps=3)


def test_float32_input_into_float64_model(driven: oscdyn.OscillatorRNN) -> None:
    driven.double()
    with pytest.raises(TypeError, match=r"u has dtype torch.float32 .*model is torch.float64"):
        driven(torch.zeros(4, 5, 1))


@cuda_only
def test_device_mix() -> None:
    rnn = oscdyn.compile(Duffing(input_size=1), "leapfrog", 0.1).cuda()
    with pytest.raises(ValueError, match=r"u is on cpu but the model is on cuda"):
        rnn(torch.zeros(2, 3, 1))
    with pytest.raises(ValueError, match=r"y0\) is on cpu but the model is on cuda"):
        rnn(torch.zeros(2, 3, 1, device="cuda"), state=_state(2, 1))


# ----------------------------------------------------------------------------- dt


@pytest.mark.parametrize("dt", [0.0, -0.1, torch.tensor([0.1, -0.1])])
def test_dt_not_positive(dt) -> None:
    system = HarmonicOscillator(torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="dt must be positive and finite, got"):
        oscdyn.compile(system, "leapfrog", dt=dt)


@pytest.mark.parametrize("dt", [math.nan, math.inf, torch.tensor([0.1, math.nan])])
def test_dt_not_finite(dt) -> None:
    system = HarmonicOscillator(torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="dt must be positive and finite, got .*(nan|inf)"):
        oscdyn.compile(system, "leapfrog", dt=dt)


@pytest.mark.parametrize(
    ("dt", "given"), [(torch.full((2,), 0.1), r"\(2,\)"), (torch.full((3, 1), 0.1), r"\(3, 1\)")]
)
def test_dt_of_wrong_shape(dt: torch.Tensor, given: str) -> None:
    system = HarmonicOscillator(torch.tensor([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match=rf"dt must be .*per-unit tensor of shape \(3,\).*{given}"):
        oscdyn.compile(system, "leapfrog", dt=dt)


def test_dt_learned_rejects_bad_values_too() -> None:
    with pytest.raises(ValueError, match="dt must be positive"):
        oscdyn.compile(HarmonicOscillator(1.0), "leapfrog", dt=-1.0, learn_dt=True)


def test_per_unit_dt_for_coupled_units() -> None:
    with pytest.raises(ValueError, match=r"per-unit dt needs independent units.*OscillatorChain"):
        oscdyn.compile(OscillatorChain(3), "leapfrog", dt=torch.tensor([0.1, 0.2, 0.3]))


def test_per_unit_dt_with_torchdiffeq() -> None:
    system = HarmonicOscillator(torch.tensor([1.0, 2.0]))
    with pytest.raises(
        ValueError, match=r"'torchdiffeq' needs one scalar step.*HarmonicOscillator"
    ):
        oscdyn.compile(system, "torchdiffeq:dopri5", dt=torch.tensor([0.1, 0.2]))


# ---------------------------------------------------------- integrator / backend


def test_unknown_integrator_lists_the_known_names() -> None:
    with pytest.raises(ValueError, match="unknown integrator 'verlet'") as info:
        oscdyn.compile(Duffing(), "verlet", dt=0.1)
    for name in ["leapfrog", "imex", "symplectic_euler", "exponential", "euler", "rk4"]:
        assert f"'{name}'" in str(info.value)
    assert "torchdiffeq:<method>" in str(info.value)


def test_integrator_of_wrong_type() -> None:
    with pytest.raises(TypeError, match="integrator must be a name or an Integrator, got int"):
        oscdyn.compile(Duffing(), 3, dt=0.1)


def test_unknown_torchdiffeq_method() -> None:
    with pytest.raises(ValueError, match="unknown torchdiffeq method 'bogus'; known: .*dopri5"):
        oscdyn.compile(Duffing(), "torchdiffeq:bogus", dt=0.1)


def test_unknown_backend() -> None:
    with pytest.raises(ValueError, match="unknown backend 'warp'; known: .*'eager'"):
        oscdyn.compile(Duffing(), "leapfrog", dt=0.1, backend="warp")


def test_system_of_wrong_type() -> None:
    with pytest.raises(TypeError, match="system must be a SecondOrderSystem, got Linear"):
        oscdyn.compile(torch.nn.Linear(2, 2), "leapfrog", dt=0.1)


def test_exponential_needs_stiffness() -> None:
    with pytest.raises(ValueError, match="'exponential' needs a stiffness.*Pendulum"):
        oscdyn.compile(Pendulum(), "exponential", dt=0.1)


# --------------------------------------------------------------------- check_finite


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_check_finite_names_u(driven: oscdyn.OscillatorRNN, bad: float) -> None:
    u = torch.zeros(2, 5, 1)
    u[1, 3, 0] = bad
    with pytest.raises(ValueError, match="u contains NaN or infinite"):
        driven(u, check_finite=True)
    driven(u)  # unchecked by default (no host sync)


def test_check_finite_names_the_state() -> None:
    rnn = oscdyn.compile(Duffing(), "leapfrog", 0.1)
    y0, v0 = _state(2, 1)
    v0[0, 0] = math.nan
    with pytest.raises(ValueError, match="v0 contains NaN"):
        rnn(None, state=(y0, v0), steps=3, check_finite=True)


# ---------------------------------------------------------------------- stability


@pytest.mark.parametrize(
    ("integrator", "limit"),
    [("leapfrog", "2"), ("symplectic_euler", "2"), ("imex", "2"), ("rk4", "2.828")],
)
def test_stability_warning_states_the_limit(integrator: str, limit: str) -> None:
    omega_dt = 2.5 if limit == "2" else 3.0
    with pytest.warns(oscdyn.StabilityWarning, match=rf"omega\*dt < {limit}\b") as record:
        oscdyn.compile(HarmonicOscillator(1.0), integrator, dt=omega_dt)
    message = str(record[0].message)
    assert integrator in message
    assert f"dt < {limit}" in message  # the dt bound limit/omega at omega = 1


def test_stability_warning_states_the_dt_bound() -> None:
    # omega = 4: leapfrog needs dt < 2/4 = 0.5
    with pytest.warns(oscdyn.StabilityWarning, match=r"omega\*dt < 2\b.*dt < 0\.5\b"):
        oscdyn.compile(HarmonicOscillator(4.0), "leapfrog", dt=2.5 / 4)
    # rk4 at omega = 2: dt < sqrt(2)
    with pytest.warns(oscdyn.StabilityWarning, match=r"dt < 1\.414"):
        oscdyn.compile(HarmonicOscillator(2.0), "rk4", dt=1.5)


def test_stability_warning_uses_the_largest_frequency() -> None:
    system = HarmonicOscillator(torch.tensor([0.5, 5.0]))
    with pytest.warns(oscdyn.StabilityWarning, match="omega_max = 5"):
        oscdyn.compile(system, "leapfrog", dt=0.5)


def test_stability_warning_for_pendulum_small_angle_frequency() -> None:
    with pytest.warns(oscdyn.StabilityWarning, match="Pendulum"):
        oscdyn.compile(Pendulum(omega=2.0), "leapfrog", dt=1.25)


def test_euler_warns_at_every_dt() -> None:
    with pytest.warns(oscdyn.StabilityWarning, match="'euler' is unstable .* every dt"):
        oscdyn.compile(HarmonicOscillator(1.0), "euler", dt=1e-3)


@pytest.mark.parametrize(
    ("integrator", "omega_dt"),
    [("leapfrog", 1.9), ("symplectic_euler", 1.9), ("imex", 1.9), ("rk4", 2.8)],
)
def test_no_warning_below_the_limit(integrator: str, omega_dt: float) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        oscdyn.compile(HarmonicOscillator(1.0), integrator, dt=omega_dt)
        oscdyn.compile(HarmonicOscillator(4.0), integrator, dt=omega_dt / 4)


def test_no_warning_for_per_unit_dt_within_each_units_limit() -> None:
    # omega * dt per unit is 1.5 and 1.0, although omega_max * dt_max = 15
    system = HarmonicOscillator(torch.tensor([1.0, 10.0]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        oscdyn.compile(system, "leapfrog", dt=torch.tensor([1.5, 0.1]))
    with pytest.warns(oscdyn.StabilityWarning):
        oscdyn.compile(system, "leapfrog", dt=torch.tensor([0.1, 0.25]))


def test_check_stability_after_training_moves_a_unit_beyond_the_limit() -> None:
    # UnICORNN's units step by h_i = dt sigmoid(c_i) at omega_i = sqrt(alpha + max(w_i, 0)):
    # a model built stable warns once its parameters (e.g. loaded trained ones) say otherwise
    torch.manual_seed(0)
    stack = UnICORNN(1, 8, num_layers=2, alpha=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rnn = oscdyn.compile(stack, "symplectic_euler", 1.0)
        rnn.check_stability()
    assert rnn.stability_message() is None
    with torch.no_grad():
        stack.layers[1].recurrent_weight[3] = 5.0  # omega = sqrt(6) = 2.449
        stack.layers[1].step_logit[3] = 6.0  # h = sigmoid(6) = 0.9975
    assert rnn.omega_dt() == pytest.approx(math.sqrt(6) * torch.sigmoid(torch.tensor(6.0)).item())
    with pytest.warns(oscdyn.StabilityWarning) as record:
        rnn.check_stability()
    message = str(record[0].message)
    assert message == rnn.stability_message()
    assert message.startswith("layer 1: 1 of 8 units of UnICORNNLayer")
    assert "omega*dt < 2" in message and "unit 3 steps by h = 0.9975 at omega = 2.449" in message
    assert "it needs h < 0.8165" in message  # 2 / sqrt(6)
    assert record[0].filename == __file__
    with warnings.catch_warnings():  # at half the step every unit is within the limit again
        warnings.simplefilter("error")
        oscdyn.compile(stack, "symplectic_euler", 0.5).check_stability()


@pytest.mark.parametrize("dt", [0.1, 2.5, 100.0, 1e4])
@pytest.mark.parametrize(
    "system",
    [HarmonicOscillator(1.0), OscillatorChain(4, spring=3.0), Duffing(), VanDerPol()],
    ids=lambda system: type(system).__name__,
)
def test_no_warning_for_exponential(system, dt: float) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        oscdyn.compile(system, "exponential", dt=dt)


def test_no_warning_for_torchdiffeq() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        oscdyn.compile(HarmonicOscillator(1.0), "torchdiffeq:dopri5", dt=10.0)
