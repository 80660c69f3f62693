"""Slowly varying oscillators to identify: a drifting Duffing oscillator and a drifting chain.

Nothing is downloaded; every record is deterministic from its seed. The true system is
simulated with classical RK4 on a grid ``oversample`` times finer than the recorded one
(the input held over each fine step; the chain's coefficients held over each sample), then
sampled; Gaussian measurement noise is added to
the recorded outputs. The stiffness and damping drift sinusoidally over the record:

    k(t) = k0 (1 + drift sin(2 pi t / T + phi)),   c(t) = c0 (1 + drift sin(2 pi t / T + psi))

with ``T`` the record length (or ``drift_period``) and phases from the seed, so a
time-invariant model can fit an average system only: the remaining error measures how much
the drift costs.
The record carries the noise-free outputs (``y_clean``) and the drifting coefficients.
"""

from __future__ import annotations

import numpy as np

from .data import IOData
from .signals import filtered_noise, multisine

__all__ = ["slowly_varying_duffing", "drifting_chain", "excitation"]


def excitation(
    kind: str,
    n_samples: int,
    dt: float,
    band: tuple[float, float],
    rms: float,
    seed: int,
    oversample: int,
) -> np.ndarray:
    """``"multisine"`` (lines in ``band``, Hz) or ``"noise"`` (low-pass at ``band[1]``)."""
    if kind == "multisine":
        return multisine(n_samples, dt, band[0], band[1], rms, seed, oversample)
    if kind == "noise":
        return filtered_noise(n_samples, dt, band[1], rms, seed, oversample)
    raise ValueError(f"excitation must be 'multisine' or 'noise', got {kind!r}")


def _drift(
    base: float | np.ndarray, amount: float, phase: float | np.ndarray, t: np.ndarray, period: float
) -> np.ndarray:
    return np.asarray(base) * (1 + amount * np.sin(2 * np.pi * t[:, None] / period + phase))


def _chain_generator(springs: np.ndarray, dampers: np.ndarray) -> np.ndarray:
    """``A`` of ``(y, v)' = A (y, v)`` for a fixed-end chain (unit masses, no input)."""
    n = dampers.size
    stiffness = np.diag(springs[:-1] + springs[1:]) - np.diag(springs[1:-1], 1)
    stiffness -= np.diag(springs[1:-1], -1)
    return np.block([[np.zeros((n, n)), np.eye(n)], [-stiffness, -np.diag(dampers)]])


def slowly_varying_duffing(
    n_samples: int = 3000,
    dt: float = 0.25,
    stiffness: float = 1.0,
    damping: float = 0.2,
    cubic: float = 0.5,
    gain: float = 1.0,
    drift: float = 0.05,
    drift_period: float | None = None,
    excitation_kind: str = "multisine",
    band: tuple[float, float] = (0.01, 0.5),
    input_rms: float = 0.5,
    noise_std: float = 0.005,
    oversample: int = 8,
    seed: int = 0,
) -> IOData:
    """``y'' = -k(t) y - c(t) y' - cubic y^3 + gain u`` with ``k``, ``c`` drifting by ``drift``.

    Defaults: ``omega0 = 1`` rad/s, damping ratio 0.1, a cubic spring that stiffens the
    oscillator noticeably at the response amplitude (RMS about 0.6), drift of 5 %, sampled
    every 0.25 s (about 25 samples per period), a multisine over 0.01-0.5 Hz (up to 3
    rad/s, past the resonance). A lightly damped Duffing oscillator driven harder is
    chaotic; these defaults keep a fading memory, so free simulation is well posed.
    Output ``y`` with noise of std ``noise_std``; ``y_clean``, ``stiffness``, ``damping``
    (drifting coefficients at the sample times) ride along.
    """
    rng = np.random.default_rng(seed)
    phases = rng.uniform(0, 2 * np.pi, 2)
    u_fine = excitation(excitation_kind, n_samples, dt, band, input_rms, seed + 1, oversample)
    h = dt / oversample
    t_fine = np.arange(n_samples * oversample) * h
    period = n_samples * dt if drift_period is None else drift_period
    k_fine = _drift(stiffness, drift, phases[0], t_fine, period)[:, 0]
    c_fine = _drift(damping, drift, phases[1], t_fine, period)[:, 0]
    positions = np.empty(n_samples * oversample)
    y = v = 0.0
    for i in range(n_samples * oversample):
        positions[i] = y
        k, c, f = k_fine[i], c_fine[i], gain * u_fine[i]

        def accel(p: float, q: float, k: float = k, c: float = c, f: float = f) -> float:
            return -k * p - c * q - cubic * p * p * p + f

        a1 = accel(y, v)
        y2, v2 = y + 0.5 * h * v, v + 0.5 * h * a1
        a2 = accel(y2, v2)
        y3, v3 = y + 0.5 * h * v2, v + 0.5 * h * a2
        a3 = accel(y3, v3)
        y4, v4 = y + h * v3, v + h * a3
        a4 = accel(y4, v4)
        y += h / 6 * (v + 2 * v2 + 2 * v3 + v4)
        v += h / 6 * (a1 + 2 * a2 + 2 * a3 + a4)
    clean = positions[::oversample]
    noisy = clean + noise_std * np.random.default_rng(seed + 2).standard_normal(n_samples)
    return IOData(
        u_fine[::oversample],
        noisy,
        dt,
        name=f"slowly varying Duffing (seed {seed})",
        extra={
            "y_clean": (("time", "output"), clean[:, None]),
            "stiffness": (("time",), k_fine[::oversample]),
            "damping": (("time",), c_fine[::oversample]),
        },
    )


