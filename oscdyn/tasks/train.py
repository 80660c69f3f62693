"""Training a model on a sequence task: batch source, step function and loop, kept apart.

The pieces are separate so the loop can later run under ``DistributedDataParallel``:

* :class:`BatchSource` gives the *global* batch of step ``k`` from a generator seeded by
  ``(seed, k)`` alone, so every process draws the same batch without communicating and
  takes its rows with ``oscdyn.distributed.DistributedContext.shard(len(batch))``; a
  resumed run draws exactly the batches an uninterrupted one would;
* :func:`train_step` is one optimizer update on whatever batch it is given (``loss_scale``
  weights a rank's share of the global mean when shares differ);
* :func:`evaluate` scores a fixed held-out set (:func:`held_out_set`, drawn from a stream
  apart from training, the same for every model and training seed);
* :func:`train` is the loop: Adam (its rate divided by 10 at chosen updates, if asked),
  optional gradient-norm clipping, a tqdm bar, an
  evaluation every ``eval_every`` steps (and before the first and after the last), an
  optional wall-time limit, a checkpoint after each evaluation and resumption from one
  (:mod:`oscdyn.tasks.checkpoint`). The model is built by the caller (see
  ``models.build_model``).

Training losses stay on the device between evaluations (no host sync per step).
"""

from __future__ import annotations

import math
import os
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch import Tensor, nn
from tqdm.auto import tqdm

from ..compile import StabilityWarning
from ..distributed import DistributedContext
from ..gradients import clip_grad_norm, gradient_norm
from .base import Baseline, SequenceTask, check_batch_size
from .checkpoint import TrainingCheckpoint

__all__ = [
    "TEST_SEED",
    "stream_seed",
    "BatchSource",
    "held_out_set",
    "train_step",
    "evaluate",
    "train",
    "run_identity",
    "check_lr_drops",
    "learning_rate",
    "TrainResult",
]

#: seed of the held-out test set (its own stream: never one of the training batches)
TEST_SEED = 0
_TRAIN_STREAM, _TEST_STREAM = 0, 1
#: each of ``lr_drops`` divides the rate by this (the papers' released scripts divide by 10)
LR_DROP_FACTOR = 10.0


def stream_seed(seed: int, stream: int, index: int = 0) -> int:
    """A 63-bit generator seed for item ``index`` of stream ``stream`` under ``seed``
    (``numpy.random.SeedSequence``: distinct keys give independent streams)."""
    state = np.random.SeedSequence([int(seed), int(stream), int(index)]).generate_state(
        1, dtype=np.uint64
    )
    return int(state[0] & np.uint64(2**63 - 1))


class BatchSource:
    """The training batches of ``task``: step ``k`` gives the same global batch in every
    process and every run with this ``seed``."""

    def __init__(self, task: SequenceTask, batch_size: int, seed: int = 0) -> None:
        self.task = task
        self.batch_size = check_batch_size(batch_size)
        self.seed = int(seed)

    def global_batch(self, step: int) -> tuple[Tensor, Tensor]:
        """``(inputs, targets)`` of step ``step`` (CPU), all ``batch_size`` sequences."""
        generator = torch.Generator().manual_seed(stream_seed(self.seed, _TRAIN_STREAM, step))
        return self.task.sample(self.batch_size, generator)


def held_out_set(
    task: SequenceTask, size: int = 1000, seed: int = TEST_SEED
) -> tuple[Tensor, Tensor]:
    """``size`` test sequences of ``task`` from the test stream of ``seed`` (CPU tensors)."""
    check_batch_size(size, "test_size")
    generator = torch.Generator().manual_seed(stream_seed(seed, _TEST_STREAM))
    return task.test_set(size, generator)


def train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    task: SequenceTask,
    inputs: Tensor,
    targets: Tensor,
    clip: float | None = None,
    loss_scale: float = 1.0,
) -> tuple[Tensor, Tensor]:
    """One update on ``(inputs, targets)``; returns the loss before it (detached, on device)
    and the gradient's global 2-norm before clipping (float64, on device; a norm that grows
    by orders of magnitude flags exploding gradients).

    ``clip``: rescale the gradient to at most this global 2-norm (``None``: no clipping;
    :func:`oscdyn.gradients.clip_grad_norm`, whose norm does not overflow).
    ``loss_scale``: the gradient is that of ``loss_scale * loss`` (under data parallelism,
    a rank's share of the global batch times the world size, so the averaged gradient is
    that of the global mean); the returned loss is unscaled.
    """
    model.train()
    optimizer.zero_grad(set_to_none=True)
    loss = task.loss(model(inputs), targets)
    (loss * loss_scale if loss_scale != 1.0 else loss).backward()
    if clip is not None:
        norm = clip_grad_norm(model.parameters(), clip)
    else:
        norm = gradient_norm(model.parameters())
    optimizer.step()
    return loss.detach(), norm


