"""The sweep's TOML configuration: the study, the grid, its options and its outputs.

::

    study = "stability"                 # stability | fit | train-task
    out = "sweep-stability"             # output folder (relative to the working directory)

    [grid]                              # the grid's dimensions, in this order
    system = ["duffing", "cornn"]
    integrator = ["imex", "symplectic_euler", "leapfrog", "exponential"]   # or "all"
    dt = [0.05, 0.1, 0.2, 0.5, 1.0]     # or "start:stop:count"
    seed = [0]

    [options]                           # the same for every cell (the study's defaults)
    steps = 500

    [heatmap]                           # what heatmap.png shows (the defaults here)
    metric = "gradient_growth_rate"     # default: the study's headline metric
    x = "dt"                            # default: dt, else integrator, else the last dim
    y = "integrator"                    # default: integrator, else system, else another

Other dimensions than ``x`` and ``y`` make one heat-map panel per value (``seed``: the
mean over seeds instead).

Grid dimensions: ``system``, ``integrator``, ``dt``, ``seed``, ``data`` and, for
``train-task``, ``lr``; each a list of distinct values or one value. Which ones a study
needs, accepts and what its options are: :data:`oscdyn.sweep.studies.STUDIES`. Relative
``data`` file paths are read from the config file's folder. The ``train-task`` study also
takes a ``[grid.option]`` table whose keys are constructor arguments of the model, each a
dimension of its own (numbers, booleans or strings)::

    [grid.option]
    gamma = [66.0, 10.0]
    epsilon = [15.0, 5.0]
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from .base import RUN_VARIABLES, Cell
from .studies import GENERATED_DATA, Study, study

__all__ = ["ConfigError", "HeatmapSpec", "SweepConfig", "load_config", "parse_config"]

_TOP_LEVEL = ("study", "out", "grid", "options", "heatmap")


class ConfigError(ValueError):
    """An invalid sweep configuration (the message names the key and what was expected)."""


@dataclass(frozen=True)
class HeatmapSpec:
    """The heat map: ``metric`` over ``y`` (rows) x ``x`` (columns), both grid dimensions."""

    metric: str
    x: str
    y: str


@dataclass(frozen=True)
class SweepConfig:
    """A parsed, checked sweep configuration.

    Attributes:
        study: the study run at each cell.
        grid: the values of each dimension, in the config's order.
        options: the study's options (its defaults, overridden by ``[options]``).
        out: the output folder.
        heatmap: what the heat map shows.
        base_dir: where relative ``data`` paths are read from.
        source: the config file, if it came from one.
    """

    study: str
    grid: dict[str, tuple[Any, ...]]
    options: dict[str, Any]
    out: Path
    heatmap: HeatmapSpec
    base_dir: Path = field(default_factory=Path.cwd)
    source: Path | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        """The number of values along each dimension."""
        return tuple(len(values) for values in self.grid.values())

    @property
    def size(self) -> int:
        """The number of cells."""
        return math.prod(self.shape)

    def cells(self) -> list[Cell]:
        """Every cell, in C order over the grid (dimensions absent from the grid take the
        study's default values)."""
        defaults = {k: v for k, v in study(self.study).defaults.items() if k not in self.grid}
        names = list(self.grid)
        cells = []
        for index in itertools.product(*(range(n) for n in self.shape)):
            values = {name: self.grid[name][i] for name, i in zip(names, index, strict=True)}
            cells.append(
                Cell(
                    study=self.study,
                    parameters={**values, **defaults},
                    index=tuple(index),
                    options=dict(self.options),
                    base_dir=str(self.base_dir),
                )
            )
        return cells

    def to_dict(self) -> dict[str, Any]:
        """The configuration as plain values (stored beside the results)."""
        return {
            "study": self.study,
            "grid": {k: list(v) for k, v in self.grid.items()},
            "options": self.options,
            "out": str(self.out),
            "heatmap": {"metric": self.heatmap.metric, "x": self.heatmap.x, "y": self.heatmap.y},
            "base_dir": str(self.base_dir),
            "source": None if self.source is None else str(self.source),
        }


def load_config(
    path: str | os.PathLike[str], out: str | os.PathLike[str] | None = None
) -> SweepConfig:
    """Read and check the TOML file at ``path``; ``out`` overrides its ``out``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no sweep config at {path}")
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML ({error})") from None
    try:
        return parse_config(table, base_dir=path.resolve().parent, out=out, source=path)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None


def parse_config(
    table: dict[str, Any],
    base_dir: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    source: str | os.PathLike[str] | None = None,
) -> SweepConfig:
    """Check a configuration given as a dict (what ``tomllib`` reads; see the module
    docstring) and fill in the defaults. Raises :class:`ConfigError`."""
    unknown = sorted(set(table) - set(_TOP_LEVEL))
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown}; known: {list(_TOP_LEVEL)}")
    name = table.get("study")
    if not isinstance(name, str):
        raise ConfigError(f"'study' must be one of stability, fit, train-task; got {name!r}")
    try:
        entry = study(name)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    base = Path.cwd() if base_dir is None else Path(base_dir)
    grid = _grid(table.get("grid"), entry, base)
    options = _options(table.get("options", {}), entry)
    both = [key for key in options if key in grid and key not in entry.options]
    if both:
        raise ConfigError(f"{both} given both in [grid] and in [options]: keep one")
    folder = out if out is not None else table.get("out", f"sweep-{entry.name}")
    if not isinstance(folder, (str, os.PathLike)) or not str(folder):
        raise ConfigError(f"'out' must be a folder name, got {folder!r}")
    return SweepConfig(
        study=entry.name,
        grid=grid,
        options=options,
        out=Path(folder),
        heatmap=_heatmap(table.get("heatmap", {}), grid, entry),
        base_dir=base,
        source=None if source is None else Path(source),
    )


def _table(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"[{name}] must be a table, got {type(value).__name__}")
    return value


def _grid(table: Any, entry: Study, base_dir: Path) -> dict[str, tuple[Any, ...]]:
    if table is None:
        raise ConfigError(f"no [grid] table; the {entry.name} study needs {list(entry.required)}")
    table = dict(_table(table, "grid"))
    model_options = table.pop("option", None)
    unknown = [k for k in table if k not in entry.dimensions]
    if unknown:
        raise ConfigError(
            f"grid dimension(s) {unknown} not understood by the {entry.name} study; it takes "
            f"{list(entry.dimensions)}"
        )
    missing = [k for k in entry.required if k not in table]
    if missing:
        raise ConfigError(f"the {entry.name} study needs grid dimension(s) {missing}")
    grid = {
        name: _distinct(f"grid.{name}", _values(name, raw, entry, base_dir))
        for name, raw in table.items()
    }
    if model_options is not None:
        for name, values in _model_option_values(model_options, entry).items():
            grid[name] = _distinct(f"grid.option.{name}", values)
    return grid


def _distinct(label: str, values: list[Any]) -> tuple[Any, ...]:
    """A dimension's values, checked to be there and distinct."""
    if not values:
        raise ConfigError(f"{label} is empty")
    repeated = sorted({str(v) for v in values if values.count(v) > 1})
    if repeated:
        raise ConfigError(f"{label} repeats {repeated}: values must be distinct")
    return tuple(values)


def _model_option_values(table: Any, entry: Study) -> dict[str, list[Any]]:
    """``[grid.option]``: the values of each constructor argument of the model."""
    if not entry.model_options:
        raise ConfigError(f"[grid.option] does not apply to the {entry.name} study")
    reserved = {*entry.dimensions, *entry.metrics, "status", "error", *RUN_VARIABLES}
    options = {}
    for name, raw in _table(table, "grid.option").items():
        if name in reserved or not name.isidentifier():
            raise ConfigError(
                f"grid.option.{name}: not usable as a dimension name (reserved: "
                f"{sorted(reserved)}; names must be identifiers)"
            )
        values = raw if isinstance(raw, list) else [raw]
        if any(not isinstance(v, (bool, int, float, str)) for v in values):
            raise ConfigError(
                f"grid.option.{name} must be numbers, booleans or strings, got {raw!r}"
            )
        options[name] = values
    return options


def _values(name: str, raw: Any, entry: Study, base_dir: Path) -> list[Any]:
    """One grid dimension's values, checked (``"all"`` integrators and ``dt`` ranges
    expanded)."""
    if name == "dt" and isinstance(raw, str):
        from ..analysis.command import parse_dt_range

        try:
            return parse_dt_range(raw)
        except argparse.ArgumentTypeError as error:
            raise ConfigError(f"grid.dt: {error}") from None
    values = raw if isinstance(raw, list) else [raw]
    if name == "dt":
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in values):
            raise ConfigError(
                f"grid.dt must be positive numbers or 'start:stop:count', got {raw!r}"
            )
        values = [float(v) for v in values]
        if any(not math.isfinite(v) or v <= 0 for v in values):
            raise ConfigError(f"grid.dt must be positive and finite, got {raw!r}")
        return values
    if name == "seed":
        if any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in values):
            raise ConfigError(f"grid.seed must be non-negative integers, got {raw!r}")
        return values
    if name == "lr":
        if any(
            isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < math.inf
            for v in values
        ):
            raise ConfigError(f"grid.lr must be positive finite numbers, got {raw!r}")
        return [float(v) for v in values]
    if any(not isinstance(v, str) or not v for v in values):
        raise ConfigError(f"grid.{name} must be non-empty strings, got {raw!r}")
    if name == "integrator":
        return _integrators(values, raw)
    if name == "system":
        _check_systems(values, entry)
    if name == "data" and entry.name == "fit":
        for value in values:
            path = Path(value).expanduser()
            path = path if path.is_absolute() else base_dir / path
            if value not in GENERATED_DATA and not path.is_file():
                raise ConfigError(
                    f"grid.data: {value!r} is neither a generated record "
                    f"({', '.join(GENERATED_DATA)}) nor a file (looked for {path})"
                )
    return values


