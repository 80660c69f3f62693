"""Stability of a discretization: stability regions, gradient-norm profiles, energy drift.

* :func:`step_jacobian`, :func:`spectral_radius` (dims ``(integrator, dt)``) and
  :func:`stability_limit`: the one-step map linearised at an equilibrium;
* :func:`gradient_norms`: ``||d(y_T, v_T)/d(y_t, v_t)||`` over ``t`` in one backward sweep,
  with a fitted growth rate and a verdict (:func:`fit_growth`);
* :func:`energy_drift` and :func:`reversibility_error`;
* :class:`TanhRNN`: a plain tanh RNN, the vanishing-gradient contrast;
* :func:`run_stability_study`: all of it for one system, as NetCDF, PNG plots and a table
  (the ``oscdyn stability`` command: :func:`add_stability_arguments`,
  :func:`stability_command`).

Results are xarray objects; the computations run in the model's dtype (``spectral_radius``
and ``stability_limit`` on a float64 copy of the system).
"""

from .base import StepMap
from .catalog import STUDY_SYSTEMS, StudySystem, study_system
from .command import add_stability_arguments, parse_dt_range, stability_command
from .energy import energy_drift
from .gradients import gradient_norms
from .growth import GrowthFit, fit_growth
from .jacobian import step_jacobian
from .reversibility import reversibility_error
from .spectral import continuous_growth_rate, spectral_radius
from .stability import max_frequency, stability_limit
from .step_maps import as_step_map
from .study import StabilityStudy, format_table, run_stability_study, write_study
from .tanh_rnn import TanhRNN

__all__ = [
    "StepMap",
    "as_step_map",
    "step_jacobian",
    "spectral_radius",
    "continuous_growth_rate",
    "stability_limit",
    "max_frequency",
    "gradient_norms",
    "fit_growth",
    "GrowthFit",
    "energy_drift",
    "reversibility_error",
    "TanhRNN",
    "run_stability_study",
    "StabilityStudy",
    "format_table",
    "write_study",
    "STUDY_SYSTEMS",
    "StudySystem",
    "study_system",
    "add_stability_arguments",
    "stability_command",
    "parse_dt_range",
]
