"""The studies a sweep can run at each grid cell, and :func:`run_cell`, the task function.

Each study reuses the library's own experiment; a cell runs it once, at its parameters:

* ``stability`` -- :func:`oscdyn.analysis.run_stability_study` of one built-in system with
  one integrator, the spectral radius taken at the cell's ``dt`` and the gradient-norm,
  energy and reversibility runs stepped by it (float64, seeded). Metrics: the spectral
  radius at ``dt``, the measured stability limit (``dt`` and ``omega_max dt``), the gradient
  growth rate per step, the energy drift slope and largest energy error, the round-trip
  error of ``inverse_step``; label: the gradient verdict.
* ``fit`` -- :func:`oscdyn.sysid.fit` of a model (``system``: ``duffing`` grey-box or
  ``oscnet`` black-box) to a record (``data``: a generator name, ``slowly_varying_duffing``
  or ``drifting_chain``, or a file ``oscdyn.sysid.load`` reads), split 70 / 10 / 20 % into
  training, validation and test parts as ``oscdyn demo`` does; ``dt`` is the integration
  step in seconds (it must divide the sampling period; absent: one step per sample).
  Metrics: test RMSE, NRMSE and fit %, best validation RMSE, training time and
  iterations, the model's stability margin and gradient growth rate
  (:mod:`oscdyn.sysid.diagnostics`); label: why training stopped.
* ``train-task`` -- training on a long-dependency task of :mod:`oscdyn.tasks` as
  ``oscdyn train-task`` does (``data``: the task, ``adding``, ``copy``, ``smnist``,
  ``psmnist``; ``system``: the model, ``cornn``, ``unicornn``, ...; ``dt`` and ``lr``
  absent: the model's published ones; ``[grid.option]``: dimensions that are constructor
  arguments of the model, e.g. ``gamma`` and ``epsilon`` of coRNN), on the CPU, from its
  public pieces (``build_task``, ``resolve_settings``, ``build_model``, ``train``; imported
  inside the cell). Metrics: the
  final and best test metric and the final test loss (held-out set), the memoryless
  baseline's metric, training time and updates.

A cell whose primary metric is NaN gets status ``"nan"``; one that raises, ``"error"``; in
both cases the message is kept in the result and the sweep goes on.
"""

from __future__ import annotations

import math
import os
import socket
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .base import Cell, CellResult

__all__ = ["Study", "Measurement", "STUDIES", "study", "run_cell", "GENERATED_DATA"]


@dataclass
class Measurement:
    """What a study's cell function measured: scalar metrics, string labels, and a note
    saying why some metric is NaN (e.g. the integrator cannot run the system)."""

    metrics: dict[str, float]
    labels: dict[str, str] = field(default_factory=dict)
    note: str = ""


@dataclass(frozen=True)
class Study:
    """A study a sweep can run.

    Attributes:
        name: the config's ``study``.
        required: grid dimensions the config must give.
        defaults: the other dimensions it may give, with the value a cell gets without them.
        options: the ``[options]`` it accepts, with their defaults (the type of a given
            value must match the default's).
        extra_options: more ``[options]`` it accepts without a default (absent: the study's
            own code decides; their values are checked there).
        metrics: the metric names its cells report.
        primary: metrics whose NaN marks a cell ``"nan"``.
        heatmap: the metric drawn in the heat map by default.
        table: metrics (and labels) shown in the summary table.
        measure: ``measure(parameters, options, base_dir) -> Measurement``.
        model_options: whether the config's ``[grid.option]`` table may add dimensions
            named after constructor arguments of the model (``gamma``, ``alpha``, ...).
    """

    name: str
    required: tuple[str, ...]
    defaults: dict[str, Any]
    options: dict[str, Any]
    extra_options: tuple[str, ...]
    metrics: tuple[str, ...]
    primary: tuple[str, ...]
    heatmap: str
    table: tuple[str, ...]
    measure: Callable[[dict[str, Any], dict[str, Any], Path], Measurement]
    model_options: bool = False

    @property
    def dimensions(self) -> tuple[str, ...]:
        """Every grid dimension the study understands."""
        return (*self.required, *self.defaults)


# -- stability ----------------------------------------------------------------------------

#: per-integrator variables of the stability study that become cell metrics
STABILITY_METRICS: tuple[str, ...] = (
    "stability_limit",
    "stability_limit_omega_dt",
    "claimed_stability_limit",
    "gradient_growth_rate",
    "energy_drift_slope",
    "energy_max_error",
    "reversibility_error",
)


