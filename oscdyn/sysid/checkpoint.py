"""Model files and training checkpoints, written atomically with ``torch.save``.

A model file holds the model's :meth:`~oscdyn.sysid.SimulationModel.spec` (kind,
constructor arguments, integrator settings) and its ``state_dict``, plus free metadata;
:func:`load_model` rebuilds the model from it. Files are read with
``torch.load(weights_only=True)``: plain values and tensors only, no pickled code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ..io import write_atomic
from .models import SimulationModel, build_model

__all__ = [
    "metadata_of",
    "save_model",
    "load_model",
    "model_from_record",
    "model_record",
    "save_torch",
    "load_torch",
]

#: format tag of model files
MODEL_FORMAT = "oscdyn.sysid.model/1"


def save_torch(obj: Any, path: str | os.PathLike[str]) -> Path:
    """``torch.save(obj, path)``, atomically (temporary file, then rename)."""
    return write_atomic(path, lambda temporary: torch.save(obj, temporary))


def load_torch(path: str | os.PathLike[str]) -> Any:
    """``torch.load`` of plain values and tensors (``weights_only=True``), on the CPU."""
    return torch.load(path, map_location="cpu", weights_only=True)


def model_record(model: SimulationModel, **metadata: Any) -> dict[str, Any]:
    """The model as a dict of plain values and tensors (what a model file holds)."""
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return {"format": MODEL_FORMAT, "spec": model.spec(), "state": state, "metadata": metadata}


def model_from_record(record: dict[str, Any]) -> SimulationModel:
    """Rebuild a model from :func:`model_record`'s dict."""
    if not isinstance(record, dict) or record.get("format") != MODEL_FORMAT:
        found = record.get("format") if isinstance(record, dict) else type(record).__name__
        raise ValueError(f"not an oscdyn model record (format {found!r}, expected {MODEL_FORMAT})")
    spec = record["spec"]
    model = build_model(spec["kind"], **spec["config"])
    state = record["state"]
    dtype = next((v.dtype for v in state.values() if v.is_floating_point()), None)
    if dtype is not None:
        model = model.to(dtype)
    model.load_state_dict(state)
    settings = spec["settings"]
    model.configure(
        settings["integrator"],
        settings["substeps"],
        settings["hold"],
        settings["backend"],
        settings["sample_time"],
    )
    return model


def save_model(model: SimulationModel, path: str | os.PathLike[str], **metadata: Any) -> Path:
    """Write ``model`` (spec, weights, ``metadata``) to ``path``, atomically."""
    return save_torch(model_record(model, **metadata), path)


def load_model(path: str | os.PathLike[str]) -> SimulationModel:
    """The model saved by :func:`save_model` (or by ``oscdyn fit``) at ``path``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}")
    try:
        record = load_torch(path)
    except Exception as error:
        raise ValueError(f"{path}: not a readable model file ({error})") from None
    try:
        return model_from_record(record)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


def metadata_of(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The metadata stored with a model file."""
    return dict(load_torch(path).get("metadata", {}))
