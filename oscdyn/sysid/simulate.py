"""``simulate``: run a fitted model on a record, from its state initialisation window."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .data import IOData
from .metrics import fit_percent, nrmse, rmse
from .models import SimulationModel

__all__ = ["simulate"]


def simulate(model: SimulationModel, data: IOData, init_window: int | None = None) -> xr.Dataset:
    """The record's ``u`` (and ``y``) with the model's simulated ``y_pred`` beside them.

    The first ``init_window`` samples (default ``data.init_window``) of measured output set
    the initial state (``y_pred`` is NaN there); without measured outputs the simulation
    starts at rest. When ``y`` is present, attrs ``rmse``, ``nrmse``, ``fit_percent``
    (means over outputs) and per-output variables of the same names score ``y[init:]``.
    """
    window = data.init_window if init_window is None else int(init_window)
    if window < 0 or (data.has_output and window >= len(data)):
        raise ValueError(f"init_window must be in [0, {len(data)}), got {window}")
    if not data.has_output:
        window = 0
    predicted = model.predict(data, window)
    dataset = data.dataset
    output_names = data.output_names or [f"y{k}" for k in range(model.n_outputs)]
    dataset = dataset.assign_coords(output=output_names)
    dataset["y_pred"] = (("time", "output"), predicted)
    dataset.attrs.update(
        init_window=window,
        model=model.kind,
        integrator=model.settings["integrator"],
        substeps=model.settings["substeps"],
        hold=model.settings["hold"],
    )
    if data.has_output and window < len(data):
        y, y_hat = data.y[window:], predicted[window:]
        dataset["rmse"] = ("output", np.atleast_1d(rmse(y, y_hat)))
        dataset["nrmse"] = ("output", np.atleast_1d(nrmse(y, y_hat)))
        dataset["fit_percent"] = ("output", np.atleast_1d(fit_percent(y, y_hat)))
        dataset.attrs.update(
            rmse=float(dataset["rmse"].mean()),
            nrmse=float(dataset["nrmse"].mean()),
            fit_percent=float(dataset["fit_percent"].mean()),
        )
    return dataset