def drifting_chain(
    n_samples: int = 3000,
    dt: float = 0.25,
    num_masses: int = 3,
    spring: float = 1.0,
    damping: float = 0.05,
    drift: float = 0.2,
    drift_period: float | None = None,
    outputs: tuple[int, ...] | None = None,
    excitation_kind: str = "noise",
    band: tuple[float, float] = (0.0, 0.4),
    input_rms: float = 0.5,
    noise_std: float = 0.005,
    oversample: int = 8,
    seed: int = 0,
) -> IOData:
    """A chain of ``num_masses`` unit masses between two walls, springs and damping drifting.

    ``y_i'' = k_i (y_{i-1} - y_i) + k_{i+1} (y_{i+1} - y_i) - c_i y_i' + [i = 0] u``, each
    spring ``k_i(t)`` and damping ``c_i(t)`` drifting by ``drift`` with its own phase. The
    input pushes the first mass; ``outputs`` are the measured masses (default: the last).
    Extra variables: ``y_clean``, ``springs`` ``(time, spring)``, ``damping`` ``(time, mass)``.
    """
    if num_masses < 1:
        raise ValueError(f"num_masses must be positive, got {num_masses}")
    outputs = (num_masses - 1,) if outputs is None else tuple(outputs)
    if not outputs or any(not 0 <= o < num_masses for o in outputs):
        raise ValueError(f"outputs must index masses 0..{num_masses - 1}, got {outputs}")
    rng = np.random.default_rng(seed)
    spring_phases = rng.uniform(0, 2 * np.pi, num_masses + 1)
    damping_phases = rng.uniform(0, 2 * np.pi, num_masses)
    u_fine = excitation(excitation_kind, n_samples, dt, band, input_rms, seed + 1, oversample)
    h = dt / oversample
    steps = n_samples * oversample
    t_fine = np.arange(steps) * h
    period = n_samples * dt if drift_period is None else drift_period
    springs = _drift(spring, drift, spring_phases, t_fine, period)
    dampers = _drift(damping, drift, damping_phases, t_fine, period)
    n = num_masses
    positions = np.empty((n_samples, n))
    state = np.zeros(2 * n)  # (y, v)
    drive = np.zeros(2 * n)
    drive[n] = 1.0  # the input pushes the first mass
    eye = np.eye(2 * n)
    for k in range(n_samples):
        positions[k] = state[:n]
        # the coefficients drift slowly: held at their value at the sample over its fine steps
        generator = _chain_generator(springs[k * oversample], dampers[k * oversample]) * h
        square = generator @ generator
        cube = square @ generator
        propagator = eye + generator + square / 2 + cube / 6 + square @ square / 24
        gain = h * (eye + generator / 2 + square / 6 + cube / 24) @ drive
        for u_k in u_fine[k * oversample : (k + 1) * oversample]:
            state = propagator @ state + gain * u_k
    clean = positions[:, list(outputs)]
    noise = noise_std * np.random.default_rng(seed + 2).standard_normal(clean.shape)
    return IOData(
        u_fine[::oversample],
        clean + noise,
        dt,
        output_names=[f"y{o}" for o in outputs],
        name=f"drifting chain of {n} masses (seed {seed})",
        extra={
            "y_clean": (("time", "output"), clean),
            "springs": (("time", "spring"), springs[::oversample]),
            "damping": (("time", "mass"), dampers[::oversample]),
        },
    )
