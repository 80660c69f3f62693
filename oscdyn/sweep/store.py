"""Per-cell result files: the sweep's memory between runs.

Every finished cell is written, as soon as it finishes, to its own JSON file in the
``cells/`` folder of the sweep's output, atomically (:func:`oscdyn.io.write_json`: a
temporary file, then a rename), so a sweep stopped at any moment (Ctrl-C, ``SIGKILL``, a
crashed node) leaves only whole files. A rerun reads them back and runs only the cells
without one. The file name carries the cell's parameters (readable) and its key (a hash of
study, parameters and options), so a changed option makes new cells instead of reusing
stale ones.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import __version__
from ..io import write_json
from .base import Cell, CellResult

__all__ = ["CellStore", "CELL_FORMAT"]

#: format tag of a cell file
CELL_FORMAT = "oscdyn.sweep.cell/1"
_UNSAFE = re.compile(r"[^A-Za-z0-9.+=-]+")


class CellStore:
    """The cell files in ``folder`` (created): write, read back, and what is left to run."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def path(self, cell: Cell) -> Path:
        """``<folder>/<parameters>-<key>.json``."""
        readable = "_".join(_UNSAFE.sub("-", str(value)) for value in cell.parameters.values())
        return self.folder / f"{readable[:80]}-{cell.key}.json"

    def write(self, cell: Cell, result: CellResult) -> Path:
        """Store ``result`` as ``cell``'s file, atomically; the path."""
        record: dict[str, Any] = {
            "format": CELL_FORMAT,
            "key": cell.key,
            "study": cell.study,
            "parameters": cell.parameters,
            "options": cell.options,
            "oscdyn_version": __version__,
            **result.to_dict(),
        }
        return write_json(record, self.path(cell))

    def read(self, cell: Cell) -> CellResult | None:
        """``cell``'s stored result; None if it has no file, or an unreadable one or one
        written for another cell (then the cell runs again and its file is replaced)."""
        path = self.path(cell)
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError, UnicodeDecodeError):
            return None
        if not isinstance(record, dict) or record.get("format") != CELL_FORMAT:
            return None
        if record.get("key") != cell.key:
            return None
        try:
            return CellResult.from_dict(record)
        except (TypeError, ValueError):
            return None

    def load(self, cells: Sequence[Cell]) -> dict[str, CellResult]:
        """The stored results of ``cells`` that have one, by cell key."""
        results = {}
        for cell in cells:
            result = self.read(cell)
            if result is not None:
                results[cell.key] = result
        return results

    def pending(self, cells: Sequence[Cell], retry_failed: bool = False) -> list[Cell]:
        """The cells to run: those without a stored result, and with ``retry_failed`` also
        those stored with status ``"error"`` or ``"nan"``."""
        stored = self.load(cells)
        return [
            cell
            for cell in cells
            if cell.key not in stored or (retry_failed and stored[cell.key].status != "ok")
        ]

    def remove_temporaries(self) -> int:
        """Delete temporary files left by a write that was killed before its rename; how many."""
        count = 0
        for path in self.folder.glob(".*.tmp"):
            path.unlink(missing_ok=True)
            count += 1
        return count
