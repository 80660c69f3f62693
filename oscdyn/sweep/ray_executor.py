"""Cells as Ray tasks: on Ray's own local cluster, or on a cluster at ``address``.

One task per cell (``num_cpus=1`` by default); the driver waits for them with
``ray.wait`` and stores each result as it arrives, so the cluster's nodes need oscdyn
installed but no shared file system. Ray retries a task whose worker process died
(``max_retries``); a cell lost for good comes back as the exception, is not stored, and
runs again on the next run. If no Ray session is open, :meth:`RayExecutor.__enter__`
connects to ``address`` (``None``: start a local Ray instance, ``"auto"``: the running
cluster) and disconnects at the end; an open session (``ray.init`` done by the caller) is
used as it is. Ray is an optional dependency: ``pip install 'oscdyn[ray]'``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from .base import Cell, CellFunction, Executor, Outcome

__all__ = ["RayExecutor", "import_ray"]


def import_ray() -> Any:
    """The ``ray`` module, or ``ImportError`` saying how to install it."""
    try:
        import ray
    except ImportError as error:
        raise ImportError(
            "the Ray executor needs Ray: pip install 'oscdyn[ray]' (or pip install ray)"
        ) from error
    return ray


class RayExecutor(Executor):
    """Run each cell as a Ray task.

    Args:
        address: the cluster to connect to when no Ray session is open (``None``: start a
            local one; ``"auto"``; ``"ray://host:10001"``).
        cpus_per_cell: CPUs Ray reserves for each cell.
        max_retries: how often Ray reruns a cell whose worker died.
        init_options: more ``ray.init`` keyword arguments (e.g. ``num_cpus``).
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        cpus_per_cell: float = 1.0,
        max_retries: int = 3,
        **init_options: Any,
    ) -> None:
        if cpus_per_cell <= 0:
            raise ValueError(f"cpus_per_cell must be positive, got {cpus_per_cell}")
        self.address = address
        self.cpus_per_cell = cpus_per_cell
        self.max_retries = max_retries
        self.init_options = {"include_dashboard": False, "log_to_driver": False, **init_options}
        self._ray: Any = None
        self._connected_here = False

    @property
    def description(self) -> str:
        if self._ray is None:
            return f"ray ({self.address or 'local'})"
        cpus = self._ray.cluster_resources().get("CPU", 0)
        return f"ray ({self.address or 'local'}), {cpus:g} CPU(s) in the cluster"

    def __enter__(self) -> RayExecutor:
        ray = import_ray()
        if not ray.is_initialized():
            ray.init(address=self.address, **self.init_options)
            self._connected_here = True
        self._ray = ray
        return self

    def close(self) -> None:
        if self._ray is not None and self._connected_here:
            self._ray.shutdown()
        self._ray, self._connected_here = None, False

    def run(self, function: CellFunction, cells: Sequence[Cell]) -> Iterator[Outcome]:
        ray = self._ray
        if ray is None:
            raise RuntimeError("use the executor as a context manager: with RayExecutor() as e")
        task = ray.remote(num_cpus=self.cpus_per_cell, max_retries=self.max_retries)(function)
        pending = {task.remote(cell): cell for cell in cells}
        finished = False
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    cell = pending.pop(ref)
                    try:
                        outcome = ray.get(ref)
                    except Exception as error:  # the worker died, the task was cancelled
                        outcome = error
                    yield cell, outcome
            finished = True
        finally:
            if not finished:
                for ref in pending:
                    ray.cancel(ref, force=True)
