"""An exponential fitted to a profile, and its verdict: exploding, vanishing or bounded.

Hidden-state gradients of a recurrent model behave like ``||dx_T/dx_t|| ~ exp(rate (T - t))``
when they explode (``rate > 0``) or vanish (``rate < 0``) (Pascanu, Mikolov & Bengio, "On
the difficulty of training recurrent neural networks", ICML 2013). ``fit_growth`` fits
``log norm = a + rate * lag`` by least squares and calls the profile bounded when the
fitted change over the whole profile stays within ``tolerance`` (natural log; default a
factor of 100 either way).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["GrowthFit", "fit_growth", "EXPLODING", "VANISHING", "BOUNDED"]

EXPLODING = "exploding"
VANISHING = "vanishing"
BOUNDED = "bounded"

#: default tolerance: a fitted change of at most a factor 100 over the profile is bounded
DEFAULT_TOLERANCE = math.log(100.0)


@dataclass(frozen=True)
class GrowthFit:
    """A fitted exponential ``exp(intercept + rate * x)``.

    Attributes:
        rate: growth rate per unit of ``x`` (per step for gradient profiles); ``inf`` when
            the profile diverged (NaN or infinite values), ``-inf`` when it reached zero.
        change: fitted change of the log over the profile, ``rate * (x_max - x_min)``.
        verdict: ``"exploding"``, ``"vanishing"`` or ``"bounded"``.
    """

    rate: float
    change: float
    verdict: str


def fit_growth(
    log_values: np.ndarray, x: np.ndarray, tolerance: float = DEFAULT_TOLERANCE
) -> GrowthFit:
    """Fit ``log_values ~ a + rate * x`` (least squares) and give the verdict.

    ``log_values``: natural logs of a positive profile; ``x``: its abscissa (e.g. the lag
    ``T - t`` in steps). NaN or ``+inf`` anywhere means the run diverged: ``exploding`` with
    ``rate = inf``. ``-inf`` (an exact zero) means ``vanishing``; the rate is then fitted on
    the finite part (``-inf`` if fewer than two finite points).
    """
    log_values = np.asarray(log_values, dtype=float).reshape(-1)
    x = np.asarray(x, dtype=float).reshape(-1)
    if log_values.shape != x.shape:
        raise ValueError(f"log_values {log_values.shape} and x {x.shape} differ in shape")
    if np.isnan(log_values).any() or np.isposinf(log_values).any():
        return GrowthFit(math.inf, math.inf, EXPLODING)
    finite = np.isfinite(log_values)
    reached_zero = not finite.all()
    if finite.sum() < 2 or np.ptp(x[finite]) == 0:
        rate = -math.inf if reached_zero else 0.0
    else:
        rate = float(np.polyfit(x[finite], log_values[finite], 1)[0])
    span = float(np.ptp(x)) if x.size else 0.0
    change = rate * span if span else 0.0
    if reached_zero or change < -tolerance:
        verdict = VANISHING
    elif change > tolerance:
        verdict = EXPLODING
    else:
        verdict = BOUNDED
    return GrowthFit(rate, change, verdict)
