"""oscdyn.sysid metrics against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from oscdyn.sysid import fit_percent, metrics, nrmse, rmse


def test_metrics_by_hand() -> None:
    y = np.array([1.0, 2.0, 3.0, 4.0])
    y_hat = np.array([1.0, 2.0, 3.0, 2.0])
    # errors 0, 0, 0, 2: mse = 1, rmse = 1; std(y) = sqrt(1.25); ||y - mean|| = sqrt(5)
    assert rmse(y, y_hat) == pytest.approx(1.0)
    assert nrmse(y, y_hat) == pytest.approx(1 / np.sqrt(1.25))
    assert fit_percent(y, y_hat) == pytest.approx(100 * (1 - 2 / np.sqrt(5)))
    assert fit_percent(y, y) == pytest.approx(100.0)
    assert fit_percent(y, np.full(4, 2.5)) == pytest.approx(0.0)  # predicting the mean


def test_metrics_per_output_and_means() -> None:
    y = np.stack([[0.0, 1.0, 0.0, 1.0], [0.0, 0.0, 2.0, 2.0]], 1)
    y_hat = y + np.array([[0.5, 0.0]])
    np.testing.assert_allclose(rmse(y, y_hat), [0.5, 0.0])
    np.testing.assert_allclose(nrmse(y, y_hat), [1.0, 0.0])
    assert metrics(y, y_hat) == pytest.approx({"rmse": 0.25, "nrmse": 0.5, "fit_percent": 50.0})
    with pytest.raises(ValueError, match="differ in shape"):
        rmse(y, y_hat[:, :1])
