"""Initial states from the initialisation window: the measured samples before a simulation.

A simulation model starts at the last sample of the window, ``W - 1``, from a state
``(y0, v0)`` estimated from the window's measured inputs and outputs:

* :class:`DerivativeEstimator` (grey-box models whose state is the measured output): a
  least-squares polynomial through the last samples of the output gives the position and
  velocity at the last sample (a Savitzky-Golay end-point estimate); no parameters.
* :class:`WindowEncoder` (black-box models, whose state is hidden): a learned map from the
  window's inputs and outputs to the state, trained with the model (the encoder of
  Beintema, Toth & Schoukens, "Nonlinear state-space identification using deep encoder
  networks", L4DC 2021), linear by default.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["DerivativeEstimator", "WindowEncoder", "end_point_weights"]


def end_point_weights(points: int, degree: int) -> tuple[Tensor, Tensor]:
    """Weights ``(w_value, w_slope)``, each ``(points,)``, of a least-squares polynomial of
    ``degree`` through samples at ``t = -(points - 1), ..., 0``: its value and derivative
    (per sample) at ``t = 0`` are ``w_value @ x`` and ``w_slope @ x``."""
    if points < 1 or degree < 0:
        raise ValueError(f"need points >= 1 and degree >= 0, got {points}, {degree}")
    degree = min(degree, points - 1)
    t = torch.arange(-(points - 1), 1, dtype=torch.float64)
    vandermonde = torch.stack([t**p for p in range(degree + 1)], 1)
    pseudo_inverse = torch.linalg.pinv(vandermonde)  # (degree + 1, points)
    value = pseudo_inverse[0]
    slope = pseudo_inverse[1] if degree >= 1 else torch.zeros(points, dtype=torch.float64)
    return value, slope


class DerivativeEstimator(nn.Module):
    """``(y0, v0)`` at the window's last sample from a polynomial fit of the positions.

    Args:
        points: samples used (the last ``points`` of the window; fewer if the window is
            shorter).
        degree: polynomial degree (2: value and slope are second-order accurate).
    """

    def __init__(self, points: int = 7, degree: int = 2) -> None:
        super().__init__()
        self.points = int(points)
        self.degree = int(degree)

    def forward(self, positions: Tensor, step: float = 1.0) -> tuple[Tensor, Tensor]:
        """``positions`` ``(batch, window, units)``; ``step`` the time per sample."""
        points = min(self.points, positions.shape[1])
        value, slope = end_point_weights(points, self.degree)
        recent = positions[:, -points:]
        value = value.to(recent)
        slope = slope.to(recent)
        return (
            torch.einsum("t,btn->bn", value, recent),
            torch.einsum("t,btn->bn", slope, recent) / step,
        )

    def extra_repr(self) -> str:
        return f"points={self.points}, degree={self.degree}"


class WindowEncoder(nn.Module):
    """A learned state estimate from the last ``window`` samples of ``(u, y)``.

    ``(y0, v0) = split(E [u; y]_window)``, with ``E`` linear (``hidden=0``) or a one-hidden-
    layer tanh network. Initialised to zero (the model starts from rest until trained).
    """

    def __init__(
        self, n_inputs: int, n_outputs: int, state_size: int, window: int = 20, hidden: int = 0
    ) -> None:
        super().__init__()
        if window < 1:
            raise ValueError(f"window must be positive, got {window}")
        self.window = int(window)
        self.state_size = int(state_size)
        features = self.window * (n_inputs + n_outputs)
        if hidden:
            self.net: nn.Module = nn.Sequential(
                nn.Linear(features, hidden), nn.Tanh(), nn.Linear(hidden, 2 * state_size)
            )
        else:
            self.net = nn.Linear(features, 2 * state_size)
        last = self.net[-1] if isinstance(self.net, nn.Sequential) else self.net
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def forward(self, u: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """``u`` ``(batch, W, inputs)``, ``y`` ``(batch, W, outputs)``, ``W >= 1``.

        A window shorter than ``window`` is padded at the front by repeating its first sample.
        """
        x = torch.cat([u, y], -1)
        if x.shape[1] < self.window:
            pad = x[:, :1].expand(-1, self.window - x.shape[1], -1)
            x = torch.cat([pad, x], 1)
        state = self.net(x[:, -self.window :].flatten(1))
        return state[:, : self.state_size], state[:, self.state_size :]

    def extra_repr(self) -> str:
        return f"window={self.window}, state_size={self.state_size}"
