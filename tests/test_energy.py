"""Energy behaviour over long runs: bounded for symplectic schemes, exploding for Euler.

At ``omega h = 0.1`` the symplectic schemes (``symplectic_euler``, ``leapfrog``) keep the
energy error bounded over 10^5 steps: its maximum over the last tenth of the run is no
larger than over the first tenth (no drift). Explicit Euler multiplies the energy of the
undamped oscillator by exactly ``1 + (omega h)^2`` per step. Leapfrog's energy error is
``O(h^2)``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

import oscdyn
from oscdyn.systems import Duffing, HarmonicOscillator

OMEGA = 1.0
H = 0.1  # omega * h = 0.1 (for Duffing, alpha = 1 is the linear frequency)
LONG_RUN = 100_000
Y0 = [[1.0], [0.3]]
V0 = [[0.0], [0.8]]


@pytest.fixture(autouse=True)
def float64():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


SYSTEMS = {
    "harmonic": lambda: HarmonicOscillator(OMEGA),
    "duffing": lambda: Duffing(alpha=OMEGA**2, beta=1.0, delta=0.0, gamma=0.0),
}


def energies(system_name: str, integrator: str, dt: float, steps: int) -> np.ndarray:
    """Energy ``(batch, steps + 1)`` along a free run from ``(Y0, V0)``."""
    system = SYSTEMS[system_name]()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", oscdyn.StabilityWarning)
        rnn = oscdyn.compile(system, integrator, dt=dt)
    ds = rnn.trajectory(None, (torch.tensor(Y0), torch.tensor(V0)), steps=steps)
    assert ds.energy.shape == (len(Y0), steps + 1)
    return ds.energy.values


def relative_error(energy: np.ndarray) -> np.ndarray:
    return np.abs(energy - energy[:, :1]) / energy[:, :1]


# bound on max |E - E0| / E0: first order ~ omega h, second order ~ (omega h)^2
ERROR_BOUND = {"symplectic_euler": 2 * H * OMEGA, "leapfrog": (H * OMEGA) ** 2}


@pytest.mark.slow
@pytest.mark.parametrize("integrator", ["symplectic_euler", "leapfrog"])
@pytest.mark.parametrize("system_name", ["harmonic", "duffing"])
def test_symplectic_energy_error_bounded_over_1e5_steps(system_name, integrator):
    error = relative_error(energies(system_name, integrator, H, LONG_RUN))
    tenth = LONG_RUN // 10
    first, last = error[:, 1 : tenth + 1], error[:, -tenth:]
    print(
        f"{system_name}/{integrator}: max rel. energy error first tenth {first.max(1)}, "
        f"last tenth {last.max(1)}"
    )
    assert np.isfinite(error).all()
    # small ...
    assert first.max() < ERROR_BOUND[integrator], f"energy error {first.max():.3e} too large"
    # ... not zero (the scheme is not exact: the comparison below means something) ...
    assert first.max() > 1e-2 * ERROR_BOUND[integrator]
    # ... and not growing: same peak and same mean at the end as at the start
    assert np.all(last.max(1) <= 1.01 * first.max(1)), (first.max(1), last.max(1))
    np.testing.assert_allclose(last.mean(1), first.mean(1), rtol=0.02)


def test_euler_energy_grows_by_exact_amplification():
    """Euler maps ``omega y + i v`` to ``(1 - i omega h)(omega y + i v)``: exact growth."""
    steps = 10_000
    energy = energies("harmonic", "euler", H, steps)
    growth = energy / energy[:, :1]
    predicted = (1 + (OMEGA * H) ** 2) ** np.arange(steps + 1)
    assert growth[:, -1].min() > 1e40  # (1.01)^10000 = 1.6e43
    np.testing.assert_allclose(np.log(growth), np.log(predicted)[None].repeat(2, 0), atol=1e-9)


def test_euler_energy_grows_on_duffing():
    """The hardening spring only stiffens: at least the linear amplification, then blow-up."""
    steps = 100
    energy = energies("duffing", "euler", H, steps)
    growth = energy[:, -1] / energy[:, 0]
    linear = (1 + (OMEGA * H) ** 2) ** steps
    assert np.all(growth > linear), (growth, linear)
    assert np.all(growth > 5.0)
    # whereas leapfrog over the same steps stays within its O(h^2) error
    assert relative_error(energies("duffing", "leapfrog", H, steps)).max() < (OMEGA * H) ** 2


@pytest.mark.parametrize("system_name", ["harmonic", "duffing"])
def test_leapfrog_energy_error_scales_as_h_squared(system_name):
    duration = 200.0  # ~30 periods: the runs reach the peak of the oscillating error
    peaks = []
    for dt in (0.1, 0.05):
        peaks.append(
            relative_error(energies(system_name, "leapfrog", dt, round(duration / dt))).max()
        )
    order = math.log2(peaks[0] / peaks[1])
    print(
        f"{system_name}: leapfrog energy error {peaks[0]:.3e} -> {peaks[1]:.3e}, order {order:.3f}"
    )
    assert abs(order - 2) < 0.1, f"energy error order {order:.3f}, expected 2"
