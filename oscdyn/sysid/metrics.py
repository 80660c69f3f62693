"""Simulation-error metrics: RMSE, NRMSE and fit %, per output channel.

For measured ``y`` and predicted ``y_hat`` (``(time,)`` or ``(time, outputs)``):

* ``rmse = sqrt(mean((y - y_hat)^2))``;
* ``nrmse = rmse / std(y)`` (population standard deviation);
* ``fit = 100 (1 - ||y - y_hat|| / ||y - mean(y)||)`` (the MATLAB ``compare`` fit %),
  which equals ``100 (1 - nrmse)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["rmse", "nrmse", "fit_percent", "metrics"]


def _pair(y: Any, y_hat: Any) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=np.float64)
    y_hat = np.asarray(y_hat, dtype=np.float64)
    if y.shape != y_hat.shape:
        raise ValueError(f"y {y.shape} and y_hat {y_hat.shape} differ in shape")
    if y.ndim not in (1, 2) or y.shape[0] == 0:
        raise ValueError(f"expected (time,) or (time, outputs) with time > 0, got {y.shape}")
    return y, y_hat


def rmse(y: Any, y_hat: Any) -> np.ndarray | float:
    """Root-mean-square error over time, per output (a float for 1-D input)."""
    y, y_hat = _pair(y, y_hat)
    value = np.sqrt(np.mean((y - y_hat) ** 2, axis=0))
    return float(value) if value.ndim == 0 else value


def nrmse(y: Any, y_hat: Any) -> np.ndarray | float:
    """RMSE divided by the standard deviation of ``y``, per output."""
    y, y_hat = _pair(y, y_hat)
    value = np.sqrt(np.mean((y - y_hat) ** 2, axis=0)) / np.std(y, axis=0)
    return float(value) if value.ndim == 0 else value


def fit_percent(y: Any, y_hat: Any) -> np.ndarray | float:
    """``100 (1 - ||y - y_hat|| / ||y - mean(y)||)`` per output (100 is perfect)."""
    y, y_hat = _pair(y, y_hat)
    residual = np.linalg.norm(y - y_hat, axis=0)
    spread = np.linalg.norm(y - y.mean(axis=0), axis=0)
    value = 100.0 * (1.0 - residual / spread)
    return float(value) if value.ndim == 0 else value


def metrics(y: Any, y_hat: Any) -> dict[str, float]:
    """``{"rmse", "nrmse", "fit_percent"}``, each averaged over the outputs."""
    return {
        "rmse": float(np.mean(rmse(y, y_hat))),
        "nrmse": float(np.mean(nrmse(y, y_hat))),
        "fit_percent": float(np.mean(fit_percent(y, y_hat))),
    }
