"""Merge the cells' results: one ``xarray.Dataset`` over the grid, a table and a heat map.

The dataset has one dimension per grid dimension (in the config's order, coordinates the
grid's values) and, over all of them: one float variable per metric (NaN where a cell
has no value), one string variable per label, and ``status`` (``ok``, ``nan``, ``error``
or ``missing`` for a cell not run yet), ``error`` (the message), ``elapsed`` (seconds) and
``worker`` (``host:pid``). :func:`write_outputs` writes ``sweep.nc``, ``summary.txt`` and
``heatmap.png``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from .. import __version__
from ..io import write_netcdf, write_text
from ..tables import aligned_table
from .base import RUN_VARIABLES, Cell, CellResult
from .config import HeatmapSpec, SweepConfig
from .studies import study

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["merge_results", "format_summary", "plot_heatmap", "write_outputs", "RUN_VARIABLES"]


def merge_results(
    config: SweepConfig, cells: Sequence[Cell], results: dict[str, CellResult]
) -> xr.Dataset:
    """The results of ``cells`` (by cell key; cells without one are ``missing``) as one
    dataset over ``config``'s grid (see the module docstring)."""
    shape = config.shape
    metric_names: dict[str, None] = dict.fromkeys(study(config.study).metrics)
    label_names: dict[str, None] = {}
    for cell in cells:
        if cell.key in results:
            metric_names.update(dict.fromkeys(results[cell.key].metrics))
            label_names.update(dict.fromkeys(results[cell.key].labels))
    metrics = {name: np.full(shape, np.nan) for name in metric_names}
    labels = {name: np.full(shape, "", dtype=object) for name in label_names}
    status = np.full(shape, "missing", dtype=object)
    errors = np.full(shape, "", dtype=object)
    elapsed = np.full(shape, np.nan)
    workers = np.full(shape, "", dtype=object)
    for cell in cells:
        result = results.get(cell.key)
        if result is None:
            continue
        for name, value in result.metrics.items():
            metrics[name][cell.index] = value
        for name, value in result.labels.items():
            labels[name][cell.index] = value
        status[cell.index] = result.status
        errors[cell.index] = result.error
        elapsed[cell.index] = result.elapsed
        workers[cell.index] = result.worker

    dims = tuple(config.grid)
    variables: dict[str, Any] = {name: (dims, values) for name, values in metrics.items()}
    variables.update({name: (dims, values.astype(str)) for name, values in labels.items()})
    variables["status"] = (dims, status.astype(str))
    variables["error"] = (dims, errors.astype(str))
    variables["elapsed"] = (dims, elapsed)
    variables["worker"] = (dims, workers.astype(str))
    counts = {s: int((status == s).sum()) for s in ("ok", "nan", "error", "missing")}
    dataset = xr.Dataset(
        variables,
        coords={name: list(values) for name, values in config.grid.items()},
        attrs={
            "title": f"oscdyn sweep: {config.study} study",
            "study": config.study,
            "options": json.dumps(config.options, sort_keys=True),
            "metrics": ",".join(metric_names),
            "labels": ",".join(label_names),
            **{f"cells_{k}": v for k, v in counts.items()},
            "config": "" if config.source is None else str(config.source),
            "oscdyn_version": __version__,
        },
    )
    dataset["elapsed"].attrs = {"units": "s", "long_name": "wall time of the cell"}
    dataset["status"].attrs = {"long_name": "ok | nan (a primary metric is NaN) | error | missing"}
    return dataset


def _number(value: float) -> str:
    if math.isnan(value):
        return "-"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.3g}"


def format_summary(results: xr.Dataset, extra: Sequence[str] = ()) -> str:
    """The merged results as a plain-text table: one row per cell (grid values, status,
    the study's table metrics, elapsed seconds), with a header, ``extra`` lines under it,
    and the error messages at the end."""
    entry = study(str(results.attrs["study"]))
    dims = list(results["status"].dims)
    shown = [name for name in entry.table if name in results]
    header = [*dims, "status", *shown, "elapsed[s]"]
    rows, failures = [], []
    stacked = results.stack(cell=dims) if dims else results
    for k in range(stacked.sizes.get("cell", 1)):
        row = stacked.isel(cell=k)
        values = [str(row[d].values) for d in dims]
        status = str(row["status"].values)
        cells = [*values, status]
        for name in shown:
            value = row[name].values
            cells.append(_number(float(value)) if value.dtype.kind == "f" else str(value))
        cells.append(_number(float(row["elapsed"])))
        rows.append(cells)
        if status in ("nan", "error"):
            label = " ".join(f"{d}={v}" for d, v in zip(dims, values, strict=True))
            failures.append(f"  {label}: {status}: {row['error'].values}")
    attrs = results.attrs
    size = " x ".join(f"{d} ({results.sizes[d]})" for d in dims)
    intro = [
        f"oscdyn sweep: {attrs['study']} study over {size} = {results['status'].size} cells",
        f"options: {attrs['options']}",
        f"cells: {attrs['cells_ok']} ok, {attrs['cells_nan']} nan, {attrs['cells_error']} error, "
        f"{attrs['cells_missing']} missing",
        *extra,
        "",
    ]
    notes = ["", "failed cells:", *failures] if failures else []
    return "\n".join(intro + aligned_table(header, rows, left=range(len(dims) + 1)) + notes)


