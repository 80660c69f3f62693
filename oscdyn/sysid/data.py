"""``IOData``: measured (or generated) input/output records ``u``, ``y`` at a fixed step ``dt``.

An ``IOData`` wraps an ``xarray.Dataset`` with dims ``time``, ``input`` and ``output``:
``u`` ``(time, input)``, ``y`` ``(time, output)`` (absent for an input-only record, e.g. a
record to simulate), ``time`` in seconds from ``t0`` and attrs ``dt``, ``name`` and
``init_window`` (the number of leading samples whose measured outputs a simulation may use
to estimate its initial state; benchmarks fix it, e.g. 50 for Silverbox). Further
variables along ``time`` (noise-free outputs, drifting parameters of a generator) ride
along and are sliced with the record.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ..io import write_netcdf

__all__ = ["IOData", "DataError", "dt_from_time"]


class DataError(ValueError):
    """Input/output data that cannot be used: missing variables, bad shapes, NaN, bad dt."""


def _as_2d(values: Any, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.dtype.kind not in "fiub":
        raise DataError(f"{name} must be numeric, got dtype {array.dtype}")
    array = array.astype(np.float64)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise DataError(f"{name} must be 1-D (time,) or 2-D (time, channels), got {array.shape}")
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise DataError(f"{name} is empty (shape {array.shape})")
    bad = ~np.isfinite(array)
    if bad.any():
        where = np.argwhere(bad)[0]
        raise DataError(
            f"{name} contains {int(bad.sum())} NaN or infinite value(s), first at sample "
            f"{where[0]} (channel {where[1]})"
        )
    return array


def _names(names: Sequence[str] | None, count: int, prefix: str) -> list[str]:
    if names is None:
        return [prefix] if count == 1 else [f"{prefix}{k}" for k in range(count)]
    names = [str(n) for n in names]
    if len(names) != count or len(set(names)) != count:
        raise DataError(f"need {count} distinct {prefix} names, got {names}")
    return names


def _check_dt(dt: Any) -> float:
    try:
        value = float(np.asarray(dt).reshape(()))
    except (TypeError, ValueError) as error:
        raise DataError(f"dt must be one positive number, got {dt!r}") from error
    if not np.isfinite(value) or value <= 0:
        raise DataError(f"dt must be positive and finite, got {value}")
    return value


class IOData:
    """Input/output record ``u`` ``(time, input)``, ``y`` ``(time, output)`` at step ``dt`` (s).

    Args:
        u: inputs, ``(time,)`` or ``(time, inputs)``.
        y: outputs, ``(time,)`` or ``(time, outputs)``, or ``None`` (input-only record).
        dt: sampling period (s), positive.
        input_names, output_names: channel names (default ``u``/``y``, or ``u0, u1, ...``).
        name: a label for messages and files.
        init_window: leading samples usable for state initialisation (0: none given).
        t0: time of the first sample (s).
        extra: further variables ``{name: (dims, values)}`` with ``time`` as first dim.

    Raises :class:`DataError` for NaN or infinite values, unequal lengths or a bad ``dt``.
    Slicing ``data[a:b]`` returns a record of the samples ``a:b`` (same ``dt``).
    """

    def __init__(
        self,
        u: Any,
        y: Any | None,
        dt: float,
        input_names: Sequence[str] | None = None,
        output_names: Sequence[str] | None = None,
        name: str = "",
        init_window: int = 0,
        t0: float = 0.0,
        extra: dict[str, tuple[tuple[str, ...], Any]] | None = None,
    ) -> None:
        u = _as_2d(u, "u")
        dt = _check_dt(dt)
        data: dict[str, Any] = {"u": (("time", "input"), u)}
        coords: dict[str, Any] = {
            "time": float(t0) + dt * np.arange(u.shape[0]),
            "input": _names(input_names, u.shape[1], "u"),
        }
        if y is not None:
            y = _as_2d(y, "y")
            if y.shape[0] != u.shape[0]:
                raise DataError(
                    f"u and y must have the same number of samples, got {u.shape[0]} and "
                    f"{y.shape[0]}"
                )
            data["y"] = (("time", "output"), y)
            coords["output"] = _names(output_names, y.shape[1], "y")
        for key, (dims, values) in (extra or {}).items():
            if not dims or dims[0] != "time" or np.shape(values)[0] != u.shape[0]:
                raise DataError(f"extra variable {key!r} must run along time ({u.shape[0]})")
            data[key] = (dims, np.asarray(values))
        init_window = int(init_window)
        if init_window < 0:
            raise DataError(f"init_window must be non-negative, got {init_window}")
        attrs = {"dt": dt, "name": str(name), "init_window": init_window}
        self._dataset = xr.Dataset(data, coords=coords, attrs=attrs)

    # -- construction -----------------------------------------------------------------------

    @classmethod
    def from_dataset(cls, dataset: xr.Dataset, name: str | None = None) -> IOData:
        """A record from a Dataset with ``u`` (and optionally ``y``) along ``time``.

        ``dt`` comes from the ``dt`` attribute or, failing that, from a uniform ``time``
        coordinate. 1-D ``u``/``y`` are taken as one channel.
        """
        if "u" not in dataset:
            raise DataError(f"no input variable 'u' (found: {sorted(map(str, dataset))})")
        u = dataset["u"]
        if u.dims[0] != "time" and "time" in u.dims:
            u = u.transpose("time", ...)
        dt = dataset.attrs.get("dt")
        if dt is None:
            dt = dt_from_time(np.asarray(dataset["time"].values if "time" in dataset else []))
        y = dataset.get("y")
        if y is not None and y.dims[0] != "time" and "time" in y.dims:
            y = y.transpose("time", ...)
        time = dataset["time"].values if "time" in dataset.coords else None
        t0 = float(time[0]) if time is not None and len(time) and time.dtype.kind == "f" else 0.0
        skip = {"u", "y"}
        extra = {
            str(k): (tuple(map(str, v.dims)), v.values)
            for k, v in dataset.data_vars.items()
            if k not in skip and v.dims and v.dims[0] == "time"
        }
        return cls(
            u.values,
            None if y is None else y.values,
            dt,
            input_names=_channel_names(u),
            output_names=None if y is None else _channel_names(y),
            name=dataset.attrs.get("name", "") if name is None else name,
            init_window=int(dataset.attrs.get("init_window", 0)),
            t0=t0,
            extra=extra,
        )

    # -- views ------------------------------------------------------------------------------

    @property
    def dataset(self) -> xr.Dataset:
        """The underlying ``xarray.Dataset`` (a shallow copy; edit it via the constructor)."""
        return self._dataset.copy()

    @property
    def u(self) -> np.ndarray:
        """Inputs ``(time, inputs)``, float64."""
        return self._dataset["u"].values

    @property
    def y(self) -> np.ndarray:
        """Outputs ``(time, outputs)``, float64; raises for an input-only record."""
        if "y" not in self._dataset:
            raise DataError(f"record {self.name!r} has no output 'y'")
        return self._dataset["y"].values

    @property
    def has_output(self) -> bool:
        return "y" in self._dataset

    @property
    def dt(self) -> float:
        return float(self._dataset.attrs["dt"])

    @property
    def name(self) -> str:
        return str(self._dataset.attrs["name"])

    @property
    def init_window(self) -> int:
        return int(self._dataset.attrs["init_window"])

    @property
    def time(self) -> np.ndarray:
        return self._dataset["time"].values

    @property
    def input_names(self) -> list[str]:
        return [str(n) for n in self._dataset["input"].values]

    @property
    def output_names(self) -> list[str]:
        return [str(n) for n in self._dataset["output"].values] if self.has_output else []

    @property
    def n_inputs(self) -> int:
        return int(self._dataset.sizes["input"])

    @property
    def n_outputs(self) -> int:
        return int(self._dataset.sizes["output"]) if self.has_output else 0

    def __len__(self) -> int:
        return int(self._dataset.sizes["time"])

    def __getitem__(self, index: slice) -> IOData:
        if not isinstance(index, slice):
            raise TypeError(f"IOData takes a slice of samples (data[a:b]), got {index!r}")
        start, stop, step = index.indices(len(self))
        if step != 1:
            raise DataError("a record keeps its dt: slice with step 1 only")
        if stop <= start:
            raise DataError(f"slice {index} of {len(self)} samples is empty")
        return self._replace(self._dataset.isel(time=slice(start, stop)))

    def _replace(self, dataset: xr.Dataset, **attrs: Any) -> IOData:
        new = object.__new__(IOData)
        dataset = dataset.copy()
        dataset.attrs.update(attrs)
        new._dataset = dataset
        return new

    def with_name(self, name: str) -> IOData:
        return self._replace(self._dataset, name=name)

    def with_init_window(self, init_window: int) -> IOData:
        if init_window < 0 or init_window >= len(self):
            raise DataError(f"init_window must be in [0, {len(self)}), got {init_window}")
        return self._replace(self._dataset, init_window=int(init_window))

    # -- splitting --------------------------------------------------------------------------

    def split(self, fraction: float) -> tuple[IOData, IOData]:
        """The first ``int(fraction * len)`` samples and the rest (as the benchmarks split)."""
        if not 0 < fraction < 1:
            raise DataError(f"fraction must be in (0, 1), got {fraction}")
        return self.split_at(int(len(self) * fraction))

    def split_at(self, index: int) -> tuple[IOData, IOData]:
        """Samples ``[:index]`` and ``[index:]``; both must be non-empty."""
        if not 0 < index < len(self):
            raise DataError(f"split index must be in (0, {len(self)}), got {index}")
        return self[:index], self[index:]

    def head(self, count: int) -> IOData:
        return self[: int(count)]

    def tail(self, count: int) -> IOData:
        return self[len(self) - int(count) :]

    # -- output -----------------------------------------------------------------------------

    def to_netcdf(self, path: str | os.PathLike[str]) -> Path:
        """Write the record as NetCDF-4, atomically (readable by :func:`~oscdyn.sysid.load`)."""
        return write_netcdf(self._dataset, path)

    def __repr__(self) -> str:
        outputs = f", outputs={self.output_names}" if self.has_output else ", no output"
        return (
            f"IOData({self.name!r}, samples={len(self)}, dt={self.dt:.6g}, "
            f"inputs={self.input_names}{outputs}, init_window={self.init_window})"
        )


def _channel_names(array: xr.DataArray) -> list[str] | None:
    if array.ndim < 2:
        return None
    dim = array.dims[1]
    if dim in array.coords:
        return [str(v) for v in array.coords[dim].values]
    return None


def dt_from_time(time: np.ndarray) -> float:
    """The step of a uniform time axis, or a :class:`DataError` saying why there is none."""
    if time.ndim != 1 or time.size < 2:
        raise DataError("no dt: give a 'dt' attribute or a time axis of at least 2 samples")
    steps = np.diff(time.astype(np.float64))
    dt = float(np.median(steps))
    if not np.isfinite(dt) or dt <= 0:
        raise DataError(f"time must increase: median step {dt}")
    if np.max(np.abs(steps - dt)) > 1e-6 * dt + 1e-12:
        raise DataError("time is not uniformly sampled (steps differ by more than 1e-6 dt)")
    return dt
