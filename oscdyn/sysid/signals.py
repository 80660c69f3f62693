"""Excitation signals for the generators: random-phase multisines and filtered noise.

Both are deterministic from a seed and are returned on a grid of ``n_samples * oversample``
points at step ``dt / oversample`` (the generators simulate on that finer grid and keep
every ``oversample``-th sample, so the recorded input is a sampling of a smooth signal).
"""

from __future__ import annotations

import numpy as np

__all__ = ["multisine", "filtered_noise"]


def _grid(n_samples: int, oversample: int) -> int:
    if n_samples < 2 or oversample < 1:
        raise ValueError(f"need n_samples >= 2 and oversample >= 1, got {n_samples}, {oversample}")
    return n_samples * oversample


def multisine(
    n_samples: int,
    dt: float,
    f_min: float,
    f_max: float,
    rms: float = 1.0,
    seed: int = 0,
    oversample: int = 1,
) -> np.ndarray:
    """A random-phase multisine: equal amplitudes on every frequency line in ``[f_min, f_max]``.

    The lines are the harmonics of ``1 / (n_samples dt)`` (so the signal is periodic over the
    record), phases uniform in ``[0, 2 pi)`` from ``seed``; scaled to the given ``rms``.
    Frequencies in Hz (cycles per time unit). Returns ``(n_samples * oversample,)``.
    """
    points = _grid(n_samples, oversample)
    period = n_samples * dt
    nyquist = 0.5 / dt
    if not 0 <= f_min < f_max <= nyquist:
        raise ValueError(f"need 0 <= f_min < f_max <= Nyquist ({nyquist:g}), got {f_min}, {f_max}")
    lines = np.arange(max(1, int(np.ceil(f_min * period))), int(np.floor(f_max * period)) + 1)
    if lines.size == 0:
        raise ValueError(f"no harmonic of 1/{period:g} lies in [{f_min}, {f_max}]")
    phases = np.random.default_rng(seed).uniform(0, 2 * np.pi, lines.size)
    t = np.arange(points) * (dt / oversample)
    signal = np.zeros(points)
    for line, phase in zip(lines, phases, strict=True):
        signal += np.cos(2 * np.pi * line / period * t + phase)
    return signal * (rms / np.sqrt(np.mean(signal**2)))


def filtered_noise(
    n_samples: int,
    dt: float,
    cutoff: float,
    rms: float = 1.0,
    seed: int = 0,
    oversample: int = 1,
    order: int = 4,
) -> np.ndarray:
    """Gaussian noise through a Butterworth-magnitude low-pass at ``cutoff`` (Hz).

    White noise on the fine grid is filtered in the frequency domain (zero phase, circular)
    by ``|H(f)| = 1 / sqrt(1 + (f / cutoff)^(2 order))`` and scaled to ``rms``.
    Returns ``(n_samples * oversample,)``.
    """
    points = _grid(n_samples, oversample)
    if cutoff <= 0:
        raise ValueError(f"cutoff must be positive, got {cutoff}")
    noise = np.random.default_rng(seed).standard_normal(points)
    frequencies = np.fft.rfftfreq(points, d=dt / oversample)
    gain = 1.0 / np.sqrt(1.0 + (frequencies / cutoff) ** (2 * order))
    signal = np.fft.irfft(np.fft.rfft(noise) * gain, n=points)
    return signal * (rms / np.sqrt(np.mean(signal**2)))
