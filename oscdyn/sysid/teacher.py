"""A teacher contractive RNN: a second identification case that is not an oscillator.

    x_{k+1} = tanh(W x_k + F u_k + b),   y_k = C x_k + noise

with ``||W||_2 = rho < 1``: ``tanh`` is 1-Lipschitz, so the state map is a contraction in
``x`` and the system forgets its initial state geometrically (fading memory). Emami,
Sahraee-Ardakan, Rangan and Fletcher, "Input-Output Equivalence of Unitary and Contractive
RNNs", NeurIPS 2019, study such contractive RNNs as teachers for student models.
"""

from __future__ import annotations

import numpy as np

from .data import IOData
from .signals import filtered_noise

__all__ = ["contractive_rnn_teacher"]


def contractive_rnn_teacher(
    n_samples: int = 4000,
    hidden: int = 8,
    n_inputs: int = 1,
    n_outputs: int = 1,
    rho: float = 0.9,
    input_gain: float = 1.0,
    cutoff: float = 0.1,
    noise_std: float = 0.01,
    dt: float = 1.0,
    seed: int = 0,
) -> IOData:
    """A record of a random contractive tanh RNN driven by low-pass noise.

    ``W`` is Gaussian rescaled to spectral norm ``rho``; ``F`` Gaussian times
    ``input_gain / sqrt(n_inputs)``; ``b`` small; ``C`` Gaussian over ``sqrt(hidden)``.
    Inputs are low-pass noise (``cutoff`` in cycles per time unit), unit RMS. The record
    carries the noise-free outputs ``y_clean``.
    """
    if not 0 < rho < 1:
        raise ValueError(f"rho must be in (0, 1) for a contraction, got {rho}")
    rng = np.random.default_rng(seed)
    weight = rng.standard_normal((hidden, hidden))
    weight *= rho / np.linalg.norm(weight, 2)
    in_weight = rng.standard_normal((hidden, n_inputs)) * input_gain / np.sqrt(n_inputs)
    bias = 0.1 * rng.standard_normal(hidden)
    readout = rng.standard_normal((n_outputs, hidden)) / np.sqrt(hidden)
    u = np.stack(
        [
            filtered_noise(n_samples, dt, cutoff, 1.0, seed + 1 + channel)
            for channel in range(n_inputs)
        ],
        1,
    )
    x = np.zeros(hidden)
    clean = np.empty((n_samples, n_outputs))
    for k in range(n_samples):
        clean[k] = readout @ x
        x = np.tanh(weight @ x + in_weight @ u[k] + bias)
    noisy = clean + noise_std * rng.standard_normal(clean.shape)
    return IOData(
        u,
        noisy,
        dt,
        name=f"contractive RNN teacher (hidden {hidden}, rho {rho}, seed {seed})",
        extra={"y_clean": (("time", "output"), clean)},
    )
