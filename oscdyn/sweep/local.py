"""Executors on this machine: a process pool sized to the cores, and this process.

:class:`LocalExecutor` is :class:`concurrent.futures.ProcessPoolExecutor` with the
``spawn`` start method (a fresh interpreter per worker: no forked torch or thread state),
one cell per task. Workers ignore ``SIGINT`` (a Ctrl-C in the terminal reaches the whole
process group; the driver alone decides what happens), and each exits when the driver
dies, so a killed sweep leaves no orphans. On Ctrl-C the driver cancels the cells not
started and terminates the workers.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from multiprocessing import get_context

from .base import Cell, CellFunction, Executor, Outcome

__all__ = ["LocalExecutor", "SerialExecutor", "available_cores"]


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS reports it)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _exit_with(parent: int, interval: float = 0.5) -> None:
    while True:
        time.sleep(interval)
        if os.getppid() != parent:  # re-parented: the driver is gone
            os._exit(1)


def _worker_setup(parent: int) -> None:
    """Run in each worker at start: ignore Ctrl-C, exit when the driver ``parent`` dies."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()


class LocalExecutor(Executor):
    """A pool of ``workers`` processes (default: the available cores), ``spawn`` context."""

    name = "local"

    def __init__(self, workers: int | None = None) -> None:
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.workers = workers or available_cores()
        self._pool: ProcessPoolExecutor | None = None

    @property
    def description(self) -> str:
        return f"local process pool, {self.workers} worker(s), spawn"

    def __enter__(self) -> LocalExecutor:
        self._pool = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=get_context("spawn"),
            initializer=_worker_setup,
            initargs=(os.getpid(),),
        )
        return self

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _stop(self) -> None:
        """Cancel what has not started and terminate the workers (a cell stopped midway
        leaves no file: results are stored by the driver once a cell returns)."""
        pool = self._pool
        if pool is None:
            return
        self._pool = None
        terminate = getattr(pool, "terminate_workers", None)  # Python >= 3.14
        if terminate is not None:
            terminate()
            return
        workers = list(getattr(pool, "_processes", None) or {})  # pid -> Process, Python < 3.14
        pool.shutdown(wait=False, cancel_futures=True)
        for pid in workers:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def run(self, function: CellFunction, cells: Sequence[Cell]) -> Iterator[Outcome]:
        if self._pool is None:
            raise RuntimeError("use the executor as a context manager: with LocalExecutor() as e")
        pending: dict[Future, Cell] = {self._pool.submit(function, c): c for c in cells}
        finished = False
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    cell = pending.pop(future)
                    error = future.exception()
                    yield cell, (future.result() if error is None else error)
            finished = True
        finally:
            if not finished:
                self._stop()


class SerialExecutor(Executor):
    """Every cell in this process, one after another (debugging, tiny grids)."""

    name = "serial"

    @property
    def description(self) -> str:
        return "serial, in the driver process"

    def run(self, function: CellFunction, cells: Sequence[Cell]) -> Iterator[Outcome]:
        for cell in cells:
            yield cell, function(cell)