def _integrators(values: list[str], raw: Any) -> list[str]:
    from ..analysis.spectral import resolve_integrators

    names = resolve_integrators("all") if values == ["all"] else values
    try:
        return resolve_integrators(names)
    except ValueError as error:
        raise ConfigError(f"grid.integrator {raw!r}: {error}") from None


def _check_systems(values: list[str], entry: Study) -> None:
    if entry.name == "stability":
        from ..analysis.catalog import STUDY_SYSTEMS as known
    elif entry.name == "fit":
        from ..sysid.models import MODELS as known
    else:
        return
    unknown = [v for v in values if v not in known]
    if unknown:
        raise ConfigError(
            f"grid.system {unknown} unknown to the {entry.name} study; known: {', '.join(known)}"
        )


def _options(table: Any, entry: Study) -> dict[str, Any]:
    table = _table(table, "options")
    known = [*entry.options, *entry.extra_options]
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise ConfigError(
            f"option(s) {unknown} not understood by the {entry.name} study; it takes "
            f"{sorted(known)}"
        )
    options = dict(entry.options)
    for key, value in table.items():
        if key not in entry.options:  # checked by the study's own code
            options[key] = value
            continue
        default = entry.options[key]
        if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        valid = type(value) is type(default)
        if valid and isinstance(default, list):
            valid = len(value) == len(default) and all(
                type(v) is type(d) for v, d in zip(value, default, strict=True)
            )
        if not valid:
            raise ConfigError(
                f"options.{key} must be like {default!r} ({type(default).__name__}), got {value!r}"
            )
        options[key] = value
    return options