@torch.no_grad()
def evaluate(
    model: nn.Module,
    task: SequenceTask,
    inputs: Tensor,
    targets: Tensor,
    chunk: int | None = None,
) -> tuple[float, float]:
    """``(loss, metric)`` of ``model`` on the whole set, run ``chunk`` sequences at a time."""
    model.eval()
    size = len(inputs)
    chunk = size if chunk is None else check_batch_size(chunk, "chunk")
    outputs = torch.cat([model(inputs[i : i + chunk]) for i in range(0, size, chunk)])
    return float(task.loss(outputs, targets)), float(task.metric(outputs, targets))


@dataclass
class TrainResult:
    """How training went.

    ``history``: an ``xarray.Dataset`` with ``train_loss`` along ``step`` (the loss of each
    update's batch) and ``test_loss``, ``test_metric``, ``wall_time`` (seconds since the
    start, evaluations included), ``omega_dt`` (the model's largest ``omega * h``, NaN if
    it has none) along ``evaluation`` (coordinate ``evaluation_step``: the updates done
    before it). ``stopped``: ``"steps"``, ``"max_time"`` or ``"non-finite
    loss"``.
    """

    model: nn.Module
    history: xr.Dataset
    steps: int
    wall_time: float
    stopped: str
    baseline: Baseline

    @property
    def final_test_loss(self) -> float:
        return float(self.history["test_loss"][-1])

    @property
    def final_test_metric(self) -> float:
        return float(self.history["test_metric"][-1])

    def best(self, higher_is_better: bool) -> tuple[int, float]:
        """``(step, value)`` of the best test metric."""
        values = self.history["test_metric"].values
        finite = np.where(np.isfinite(values), values, -np.inf if higher_is_better else np.inf)
        index = int(np.argmax(finite) if higher_is_better else np.argmin(finite))
        return int(self.history["evaluation_step"].values[index]), float(values[index])


def check_lr_drops(lr_drops: Sequence[int]) -> tuple[int, ...]:
    """``lr_drops`` as a sorted tuple of distinct positive update counts, else
    ``ValueError`` naming the bad entry (a drop past ``steps`` is kept: a resumed, longer
    run reaches it)."""
    drops = tuple(sorted(int(d) for d in lr_drops))
    for drop in drops:
        if drop < 1:
            raise ValueError(f"lr_drops must be positive update counts, got {drop}")
    if len(set(drops)) != len(drops):
        raise ValueError(f"lr_drops must be distinct, got {list(lr_drops)}")
    return drops


def learning_rate(lr: float, lr_drops: Sequence[int], step: int) -> float:
    """The rate of the update that follows ``step`` updates: ``lr`` divided by
    :data:`LR_DROP_FACTOR` once for every drop at or before ``step``."""
    return lr / LR_DROP_FACTOR ** sum(1 for drop in lr_drops if drop <= step)


def run_identity(
    task: SequenceTask,
    batch_size: int,
    lr: float,
    seed: int,
    clip: float | None,
    test_size: int,
    test_seed: int,
    run: dict[str, Any] | None = None,
    lr_drops: Sequence[int] = (),
) -> dict[str, Any]:
    """The settings a checkpoint must share with the run that resumes it: ``run`` (the
    caller's, e.g. the model's settings) and the task and training settings."""
    return {
        **(run or {}),
        "task": task.describe(),
        "batch": int(batch_size),
        "lr": float(lr),
        "lr_drops": list(lr_drops) or None,  # None without drops: older checkpoints match
        "seed": int(seed),
        "clip": None if clip is None else float(clip),
        "test_size": int(test_size),
        "test_seed": int(test_seed),
    }


