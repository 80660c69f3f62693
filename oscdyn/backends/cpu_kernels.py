"""C kernels for the ``fused`` backend's independent-unit recurrences on the CPU.

``csrc/unit_recurrence.c`` (plain C, no torch headers) runs the algorithm of
:mod:`oscdyn.backends.fused_units` over the whole sequence in one call, forward and
closed-form reversible backward, in float32 and float64: the CPU counterpart of the
``triton`` kernels, without the per-step ATen overhead. Each batch row walks the time steps
with its state in L1; the inner loops over units vectorise (``tanh`` included: inline, no
libm call).

Each dtype's library is built on its first use with the system C compiler (``$CC``, else
``cc``, ``gcc`` or ``clang``; about 2 s) into ``$OSCDYN_CACHE_DIR/kernels`` (default
``${XDG_CACHE_HOME:-~/.cache}/oscdyn/kernels``), under a name keyed by the source, the flags,
the compiler and the CPU (``-march=native``), and loaded with :mod:`ctypes`. It is compiled
to a temporary name and renamed into place, so processes building at once never load a
partial file. Without a compiler, or if the build fails (one ``RuntimeWarning``),
:func:`unit_kernel_available` is False and :func:`unit_kernel_unavailable_reason` says why:
the fused backend then steps with torch operations.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import secrets
import shlex
import shutil
import subprocess
import threading
import warnings
from pathlib import Path

import torch
from torch import Tensor

from .independent_units import UnitRecurrence

__all__ = [
    "KernelBuildError",
    "kernel_cache_dir",
    "load_unit_library",
    "unit_backward",
    "unit_forward",
    "unit_kernel_applies",
    "unit_kernel_available",
    "unit_kernel_unavailable_reason",
]

_SOURCE = Path(__file__).with_name("csrc") / "unit_recurrence.c"
#: the kernels' name suffix and the define that builds only them, per dtype
_TYPES = {
    torch.float32: ("f32", "-DOSCDYN_ONLY_FLOAT"),
    torch.float64: ("f64", "-DOSCDYN_ONLY_DOUBLE"),
}
_STATUS = {1: "invalid arguments", 2: "out of memory"}
_log = logging.getLogger(__name__)


class KernelBuildError(RuntimeError):
    """The C kernels could not be built or loaded."""


_POINTERS = (
    *("x", "y0", "v0", "h", "stiff", "damp", "w"),
    *("y_seq", "y_out", "v_out", "anchors"),
    *("g_seq", "g_y_out", "g_v_out"),
    *("g_x", "g_y0", "g_v0", "g_h", "g_stiff", "g_damp", "g_w"),
)


class _Args(ctypes.Structure):
    """``oscdyn_units`` of ``unit_recurrence.c``: sizes, strides (elements) and pointers."""

    _fields_ = [
        *((name, ctypes.c_int64) for name in ("batch", "steps", "units", "segment")),
        *((name, ctypes.c_int32) for name in ("force", "scheme", "damped", "pad")),
        *((name, ctypes.c_int64) for name in ("x_stride_batch", "x_stride_step")),
        *((name, ctypes.c_void_p) for name in _POINTERS),
    ]


def kernel_cache_dir() -> Path:
    """Where built kernels go: ``$OSCDYN_CACHE_DIR/kernels``, default
    ``${XDG_CACHE_HOME:-~/.cache}/oscdyn/kernels``."""
    root = os.environ.get("OSCDYN_CACHE_DIR")
    if not root:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(xdg, "oscdyn")
    return Path(root) / "kernels"


def _compiler() -> list[str] | None:
    """The C compiler command: ``$CC`` if set, else the first of cc, gcc, clang on PATH."""
    configured = shlex.split(os.environ.get("CC", ""))
    candidates = [configured] if configured else [["cc"], ["gcc"], ["clang"]]
    for command in candidates:
        found = shutil.which(command[0])
        if found:
            return [found, *command[1:]]
    return None


def _compiler_identity(compiler: list[str]) -> str:
    try:
        done = subprocess.run(
            [*compiler, "--version"], capture_output=True, text=True, timeout=30, check=True
        )
    except (OSError, subprocess.SubprocessError) as error:
        raise KernelBuildError(f"C compiler {compiler[0]} does not run: {error}") from error
    return " ".join(compiler) + "\n" + done.stdout


def _cpu_identity() -> str:
    """The CPU model and feature flags (``-march=native`` builds are only valid on it)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor()
    wanted = ("model name", "flags", "Features", "CPU part")
    return "\n".join(dict.fromkeys(line for line in lines if line.startswith(wanted)))


def _flag_sets(identity: str) -> list[list[str]]:
    """Compiler flags to try in order: for this CPU, then portable. With GCC first without
    vectorised loop epilogues (a quarter less compile time; the units beyond the last full
    vector run scalar)."""
    portable = ["-O3", "-fPIC", "-shared"]
    sets = [[*portable, "-march=native"], portable]
    if "Free Software Foundation" in identity:
        sets.insert(0, [*sets[0], "--param", "vect-epilogues-nomask=0"])
    return sets