def _first_of(preferred: tuple[str, ...], names: list[str], fallback: str) -> str:
    return next((name for name in preferred if name in names), fallback)


def _heatmap(table: Any, grid: dict[str, tuple[Any, ...]], entry: Study) -> HeatmapSpec:
    table = _table(table, "heatmap")
    unknown = sorted(set(table) - {"metric", "x", "y"})
    if unknown:
        raise ConfigError(f"[heatmap] key(s) {unknown} unknown; known: ['metric', 'x', 'y']")
    names = list(grid)
    # by default seeds are averaged, not an axis (every study has three other dimensions),
    # and the axes are dimensions with several values where there are such
    axes = [n for n in names if n != "seed"]
    varying = [n for n in axes if len(grid[n]) > 1]
    pool = varying or axes
    x = table.get("x", _first_of(("dt", "integrator"), pool, pool[-1]))
    rest = [n for n in varying if n != x] or [n for n in axes if n != x]
    y = table.get("y", _first_of(("integrator", "system"), rest, rest[0]))
    for key, value in (("x", x), ("y", y)):
        if value not in grid:
            raise ConfigError(f"heatmap.{key} must be a grid dimension {names}, got {value!r}")
    if x == y:
        raise ConfigError(f"heatmap.x and heatmap.y must differ, both are {x!r}")
    metric = table.get("metric", entry.heatmap)
    if metric not in entry.metrics:
        raise ConfigError(
            f"heatmap.metric {metric!r} is not a metric of the {entry.name} study; its "
            f"metrics: {', '.join(entry.metrics)}"
        )
    return HeatmapSpec(metric=metric, x=x, y=y)
