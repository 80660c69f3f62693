"""One training experiment end to end: task by name, model by name, train, write results.

:func:`run_experiment` is what ``oscdyn train-task`` and ``examples/adding_problem.py``
call; the pieces it joins (``build_task``, ``models.build_model``, ``train.train``,
``results.write_results``) are public for other loops (e.g. a distributed one).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..distributed import DistributedContext
from .adding import AddingProblem
from .base import SequenceTask
from .checkpoint import CHECKPOINT_NAME, TrainingCheckpoint
from .copy import CopyTask
from .mnist import SequentialMNIST
from .models import Settings, build_model, parameter_count
from .noise_padded import NoisePadded
from .results import summary, write_results
from .train import TEST_SEED, TrainResult, check_lr_drops, train

__all__ = ["TASK_NAMES", "build_task", "Experiment", "run_experiment", "resolve_device"]

#: tasks by ``oscdyn train-task`` name; ``--length`` is the adding length / copy delay
TASK_NAMES = ("adding", "copy", "smnist", "psmnist")
_DEFAULT_LENGTH = {"adding": 1000, "copy": 1000}


def build_task(
    name: str,
    length: int | None = None,
    data: str | os.PathLike[str] | None = None,
    noise_pad: int | None = None,
    fresh_noise: bool = False,
    permutation_seed: int = 0,
) -> SequenceTask:
    """The task ``name`` (``TASK_NAMES``).

    Args:
        length: adding: sequence length; copy: the delay (default 1000 for both); not
            accepted by the MNIST tasks (784 steps).
        data: MNIST folder or ``.npz`` (``smnist``, ``psmnist`` only, required there).
        noise_pad: pad the inputs with ``N(0, 1)`` noise to this many steps (coRNN's noise
            padding; one fixed pattern unless ``fresh_noise``).
        permutation_seed: the pixel permutation of ``psmnist``.
    """
    if name not in TASK_NAMES:
        raise ValueError(f"unknown task '{name}'; known: {', '.join(TASK_NAMES)}")
    mnist = name in ("smnist", "psmnist")
    if mnist:
        if length is not None:
            raise ValueError(f"--length does not apply to {name} (784 pixel steps)")
        if data is None:
            raise ValueError(f"{name} needs --data: an MNIST folder (IDX files) or .npz file")
        task: SequenceTask = SequentialMNIST(
            data, permuted=name == "psmnist", permutation_seed=permutation_seed
        )
    else:
        if data is not None:
            raise ValueError(f"--data applies to smnist and psmnist, not to {name}")
        length = _DEFAULT_LENGTH[name] if length is None else length
        task = AddingProblem(length) if name == "adding" else CopyTask(delay=length)
    if noise_pad is not None:
        task = NoisePadded(task, noise_pad, fixed_noise=not fresh_noise)
    elif fresh_noise:
        raise ValueError("--fresh-noise needs --noise-pad")
    return task


def resolve_device(device: str) -> torch.device:
    """``"auto"`` -> CUDA when available, else the CPU; any other name as given."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        target = torch.device(device)
    except RuntimeError as error:
        raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got '{device}'") from error
    if target.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device '{device}': CUDA is not available here (use cpu or auto)")
    return target


@dataclass
class Experiment:
    """A finished run: the training result, the files written and the summary text."""

    result: TrainResult
    paths: dict[str, Path]
    summary: str
    command: str


def _command(
    task_name: str,
    settings: Settings,
    arguments: dict[str, Any],
) -> str:
    parts = ["oscdyn", "train-task", task_name, "--model", settings.model]
    for flag, value in arguments.items():
        if value is None or value is False:
            continue
        if isinstance(value, (list, tuple)):  # a repeatable flag
            for item in value:
                parts += [f"--{flag}", str(item)]
            continue
        parts.append(f"--{flag}")
        if value is not True:
            parts.append(str(value))
    for key, value in sorted(settings.options.items()):
        parts += ["--option", f"{key}={value}"]
    return shlex.join(parts)


def _initialise(model: torch.nn.Module, settings: Settings, path: str | os.PathLike[str]) -> str:
    """Load the trained parameters of the checkpoint at ``path`` into ``model`` (its fixed
    settings, e.g. a fixed ``dt``, ``gamma``, ``epsilon``, stay this run's); returns
    ``"PATH (step K, TASK)"`` for the record. ``ValueError`` if they do not fit."""
    source = TrainingCheckpoint.load(path)
    for key, value in (("model", settings.model), ("hidden", settings.hidden)):
        if source.run.get(key) != value:
            raise ValueError(
                f"--init-from {path}: its {key} is {source.run.get(key)!r}, this run's {value!r}"
            )
    trained = [name for name, p in model.named_parameters() if p.requires_grad]
    missing = [name for name in trained if name not in source.model]
    if missing:
        raise ValueError(f"--init-from {path}: it has no values for {missing}")
    try:
        model.load_state_dict({name: source.model[name] for name in trained}, strict=False)
    except RuntimeError as error:
        raise ValueError(
            f"--init-from {path}: its parameters do not fit this model: {error}"
        ) from error
    return f"{os.fspath(path)} (step {source.step}, {source.run.get('task', '?')})"


