"""Training checkpoints: a long run stopped (time limit, Ctrl-C, a killed job) goes on later.

A :class:`TrainingCheckpoint` holds everything :func:`oscdyn.tasks.train.train` needs to
continue as if it had never stopped: the model's and Adam's state, the updates done, the
training losses and evaluations so far and the seconds already spent. The batches are a
function of ``(seed, step)`` alone (``BatchSource``) and the test set is fixed, so on the
same device a resumed run gives the same numbers, bit for bit, as an uninterrupted one.

``run`` identifies the run (task, model settings, batch, lr, seed, clip, test set): a
checkpoint is only resumed by the same run, and :meth:`TrainingCheckpoint.check_run` names
every setting that differs. The step budget, evaluation interval, time limit, device and
backend may change between sessions. Files are written atomically (``oscdyn.io``).
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..io import write_atomic

__all__ = ["CHECKPOINT_NAME", "TrainingCheckpoint"]

#: the checkpoint's file name in ``oscdyn train-task``'s output folder
CHECKPOINT_NAME = "checkpoint.pt"
_FORMAT = 1
_EVALUATION_KEYS = ("step", "loss", "metric", "wall", "omega_dt")
_ADDED_KEYS = ("omega_dt",)  # absent from older checkpoints: NaN there


@dataclass
class TrainingCheckpoint:
    """The state of a training run after ``step`` updates.

    Attributes:
        step: updates done.
        model: the model's ``state_dict`` (unwrapped from ``DistributedDataParallel``).
        optimizer: Adam's ``state_dict``.
        train_losses: ``(step,)`` float64, the loss of each update's batch.
        grad_norms: ``(step,)`` float64, each update's gradient norm before clipping
            (NaN in checkpoints written before it was recorded).
        evaluations: lists ``step``, ``loss``, ``metric``, ``wall`` (seconds since the run's
            first start, earlier sessions included), ``omega_dt`` (the model's largest
            ``omega * h``, NaN without one or in older checkpoints), one per evaluation.
        elapsed: training seconds spent before this checkpoint, all sessions together.
        run: the settings that identify the run (plain Python values).
        source: the file it was loaded from (``None`` if not loaded), named in errors.
    """

    step: int
    model: dict[str, Tensor]
    optimizer: dict[str, Any]
    train_losses: Tensor
    grad_norms: Tensor
    evaluations: dict[str, list[float]]
    elapsed: float
    run: dict[str, Any]
    source: Path | None = None

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the checkpoint to ``path`` atomically (an older file survives a failure)."""
        buffer = io.BytesIO()
        torch.save(
            {
                "format": _FORMAT,
                "step": self.step,
                "model": self.model,
                "optimizer": self.optimizer,
                "train_losses": self.train_losses,
                "grad_norms": self.grad_norms,
                "evaluations": self.evaluations,
                "elapsed": self.elapsed,
                "run": self.run,
            },
            buffer,
        )
        return write_atomic(path, lambda temporary: Path(temporary).write_bytes(buffer.getvalue()))

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], device: str | torch.device = "cpu"
    ) -> TrainingCheckpoint:
        """Read a checkpoint written by :meth:`save`, its tensors on ``device``.

        Raises ``FileNotFoundError`` when ``path`` is absent and ``ValueError`` when it is
        not such a checkpoint.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no checkpoint to resume at {path}")
        try:
            data = torch.load(path, map_location=device, weights_only=True)
        except Exception as error:  # torch raises several types for a damaged file
            raise ValueError(f"{path} is not a readable oscdyn checkpoint: {error}") from error
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise ValueError(
                f"{path} is not an oscdyn training checkpoint of format {_FORMAT} "
                f"(found format {data.get('format') if isinstance(data, dict) else None!r})"
            )
        evaluations = dict(data["evaluations"])
        for key in _ADDED_KEYS:
            evaluations.setdefault(key, [float("nan")] * len(evaluations.get("step", ())))
        if sorted(evaluations) != sorted(_EVALUATION_KEYS):
            raise ValueError(f"{path}: evaluations must have keys {_EVALUATION_KEYS}")
        return cls(
            step=int(data["step"]),
            model=data["model"],
            optimizer=data["optimizer"],
            train_losses=data["train_losses"],
            grad_norms=data.get(
                "grad_norms", torch.full((int(data["step"]),), torch.nan, dtype=torch.float64)
            ),
            evaluations={key: list(evaluations[key]) for key in _EVALUATION_KEYS},
            elapsed=float(data["elapsed"]),
            run=dict(data["run"]),
            source=path,
        )

    def check_run(self, run: dict[str, Any]) -> None:
        """Raise ``ValueError`` naming each setting where ``run`` differs from the
        checkpoint's (a setting absent on one side counts as ``None`` there, so a setting
        added later with the default ``None`` keeps older checkpoints resumable)."""
        differences = [
            f"{key}: {self.run.get(key)!r} in the checkpoint, {run.get(key)!r} now"
            for key in sorted(set(self.run) | set(run))
            if self.run.get(key) != run.get(key)
        ]
        if differences:
            where = f" {self.source}" if self.source is not None else ""
            raise ValueError(
                f"the checkpoint{where} belongs to another run; "
                + "; ".join(differences)
                + ". Resume with the same settings, or write to another output folder"
            )
