"""oscdyn.sysid generators: deterministic from a seed, the promised drift, noise and shapes."""

from __future__ import annotations

import numpy as np
import pytest

from oscdyn.sysid import (
    contractive_rnn_teacher,
    drifting_chain,
    filtered_noise,
    multisine,
    slowly_varying_duffing,
)


def test_excitations_are_seeded_and_scaled() -> None:
    a = multisine(1000, 0.1, 0.05, 1.0, rms=0.3, seed=4)
    np.testing.assert_array_equal(a, multisine(1000, 0.1, 0.05, 1.0, rms=0.3, seed=4))
    assert not np.array_equal(a, multisine(1000, 0.1, 0.05, 1.0, rms=0.3, seed=5))
    assert np.sqrt(np.mean(a**2)) == pytest.approx(0.3)
    spectrum = np.abs(np.fft.rfft(a))
    frequencies = np.fft.rfftfreq(1000, 0.1)
    assert spectrum[frequencies > 1.01].max() < 1e-9 * spectrum.max()  # nothing above f_max
    noise = filtered_noise(4000, 0.1, cutoff=0.5, rms=2.0, seed=1, oversample=2)
    assert noise.shape == (8000,) and np.sqrt(np.mean(noise**2)) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="Nyquist"):
        multisine(100, 0.1, 0.0, 6.0)


def test_slowly_varying_duffing_is_deterministic_and_drifts() -> None:
    a = slowly_varying_duffing(n_samples=600, dt=0.2, drift=0.1, seed=3)
    b = slowly_varying_duffing(n_samples=600, dt=0.2, drift=0.1, seed=3)
    np.testing.assert_array_equal(a.y, b.y)
    np.testing.assert_array_equal(a.u, b.u)
    assert not np.array_equal(a.y, slowly_varying_duffing(n_samples=600, dt=0.2, seed=4).y)
    stiffness = a.dataset["stiffness"].values
    assert stiffness.min() >= 0.9 - 1e-9 and stiffness.max() <= 1.1 + 1e-9
    assert stiffness.max() - stiffness.min() > 0.05  # it does drift
    noise = a.y - a.dataset["y_clean"].values
    assert noise.std() == pytest.approx(0.005, rel=0.15)
    assert len(a) == 600 and a.dt == 0.2


def test_duffing_generator_matches_its_equation_without_drift() -> None:
    data = slowly_varying_duffing(
        n_samples=400, dt=0.1, damping=0.2, cubic=0.5, drift=0.0, noise_std=0.0, seed=1
    )
    y = data.y[:, 0]
    u = data.u[:, 0]
    # central differences: y'' + c y' + k y + k3 y^3 ~ u, to the accuracy of the stencil
    dt = data.dt
    acceleration = (y[2:] - 2 * y[1:-1] + y[:-2]) / dt**2
    velocity = (y[2:] - y[:-2]) / (2 * dt)
    residual = acceleration + 0.2 * velocity + y[1:-1] + 0.5 * y[1:-1] ** 3 - u[1:-1]
    assert np.abs(residual).max() < 0.02 * np.abs(u).max()


def test_drifting_chain_shapes_and_determinism() -> None:
    a = drifting_chain(n_samples=300, num_masses=4, outputs=(0, 3), seed=2)
    b = drifting_chain(n_samples=300, num_masses=4, outputs=(0, 3), seed=2)
    np.testing.assert_array_equal(a.y, b.y)
    assert a.y.shape == (300, 2) and a.output_names == ["y0", "y3"]
    assert a.dataset["springs"].shape == (300, 5) and a.dataset["damping"].shape == (300, 4)
    assert np.abs(a.y).max() > 0.01  # the input reaches the far end of the chain
    with pytest.raises(ValueError, match="outputs"):
        drifting_chain(n_samples=100, num_masses=2, outputs=(5,))


def test_contractive_rnn_teacher() -> None:
    a = contractive_rnn_teacher(n_samples=500, hidden=6, n_inputs=2, n_outputs=2, seed=7)
    b = contractive_rnn_teacher(n_samples=500, hidden=6, n_inputs=2, n_outputs=2, seed=7)
    np.testing.assert_array_equal(a.y, b.y)
    assert a.u.shape == (500, 2) and a.y.shape == (500, 2)
    assert np.isfinite(a.y).all() and a.y.std() > 0.05
    with pytest.raises(ValueError, match="contraction"):
        contractive_rnn_teacher(rho=1.2)