def run_experiment(
    task_name: str,
    settings: Settings,
    steps: int = 1000,
    length: int | None = None,
    data: str | os.PathLike[str] | None = None,
    noise_pad: int | None = None,
    fresh_noise: bool = False,
    permutation_seed: int = 0,
    seed: int = 0,
    eval_every: int = 100,
    test_size: int = 1000,
    clip: float | None = None,
    max_time: float | None = None,
    device: str = "auto",
    out: str | os.PathLike[str] = "oscdyn-train-task",
    progress: bool = True,
    context: DistributedContext | None = None,
    resume: bool = False,
    init_from: str | os.PathLike[str] | None = None,
    lr_drops: Sequence[int] = (),
) -> Experiment:
    """Build the task and the model (seeded by ``seed``), train, write the results into
    ``out`` (``learning_curve.nc``, ``learning_curve.png``, ``summary.txt``).

    ``settings`` come from :func:`~oscdyn.tasks.models.resolve_settings`; the other
    arguments as :func:`build_task` and :func:`~oscdyn.tasks.train.train`. Under data
    parallelism (``context``) every rank trains on its device and only rank 0 writes files
    (the others return no paths).

    After every evaluation the run's state is written to ``out/checkpoint.pt``
    (:class:`~oscdyn.tasks.checkpoint.TrainingCheckpoint`). ``resume``: go on from that
    file (``steps`` is the total, earlier sessions included; ``max_time`` this session's
    limit) with the same settings, else ``ValueError`` names the ones that differ. Without
    ``resume`` an existing checkpoint is never overwritten: ``ValueError`` says so.

    ``init_from``: start a new run from the trained parameters of another run's checkpoint
    (the same model and hidden size; the task, its length and the training settings may
    differ, and fixed settings such as ``dt`` or coRNN's ``gamma`` stay this run's), e.g. a
    curriculum over sequence lengths. Adam starts afresh. ``StabilityWarning`` if a trained
    unit steps beyond the scheme's limit at this run's ``dt``.

    ``lr_drops``: updates after which Adam's rate is divided by 10 (see
    :func:`~oscdyn.tasks.train.train`).
    """
    lr_drops = check_lr_drops(lr_drops)
    if length is None and task_name in _DEFAULT_LENGTH:
        length = _DEFAULT_LENGTH[task_name]
    task = build_task(task_name, length, data, noise_pad, fresh_noise, permutation_seed)
    target = context.device if context is not None and context.is_distributed else None
    target = resolve_device(device) if target is None else target
    checkpoint_path = Path(out) / CHECKPOINT_NAME
    if resume and init_from is not None:
        raise ValueError(
            "--init-from starts a new run from another run's parameters and --resume goes "
            "on with this one: give one of them"
        )
    if resume:
        resumed = TrainingCheckpoint.load(checkpoint_path)
    elif checkpoint_path.exists():
        raise ValueError(
            f"{checkpoint_path} holds the checkpoint of an earlier run; pass --resume to go "
            "on from it, or choose another --out (delete the file to start over)"
        )
    else:
        resumed = None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(task, settings, target)
    if init_from is not None:
        init_from = os.fspath(init_from)
        initialised_from = _initialise(model, settings, init_from)
        model.check_stability()  # trained units may be beyond the limit at this run's dt
    elif resumed is not None:  # a resumed run keeps the start it had
        init_from = resumed.run.get("init_from")
        initialised_from = resumed.run.get("initialised_from")
    else:
        initialised_from = None
    if context is None or context.is_main:
        Path(out).mkdir(parents=True, exist_ok=True)
    command = _command(
        task_name,
        settings,
        {
            "length": length,
            "data": data,
            "noise-pad": noise_pad,
            "fresh-noise": fresh_noise,
            "permutation-seed": permutation_seed if task_name == "psmnist" else None,
            "integrator": settings.integrator,
            "dt": settings.dt,
            "backend": settings.backend,
            "hidden": settings.hidden,
            "steps": steps,
            "batch": settings.batch,
            "lr": settings.lr,
            "lr-drop": list(lr_drops),
            "clip": clip,
            "seed": seed,
            "eval-every": eval_every,
            "test-size": test_size,
            "max-time": max_time,
            "device": str(target),
            "out": os.fspath(out),
            "init-from": init_from,
        },
    )
    result = train(
        model,
        task,
        steps,
        settings.batch,
        settings.lr,
        seed=seed,
        eval_every=eval_every,
        test_size=test_size,
        clip=clip,
        max_time=max_time,
        device=target,
        progress=progress,
        test_seed=TEST_SEED,
        context=context,
        checkpoint=checkpoint_path,
        resume=resumed,
        lr_drops=lr_drops,
        run={
            "model": settings.model,
            "hidden": settings.hidden,
            "integrator": settings.integrator,
            "dt": settings.dt,
            "options": dict(sorted(settings.options.items())),
            "init_from": init_from,
            "initialised_from": initialised_from,
        },
    )
    info = {
        "command": command,
        "device": str(target),
        "threads": torch.get_num_threads(),
        "processes": 1 if context is None else context.world_size,
        "parameters": parameter_count(model),
        "backend_used": model.backend_name(),
        "clip": clip,
        "lr_drops": list(lr_drops) or None,
        "seed": seed,
        "eval_every": eval_every,
        "test_size": int(result.history.attrs["test_size"]),  # capped by a file's test split
        "resumed_at_step": None if resumed is None else resumed.step,
        "initialised_from": initialised_from,
    }
    writes = context is None or context.is_main
    paths = write_results(result, task, settings, out, info) if writes else {}
    return Experiment(result, paths, summary(result, task, settings, info), command)
