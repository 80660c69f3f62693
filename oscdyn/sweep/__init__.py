"""Sweeps: one study over a grid of systems x integrators x dt x seeds (x data).

A TOML file names the study (``stability``, ``fit``, ``train-task``), the grid and the
outputs (:mod:`oscdyn.sweep.config`); each grid cell is one task
(:func:`~oscdyn.sweep.studies.run_cell`) run by an executor: a local process pool
(:class:`LocalExecutor`, the default), Ray (:class:`RayExecutor`, the ``oscdyn[ray]``
extra) or this process (:class:`SerialExecutor`). Each finished cell is stored at once in
its own file, atomically (:class:`CellStore`), so a sweep resumes after Ctrl-C or a kill;
a cell that raises or gives NaN is a result with its error, not the end of the sweep. The
cells are merged into one NetCDF over the grid's dimensions, a summary table and a heat
map (:mod:`oscdyn.sweep.merge`). The command: ``oscdyn sweep CONFIG.toml``
(:func:`add_sweep_arguments`, :func:`sweep_command`).
"""

from .base import Cell, CellResult, Executor
from .command import add_sweep_arguments, sweep_command
from .config import ConfigError, HeatmapSpec, SweepConfig, load_config, parse_config
from .local import LocalExecutor, SerialExecutor, available_cores
from .merge import format_summary, merge_results, plot_heatmap, write_outputs
from .ray_executor import RayExecutor
from .runner import EXECUTORS, SweepRun, make_executor, run_sweep
from .store import CellStore
from .studies import STUDIES, Study, run_cell

__all__ = [
    "Cell",
    "CellResult",
    "Executor",
    "LocalExecutor",
    "SerialExecutor",
    "RayExecutor",
    "available_cores",
    "EXECUTORS",
    "make_executor",
    "CellStore",
    "ConfigError",
    "HeatmapSpec",
    "SweepConfig",
    "load_config",
    "parse_config",
    "STUDIES",
    "Study",
    "run_cell",
    "SweepRun",
    "run_sweep",
    "merge_results",
    "format_summary",
    "plot_heatmap",
    "write_outputs",
    "add_sweep_arguments",
    "sweep_command",
]
