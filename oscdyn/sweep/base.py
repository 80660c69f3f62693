"""What a sweep is made of: grid cells, their results, and the executors that run them.

A sweep runs one *study* (``stability``, ``fit``, ``train-task``) at every *cell* of a grid
(one value per dimension: ``system``, ``integrator``, ``dt``, ``seed``, ``data``). Each cell
is one independent task: an :class:`Executor` (a local process pool, Ray, or this process)
calls the cell function on it and yields ``(cell, CellResult)`` pairs as cells finish, in any
order. The driver stores each result as it arrives (:mod:`oscdyn.sweep.store`), so an
interrupted sweep keeps every finished cell.
"""

from __future__ import annotations

import hashlib
import json
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from types import TracebackType
from typing import Any, ClassVar

__all__ = ["Cell", "CellResult", "CellFunction", "Outcome", "Executor", "STATUSES", "RUN_VARIABLES"]

#: a cell's status: finished with finite primary metrics, with a NaN among them, or raised
STATUSES: tuple[str, ...] = ("ok", "nan", "error")

#: per-cell variables that describe the run, not the result (they differ between reruns)
RUN_VARIABLES: tuple[str, ...] = ("elapsed", "worker")


@dataclass(frozen=True)
class Cell:
    """One point of the grid: the study, one value per grid dimension, the fixed options.

    Attributes:
        study: the study's name (``stability``, ``fit``, ``train-task``).
        parameters: one value per grid dimension, in the grid's order (``{"system":
            "duffing", "integrator": "leapfrog", "dt": 0.1, "seed": 0}``).
        index: the position of each value along its dimension (same order).
        options: the study's options, the same for every cell.
        base_dir: the folder relative data paths are read from (the config file's); not part
            of the cell's identity.
    """

    study: str
    parameters: dict[str, Any]
    index: tuple[int, ...]
    options: dict[str, Any] = field(default_factory=dict)
    base_dir: str = "."

    @property
    def key(self) -> str:
        """16 hex digits identifying the cell's computation (study, parameters, options)."""
        identity = {"study": self.study, "parameters": self.parameters, "options": self.options}
        text = json.dumps(identity, sort_keys=True, allow_nan=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    @property
    def label(self) -> str:
        """The parameters as ``system=duffing integrator=leapfrog dt=0.1 seed=0``."""
        return " ".join(f"{name}={value}" for name, value in self.parameters.items())


@dataclass
class CellResult:
    """What the cell function returns (plain values only: it crosses process boundaries).

    Attributes:
        status: ``"ok"``, ``"nan"`` (a primary metric is NaN) or ``"error"`` (it raised).
        metrics: scalar results by name (NaN where a quantity does not apply).
        labels: string results by name (e.g. the gradient verdict).
        error: the exception (``"ValueError: ..."``) or why a metric is NaN; empty when ok.
        traceback: the formatted traceback of an error, else empty.
        elapsed: wall time of the cell in seconds.
        worker: ``host:pid`` of the process that ran it.
    """

    status: str
    metrics: dict[str, float] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    error: str = ""
    traceback: str = ""
    elapsed: float = math.nan
    worker: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")

    def to_dict(self) -> dict[str, Any]:
        """The result as a JSON-ready dict (NaN and infinities kept as floats)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> CellResult:
        """Rebuild from :meth:`to_dict`'s dict (extra keys ignored)."""
        names = cls.__dataclass_fields__
        values = {k: v for k, v in record.items() if k in names}
        values["metrics"] = {k: float(v) for k, v in values.get("metrics", {}).items()}
        return cls(**values)


#: the task an executor runs: a cell in, its result out (picklable, a module-level function)
CellFunction = Callable[[Cell], CellResult]
#: what an executor yields per cell: the result, or the exception that lost the cell (its
#: worker died, it was cancelled) -- a cell function's own errors are inside its result
Outcome = tuple[Cell, CellResult | BaseException]


class Executor(ABC):
    """Runs cell functions on cells, somewhere; used as a context manager::

        with LocalExecutor(workers=2) as executor:
            for cell, outcome in executor.run(run_cell, cells):
                ...

    :meth:`run` is a generator: it yields each cell with its outcome as soon as it finishes,
    in completion order. Closing it early (``break``, ``KeyboardInterrupt`` in the loop or
    while waiting) cancels the cells not started and stops the running ones.
    """

    #: the ``--executor`` name
    name: ClassVar[str]

    def __enter__(self) -> Executor:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:  # noqa: B027 -- optional hook, most executors hold nothing
        """Release what :meth:`__enter__` acquired (worker processes, a Ray connection)."""

    @abstractmethod
    def run(self, function: CellFunction, cells: Sequence[Cell]) -> Iterator[Outcome]:
        """Run ``function`` on every cell; yield ``(cell, result or exception)`` as they finish."""

    @property
    def description(self) -> str:
        """One line saying where cells run (for the summary)."""
        return self.name