def train(
    model: nn.Module,
    task: SequenceTask,
    steps: int,
    batch_size: int,
    lr: float,
    seed: int = 0,
    eval_every: int = 100,
    test_size: int = 1000,
    clip: float | None = None,
    max_time: float | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
    test_seed: int = TEST_SEED,
    eval_chunk: int | None = 250,
    context: DistributedContext | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    resume: TrainingCheckpoint | None = None,
    run: dict[str, Any] | None = None,
    lr_drops: Sequence[int] = (),
) -> TrainResult:
    """Train ``model`` (moved to ``device``) on ``task`` with Adam at learning rate ``lr``.

    Args:
        steps: optimizer updates; batch_size: sequences per update; seed: the training
            batch stream (seed the model's initialisation yourself).
        eval_every: updates between evaluations on the held-out set of ``test_size``
            sequences (``test_seed``), also run before the first and after the last update.
        clip: gradient-norm clipping (``None``: none); max_time: stop after this many
            seconds (checked after each update); progress: a tqdm bar on stderr.
        eval_chunk: sequences per evaluation forward pass (``None``: all at once); the
            default bounds the memory of the stored states at length 1000 to ~128 MB.
        context: data parallelism (:func:`oscdyn.distributed.init_distributed` under
            torchrun): the model is wrapped in ``DistributedDataParallel``, each rank trains
            on its share of every global batch with the loss weighted so that the averaged
            gradient is the global batch's, the recorded training loss is the global
            batch's, every rank evaluates the same held-out set and all stop together; only
            rank 0 shows progress. ``None``: this process alone.
        checkpoint: a file to write a :class:`~oscdyn.tasks.checkpoint.TrainingCheckpoint`
            to after every evaluation with a finite loss (rank 0; ``None``: none).
        resume: go on from this checkpoint: its model and Adam state, updates, losses,
            evaluations and time; ``steps`` counts all updates, earlier sessions included,
            and ``max_time`` this session alone. The checkpoint must come from the same
            run (:func:`run_identity` of these arguments and ``run``), else ``ValueError``
            names the settings that differ. On the same device the result is bitwise the
            one of an uninterrupted run.
        run: the caller's settings that identify the run (stored in checkpoints).
        lr_drops: updates after which the rate is divided by 10 (:func:`learning_rate`),
            as the papers' released scripts do at fixed epochs; a function of the update
            count alone, so a resumed run keeps the schedule.

    A model with ``omega_dt()`` has it recorded at each evaluation; one with
    ``stability_message()`` (an oscillator's :class:`~oscdyn.tasks.models.TaskModel`) warns
    :class:`~oscdyn.StabilityWarning` at the first evaluation that finds it beyond its
    scheme's stability limit after being within it.
    """
    for label, value in (("steps", steps), ("eval_every", eval_every)):
        check_batch_size(value, label)
    if not (0 < lr < math.inf):
        raise ValueError(f"lr must be positive and finite, got {lr}")
    if clip is not None and not (0 < clip < math.inf):
        raise ValueError(f"clip must be positive and finite, got {clip}")
    if max_time is not None and not max_time > 0:
        raise ValueError(f"max_time must be positive, got {max_time}")
    lr_drops = check_lr_drops(lr_drops)
    device = torch.device(device)
    identity = run_identity(task, batch_size, lr, seed, clip, test_size, test_seed, run, lr_drops)
    if resume is not None:
        resume.check_run(identity)
        model.load_state_dict(resume.model)
    model = model.to(device)
    plain_model = model  # without the DistributedDataParallel wrapper: saved and returned
    writes = context is None or context.is_main
    if context is not None:
        model = context.wrap(model)
        progress = progress and context.is_main
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    if resume is not None:
        optimizer.load_state_dict(resume.optimizer)
    batches = BatchSource(task, batch_size, seed)
    test_inputs, test_targets = (t.to(device) for t in held_out_set(task, test_size, test_seed))

    # one buffer on the device: no host sync per step, and not thousands of small tensors
    # kept alive among the large per-step ones (a list of 0-d losses grew the resident
    # memory of a 6000-step CPU run from 0.4 to 0.85 GB, and of a length-1000 run to an
    # out-of-memory kill at 24 GB after 3600 steps; with this buffer it stays flat)
    step = 0 if resume is None else resume.step
    train_losses = torch.full((max(steps, step),), math.nan, device=device)
    grad_norms = torch.full_like(train_losses, math.nan, dtype=torch.float64)
    evaluations: dict[str, list[float]] = {
        key: [] for key in ("step", "loss", "metric", "wall", "omega_dt")
    }
    omega_dt = getattr(plain_model, "omega_dt", lambda: None)
    stability_message = getattr(plain_model, "stability_message", lambda: None)
    # warned when training moves a unit beyond the limit (a model built or loaded beyond it
    # was warned about then), and again after it came back within it and crossed once more
    beyond_limit = stability_message() is not None
    session_start = time.perf_counter()
    start = session_start  # of the whole run: earlier sessions' seconds come before it
    if resume is not None:
        train_losses[:step] = resume.train_losses[:step].to(device, train_losses.dtype)
        grad_norms[:step] = resume.grad_norms[:step].to(device)
        evaluations = {key: list(values) for key, values in resume.evaluations.items()}
        start -= resume.elapsed

    def record_evaluation(step: int) -> tuple[float, float]:
        loss, metric = evaluate(model, task, test_inputs, test_targets, eval_chunk)
        evaluations["step"].append(step)
        evaluations["loss"].append(loss)
        evaluations["metric"].append(metric)
        evaluations["wall"].append(time.perf_counter() - start)
        product = omega_dt()
        evaluations["omega_dt"].append(math.nan if product is None else product)
        nonlocal beyond_limit
        message = stability_message()
        if message is not None and not beyond_limit and writes:
            warnings.warn(
                f"after {step} updates, training moved the model beyond its stability limit: "
                f"{message}",
                StabilityWarning,
                stacklevel=3,
            )
        beyond_limit = message is not None
        return loss, metric

    def save_checkpoint(step: int) -> None:
        if checkpoint is None or not writes:
            return
        TrainingCheckpoint(
            step=step,
            model={k: v.detach().cpu() for k, v in plain_model.state_dict().items()},
            optimizer=optimizer.state_dict(),
            train_losses=train_losses[:step].cpu().double(),
            grad_norms=grad_norms[:step].cpu(),
            evaluations=evaluations,
            elapsed=time.perf_counter() - start,
            run=identity,
        ).save(checkpoint)

    if resume is None:
        record_evaluation(0)
        save_checkpoint(0)
    stopped = "steps"
    bar = tqdm(
        total=steps,
        initial=min(step, steps),
        desc=f"train {task.name}",
        disable=not progress,
        file=sys.stderr,
        dynamic_ncols=True,
    )
    with bar:
        while step < steps:
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(lr, lr_drops, step)
            inputs, targets = (t.to(device) for t in batches.global_batch(step))
            if context is not None and context.is_distributed:
                share = context.shard(len(inputs))
                weight = (share.stop - share.start) / len(inputs)
                loss, grad_norms[step] = train_step(
                    model,
                    optimizer,
                    task,
                    inputs[share],
                    targets[share],
                    clip,
                    loss_scale=weight * context.world_size,
                )
                train_losses[step] = context.all_reduce_sum(loss * weight)
            else:
                train_losses[step], grad_norms[step] = train_step(
                    model, optimizer, task, inputs, targets, clip
                )
            step += 1
            bar.update(1)
            session_time = time.perf_counter() - session_start
            out_of_time = max_time is not None and session_time >= max_time
            if context is not None:
                out_of_time = context.any(out_of_time)
            if step % eval_every == 0 or step == steps or out_of_time:
                latest = float(train_losses[step - 1])
                loss, metric = record_evaluation(step)
                bar.set_postfix(train=f"{latest:.4g}", test=f"{loss:.4g}", metric=f"{metric:.4g}")
                if not math.isfinite(latest):
                    stopped = "non-finite loss"  # the last checkpoint stays the finite one
                    break
                save_checkpoint(step)
            if out_of_time:
                stopped = "max_time"
                break
    wall_time = time.perf_counter() - start
    history = xr.Dataset(
        {
            "train_loss": ("step", train_losses[:step].cpu().double().numpy()),
            "grad_norm": ("step", grad_norms[:step].cpu().numpy()),
            "test_loss": ("evaluation", np.array(evaluations["loss"])),
            "test_metric": ("evaluation", np.array(evaluations["metric"])),
            "wall_time": ("evaluation", np.array(evaluations["wall"])),
            "omega_dt": ("evaluation", np.array(evaluations["omega_dt"], dtype=np.float64)),
        },
        coords={
            "step": np.arange(1, step + 1),
            "evaluation_step": ("evaluation", np.array(evaluations["step"], dtype=np.int64)),
        },
        attrs={
            "metric": task.metric_name,
            "test_size": len(test_targets),
            "baseline_loss": task.baseline().loss,
            "baseline_metric": task.baseline().metric,
            "baseline": task.baseline().description,
        },
    )
    history["wall_time"].attrs["units"] = "s"
    history["grad_norm"].attrs["description"] = (
        "global 2-norm of each update's gradient before clipping (NaN: not recorded)"
    )
    history["omega_dt"].attrs["description"] = (
        "largest linear frequency times step, omega_i * h_i, over the oscillator's units; an "
        "explicit scheme is linearly stable below its stability_limit (NaN: no oscillator)"
    )
    return TrainResult(plain_model, history, step, wall_time, stopped, task.baseline())