def _stability(parameters: dict[str, Any], options: dict[str, Any], base_dir: Path) -> Measurement:
    from ..analysis import run_stability_study

    dt = float(parameters["dt"])
    results = run_stability_study(
        parameters["system"],
        [parameters["integrator"]],
        [dt],
        quiet=True,
        steps=int(options["steps"]),
        probe_dt=dt,
        seed=int(parameters["seed"]),
    ).results.isel(integrator=0)
    metrics = {"spectral_radius": float(results["spectral_radius"].isel(dt=0))}
    metrics.update({name: float(results[name]) for name in STABILITY_METRICS})
    labels = {"gradient_verdict": str(results["gradient_verdict"].values)}
    return Measurement(metrics, labels, note=str(results.attrs["skipped"]))


# -- fit ----------------------------------------------------------------------------------

#: ``data`` names the fit study generates instead of reading a file (seeded by ``data_seed``)
GENERATED_DATA: tuple[str, ...] = ("slowly_varying_duffing", "drifting_chain")
#: the fit study's metrics
FIT_METRICS: tuple[str, ...] = (
    "test_rmse",
    "test_nrmse",
    "test_fit_percent",
    "validation_rmse",
    "train_time",
    "iterations",
    "omega_h",
    "dt_max",
    "gradient_growth_rate",
)


def _fit_record(name: str, options: dict[str, Any], base_dir: Path) -> Any:
    from ..sysid import drifting_chain, load, slowly_varying_duffing

    size = {"n_samples": int(options["n_samples"]), "seed": int(options["data_seed"])}
    if name == "slowly_varying_duffing":
        return slowly_varying_duffing(**size)
    if name == "drifting_chain":
        return drifting_chain(**size)
    path = Path(name).expanduser()
    return load(path if path.is_absolute() else base_dir / path)


def _fit(parameters: dict[str, Any], options: dict[str, Any], base_dir: Path) -> Measurement:
    from ..sysid import build_model, evaluate, fit, gradient_growth_rate, stability_margin

    data = _fit_record(str(parameters["data"]), options, base_dir)
    window = int(options["init_window"])
    n_train, n_validation = int(0.7 * len(data)), int(0.1 * len(data))
    train = data[:n_train]
    validation = data[n_train : n_train + n_validation].with_init_window(window)
    test = data[n_train + n_validation :].with_init_window(window)
    seed = int(parameters["seed"])
    config: dict[str, Any] = {"n_inputs": data.n_inputs, "n_outputs": data.n_outputs}
    if parameters["system"] == "oscnet":
        config.update(units=int(options["units"]), seed=seed)
    dt = parameters["dt"]
    result = fit(
        build_model(str(parameters["system"]), **config),
        train,
        str(parameters["integrator"]),
        None if dt is None else float(dt),
        validation=validation,
        init_window=window,
        batch_size=int(options["batch_size"]),
        horizon=(int(options["horizon"][0]), int(options["horizon"][1])),
        iterations=int(options["iterations"]),
        lr=float(options["lr"]),
        eval_every=int(options["eval_every"]),
        patience=int(options["patience"]),
        hold=str(options["hold"]),
        seed=seed,
        progress=False,
    )
    scores = evaluate(result.model, test)
    margin = stability_margin(result.model)
    values = (
        scores["rmse"],
        scores["nrmse"],
        scores["fit_percent"],
        result.best_rmse,
        result.train_time,
        result.iterations,
        margin["omega_h"],
        margin["dt_max"],
        gradient_growth_rate(result.model, test)["rate"],
    )
    metrics = {name: float(v) for name, v in zip(FIT_METRICS, values, strict=True)}
    return Measurement(metrics, {"stopped": result.stopped})


# -- train-task ---------------------------------------------------------------------------


#: the train-task study's metrics
TASK_METRICS: tuple[str, ...] = (
    "test_metric",
    "best_test_metric",
    "test_loss",
    "baseline_metric",
    "train_time",
    "steps",
)


def _lr_drops(value: Any) -> list[int]:
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        raise ValueError(f"options.lr_drops must be a list of update counts, got {value!r}")
    return value