def _open(path: Path, suffix: str) -> ctypes.CDLL:
    """Load the library at ``path`` (``OSError`` if it is not a valid one)."""
    library = ctypes.CDLL(str(path))
    try:
        library.oscdyn_units_struct_size.restype = ctypes.c_int64
        functions = [
            getattr(library, f"oscdyn_units_{d}_{suffix}") for d in ("forward", "backward")
        ]
    except AttributeError as error:
        raise OSError(f"{path}: {error}") from error
    if library.oscdyn_units_struct_size() != ctypes.sizeof(_Args):
        raise OSError(f"{path}: argument struct size differs from {__name__}._Args")
    for function in functions:
        function.argtypes = [ctypes.POINTER(_Args)]
        function.restype = ctypes.c_int
    return library


def _compile(command: list[str], target: Path) -> None:
    """Build ``target`` with ``command`` (all but ``-o``): into a temporary file in the same
    directory, then renamed into place (atomic; another process may do the same at once)."""
    temporary = target.with_name(f"{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        done = subprocess.run(
            [*command, "-o", str(temporary)], capture_output=True, text=True, timeout=300
        )
        if done.returncode != 0:
            tail = "\n".join(done.stderr.strip().splitlines()[-5:])
            raise KernelBuildError(f"{shlex.join(command)} failed:\n{tail}")
        os.replace(temporary, target)
    except (OSError, subprocess.SubprocessError) as error:
        raise KernelBuildError(f"{shlex.join(command)} failed: {error}") from error
    finally:
        temporary.unlink(missing_ok=True)


def load_unit_library(dtype: torch.dtype, directory: Path | None = None) -> ctypes.CDLL:
    """Load the ``dtype`` kernels (float32 or float64) from ``directory`` (default
    :func:`kernel_cache_dir`), building them first if no valid library for this source,
    compiler and CPU is there.

    Raises :class:`KernelBuildError` when no compiler is found or every build fails.
    """
    if dtype not in _TYPES:
        raise ValueError(f"C kernels are built for float32 and float64, not {dtype}")
    suffix, define = _TYPES[dtype]
    compiler = _compiler()
    if compiler is None:
        raise KernelBuildError("no C compiler found ($CC, cc, gcc or clang)")
    directory = kernel_cache_dir() if directory is None else directory
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise KernelBuildError(
            f"cannot create the kernel cache {directory} ({error}); set OSCDYN_CACHE_DIR"
        ) from error
    source = _SOURCE.read_bytes()
    identity = _compiler_identity(compiler)
    machine = "\n".join([identity, platform.machine(), _cpu_identity()]).encode()
    failures = []
    for flags in _flag_sets(identity):
        flags = [*flags, define]
        digest = hashlib.sha256(b"\0".join([source, shlex.join(flags).encode(), machine]))
        target = directory / f"unit_recurrence_{suffix}-{digest.hexdigest()[:20]}.so"
        if target.exists():
            try:
                return _open(target, suffix)
            except OSError as error:  # corrupted: build it again
                _log.debug("rebuilding %s: %s", target, error)
        try:
            _compile([*compiler, *flags, str(_SOURCE)], target)
            return _open(target, suffix)
        except (KernelBuildError, OSError) as error:
            failures.append(str(error))
    raise KernelBuildError("building the C kernels failed:\n" + "\n".join(failures))


_lock = threading.Lock()
#: per dtype: the loaded library, or why there is none
_loaded: dict[torch.dtype, ctypes.CDLL | str] = {}


def _load(dtype: torch.dtype) -> ctypes.CDLL | str:
    """The process's ``dtype`` kernels, loaded (or built) once, or why they are unavailable."""
    with _lock:
        if dtype not in _loaded:
            try:
                _loaded[dtype] = load_unit_library(dtype)
            except KernelBuildError as error:
                warned = any(isinstance(value, str) for value in _loaded.values())
                _loaded[dtype] = str(error)
                if _compiler() is None:
                    _log.debug("fused backend without C kernels: %s", error)
                elif not warned:  # one warning per process
                    warnings.warn(
                        f"the fused backend steps with torch operations: {error}",
                        RuntimeWarning,
                        stacklevel=3,
                    )
        return _loaded[dtype]


def unit_kernel_available(dtype: torch.dtype = torch.float32) -> bool:
    """Whether the ``dtype`` kernels are built and loaded (building them on the first call)."""
    return dtype in _TYPES and not isinstance(_load(dtype), str)


def unit_kernel_unavailable_reason(dtype: torch.dtype = torch.float32) -> str | None:
    """Why the ``dtype`` kernels cannot be used (``None`` if they can)."""
    if dtype not in _TYPES:
        return f"C kernels are built for float32 and float64, not {dtype}"
    loaded = _load(dtype)
    return loaded if isinstance(loaded, str) else None


def unit_kernel_applies(*tensors: Tensor) -> bool:
    """Whether the kernels can run on ``tensors``: all on the CPU, one dtype (float32 or
    float64), and the kernels for it available."""
    dtype = tensors[0].dtype
    return (
        dtype in _TYPES
        and all(t.device.type == "cpu" and t.dtype == dtype for t in tensors)
        and unit_kernel_available(dtype)
    )


