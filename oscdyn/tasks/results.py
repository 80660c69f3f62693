"""What ``oscdyn train-task`` writes: the learning curve as NetCDF, a PNG and a text summary.

Every file is written atomically (``oscdyn.io``, ``oscdyn.plot``).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ..integrators import get as get_integrator
from ..io import write_netcdf, write_text
from ..plot import finite, new_figure, save_png
from ..tables import aligned_table
from .base import SequenceTask
from .models import MODELS, Settings
from .train import LR_DROP_FACTOR, TrainResult

__all__ = ["summary", "plot_learning_curve", "write_results"]


def _options_text(options: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(options.items())) or "-"


def _drops_text(lr_drops: list[int] | None) -> str:
    if not lr_drops:
        return ""
    return f" (divided by {LR_DROP_FACTOR:g} after updates {', '.join(str(d) for d in lr_drops)})"


def _dataset(
    result: TrainResult, task: SequenceTask, settings: Settings, info: dict[str, Any]
) -> xr.Dataset:
    dataset = result.history.copy()
    dataset.attrs.update(
        {
            "task": task.name,
            "task_description": task.describe(),
            "sequence_length": task.length,
            "model": settings.model,
            "hidden": settings.hidden,
            "integrator": settings.integrator or "-",
            "dt": np.nan if settings.dt is None else settings.dt,
            "backend": settings.backend or "-",
            "options": _options_text(settings.options),
            "lr": settings.lr,
            "batch": settings.batch,
            "steps_done": result.steps,
            "train_wall_time_s": result.wall_time,
            "stopped": result.stopped,
            "defaults_source": MODELS[settings.model].source,
            **{k: ("-" if v is None else v) for k, v in info.items()},
        }
    )
    return dataset


def summary(
    result: TrainResult, task: SequenceTask, settings: Settings, info: dict[str, Any]
) -> str:
    """The plain-text summary: settings, baseline, one row per evaluation, the outcome."""
    history = result.history
    spec = MODELS[settings.model]
    metric = task.metric_name
    losses = history["train_loss"].values
    grad_norms = history["grad_norm"].values
    omega_dt = history["omega_dt"].values
    show_omega_dt = not np.isnan(omega_dt).all()  # NaN throughout: not an oscillator
    rows = []
    previous = 0
    for k, step in enumerate(history["evaluation_step"].values):
        window = losses[previous:step]
        norms = grad_norms[previous:step]
        train_loss = f"{np.mean(window):.4g}" if len(window) else "-"
        largest = f"{np.max(norms):.3g}" if len(norms) and not np.isnan(norms).all() else "-"
        previous = int(step)
        rows.append(
            [
                str(int(step)),
                f"{history['wall_time'].values[k]:.1f}",
                train_loss,
                largest,
                f"{history['test_loss'].values[k]:.4g}",
                f"{history['test_metric'].values[k]:.4g}",
            ]
            + ([f"{omega_dt[k]:.3g}"] if show_omega_dt else [])
        )
    header = ["step", "wall [s]", "train loss", "max grad norm", "test loss", f"test {metric}"]
    if show_omega_dt:
        header.append("omega*dt")
    scheme = ""
    if spec.oscillator:
        used = info.get("backend_used")  # what auto chose
        chosen = f" ({used})" if used and used != settings.backend else ""
        scheme = (
            f"integrator {settings.integrator}, dt {settings.dt:g}, "
            f"backend {settings.backend}{chosen}; "
        )
    best_step, best_value = result.best(task.higher_is_better)
    baseline = result.baseline
    lines = [
        f"oscdyn train-task: {task.describe()}",
        f"model {settings.model}: {spec.description}, hidden {settings.hidden}, "
        f"{info.get('parameters', '?')} parameters; {scheme}"
        f"options {_options_text(settings.options)}",
        f"defaults (for settings not given) from: {spec.source}",
        f"training: Adam lr {settings.lr:g}{_drops_text(info.get('lr_drops'))}, "
        f"batch {settings.batch}, "
        f"clip {info.get('clip') or '-'}, "
        f"seed {info.get('seed', '-')}; test set {info.get('test_size', '-')} sequences; "
        f"device {info.get('device', '-')}, torch threads {info.get('threads', '-')}"
        + (
            f"; resumed from the checkpoint at step {info['resumed_at_step']}"
            if info.get("resumed_at_step") is not None
            else ""
        )
        + (
            f"; parameters initialised from {info['initialised_from']}"
            if info.get("initialised_from")
            else ""
        ),
        f"baseline: {metric} {baseline.metric:.4g}, loss {baseline.loss:.4g}; "
        f"{baseline.description}",
        "",
        *aligned_table(header, rows, left=()),
        "",
        f"final test {metric} {result.final_test_metric:.4g} (loss {result.final_test_loss:.4g}) "
        f"after {result.steps} steps in {result.wall_time:.1f} s (stopped: {result.stopped}); "
        f"best test {metric} {best_value:.4g} at step {best_step}",
        "train loss, max grad norm: mean loss and largest gradient norm (before clipping) over "
        "the updates since the previous evaluation; wall: seconds since the start, evaluations "
        "included",
    ]
    if show_omega_dt:
        lines.append(_omega_dt_text(float(omega_dt[-1]), settings.integrator))
    if "command" in info:
        lines.append(f"command: {info['command']}")
    return "\n".join(lines) + "\n"


def _omega_dt_text(final: float, integrator: str) -> str:
    limit = get_integrator(integrator).stability_limit
    text = (
        "omega*dt: the largest linear frequency times step over the units (omega_i * h_i), "
        f"{final:.3g} at the end"
    )
    if limit is None or math.isinf(limit):
        return f"{text}; {integrator} has no stability limit"
    if limit == 0:
        return f"{text}; {integrator} is unstable for undamped oscillation at every dt"
    verdict = (
        "beyond it (gradients over long sequences may explode)" if final >= limit else "within it"
    )
    return f"{text}; {integrator} is stable below {limit:.4g}, this is {verdict}"


def plot_learning_curve(
    result: TrainResult,
    task: SequenceTask,
    settings: Settings,
    path: str | os.PathLike[str],
    clip: float | None = None,
) -> Path:
    """Three panels: train and test loss against steps (log scale, baseline dashed); the
    gradient norm before clipping against steps (``clip`` dashed); the test metric against
    wall time."""
    history = result.history
    figure, (left, middle, right) = new_figure(ncols=3)
    steps = history["step"].values
    left.plot(
        steps,
        finite(history["train_loss"].values, 1e-12),
        color="C0",
        alpha=0.35,
        linewidth=0.7,
        label="train (batch)",
    )
    eval_steps = history["evaluation_step"].values
    left.plot(
        eval_steps,
        finite(history["test_loss"].values, 1e-12),
        "o-",
        color="C1",
        markersize=3,
        label="test",
    )
    left.axhline(
        result.baseline.loss, color="k", linestyle="--", linewidth=1, label="memoryless baseline"
    )
    left.set(
        xlabel="training step",
        ylabel="loss",
        yscale="log",
        title=f"{task.name}, length {task.length}: {settings.model}",
    )
    left.legend(fontsize="small")
    middle.plot(
        steps,
        finite(history["grad_norm"].values, 1e-30),
        color="C2",
        linewidth=0.7,
        label="before clipping",
    )
    if clip is not None:
        middle.axhline(clip, color="k", linestyle="--", linewidth=1, label=f"clip {clip:g}")
    middle.set(xlabel="training step", ylabel="gradient 2-norm", yscale="log")
    middle.legend(fontsize="small")
    right.plot(
        history["wall_time"].values,
        finite(history["test_metric"].values),
        "o-",
        color="C1",
        markersize=3,
        label="test",
    )
    right.axhline(
        result.baseline.metric, color="k", linestyle="--", linewidth=1, label="memoryless baseline"
    )
    right.set(
        xlabel="wall time [s]",
        ylabel=f"test {task.metric_name}",
        yscale="log" if task.metric_name == "mse" else "linear",
    )
    right.legend(fontsize="small")
    return save_png(figure, path)


def write_results(
    result: TrainResult,
    task: SequenceTask,
    settings: Settings,
    out: str | os.PathLike[str],
    info: dict[str, Any],
) -> dict[str, Path]:
    """Write ``learning_curve.nc``, ``learning_curve.png`` and ``summary.txt`` into ``out``
    (created if missing); returns their paths by kind."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    return {
        "netcdf": write_netcdf(_dataset(result, task, settings, info), out / "learning_curve.nc"),
        "png": plot_learning_curve(
            result, task, settings, out / "learning_curve.png", info.get("clip")
        ),
        "summary": write_text(summary(result, task, settings, info), out / "summary.txt"),
    }