def _tick(value: Any) -> str:
    return f"{value:g}" if isinstance(value, (float, np.floating)) else str(value)


def _annotation(status: str, value: float) -> str:
    if status == "error":
        return "error"
    if status == "missing":
        return "-"
    return "nan" if math.isnan(value) else _number(value)


#: statuses from best to worst: a heat-map cell averaged over seeds shows the worst
_STATUS_ORDER = np.array(["ok", "nan", "missing", "error"])


def _worst_status(status: xr.DataArray, dim: str) -> xr.DataArray:
    rank = np.argmax(status.values[..., None] == _STATUS_ORDER, axis=-1)
    worst = status.copy(data=rank).max(dim)
    return worst.copy(data=_STATUS_ORDER[worst.values])


def _heat_panel(axes: Axes, values: xr.DataArray, status: xr.DataArray, spec: HeatmapSpec) -> Any:
    """One panel: ``values`` (dims ``(y, x)``) as colours, each cell annotated."""
    from matplotlib import colormaps

    grid = np.asarray(values.values, dtype=float)
    finite = np.isfinite(grid)
    low = float(grid[finite].min()) if finite.any() else 0.0
    high = float(grid[finite].max()) if finite.any() else 1.0
    if low < 0 < high:  # a signed quantity: white at zero
        bound = max(-low, high)
        name, low, high = "RdBu_r", -bound, bound
    else:
        name = "viridis"
    cmap = colormaps[name].with_extremes(bad="lightgrey")  # grey: not finite
    image = axes.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=low, vmax=high, aspect="auto")
    rows, columns = grid.shape
    if rows * columns <= 150:
        for i in range(rows):
            for j in range(columns):
                value = float(grid[i, j])
                text = _annotation(str(status.values[i, j]), value)
                red, green, blue, _ = image.cmap(image.norm(value))
                dark = np.isfinite(value) and 0.3 * red + 0.6 * green + 0.1 * blue < 0.5
                color = "white" if dark else "black"
                axes.text(j, i, text, ha="center", va="center", fontsize=7, color=color)
    x_values = values[spec.x].values
    axes.set_xticks(range(columns), [_tick(v) for v in x_values], rotation=45)
    axes.set_xlabel(spec.x)
    axes.set_yticks(range(rows), [_tick(v) for v in values[spec.y].values])
    axes.set_ylabel(spec.y)
    return image


def plot_heatmap(results: xr.Dataset, spec: HeatmapSpec, path: str | os.PathLike[str]) -> Path:
    """``spec.metric`` over ``spec.y`` x ``spec.x``, one panel per value of the other grid
    dimensions (averaged over ``seed`` when it is one of them); written as a PNG. Grey:
    not finite; cells are annotated with their value, ``error`` or ``-`` (missing)."""
    from ..plot import new_figure, save_png

    metric = spec.metric
    axis_dims = [spec.y, spec.x]
    values, status = results[metric], results["status"]
    seeds = ""
    if "seed" not in axis_dims and status.sizes.get("seed", 1) > 1:
        seeds = f", mean over {values.sizes['seed']} seeds"
        values = values.mean("seed", skipna=False)
        status = _worst_status(status, "seed")
    others = [d for d in status.dims if d not in axis_dims]
    combos = list(np.ndindex(*(status.sizes[d] for d in others))) if others else [()]
    columns = min(3, len(combos))
    rows = math.ceil(len(combos) / columns)
    width = 1.2 + 0.8 * results.sizes[spec.x]
    height = 1.4 + 0.45 * results.sizes[spec.y]
    figure, axes = new_figure(columns, rows, width=max(width, 3.5), height=max(height, 2.2))
    panels = np.atleast_1d(axes).ravel()
    for panel, combo in zip(panels, combos, strict=False):
        where = dict(zip(others, combo, strict=True))
        title = ", ".join(f"{d}={_tick(status[d].values[i])}" for d, i in where.items())
        image = _heat_panel(
            panel,
            values.isel(where).transpose(*axis_dims),
            status.isel(where).transpose(*axis_dims),
            spec,
        )
        figure.colorbar(image, ax=panel, shrink=0.9, label=metric)
        panel.set_title(title or metric, fontsize="medium")
    for panel in panels[len(combos) :]:
        panel.set_visible(False)
    figure.suptitle(f"{results.attrs['study']} sweep: {metric}{seeds}")
    return save_png(figure, path)


def write_outputs(
    results: xr.Dataset,
    spec: HeatmapSpec,
    out: str | os.PathLike[str],
    extra: Sequence[str] = (),
) -> dict[str, Path]:
    """Write ``sweep.nc``, ``summary.txt`` (with ``extra`` lines) and ``heatmap.png`` into
    ``out``, atomically; their paths by kind."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    return {
        "netcdf": write_netcdf(results, out / "sweep.nc"),
        "summary": write_text(format_summary(results, extra) + "\n", out / "summary.txt"),
        "heatmap": plot_heatmap(results, spec, out / "heatmap.png"),
    }