def _train_task(parameters: dict[str, Any], options: dict[str, Any], base_dir: Path) -> Measurement:
    import torch

    from ..tasks.experiment import build_task
    from ..tasks.models import build_model, resolve_settings
    from ..tasks.train import train

    task_data = options.get("task_data")
    if task_data is not None:
        path = Path(task_data).expanduser()
        task_data = path if path.is_absolute() else base_dir / path
    task = build_task(
        str(parameters["data"]), options.get("length"), task_data, options.get("noise_pad")
    )
    dt, lr = parameters["dt"], parameters["lr"]
    own = study("train-task").dimensions  # the other parameters are the model's options
    settings = resolve_settings(
        str(parameters["system"]),
        hidden=options.get("hidden"),
        lr=options.get("lr") if lr is None else float(lr),
        batch=options.get("batch"),
        integrator=str(parameters["integrator"]),
        dt=None if dt is None else float(dt),
        options={k: v for k, v in parameters.items() if k not in own},
    )
    seed = int(parameters["seed"])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(task, settings)
    torch.set_flush_denormal(True)  # as oscdyn train-task: denormal cotangents are slow
    result = train(
        model,
        task,
        int(options["steps"]),
        settings.batch,
        settings.lr,
        seed=seed,
        eval_every=int(options["eval_every"]),
        test_size=int(options["test_size"]),
        clip=options.get("clip"),
        max_time=options.get("max_time"),
        device="cpu",
        progress=False,
        lr_drops=_lr_drops(options.get("lr_drops", [])),
    )
    values = (
        result.final_test_metric,
        result.best(task.higher_is_better)[1],
        result.final_test_loss,
        result.baseline.metric,
        result.wall_time,
        result.steps,
    )
    metrics = {name: float(v) for name, v in zip(TASK_METRICS, values, strict=True)}
    return Measurement(metrics, {"stopped": result.stopped})


STUDIES: dict[str, Study] = {
    entry.name: entry
    for entry in (
        Study(
            name="stability",
            required=("system", "integrator", "dt"),
            defaults={"seed": 0},
            options={"steps": 1000},
            extra_options=(),
            metrics=("spectral_radius", *STABILITY_METRICS),
            primary=("spectral_radius", "gradient_growth_rate"),
            heatmap="gradient_growth_rate",
            table=(
                "spectral_radius",
                "stability_limit",
                "gradient_growth_rate",
                "gradient_verdict",
                "energy_drift_slope",
            ),
            measure=_stability,
        ),
        Study(
            name="fit",
            required=("data", "system", "integrator"),
            defaults={"dt": None, "seed": 0},
            options={
                "n_samples": 1500,
                "data_seed": 0,
                "iterations": 100,
                "batch_size": 32,
                "horizon": [10, 60],
                "eval_every": 25,
                "patience": 6,
                "init_window": 50,
                "hold": "bandlimited",
                "units": 4,
                "lr": 1e-2,
            },
            extra_options=(),
            metrics=FIT_METRICS,
            primary=("test_rmse",),
            heatmap="test_rmse",
            table=("test_rmse", "test_fit_percent", "train_time", "gradient_growth_rate"),
            measure=_fit,
        ),
        Study(
            name="train-task",
            required=("data", "system", "integrator"),
            defaults={"dt": None, "seed": 0, "lr": None},
            options={"steps": 200, "eval_every": 50, "test_size": 256},
            extra_options=(
                "length",
                "hidden",
                "batch",
                "lr",
                "lr_drops",
                "clip",
                "noise_pad",
                "max_time",
                "task_data",
            ),
            metrics=TASK_METRICS,
            primary=("test_loss",),
            heatmap="test_metric",
            table=("test_metric", "best_test_metric", "baseline_metric", "train_time"),
            measure=_train_task,
            model_options=True,
        ),
    )
}


def study(name: str) -> Study:
    """The :class:`Study` called ``name`` (``ValueError`` listing the known ones)."""
    if name not in STUDIES:
        raise ValueError(f"unknown study {name!r}; known: {', '.join(STUDIES)}")
    return STUDIES[name]


def _first_nan(metrics: dict[str, float], primary: tuple[str, ...]) -> str | None:
    return next((name for name in primary if math.isnan(metrics.get(name, math.nan))), None)


def run_cell(cell: Cell) -> CellResult:
    """Run ``cell``'s study at its parameters: the task every executor runs.

    Never raises for the study's own failures: an exception becomes status ``"error"`` with
    its message and traceback; a NaN primary metric, status ``"nan"`` with the reason.
    ``KeyboardInterrupt`` and ``SystemExit`` propagate.
    """
    worker = f"{socket.gethostname()}:{os.getpid()}"
    start = time.perf_counter()
    try:
        entry = study(cell.study)
        measured = entry.measure(dict(cell.parameters), dict(cell.options), Path(cell.base_dir))
    except Exception as error:
        return CellResult(
            status="error",
            error=f"{type(error).__name__}: {error}",
            traceback=traceback.format_exc(),
            elapsed=time.perf_counter() - start,
            worker=worker,
        )
    elapsed = time.perf_counter() - start
    missing = _first_nan(measured.metrics, entry.primary)
    status, error = "ok", ""
    if missing is not None:
        status = "nan"
        error = f"{missing} is NaN" + (f" ({measured.note})" if measured.note else "")
    return CellResult(
        status=status,
        metrics=measured.metrics,
        labels=measured.labels,
        error=error,
        elapsed=elapsed,
        worker=worker,
    )
