"""System identification: fit oscillator models to measured input/output data.

* data: :class:`IOData` (``u``, ``y``, ``dt`` on an ``xarray.Dataset``) and loaders
  :func:`load` (``.nc``, ``.csv``, ``.npz``, the Silverbox ``.mat`` with its official
  splits, :func:`load_silverbox`);
* generators (seeded, nothing downloaded): :func:`slowly_varying_duffing`,
  :func:`drifting_chain`, :func:`contractive_rnn_teacher`, and the excitations
  :func:`multisine`, :func:`filtered_noise`;
* models: :class:`DuffingModel` (grey-box) and :class:`OscNetModel` (a black-box
  :class:`OscillatorNetwork` with a linear readout), any integrator;
* :func:`fit` (simulation error on growing windows, Adam, early stopping, atomic and
  resumable checkpoints), :func:`simulate`, :func:`evaluate` and the metrics
  :func:`rmse`, :func:`nrmse`, :func:`fit_percent`;
* :func:`save_model` / :func:`load_model`, diagnostics (:func:`stability_margin`,
  :func:`gradient_growth_rate`) and the command hooks in :mod:`oscdyn.sysid.commands`.
"""

from .checkpoint import load_model, save_model
from .data import DataError, IOData
from .diagnostics import gradient_growth_rate, stability_margin
from .fit import FitProgress, FitResult, evaluate, fit
from .generators import drifting_chain, slowly_varying_duffing
from .initial_state import DerivativeEstimator, WindowEncoder
from .loaders import (
    SILVERBOX_SPLITS,
    SilverboxSplits,
    load,
    load_csv,
    load_netcdf,
    load_npz,
    load_silverbox,
)
from .metrics import fit_percent, metrics, nrmse, rmse
from .models import MODELS, DuffingModel, OscNetModel, SimulationModel, build_model
from .oscillator_network import OscillatorNetwork
from .positive_diagonal import PositiveDiagonal
from .signals import filtered_noise, multisine
from .simulate import simulate
from .teacher import contractive_rnn_teacher

__all__ = [
    "IOData",
    "DataError",
    "load",
    "load_netcdf",
    "load_csv",
    "load_npz",
    "load_silverbox",
    "SilverboxSplits",
    "SILVERBOX_SPLITS",
    "multisine",
    "filtered_noise",
    "slowly_varying_duffing",
    "drifting_chain",
    "contractive_rnn_teacher",
    "SimulationModel",
    "DuffingModel",
    "OscNetModel",
    "OscillatorNetwork",
    "PositiveDiagonal",
    "DerivativeEstimator",
    "WindowEncoder",
    "MODELS",
    "build_model",
    "fit",
    "FitResult",
    "FitProgress",
    "evaluate",
    "simulate",
    "rmse",
    "nrmse",
    "fit_percent",
    "metrics",
    "save_model",
    "load_model",
    "stability_margin",
    "gradient_growth_rate",
]