def _pointer(tensor: Tensor | None) -> int | None:
    return None if tensor is None else tensor.data_ptr()


def _call(direction: str, args: _Args, dtype: torch.dtype) -> None:
    library = _load(dtype)
    if isinstance(library, str):
        raise KernelBuildError(f"C kernels unavailable: {library}")
    name = f"oscdyn_units_{direction}_{_TYPES[dtype][0]}"
    status = getattr(library, name)(ctypes.byref(args))
    if status:
        raise RuntimeError(f"{name}: {_STATUS.get(status, status)}")


def _arguments(
    recurrence: UnitRecurrence,
    x: Tensor | None,
    y0: Tensor,
    v0: Tensor,
    params: tuple[Tensor, Tensor, Tensor, Tensor],
    steps: int,
    segment: int,
) -> tuple[_Args, list[Tensor]]:
    """The call's arguments, and the tensors they point into: keep them alive (contiguous
    copies included) until the call returns."""
    batch, units = y0.shape
    if x is not None and x.stride(2) != 1 and units > 1:
        x = x.contiguous()
    inputs = [t.contiguous() for t in (y0, v0, *params)]
    args = _Args(batch=batch, steps=steps, units=units, segment=segment)
    args.force, args.scheme, args.damped = recurrence.force, recurrence.scheme, recurrence.damped
    if x is not None:
        args.x, args.x_stride_batch, args.x_stride_step = x.data_ptr(), x.stride(0), x.stride(1)
        inputs.append(x)
    args.y0, args.v0, args.h, args.stiff, args.damp, args.w = (t.data_ptr() for t in inputs[:6])
    return args, inputs


def unit_forward(
    recurrence: UnitRecurrence,
    x: Tensor | None,
    y0: Tensor,
    v0: Tensor,
    params: tuple[Tensor, Tensor, Tensor, Tensor],
    steps: int,
    segment: int,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Run ``steps`` steps of the recurrence from ``(y0, v0)`` (``(batch, units)``).

    ``x``: the force input ``(batch, steps, units)`` or ``None``; ``params``: per-unit
    ``(h, stiffness, damping, w)``, ``(units,)`` each. Returns the positions ``(batch, steps,
    units)``, the final ``y`` and ``v`` and the velocity before every ``segment``-th step,
    ``(ceil(steps / segment), batch, units)``.
    """
    args, alive = _arguments(recurrence, x, y0, v0, params, steps, segment)
    batch, units = y0.shape
    y_seq = y0.new_empty(batch, steps, units)
    y_out, v_out = y0.new_empty(batch, units), y0.new_empty(batch, units)
    anchors = y0.new_empty(-(-steps // segment), batch, units)
    args.y_seq, args.y_out, args.v_out, args.anchors = (
        t.data_ptr() for t in (y_seq, y_out, v_out, anchors)
    )
    _call("forward", args, y0.dtype)
    return y_seq, y_out, v_out, anchors


def unit_backward(
    recurrence: UnitRecurrence,
    segment: int,
    saved: tuple[Tensor | None, ...],
    cotangents: tuple[Tensor | None, Tensor | None, Tensor | None],
    wanted: tuple[bool, ...],
) -> tuple[Tensor | None, ...]:
    """Pull the cotangents on ``(y_seq, y_out, v_out)`` (``None``: zero) back.

    ``saved``: ``(x, y0, v0, h, stiffness, damping, w, y_seq, y_out, v_out, anchors)`` of
    :func:`unit_forward` (``x`` may be ``None``); ``wanted``: which of ``(x, y0, v0, h,
    stiffness, damping, w)`` need a cotangent. Returns those cotangents (``None`` where not
    wanted): ``x``'s ``(batch, steps, units)``, ``y0``'s and ``v0``'s ``(batch, units)``, the
    parameters' ``(units,)`` (summed over batch and time).
    """
    x, y0, v0, h, stiff, damp, w, y_seq, y_out, v_out, anchors = saved
    batch, steps, units = y_seq.shape
    params = (h, stiff, damp, w)
    args, alive = _arguments(recurrence, x, y0, v0, params, steps, segment)
    forward = [t.contiguous() for t in (y_seq, y_out, v_out, anchors)]
    args.y_seq, args.y_out, args.v_out, args.anchors = (t.data_ptr() for t in forward)
    given = [None if g is None else g.contiguous() for g in cotangents]
    args.g_seq, args.g_y_out, args.g_v_out = (_pointer(g) for g in given)
    shapes = [(batch, steps, units), (batch, units), (batch, units)] + [(units,)] * 4
    grads = [
        y0.new_empty(shape) if want else None for shape, want in zip(shapes, wanted, strict=True)
    ]
    (args.g_x, args.g_y0, args.g_v0, args.g_h, args.g_stiff, args.g_damp, args.g_w) = (
        _pointer(g) for g in grads
    )
    _call("backward", args, y0.dtype)
    return tuple(grads)
