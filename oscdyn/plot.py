"""Plotting helpers shared by oscdyn's studies: Agg figures written atomically as PNG.

Matplotlib is imported when a figure is made (never at ``import oscdyn``), with the Agg
canvas directly (no GUI backend, no global ``pyplot`` state). Each ``plot_*`` helper draws
an ``oscdyn.analysis`` result (an ``xarray.DataArray``) on a given ``Axes``, one colour per
integrator (``C0``, ``C1``, ... in the order of the ``integrator`` dim).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from .io import write_atomic

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "new_figure",
    "save_png",
    "finite",
    "note",
    "plot_spectral_radius",
    "plot_gradient_norms",
    "plot_energy_error",
]


def new_figure(
    ncols: int = 1, nrows: int = 1, width: float = 6.0, height: float = 4.2
) -> tuple[Figure, Any]:
    """A figure on an Agg canvas and its axes (``Figure.subplots``: one ``Axes`` or an array).

    ``width`` and ``height`` are per panel, in inches.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.subplots(nrows, ncols, squeeze=True)


def save_png(figure: Figure, path: str | os.PathLike[str], dpi: int = 100) -> Path:
    """Write ``figure`` as a PNG at ``path``, atomically (:func:`oscdyn.io.write_atomic`)."""
    return write_atomic(path, lambda temporary: figure.savefig(temporary, format="png", dpi=dpi))


def finite(values: Any, floor: float = -np.inf) -> np.ndarray:
    """``values`` as floats with non-finite entries as NaN (not drawn), at least ``floor``."""
    values = np.asarray(values, dtype=float)
    return np.where(np.isfinite(values), np.maximum(values, floor), np.nan)


def note(axes: Axes, text: str) -> None:
    """A message in the middle of empty axes (e.g. "no energy for this system")."""
    axes.text(0.5, 0.5, text, ha="center", va="center", wrap=True, transform=axes.transAxes)
    axes.set(xticks=[], yticks=[])


def plot_spectral_radius(
    axes: Axes, radius: xr.DataArray, limits: xr.DataArray | None = None
) -> None:
    """Spectral radius against ``dt``, one line per integrator (log scale), the line
    ``radius = 1`` and, dotted, each integrator's measured stability limit (``limits``,
    dims ``(integrator,)``) where it falls inside the plotted ``dt`` range.

    ``radius``: dims ``(integrator, dt)``, as :func:`oscdyn.analysis.spectral_radius`.
    """
    dts = radius["dt"].values
    for k, name in enumerate(radius["integrator"].values):
        values = finite(radius.sel(integrator=name).values, 1e-300)
        if np.isnan(values).all():
            continue
        axes.semilogy(dts, values, color=f"C{k}", lw=1.5, label=str(name), marker=".", ms=3)
        if limits is not None:
            limit = float(limits.sel(integrator=name))
            if np.isfinite(limit) and dts.min() <= limit <= dts.max():
                axes.axvline(limit, color=f"C{k}", ls=":", lw=1)
    axes.axhline(1.0, color="black", lw=0.8)
    drawn = finite(radius.values)
    if np.isfinite(drawn).any():
        low = min(0.5, float(np.nanmin(drawn)))
        high = max(2.0, min(1e3, float(np.nanmax(drawn)) * 1.2))
        axes.set_ylim(low, high)
    axes.set(xlabel="dt", ylabel="spectral radius of the step map")
    axes.legend(fontsize="small")


def plot_gradient_norms(
    axes: Axes,
    log_norm: xr.DataArray,
    verdicts: xr.DataArray | None = None,
    window: float = 20.0,
) -> None:
    """``log10 ||d x_T / d x_t||`` against the lag ``T - t``, one line per integrator.

    ``log_norm``: natural logs with dims ``(integrator, time)`` and a ``lag`` coordinate
    (as the study stores :func:`oscdyn.analysis.gradient_norms`' ``log_norm``);
    ``verdicts`` (dims ``(integrator,)``) go into the legend. The y axis shows at most
    ``window`` decades either side of 1, so bounded profiles stay readable next to an
    exploding or vanishing one (which then leaves the plot; its verdict says how).
    """
    lag = log_norm["lag"].values
    lowest, highest = 0.0, 0.0
    for k, name in enumerate(log_norm["integrator"].values):
        raw = log_norm.sel(integrator=name).values
        values = finite(raw / np.log(10.0))
        label = str(name)
        if verdicts is not None:
            label = f"{name}: {verdicts.sel(integrator=name).values}"
        elif not (np.isfinite(raw).all() or np.isnan(raw).all()):
            label = f"{name} (diverged)"
        axes.plot(lag, values, color=f"C{k}", lw=1.2, label=label)
        if np.isfinite(values).any():
            lowest = min(lowest, float(np.nanmin(values)))
            highest = max(highest, float(np.nanmax(values)))
    low, high = max(lowest, -window), min(highest, window)
    margin = 0.05 * max(high - low, 1.0)
    axes.set_ylim(low - margin, high + margin)
    axes.axhline(0.0, color="black", lw=0.8)
    axes.set(xlabel="lag T - t (steps)", ylabel="log10 ||d(y_T, v_T) / d(y_t, v_t)||")
    axes.legend(fontsize="small")


def plot_energy_error(axes: Axes, error: xr.DataArray) -> None:
    """``|relative energy error|`` against time (log scale), one line per integrator.

    ``error``: dims ``(integrator, <time dim>)``: the largest ``|E(t) - E(0)| / |E(0)|``
    over the batch.
    """
    time_dim = next(d for d in error.dims if d != "integrator")
    time = error[time_dim].values
    lowest = np.inf
    for k, name in enumerate(error["integrator"].values):
        raw = np.abs(error.sel(integrator=name).values[1:])
        values = finite(raw, 1e-17)
        if np.isnan(values).all():
            continue
        label = str(name) if np.isfinite(raw).all() else f"{name} (diverged)"
        axes.semilogy(time[1:], values, color=f"C{k}", lw=1.2, label=label)
        lowest = min(lowest, float(np.nanmin(values)))
    bottom = max(1e-17, lowest / 10) if np.isfinite(lowest) else 1e-17
    axes.set(xlabel="t", ylabel="|E(t) - E(0)| / |E(0)|", ylim=(bottom, 1e3))
    axes.legend(fontsize="small")
