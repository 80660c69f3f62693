"""Run a sweep: the cells not stored yet on an executor, each stored as it finishes, then merged.

Output folder (``config.out``): ``cells/`` (one JSON file per finished cell, see
:mod:`oscdyn.sweep.store`), ``config.json`` (the parsed configuration), ``sweep.nc``,
``summary.txt`` and ``heatmap.png`` (:mod:`oscdyn.sweep.merge`). Rerunning the same
config runs only the cells without a file (and, with ``retry_failed``, those that failed),
so a sweep stopped by Ctrl-C or a kill resumes where it was. ``KeyboardInterrupt``
propagates after the executor has stopped; every cell stored before it stays.
"""

from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import xarray as xr
from tqdm.auto import tqdm

from ..io import write_json
from .base import CellResult, Executor
from .config import SweepConfig
from .merge import format_summary, merge_results, write_outputs
from .store import CellStore
from .studies import run_cell

__all__ = ["EXECUTORS", "SweepRun", "make_executor", "run_sweep"]

#: the ``--executor`` names
EXECUTORS: tuple[str, ...] = ("local", "ray", "serial")


@dataclass
class SweepRun:
    """What :func:`run_sweep` returns.

    Attributes:
        results: the merged dataset (:func:`oscdyn.sweep.merge.merge_results`).
        table: the summary table.
        paths: the files written (``netcdf``, ``summary``, ``heatmap``, ``config``).
        ran: cells run (and stored) by this call.
        reused: cells whose stored result was reused.
        lost: cells the executor lost (a worker died), not stored: ``"label: error"``.
        wall: seconds this call took.
    """

    results: xr.Dataset
    table: str
    paths: dict[str, Path] = field(default_factory=dict)
    ran: int = 0
    reused: int = 0
    lost: list[str] = field(default_factory=list)
    wall: float = 0.0


def make_executor(name: str, workers: int | None = None, address: str | None = None) -> Executor:
    """The executor called ``name``: ``local`` (a process pool of ``workers``, default the
    cores), ``ray`` (Ray at ``address``, default a local instance) or ``serial``."""
    if name == "local":
        from .local import LocalExecutor

        return LocalExecutor(workers)
    if name == "ray":
        from .ray_executor import RayExecutor

        return RayExecutor(address)
    if name == "serial":
        from .local import SerialExecutor

        return SerialExecutor()
    raise ValueError(f"unknown executor {name!r}; known: {', '.join(EXECUTORS)}")


def cell_store(config: SweepConfig) -> CellStore:
    """The cell files of ``config``'s sweep (in ``<out>/cells``)."""
    return CellStore(config.out / "cells")


def run_sweep(
    config: SweepConfig,
    executor: str | Executor = "local",
    *,
    workers: int | None = None,
    address: str | None = None,
    retry_failed: bool = False,
    quiet: bool = False,
) -> SweepRun:
    """Run the cells of ``config`` not stored yet on ``executor`` (a name for
    :func:`make_executor`, with ``workers``/``address``, or an :class:`Executor`), store
    each as it finishes, merge all stored cells and write the outputs into ``config.out``.

    ``retry_failed`` reruns cells stored with status ``error`` or ``nan``; ``quiet`` hides
    the progress bar.
    """
    start = time.perf_counter()
    runner = make_executor(executor, workers, address) if isinstance(executor, str) else executor
    store = cell_store(config)
    store.remove_temporaries()
    config_path = write_json(config.to_dict(), config.out / "config.json")
    cells = config.cells()
    todo = store.pending(cells, retry_failed)
    ran, lost = 0, []
    description = "nothing to run"
    if todo:
        bar = tqdm(
            total=len(cells),
            initial=len(cells) - len(todo),
            desc=f"sweep {config.study}",
            unit="cell",
            disable=quiet,
            file=sys.stderr,
            dynamic_ncols=True,
        )
        with runner, contextlib.closing(runner.run(run_cell, todo)) as outcomes, bar:
            description = runner.description
            for cell, outcome in outcomes:
                if isinstance(outcome, CellResult):
                    store.write(cell, outcome)
                    ran += 1
                else:
                    lost.append(f"{cell.label}: {type(outcome).__name__}: {outcome}")
                bar.update(1)
                bar.set_postfix_str(cell.label, refresh=False)
    results = merge_results(config, cells, store.load(cells))
    wall = time.perf_counter() - start
    extra = [
        f"this run: {ran} cell(s) run, {len(cells) - len(todo)} stored earlier, {len(lost)} "
        f"lost; {description}; {wall:.1f} s wall"
    ]
    if lost:
        extra.append("lost (not stored, rerun to retry): " + "; ".join(lost))
    paths = write_outputs(results, config.heatmap, config.out, extra)
    paths["config"] = config_path
    return SweepRun(
        results=results,
        table=format_summary(results, extra),
        paths=paths,
        ran=ran,
        reused=len(cells) - len(todo),
        lost=lost,
        wall=wall,
    )
