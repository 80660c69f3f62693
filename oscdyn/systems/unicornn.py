"""UnICORNN: undamped independent controlled oscillatory RNN (Rusch & Mishra, ICML 2021)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .base import SecondOrderSystem
from .operators import Diagonal
from .stack import SystemStack

__all__ = ["UnICORNN", "UnICORNNLayer"]


class UnICORNNLayer(SecondOrderSystem):
    """One UnICORNN layer: ``y'' = -alpha y - tanh(w * y + V u + b)``, units independent.

    Each unit ``i`` steps by ``h_i = dt * sigmoid(c_i)`` (:meth:`step_scale`), ``c`` learned.
    With ``symplectic_euler`` one step is the paper's (eq. 3) and the released kernel's::

        z <- z - h * (tanh(w * y + V u + b) + alpha * y)
        y <- y + h * z

    The force does not read ``z``, so the step is symplectic and exactly reversible (the
    released backward rebuilds states this way). Initialisation as released: ``w ~ U(0, 1)``,
    ``c ~ U(-r, r)`` with ``r = step_logit_range`` (0.1 released), ``V`` Kaiming-uniform
    (``a = 8``), ``b = 0``. A wide ``r`` (e.g. 6) spreads the units' steps ``dt *
    sigmoid(c)``, and so their frequencies, over decades; on the adding problem it helps
    together with a larger ``dt`` (1 instead of 0.19), not alone (README, adding problem).
    A trained unit can leave symplectic Euler's stability region, ``h_i * sqrt(alpha +
    max(w_i, 0)) > 2`` (:meth:`unit_frequencies`; ``check_stability`` of the compiled
    model warns); over long sequences its gradients then explode (1e22 at length 500), so
    a model trained on short sequences goes on to longer ones with a smaller ``dt`` (5 to
    10 times smaller from length 100 to 1000 in the README's runs).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        alpha: float = 30.65,
        step_logit_range: float = 0.1,
    ) -> None:
        if not step_logit_range >= 0:
            raise ValueError(f"step_logit_range must be >= 0, got {step_logit_range}")
        super().__init__(state_size=hidden_size, input_size=input_size)
        self.stiffness = Diagonal(alpha, size=hidden_size, trainable=False)
        self.input_map = nn.Linear(input_size, hidden_size)
        self.recurrent_weight = nn.Parameter(torch.empty(hidden_size).uniform_(0.0, 1.0))
        self.step_logit = nn.Parameter(
            torch.empty(hidden_size).uniform_(-step_logit_range, step_logit_range)
        )
        nn.init.kaiming_uniform_(self.input_map.weight, a=8, mode="fan_in")
        nn.init.zeros_(self.input_map.bias)

    @property
    def alpha(self) -> float:
        return float(self.stiffness.values)

    def step_scale(self) -> Tensor:
        return torch.sigmoid(self.step_logit)

    def unit_frequencies(self) -> Tensor:
        """``sqrt(alpha + max(w_i, 0))``: the force's linearisation ``w_i sech^2(.)`` adds
        at most ``max(w_i, 0)`` to the stiffness ``alpha`` (at ``w_i y + V u + b = 0``)."""
        with torch.no_grad():
            return (self.alpha + self.recurrent_weight.clamp(min=0)).sqrt()

    def encode_input(self, u: Tensor) -> Tensor:
        """``V u + b`` for the whole sequence."""
        return self.input_map(u)

    def force(self, y: Tensor, v: Tensor, u: Tensor | None, t: Tensor | float) -> Tensor:
        """``-tanh(w * y + x)`` with ``x = encode_input(u)`` of the step (bias if None)."""
        drive = self.input_map.bias if u is None else u
        return -torch.tanh(self.recurrent_weight * y + drive)

    def force_vjp(
        self, y: Tensor, v: Tensor, u: Tensor | None, t: Tensor | float, cotangent: Tensor
    ) -> tuple[Tensor, None]:
        force = self.force(y, v, u, t)
        return -cotangent * (1 - force * force) * self.recurrent_weight, None


class UnICORNN(SystemStack):
    """A stack of ``num_layers`` :class:`UnICORNNLayer` s, each reading the positions of the
    one below through its own ``nn.Linear`` (the released ``DIs``).

    T. K. Rusch and S. Mishra, "UnICORNN: A recurrent model for learning very long time
    dependencies", ICML 2021 (github.com/tk-rusch/unicornn). The paper's scheme is
    ``symplectic_euler``; ``dt`` given to ``oscdyn.compile`` is the base step that
    ``sigmoid(c)`` scales per unit. Published settings (psMNIST, released defaults):
    hidden 256, 3 layers, dt 0.19, alpha 30.65, Adam lr 0.00251, batch 32.
    ``step_logit_range`` is every layer's (see :class:`UnICORNNLayer`).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        alpha: float | Sequence[float] = 30.65,
        step_logit_range: float = 0.1,
    ) -> None:
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got {num_layers}")
        alphas = [alpha] * num_layers if isinstance(alpha, (int, float)) else list(alpha)
        if len(alphas) != num_layers:
            raise ValueError(f"alpha must be a float or {num_layers} floats, got {alpha}")
        sizes = [input_size] + [hidden_size] * (num_layers - 1)
        layers = [
            UnICORNNLayer(i, hidden_size, a, step_logit_range)
            for i, a in zip(sizes, alphas, strict=True)
        ]
        super().__init__(layers)
