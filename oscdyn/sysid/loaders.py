"""Loaders of input/output records: NetCDF, CSV, NPZ and the Silverbox ``.mat`` file.

``load(path)`` picks the loader from the suffix. Every loader checks what it reads and
raises :class:`~oscdyn.sysid.DataError` naming the file and the problem: a missing
variable or column, unequal lengths, NaN, a missing or non-positive ``dt``.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .data import DataError, IOData, dt_from_time

__all__ = [
    "load",
    "load_netcdf",
    "load_csv",
    "load_npz",
    "load_silverbox",
    "SilverboxSplits",
    "SILVERBOX_SPLITS",
    "SILVERBOX_SAMPLING_FREQUENCY",
]

#: Silverbox sampling frequency (Hz), Wigren & Schoukens, ECC 2013
SILVERBOX_SAMPLING_FREQUENCY = 610.35
#: names of :func:`load_silverbox`'s splits (``load(path, split=...)``)
SILVERBOX_SPLITS = (
    "train",
    "test_multisine",
    "test_arrow_full",
    "test_arrow_no_extrapolation",
    "all",
)


def _names(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _fail(path: Path, error: Exception) -> DataError:
    return DataError(f"{path}: {error}")


def _checked(path: Path, build: Any) -> IOData:
    try:
        return build()
    except DataError as error:
        raise _fail(path, error) from None


def _existing(path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no data file at {path}")
    return path


def load_npz(
    path: str | os.PathLike[str],
    u: str = "u",
    y: str | None = "y",
    dt: str | float = "dt",
    init_window: int = 0,
) -> IOData:
    """A record from a ``.npz`` with arrays ``u``, ``y`` and ``dt`` (names configurable).

    ``y=None`` reads an input-only record; ``dt`` may be a number instead of an array name.
    """
    path = _existing(path)
    with np.load(path, allow_pickle=False) as archive:
        names = list(archive.files)
        wanted = [u] + ([y] if y else []) + ([dt] if isinstance(dt, str) else [])
        missing = [n for n in wanted if n not in names]
        if missing:
            raise _fail(path, DataError(f"missing array(s) {missing}; found {names}"))
        arrays = {n: archive[n] for n in wanted}
    step = arrays[dt] if isinstance(dt, str) else dt
    return _checked(
        path,
        lambda: IOData(
            arrays[u], arrays[y] if y else None, step, name=path.stem, init_window=init_window
        ),
    )


def load_csv(
    path: str | os.PathLike[str],
    inputs: str | Sequence[str] = "u",
    outputs: str | Sequence[str] | None = "y",
    dt: float | None = None,
    time: str = "time",
    init_window: int = 0,
    delimiter: str = ",",
) -> IOData:
    """A record from a CSV file with a header row of column names.

    ``inputs`` and ``outputs`` name the columns (one or several each; ``outputs=None`` for
    input-only). ``dt`` is given, or taken from a uniformly sampled ``time`` column.
    """
    path = _existing(path)
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise _fail(path, DataError("empty file (no header row)")) from None
        rows = [row for row in reader if row and any(cell.strip() for cell in row)]
    inputs, outputs_list = _names(inputs), ([] if outputs is None else _names(outputs))
    wanted = inputs + outputs_list + ([time] if dt is None else [])
    missing = [c for c in wanted if c not in header]
    if missing:
        hint = " (or pass dt=)" if dt is None and time in missing else ""
        raise _fail(path, DataError(f"missing column(s) {missing}{hint}; header is {header}"))
    columns = {}
    for name in wanted:
        k = header.index(name)
        values = []
        for line, row in enumerate(rows, start=2):
            cell = row[k].strip() if k < len(row) else ""
            try:
                values.append(float(cell) if cell else float("nan"))
            except ValueError:
                raise _fail(path, DataError(f"line {line}, column {name!r}: {cell!r}")) from None
        columns[name] = np.asarray(values)
    if not rows:
        raise _fail(path, DataError("no data rows"))

    def build() -> IOData:
        step = dt if dt is not None else dt_from_time(columns[time])
        t0 = float(columns[time][0]) if dt is None else 0.0
        u = np.stack([columns[c] for c in inputs], 1)
        y = np.stack([columns[c] for c in outputs_list], 1) if outputs_list else None
        return IOData(
            u, y, step, inputs, outputs_list or None, path.stem, init_window=init_window, t0=t0
        )

    return _checked(path, build)


def load_netcdf(path: str | os.PathLike[str], init_window: int | None = None) -> IOData:
    """A record from NetCDF with variables ``u`` (and ``y``) along ``time``.

    ``dt`` comes from the ``dt`` attribute or the ``time`` coordinate. Files written by
    :meth:`IOData.to_netcdf` and by ``oscdyn simulate`` read back.
    """
    path = _existing(path)
    with xr.open_dataset(path, engine="h5netcdf") as dataset:
        dataset = dataset.load()
    if "u" not in dataset:
        raise _fail(path, DataError(f"no variable 'u'; found {sorted(map(str, dataset))}"))
    record = _checked(path, lambda: IOData.from_dataset(dataset, name=path.stem))
    return record if init_window is None else record.with_init_window(init_window)


@dataclass(frozen=True)
class SilverboxSplits:
    """The Silverbox benchmark's official records (as the nonlinear_benchmarks package).

    * ``train``: the first 75 % of the multisine part (samples 40650:127400), 65,062 samples;
    * ``test_multisine``: the remaining 25 % (21,688 samples);
    * ``test_arrow_full``: the arrow (Gaussian noise of growing amplitude), samples
      100:40575;
    * ``test_arrow_no_extrapolation``: its first 32,000 samples (amplitudes seen in training);
    * ``all``: the whole record. Test records carry ``init_window = 50``.
    """

    train: IOData
    test_multisine: IOData
    test_arrow_full: IOData
    test_arrow_no_extrapolation: IOData
    all: IOData

    def get(self, split: str) -> IOData:
        if split not in SILVERBOX_SPLITS:
            raise DataError(f"unknown Silverbox split {split!r}; known: {list(SILVERBOX_SPLITS)}")
        return getattr(self, split)


def load_silverbox(path: str | os.PathLike[str], init_window: int = 50) -> SilverboxSplits:
    """The Silverbox ``SNLS80mV.mat`` (``V1`` input, ``V2`` output, 610.35 Hz) and its splits.

    T. Wigren and J. Schoukens, "Three free data sets for development and benchmarking in
    nonlinear system identification", ECC 2013; data from nonlinearbenchmark.org (users
    download it themselves). Needs ``scipy`` (``scipy.io.loadmat``).
    """
    path = _existing(path)
    try:
        from scipy.io import loadmat
    except ImportError as error:  # pragma: no cover - scipy is a dependency
        raise ImportError("reading .mat files needs scipy (pip install scipy)") from error
    try:
        content = loadmat(path)
    except Exception as error:  # scipy raises several types for a bad file
        raise _fail(path, DataError(f"not a readable .mat file ({error})")) from None
    missing = [n for n in ("V1", "V2") if n not in content]
    if missing:
        found = sorted(k for k in content if not k.startswith("__"))
        raise _fail(path, DataError(f"missing variable(s) {missing}; found {found}"))
    u, y = (np.asarray(content[n], dtype=np.float64).reshape(-1) for n in ("V1", "V2"))
    dt = 1.0 / SILVERBOX_SAMPLING_FREQUENCY
    whole = _checked(path, lambda: IOData(u, y, dt, ["V1"], ["V2"], "silverbox"))
    if len(whole) < 127400:
        raise _fail(path, DataError(f"expected at least 127400 samples, got {len(whole)}"))
    arrow = whole[100:40575].with_name("silverbox test_arrow_full")
    multisine = whole[40650:127400]
    train, test = multisine.split(0.75)
    return SilverboxSplits(
        train=train.with_name("silverbox train"),
        test_multisine=test.with_name("silverbox test_multisine").with_init_window(init_window),
        test_arrow_full=arrow.with_init_window(init_window),
        test_arrow_no_extrapolation=arrow[:32000]
        .with_name("silverbox test_arrow_no_extrapolation")
        .with_init_window(init_window),
        all=whole,
    )


def load(path: str | os.PathLike[str], split: str | None = None, **options: Any) -> IOData:
    """A record from ``.nc``, ``.csv``, ``.npz`` or the Silverbox ``.mat`` (by suffix).

    ``split`` picks a Silverbox split from a ``.mat`` (default ``"train"``); ``options`` go
    to the loader (:func:`load_csv`'s column names, :func:`load_npz`'s array names, ...).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if split is not None and suffix != ".mat":
        raise DataError(f"{path}: split= applies to the Silverbox .mat file only")
    if suffix in (".nc", ".nc4", ".netcdf"):
        return load_netcdf(path, **options)
    if suffix == ".csv":
        return load_csv(path, **options)
    if suffix == ".npz":
        return load_npz(path, **options)
    if suffix == ".mat":
        return load_silverbox(path, **options).get(split or "train")
    raise DataError(f"{path}: unknown data format {suffix!r} (use .nc, .csv, .npz or .mat)")
