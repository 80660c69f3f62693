"""Files written by oscdyn: always atomically (temporary name in the same folder, then rename).

A failed run never leaves a half-written result: the temporary file is removed and an
earlier file at the same path survives.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import xarray as xr

__all__ = ["write_atomic", "write_netcdf", "write_json", "write_text"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: str | os.PathLike[str], write: Callable[[str], None]) -> Path:
    """Call ``write(temporary_path)``, then move the file to ``path`` with ``os.replace``.

    The temporary file sits in the same directory (so the rename is atomic); if ``write``
    raises, it is removed and ``path`` is left as it was (absent or the previous file).
    """
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes it private (0600)
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return path


def write_netcdf(dataset: xr.Dataset | xr.DataArray, path: str | os.PathLike[str]) -> Path:
    """Write an xarray object as NetCDF-4 (h5netcdf engine), atomically."""
    return write_atomic(path, lambda temporary: dataset.to_netcdf(temporary, engine="h5netcdf"))


def write_json(data: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``data`` as indented JSON, atomically."""
    return write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", path)


def write_text(text: str, path: str | os.PathLike[str]) -> Path:
    """Write ``text`` (UTF-8), atomically."""
    return write_atomic(path, lambda temporary: Path(temporary).write_text(text, encoding="utf-8"))
