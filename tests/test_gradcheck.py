"""``torch.autograd.gradcheck`` in float64 through a few steps of every (system, integrator) pair.

Gradients are checked with respect to the initial state, the input sequence and every
parameter of the compiled module (the system's coefficients and, when learned, ``log_dt``),
passed to the module with ``torch.func.functional_call``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import pytest
import torch
from torch import Tensor
from torch.func import functional_call

import oscdyn
from oscdyn.systems import (
    Circulant,
    Diagonal,
    Duffing,
    HarmonicOscillator,
    OscillatorChain,
    Pendulum,
    SecondOrderSystem,
    VanDerPol,
)

INTEGRATORS = ["imex", "symplectic_euler", "leapfrog", "exponential", "euler", "rk4"]
BATCH, STEPS, INPUTS = 2, 4, 1
DT = 0.1


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: intra-op threads only add overhead, and on a busy machine their spin
    waits make the FFTs of the lattice tens of times slower (measured: 25 s against 1.5 s)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class CubicLattice(SecondOrderSystem):
    """A ring of oscillators coupled by a circulant stencil, with a cubic on-site force."""

    has_energy = True

    def __init__(self, size: int = 4, input_size: int = 1) -> None:
        super().__init__(state_size=size, input_size=input_size)
        self.stiffness = Circulant(torch.tensor([-0.3, 1.6, -0.5]), shape=(size,))
        self.damping = Diagonal(0.05, size=size)
        self.beta = torch.nn.Parameter(torch.tensor(0.4))
        self.register_input_gain(torch.linspace(0.5, 1.0, size)[:, None].expand(size, input_size))

    def force(self, y: Tensor, v: Tensor, u: Tensor | None, t: Tensor | float) -> Tensor:
        return -self.beta * y**3 + self.drive(u)

    def potential(self, y: Tensor) -> Tensor:
        return 0.25 * (self.beta * y**4).sum(-1)


SYSTEMS: dict[str, Callable[[], SecondOrderSystem]] = {
    "harmonic": lambda: HarmonicOscillator(
        torch.tensor([1.0, 1.7, 0.6]), damping=torch.tensor([0.1, 0.05, 0.2]), input_size=INPUTS
    ),
    # no damping: the exponential flow comes from one eigendecomposition of the stiffness
    "chain": lambda: OscillatorChain(
        3, spring=torch.tensor([1.0, 1.5, 0.8, 1.2]), input_size=INPUTS
    ),
    # per-mass damping: the exponential flow comes from the augmented matrix exponential
    "chain_damped": lambda: OscillatorChain(
        3, spring=torch.tensor([1.0, 1.5, 0.8, 1.2]), damping=0.1, input_size=INPUTS
    ),
    "duffing": lambda: Duffing(
        alpha=torch.tensor([1.0, 0.7]),
        beta=torch.tensor([0.5, 1.2]),
        delta=0.1,
        gamma=0.3,
        drive_frequency=1.3,
        input_size=INPUTS,
        input_gain=0.8,
    ),
    "van_der_pol": lambda: VanDerPol(mu=0.8, omega=torch.tensor([1.0, 1.4]), input_size=INPUTS),
    "pendulum": lambda: Pendulum(omega=torch.tensor([1.0, 1.5]), damping=0.1, input_size=INPUTS),
    "lattice": lambda: CubicLattice(4, input_size=INPUTS),
}


def _compile(system: SecondOrderSystem, integrator: str, **kwargs) -> oscdyn.OscillatorRNN:
    with warnings.catch_warnings():
        # euler is unstable for every dt: its warning is expected and beside the point here
        warnings.simplefilter("ignore", oscdyn.StabilityWarning)
        return oscdyn.compile(system.double(), integrator, **kwargs)


def _gradcheck(rnn: oscdyn.OscillatorRNN) -> None:
    """gradcheck of all outputs w.r.t. y0, v0, u and every parameter of ``rnn``."""
    generator = torch.Generator().manual_seed(0)
    units = rnn.system.state_size

    def sample(*shape: int) -> Tensor:
        tensor = 0.5 * torch.randn(*shape, generator=generator, dtype=torch.float64)
        return tensor.requires_grad_()

    y0, v0, u = sample(BATCH, units), sample(BATCH, units), sample(BATCH, STEPS, INPUTS)
    names = [name for name, _ in rnn.named_parameters()]
    params = [p.detach().clone().requires_grad_() for _, p in rnn.named_parameters()]
    assert params, "the system should expose its coefficients as parameters"

    def simulate(y0: Tensor, v0: Tensor, u: Tensor, *params: Tensor) -> tuple[Tensor, ...]:
        y_seq, (y_T, v_T) = functional_call(
            rnn, dict(zip(names, params, strict=True)), (u,), {"state": (y0, v0)}
        )
        return y_seq, y_T, v_T

    assert torch.autograd.gradcheck(simulate, (y0, v0, u, *params))


@pytest.mark.parametrize("integrator", INTEGRATORS)
@pytest.mark.parametrize("system_name", list(SYSTEMS))
def test_gradcheck_state_input_parameters(system_name: str, integrator: str) -> None:
    system = SYSTEMS[system_name]()
    if integrator == "exponential" and system.stiffness is None:
        with pytest.raises(ValueError, match="stiffness"):
            _compile(system, integrator, dt=DT)
        return
    rnn = _compile(system, integrator, dt=DT)
    assert next(rnn.parameters()).dtype == torch.float64
    _gradcheck(rnn)


@pytest.mark.parametrize("integrator", INTEGRATORS)
@pytest.mark.parametrize("system_name", ["duffing", "chain", "lattice"])
def test_gradcheck_learned_dt(system_name: str, integrator: str) -> None:
    # Duffing's drive reads t = k dt, so dt enters the force as well as the step
    rnn = _compile(SYSTEMS[system_name](), integrator, dt=DT, learn_dt=True)
    assert "log_dt" in dict(rnn.named_parameters())
    _gradcheck(rnn)


@pytest.mark.parametrize("integrator", INTEGRATORS)
def test_gradcheck_learned_per_unit_dt(integrator: str) -> None:
    dt = torch.tensor([0.1, 0.05, 0.2])
    rnn = _compile(SYSTEMS["harmonic"](), integrator, dt=dt, learn_dt=True)
    assert rnn.log_dt.shape == (3,)
    _gradcheck(rnn)
