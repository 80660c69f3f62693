"""``fit``: identify a simulation model from input/output data by simulation error.

The model is trained to *simulate* (free run from the input only, after a state
initialisation window), not to predict one step ahead:

* each iteration draws ``batch_size`` random windows of ``init_window + H`` samples from the
  training part; the state comes from the first ``init_window`` measured samples, the loss
  is the mean squared error of the next ``H`` simulated outputs (normalised units);
* the horizon ``H`` grows geometrically from ``horizon[0]`` to ``horizon[1]`` over the first
  ``horizon_growth`` fraction of the iterations (short windows first: the loss surface of
  long simulations is rough until the model is roughly right);
* Adam with a cosine learning-rate decay from ``lr`` to ``lr * lr_final``, gradient
  clipping, and a projection keeping stiffness and damping admissible after each update;
* every ``eval_every`` iterations the whole validation part is simulated from its own
  window; the best model by validation RMSE is kept, and training stops after
  ``patience`` evaluations without improvement (early stopping);
* with ``checkpoint=PATH`` the full training state (model, best model, optimizer, the
  window sampler's random state, history) is written atomically at each evaluation; a
  later call with the same arguments resumes from it and ends exactly where an
  uninterrupted run would. Runs are seeded (``seed``) and reproducible;
* data-parallel over processes (``distributed``, under ``torchrun``; see
  :mod:`oscdyn.distributed`): every rank draws the same global batch of windows and
  simulates its share, DDP averages the gradients, so the run takes the same steps as one
  process up to float rounding; rank 0 alone evaluates (its score is broadcast), shows
  progress and writes the checkpoint.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr
from tqdm.auto import tqdm

from ..distributed import DistributedContext, single_process
from ..gradients import clip_grad_norm
from .checkpoint import load_torch, model_from_record, model_record, save_torch
from .data import DataError, IOData
from .metrics import metrics
from .models import SimulationModel
from .threads import intra_op_threads

__all__ = ["fit", "FitResult", "FitProgress", "substeps_for", "evaluate"]

#: format tag of training checkpoints
CHECKPOINT_FORMAT = "oscdyn.sysid.checkpoint/1"


@dataclass
class FitProgress:
    """What a ``callback`` sees after each evaluation; returning True from it stops the fit."""

    iteration: int
    loss: float
    horizon: int
    validation_rmse: float
    best_rmse: float
    train_time: float


@dataclass
class FitResult:
    """The fitted model (best on validation) and how the fit went.

    ``history`` is an ``xarray.Dataset`` with ``loss``, ``horizon``, ``lr`` along
    ``iteration`` and ``validation_rmse``, ``validation_nrmse`` along ``evaluation`` (at
    ``evaluation_iteration``). ``train_time`` is wall time in seconds summed over resumed
    runs; ``stopped`` says why training ended.
    """

    model: SimulationModel
    history: xr.Dataset
    best_rmse: float
    best_iteration: int
    iterations: int
    train_time: float
    stopped: str
    options: dict[str, Any] = field(default_factory=dict)


def substeps_for(sample_time: float, dt: float | None) -> int:
    """Integration steps per sample for a step ``dt`` (default: one per sample).

    ``dt`` must divide the sampling period into a whole number of steps.
    """
    if dt is None:
        return 1
    if not (dt > 0 and math.isfinite(dt)):
        raise ValueError(f"dt must be positive, got {dt}")
    ratio = sample_time / dt
    substeps = round(ratio)
    if substeps < 1 or abs(ratio - substeps) > 1e-6 * ratio:
        raise ValueError(
            f"dt={dt:g} must divide the sampling period {sample_time:g} into whole steps "
            f"(ratio {ratio:.6g})"
        )
    return substeps


def evaluate(
    model: SimulationModel, data: IOData, init_window: int | None = None
) -> dict[str, float]:
    """Simulate ``data`` from its window; RMSE, NRMSE and fit % over the samples after it."""
    window = data.init_window if init_window is None else init_window
    predicted = model.predict(data, window)
    start = max(window, 0)
    return metrics(data.y[start:], predicted[start:])


def _validation_split(
    data: IOData, validation: IOData | float | None, init_window: int
) -> tuple[IOData, IOData | None]:
    if validation is None:
        return data, None
    if isinstance(validation, IOData):
        if validation.init_window == 0 and validation.has_output:  # use the fit's window
            validation = validation.with_init_window(min(init_window, len(validation) - 1))
        return data, validation
    if not 0 < validation < 1:
        raise ValueError(f"validation must be a fraction in (0, 1) or an IOData, got {validation}")
    train, held_out = data.split(1 - validation)
    return train, held_out.with_init_window(min(init_window, len(held_out) - 1))


def _horizon_at(iteration: int, iterations: int, horizon: tuple[int, int], growth: float) -> int:
    first, last = horizon
    span = max(1.0, growth * iterations)
    progress = min(1.0, iteration / span)
    return int(round(first * (last / first) ** progress))


def _lr_at(iteration: int, iterations: int, lr: float, lr_final: float) -> float:
    low = lr * lr_final
    return low + 0.5 * (lr - low) * (1 + math.cos(math.pi * min(1.0, iteration / iterations)))


def _state_copy(model: SimulationModel) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def fit(
    model: SimulationModel,
    data: IOData,
    integrator: str = "leapfrog",
    dt: float | None = None,
    *,
    validation: IOData | float | None = 0.2,
    init_window: int = 50,
    batch_size: int = 32,
    horizon: tuple[int, int] = (20, 400),
    horizon_growth: float = 0.5,
    iterations: int = 1000,
    lr: float = 1e-2,
    lr_final: float = 0.01,
    grad_clip: float = 1.0,
    eval_every: int = 50,
    patience: int = 8,
    validation_samples: int | None = None,
    max_time: float | None = None,
    hold: str = "foh",
    backend: str | None = None,
    dtype: torch.dtype = torch.float64,
    initialize: bool = True,
    seed: int = 0,
    checkpoint: str | os.PathLike[str] | None = None,
    resume: bool = True,
    progress: bool = True,
    callback: Callable[[FitProgress], bool | None] | None = None,
    threads: int | None = 1,
    distributed: DistributedContext | None = None,
) -> FitResult:
    """Fit ``model`` to ``data`` by simulation error with ``integrator`` at step ``dt`` (s).

    Args:
        model: a :class:`~oscdyn.sysid.SimulationModel` (its weights are trained in place;
            the best ones by validation RMSE are loaded at the end).
        data: the training record; ``validation`` is a held-out record, or the fraction of
            ``data``'s tail held out (default 0.2), or ``None`` (no early stopping: the
            last iterate is kept).
        integrator: an ``oscdyn`` integrator name; ``dt``: its step in seconds (default
            the sampling period; must divide it).
        init_window: measured samples that set each window's initial state.
        batch_size, horizon, horizon_growth: windows per iteration and the growing
            simulation horizon (samples) over the first ``horizon_growth`` of iterations.
        iterations, lr, lr_final, grad_clip: Adam steps, initial learning rate, final
            learning rate as a fraction of it (cosine decay), gradient norm clip.
        eval_every, patience, validation_samples: validation cadence, early-stopping
            patience (evaluations) and an optional cap on the validation length.
        max_time: stop after this many seconds of training (then not reproducible).
        hold: the input between samples, ``"foh"``, ``"zoh"`` or ``"bandlimited"`` (see
            :class:`~oscdyn.sysid.SimulationModel`).
        backend: the ``oscdyn`` backend; default the model's ``preferred_backend``, chosen by
            measurement (CPU time of one iteration, one thread, batch 32, 200 steps, forward
            and backward): ``"fused"`` for the oscillator network (1.1-1.3x faster than
            ``"eager"`` at 8 units, 1.3-1.8x at 16), ``"eager"`` for the one-unit Duffing
            model (``"fused"`` 0-10 % slower there).
        dtype: the model's dtype during the fit (float64 default: tiny tensors, the cost
            is per step, not per flop).
        initialize: normalise by the training data and call ``model.initialize`` (skipped
            when resuming).
        seed: seeds the window sampler (and torch's global generator).
        checkpoint: a file for the training state, written atomically at each
            evaluation; ``resume`` continues from it when it exists.
        progress: a tqdm progress bar on stderr; callback: called after each evaluation.
        threads: torch intra-op threads during the fit (default 1, the fastest for these
            tiny tensors; see :mod:`oscdyn.sysid.threads`), ``None`` to leave it.
        distributed: this process's :class:`~oscdyn.distributed.DistributedContext` in a
            data-parallel run (from :func:`~oscdyn.distributed.init_distributed`; default:
            one process). ``batch_size`` is the global batch (at least the world size);
            only rank 0 shows progress, calls ``callback`` and writes ``checkpoint``; every
            rank returns the same result.
    """
    arguments = {k: v for k, v in locals().items() if k != "threads"}  # the parameters only
    with intra_op_threads(threads):
        return _fit(**arguments)


def _fit(
    model: SimulationModel,
    data: IOData,
    integrator: str,
    dt: float | None,
    validation: IOData | float | None,
    init_window: int,
    batch_size: int,
    horizon: tuple[int, int],
    horizon_growth: float,
    iterations: int,
    lr: float,
    lr_final: float,
    grad_clip: float,
    eval_every: int,
    patience: int,
    validation_samples: int | None,
    max_time: float | None,
    hold: str,
    backend: str | None,
    dtype: torch.dtype,
    initialize: bool,
    seed: int,
    checkpoint: str | os.PathLike[str] | None,
    resume: bool,
    progress: bool,
    callback: Callable[[FitProgress], bool | None] | None,
    distributed: DistributedContext | None,
) -> FitResult:
    context = distributed or single_process()
    model.check_data(data)
    if not data.has_output:
        raise DataError(f"training data {data.name!r} has no output y")
    if len(horizon) != 2 or not 1 <= horizon[0] <= horizon[1]:
        raise ValueError(f"horizon must be (first, last) with 1 <= first <= last, got {horizon}")
    if init_window < 1:
        raise ValueError(f"init_window must be at least 1, got {init_window}")
    if iterations < 1 or batch_size < 1 or eval_every < 1:
        raise ValueError("iterations, batch_size and eval_every must be positive")
    if not (0 < grad_clip < math.inf):
        raise ValueError(f"grad_clip must be positive and finite, got {grad_clip}")
    share = context.shard(batch_size)  # this rank's windows of each global batch
    train, held_out = _validation_split(data, validation, init_window)
    if held_out is not None:
        model.check_data(held_out)
        if validation_samples is not None:
            held_out = held_out.head(min(len(held_out), validation_samples))
        if not held_out.has_output or len(held_out) <= held_out.init_window:
            raise DataError("the validation record needs outputs beyond its init window")
    longest = init_window + horizon[1]
    if len(train) < longest:
        raise DataError(
            f"training part has {len(train)} samples, fewer than init_window + horizon "
            f"({longest}); shorten the horizon or give more data"
        )
    substeps = substeps_for(data.dt, dt)
    backend = backend or model.preferred_backend
    options = {
        "integrator": str(integrator),
        "substeps": substeps,
        "hold": hold,
        "backend": backend,
        "init_window": init_window,
        "batch_size": batch_size,
        "horizon": list(horizon),
        "horizon_growth": horizon_growth,
        "iterations": iterations,
        "lr": lr,
        "lr_final": lr_final,
        "grad_clip": grad_clip,
        "eval_every": eval_every,
        "patience": patience,
        "seed": seed,
        "train_samples": len(train),
        "validation_samples": 0 if held_out is None else len(held_out),
        "dtype": str(dtype),
    }
    torch.manual_seed(seed)
    model.to(dtype)
    model.configure(integrator, substeps, hold, backend, sample_time=data.dt)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    history: dict[str, list[float]] = {k: [] for k in ("loss", "horizon", "lr")}
    evaluations: dict[str, list[float]] = {k: [] for k in ("iteration", "rmse", "nrmse")}
    start_iteration, train_time, bad = 0, 0.0, 0
    best_rmse, best_iteration, best_state = math.inf, -1, None
    checkpoint = None if checkpoint is None else Path(checkpoint)

    resumed = False
    if checkpoint is not None and resume and checkpoint.exists():
        state = load_torch(checkpoint)
        if state.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{checkpoint}: not an oscdyn fit checkpoint")
        if state["options"] != options:
            changed = sorted(k for k in options if state["options"].get(k) != options[k])
            raise ValueError(
                f"{checkpoint} was written by a fit with other settings ({', '.join(changed)});"
                " remove it or pass resume=False"
            )
        restored = model_from_record(state["model"])
        model.load_state_dict(restored.state_dict())
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        start_iteration, train_time, bad = state["iteration"], state["train_time"], state["bad"]
        best_rmse, best_iteration = state["best_rmse"], state["best_iteration"]
        best_state = state["best_state"]
        history, evaluations = state["history"], state["evaluations"]
        resumed = True
    elif initialize:
        model.set_normalization(train)
        model.initialize(train)
        model.project()

    with torch.no_grad():
        u_train = model.normalize_inputs(torch.as_tensor(train.u, dtype=dtype))
        y_train = model.normalize_outputs(torch.as_tensor(train.y, dtype=dtype))

    def save(iteration: int) -> None:
        if checkpoint is None or not context.is_main:
            return
        save_torch(
            {
                "format": CHECKPOINT_FORMAT,
                "options": options,
                "model": model_record(model),
                "optimizer": optimizer.state_dict(),
                "generator": generator.get_state(),
                "iteration": iteration,
                "train_time": train_time,
                "bad": bad,
                "best_rmse": best_rmse,
                "best_iteration": best_iteration,
                "best_state": best_state,
                "history": history,
                "evaluations": evaluations,
            },
            checkpoint,
        )

    stopped = "iterations"
    if resumed and start_iteration >= iterations:
        stopped = "already finished (checkpoint)"
    elif resumed and held_out is not None and bad >= patience:
        stopped = "early stopping"
        start_iteration = iterations
    bar = tqdm(
        total=iterations,
        initial=start_iteration,
        desc=f"fit {model.kind} ({integrator})",
        disable=not (progress and context.is_main),
        file=sys.stderr,
        leave=False,
        dynamic_ncols=True,
    )
    iteration = start_iteration
    trained = context.wrap(model)  # the model, or DDP around it (gradients averaged)
    clock = time.perf_counter()
    try:
        while iteration < iterations:
            steps = _horizon_at(iteration, iterations, horizon, horizon_growth)
            length = init_window + steps
            rate = _lr_at(iteration, iterations, lr, lr_final)
            for group in optimizer.param_groups:
                group["lr"] = rate
            starts = torch.randint(0, len(train) - length + 1, (batch_size,), generator=generator)
            index = starts[share, None] + torch.arange(length)
            u_batch, y_batch = u_train[index], y_train[index]
            optimizer.zero_grad(set_to_none=True)
            predicted = trained(u_batch, y_batch[:, :init_window])
            squared = torch.sum((predicted - y_batch[:, init_window:]) ** 2)
            count = batch_size * steps * model.n_outputs  # the global batch's elements
            # DDP averages the ranks' gradients: scaled by the world size, the average is the
            # gradient of the global batch's mean squared error
            loss = squared * (context.world_size / count)
            loss_value = float(context.all_reduce_sum(squared.detach())) / count
            if math.isfinite(loss_value):
                loss.backward()
                # the float64 norm is finite exactly when every gradient entry is
                if bool(torch.isfinite(clip_grad_norm(model.parameters(), grad_clip))):
                    optimizer.step()
                    model.project()
            history["loss"].append(loss_value)
            history["horizon"].append(float(steps))
            history["lr"].append(rate)
            iteration += 1
            bar.update(1)
            if iteration % eval_every == 0 or iteration == iterations:
                if held_out is not None:
                    scores = {"rmse": math.nan, "nrmse": math.nan}
                    if context.is_main:
                        scores = evaluate(model, held_out)
                    scores["rmse"], scores["nrmse"] = context.broadcast(
                        [scores["rmse"], scores["nrmse"]]
                    )
                    rmse = scores["rmse"] if math.isfinite(scores["rmse"]) else math.inf
                    evaluations["iteration"].append(float(iteration))
                    evaluations["rmse"].append(rmse)
                    evaluations["nrmse"].append(scores["nrmse"])
                    if rmse < best_rmse * (1 - 1e-4):
                        best_rmse, best_iteration, bad = rmse, iteration, 0
                        best_state = _state_copy(model)
                    else:
                        bad += 1
                else:
                    rmse = math.nan
                now = time.perf_counter()
                train_time += now - clock
                clock = now
                save(iteration)
                bar.set_postfix(loss=f"{loss_value:.3g}", H=steps, val=f"{rmse:.3g}")
                if held_out is not None and bad >= patience:
                    stopped = "early stopping"
                    break
                wants_stop = False
                if context.is_main and callback is not None:
                    report = FitProgress(iteration, loss_value, steps, rmse, best_rmse, train_time)
                    wants_stop = bool(callback(report))
                if context.any(wants_stop):  # rank 0's decision, taken by every rank
                    stopped = "callback"
                    break
                if context.any(max_time is not None and train_time >= max_time):
                    stopped = "time limit"
                    break
    finally:
        bar.close()
    train_time += time.perf_counter() - clock
    if best_state is not None:
        model.load_state_dict(best_state)
    history_ds = xr.Dataset(
        {
            "loss": ("iteration", np.asarray(history["loss"])),
            "horizon": ("iteration", np.asarray(history["horizon"])),
            "lr": ("iteration", np.asarray(history["lr"])),
            "validation_rmse": ("evaluation", np.asarray(evaluations["rmse"])),
            "validation_nrmse": ("evaluation", np.asarray(evaluations["nrmse"])),
            "evaluation_iteration": ("evaluation", np.asarray(evaluations["iteration"])),
        },
        coords={"iteration": np.arange(1, len(history["loss"]) + 1)},
        attrs={k: str(v) if isinstance(v, list) else v for k, v in options.items()},
    )
    return FitResult(
        model=model,
        history=history_ds,
        best_rmse=best_rmse,
        best_iteration=best_iteration,
        iterations=iteration,
        train_time=train_time,
        stopped=stopped,
        options=options,
    )
