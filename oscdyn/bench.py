"""``oscdyn bench``: every backend against the eager loop, ``nn.LSTM`` and torchdiffeq.

For each benchmark system (UnICORNN and coRNN by default) the run measures, side by side in
one process, the forward time, the forward+backward time, the peak memory of each and the
time of the first call (compilation included) of

* every oscdyn backend (``oscdyn.backends.available()``; the ones that cannot run the case
  are listed with their reason),
* ``torch.nn.LSTM`` with the same input and hidden size (baseline ``lstm``), and
* torchdiffeq ``odeint`` on the same ODE with a fixed-step method (baseline ``odeint``),

and reports every method as ratios to the three references (``eager``, ``lstm``,
``odeint``). A length sweep measures how the forward+backward peak memory grows with the
sequence length. The issue's targets are checked and printed as PASS/FAIL lines: they are
measured, never asserted.

Methodology (also printed under the table):

* Timing: ``time.perf_counter`` around one call (``torch.cuda.synchronize`` on CUDA),
  after ``warmup`` untimed calls; the repeats are interleaved (round ``r`` times every
  method once) so that a change of machine load hits all methods alike; the median is
  reported. "forward" runs under ``torch.no_grad``; "forward+backward" runs the forward
  with autograd, the loss ``sum(y_seq * probe)`` (a fixed random ``probe``: every method
  receives a dense gradient for every output) and ``backward``.
* Peak memory: the largest amount of tensor memory allocated during the call above what
  was allocated when it started. On CUDA: ``torch.cuda.max_memory_allocated`` after
  ``reset_peak_memory_stats``. On the CPU torch keeps no allocator statistics, so the call
  runs once under the autograd profiler with ``profile_memory=True`` (every allocation and
  free of torch's allocators is then reported with its size and time) and the signed sizes
  are summed in time order; the peak of that sum is the CPU analogue of
  ``max_memory_allocated``: tensor memory only (not the Python heap, not memory that
  libraries such as oneDNN allocate outside torch's allocator, not allocator caching),
  exact to the byte and independent of what the process did before. The profiled run is
  separate from the timed runs (the profiler slows a call down).
* "Inputs and outputs excluded" (the memory growth target): the call's interface tensors
  (the output ``y_seq``, the encoded input ``V u + b`` that the recurrence reads, and the
  gradients of both: ``BenchCase.io_tensors`` tensors of ``batch x length x hidden``, 4 for a
  system whose output is its positions; 6 with a readout layer, whose input, the positions,
  and its gradient are two more) are subtracted
  from the live memory at every allocation event before taking the peak: allocations at
  least that large count as interface tensors, up to that many of them (on CUDA too, from
  the same profiler events). Anything else a method keeps per time step still counts.
* The memory sweep runs one profiled forward+backward per method and length; a point
  whose peak, predicted linear in the length from the method's previous point, exceeds
  the memory budget is skipped (and says so), and so is, for the references, one whose
  predicted time exceeds the time limit.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import gc
import math
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch import Tensor, nn
from torch.autograd import DeviceType
from torchdiffeq import odeint
from tqdm.auto import tqdm

from . import __version__, backends
from .compile import (
    OscillatorRNN,
    StabilityWarning,
    StackedOscillatorRNN,
    compile,
    compiled_layers,
)
from .io import write_json, write_netcdf, write_text
from .systems import CoRNN, LinearOscillators, UnICORNN
from .systems.base import SecondOrderSystem
from .systems.stack import SystemStack
from .tables import aligned_table

__all__ = [
    "BASELINES",
    "REFERENCES",
    "SYSTEMS",
    "BenchCase",
    "BenchConfig",
    "add_bench_arguments",
    "bench_command",
    "format_table",
    "peak_memory",
    "run_benchmark",
    "write_results",
]

#: baselines besides the oscdyn backends: ``torch.nn.LSTM`` and torchdiffeq ``odeint``
BASELINES: tuple[str, ...] = ("lstm", "odeint")
#: the methods every other one is compared with, in table order
REFERENCES: tuple[str, ...] = ("eager", "lstm", "odeint")
#: the issue's default case: the targets are stated for it
DEFAULT_CASE = {"batch": 64, "length": 784, "hidden": 128, "input_size": 1}
#: the number of ``batch x length x hidden`` tensors of a call's interface (output, encoded
#: input and the gradient of each) excluded from the memory growth ratio
GIB = 2**30
MIB = 2**20


@dataclass(frozen=True)
class BenchCase:
    """A benchmark system: how to build it and which scheme and step compile it.

    Attributes:
        name: the key of :data:`SYSTEMS` (``--systems``).
        label: the name printed in the table.
        integrator: the scheme of the system's paper.
        dt: the compiled step.
        build: ``build(input_size, hidden) -> system``.
        settings: the published settings used (printed in the table).
        io_tensors: how many ``batch x length x hidden`` tensors the call's interface has
            (excluded from the memory-growth figure): output, encoded input and their
            gradients, plus the positions and their gradient where a readout maps the
            positions to the output.
    """

    name: str
    label: str
    integrator: str
    dt: float
    build: Callable[[int, int], SecondOrderSystem | SystemStack]
    settings: str
    io_tensors: int = 4


def _unicornn(input_size: int, hidden: int) -> SystemStack:
    return UnICORNN(input_size, hidden, num_layers=1, alpha=30.65)


def _cornn(input_size: int, hidden: int) -> SecondOrderSystem:
    return CoRNN(input_size, hidden, gamma=2.7, epsilon=4.7)


def _linoss(input_size: int, hidden: int) -> SecondOrderSystem:
    return LinearOscillators(input_size, hidden, hidden)


#: the benchmark systems, with the settings of their papers' sequential-MNIST runs
SYSTEMS: dict[str, BenchCase] = {
    "unicornn": BenchCase(
        "unicornn",
        "UnICORNN",
        "symplectic_euler",
        0.19,
        _unicornn,
        "1 layer, alpha 30.65, dt 0.19 x sigmoid(c) per unit (released psMNIST defaults)",
    ),
    "cornn": BenchCase(
        "cornn",
        "CoRNN",
        "imex",
        0.042,
        _cornn,
        "gamma 2.7, epsilon 4.7, dt 0.042 (paper, sMNIST)",
    ),
    "linoss": BenchCase(
        "linoss",
        "LinOSS",
        "symplectic_euler",
        1.0,
        _linoss,
        "LinOSS-IMEX, A = relu(A_hat) ~ U(0, 1), dt 1, readout to hidden (paper's layer)",
        io_tensors=6,
    ),
}


@dataclass(frozen=True)
class BenchConfig:
    """What ``oscdyn bench`` measures.

    Attributes:
        systems: keys of :data:`SYSTEMS`.
        methods: oscdyn backend names and baselines (:data:`BASELINES`); ``None``: every
            backend in ``oscdyn.backends.available()`` (those that cannot run the case are
            listed with the reason) plus the baselines.
        batch, length, hidden, input_size: the case.
        repeats: timed calls per method and mode (median reported); ``warmup`` untimed first.
        sweep: sequence lengths of the memory sweep (empty: no sweep).
        device: ``"cpu"`` or ``"cuda"``.
        threads: ``torch.set_num_threads`` for the run (``None``: leave torch's default).
        odeint_method: the fixed-step torchdiffeq method of the ``odeint`` baseline.
        memory_budget: bytes; a sweep point whose predicted peak (linear in the length from
            the method's previous point) exceeds it is skipped. ``None``: half the memory
            available when the run starts.
        sweep_time_limit: seconds; a sweep point of a reference method (:data:`REFERENCES`)
            whose predicted time (linear in the length from the method's previous point,
            profiled run) exceeds it is skipped; the other backends run every length (the
            memory growth target needs them). ``None``: no limit.
        seed: seed of the parameters and inputs.
    """

    systems: tuple[str, ...] = ("unicornn", "cornn", "linoss")
    methods: tuple[str, ...] | None = None
    batch: int = 64
    length: int = 784
    hidden: int = 128
    input_size: int = 1
    repeats: int = 5
    warmup: int = 1
    sweep: tuple[int, ...] = (1000, 2000, 4000, 8000, 16000)
    device: str = "cpu"
    threads: int | None = None
    odeint_method: str = "rk4"
    memory_budget: float | None = None
    sweep_time_limit: float | None = 30.0
    seed: int = 0

    @classmethod
    def quick(cls, **overrides: Any) -> BenchConfig:
        """A small case (about a minute on an idle 2-core CPU) for smoke runs; ``--quick``."""
        values: dict[str, Any] = dict(
            batch=16, length=128, hidden=32, repeats=3, sweep=(128, 256, 512)
        )
        values.update(overrides)
        return cls(**values)

    def __post_init__(self) -> None:
        unknown = [name for name in self.systems if name not in SYSTEMS]
        if unknown or not self.systems:
            raise ValueError(
                f"unknown system(s) {unknown or '(none given)'}; known: {', '.join(SYSTEMS)}"
            )
        known = _known_methods()
        if self.methods is not None:
            bad = [m for m in self.methods if m not in known]
            if bad or not self.methods:
                raise ValueError(
                    f"unknown backend or baseline {bad or '(none given)'}; "
                    f"known: {', '.join(known)}"
                )
        for name in ("batch", "length", "hidden", "input_size", "repeats"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if self.warmup < 0:
            raise ValueError(f"warmup must be non-negative, got {self.warmup}")
        if any(length < 1 for length in self.sweep):
            raise ValueError(f"sweep lengths must be positive, got {self.sweep}")
        if self.device not in ("cpu", "cuda"):
            raise ValueError(f"device must be 'cpu' or 'cuda', got {self.device!r}")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise ValueError("device 'cuda' requested but torch.cuda.is_available() is False")
        if self.sweep_time_limit is not None and self.sweep_time_limit <= 0:
            raise ValueError(f"sweep_time_limit must be positive, got {self.sweep_time_limit}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be positive, got {self.threads}")
        fixed_step = ("euler", "midpoint", "rk4", "explicit_adams", "implicit_adams")
        if self.odeint_method not in fixed_step:
            raise ValueError(
                f"odeint_method must be a fixed-step torchdiffeq method "
                f"({', '.join(fixed_step)}), got {self.odeint_method!r}"
            )

    def resolved_methods(self) -> tuple[str, ...]:
        """The methods in table order (backends first, then the baselines)."""
        if self.methods is None:
            return (*backends.available(), *BASELINES)
        ordered = [m for m in _known_methods() if m in self.methods]
        return tuple(ordered)

    def is_default_case(self) -> bool:
        """Whether the case is the issue's (the targets are stated for it)."""
        return all(getattr(self, key) == value for key, value in DEFAULT_CASE.items())


def _known_methods() -> list[str]:
    return [*backends.available(), "auto", *BASELINES]


# ----------------------------------------------------------------------------- measuring


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(call: Callable[[], object], device: torch.device) -> float:
    """Seconds of one ``call()`` (synchronized on CUDA)."""
    _synchronize(device)
    start = time.perf_counter()
    call()
    _synchronize(device)
    return time.perf_counter() - start


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2 (the profiler's Kineto backend logs start/stop there)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (e.g. captured by a test runner)
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _allocation_events(call: Callable[[], object], device: torch.device) -> list[int]:
    """Signed sizes (bytes) of the allocations (+) and frees (-) on ``device`` during
    ``call()``, in time order, recorded by the profiler (``profile_memory=True``)."""
    from torch.autograd.profiler import profile

    wanted = DeviceType.CUDA if device.type == "cuda" else DeviceType.CPU
    # fd 2 is silenced: Kineto logs start and stop there, and c10 warns about frees of
    # blocks allocated before the profiler started (which are rightly not counted)
    with warnings.catch_warnings(), _quiet_stderr():
        warnings.simplefilter("ignore")
        with profile(profile_memory=True) as profiler:
            call()
            _synchronize(device)
    # the raw events: no per-op summaries are built (slow for long runs)
    events = [
        (event.start_ns(), event.nbytes())
        for event in profiler.kineto_results.events()
        if event.name() == "[memory]" and event.device_type() == wanted
    ]
    events.sort(key=lambda item: item[0])  # a stable sort keeps same-time events in order
    return [nbytes for _, nbytes in events]


def _integrate_peaks(sizes: Sequence[int], io_tensor: int, io_allowance: int) -> tuple[int, int]:
    """The peak of the live bytes, and the peak with interface tensors excluded.

    An allocation of ``io_tensor`` bytes or more counts as a sequence-sized interface tensor;
    up to ``io_allowance`` bytes of such tensors are excluded from the live memory.
    """
    live = large = 0
    peak = peak_excluded = 0
    for nbytes in sizes:
        live += nbytes
        if io_tensor > 0 and abs(nbytes) >= io_tensor:
            large = max(large + nbytes, 0)
        peak = max(peak, live)
        peak_excluded = max(peak_excluded, live - min(large, io_allowance))
    return peak, peak_excluded


def peak_memory(
    call: Callable[[], object],
    device: torch.device | str = "cpu",
    io_tensor: int = 0,
    io_allowance: int = 0,
) -> tuple[int, int]:
    """Peak tensor memory (bytes) that ``call()`` allocates above its starting level.

    Returns ``(peak, peak_excluding_io)``: the second subtracts, at every instant, the live
    allocations of at least ``io_tensor`` bytes (the sequence-sized inputs, outputs and their
    gradients), up to ``io_allowance`` bytes of them. On CUDA ``peak`` is
    ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``; on the CPU both
    come from the profiler's allocation events (see the module docstring).
    """
    device = torch.device(device)
    gc.collect()
    if device.type == "cuda":
        _synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        start = torch.cuda.memory_allocated(device)
    sizes = _allocation_events(call, device)
    peak, excluded = _integrate_peaks(sizes, io_tensor, io_allowance)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device) - start
    return peak, excluded


def _available_memory(device: torch.device) -> float:
    """Bytes of memory free for a run on ``device`` (best effort)."""
    if device.type == "cuda":
        return float(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 8.0 * GIB


def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


# ------------------------------------------------------------------------------- methods


class _FirstOrder:
    """``(y, v)' = (s v, s a(y, v, x_k, t))``: a layer's ODE for torchdiffeq, with the encoded
    input ``x_k`` of step ``k`` held over ``[t_k, t_{k+1}]`` and ``s`` the per-unit step scale
    (UnICORNN's ``sigmoid(c)``: each unit runs on its own clock), or none.

    The step of an evaluation at time ``t`` is found by bisection on the grid (with
    ``perturb=True`` a stage at the end of a step is evaluated just before it). The inputs
    are split once with ``unbind``, so that the backward pass assembles their gradient once;
    indexing the sequence per step would make it build a full-length zero gradient per
    step, quadratic in the length.
    """

    def __init__(
        self, system: SecondOrderSystem, encoded: Tensor, grid: Tensor, scale: Tensor | None
    ) -> None:
        self.system = system
        self.inputs = encoded.unbind(1)
        self.times = grid.tolist()
        self.scale = scale

    def __call__(self, t: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        y, v = state
        # float(t): one host sync per evaluation (torchdiffeq's own loop syncs every step)
        k = bisect.bisect_right(self.times, float(t)) - 1
        u_k = self.inputs[min(max(k, 0), len(self.inputs) - 1)]
        if self.scale is None:
            return v, self.system.acceleration(y, v, u_k, t)
        return self.scale * v, self.scale * self.system.acceleration(y, v, u_k, t * self.scale)


def _odeint_forward(rnn: OscillatorRNN | StackedOscillatorRNN, u: Tensor, method: str) -> Tensor:
    """Each layer of ``rnn`` integrated by torchdiffeq ``odeint`` (:class:`_FirstOrder`) over
    the grid ``t_k = k dt``: ``T`` fixed steps of ``dt``, the compiled scheme's step count."""
    x = u
    for layer in compiled_layers(rnn):
        system = layer.system
        encoded = system.encode_input(x)
        dt = layer.dt.detach()
        base = float(dt) if dt.ndim == 0 else float(dt.max())
        h = layer.step_size()
        scale = None if isinstance(h, float) else h / base
        grid = torch.arange(encoded.shape[1] + 1, dtype=encoded.dtype, device=encoded.device)
        grid = grid * base
        y0 = encoded.new_zeros(encoded.shape[0], system.state_size)
        ys, _ = odeint(
            _FirstOrder(system, encoded, grid, scale),
            (y0, torch.zeros_like(y0)),
            grid,
            method=method,
            options={"perturb": True},
        )
        x = system.readout(ys[1:].transpose(0, 1), x)
    return x


@dataclass
class _Method:
    """One measured method: its module, its forward, and the parameters it trains."""

    name: str
    kind: str  # "backend" or "baseline"
    module: nn.Module
    forward: Callable[[Tensor], Tensor]
    detail: str = ""
    reversible: bool | None = None

    def parameters(self) -> list[Tensor]:
        return [p for p in self.module.parameters() if p.requires_grad]


def _build_method(
    name: str,
    case: BenchCase,
    system: SecondOrderSystem | SystemStack,
    config: BenchConfig,
    device: torch.device,
) -> _Method:
    if name == "lstm":
        lstm = nn.LSTM(config.input_size, config.hidden, batch_first=True).to(device)
        backend = "cuDNN" if device.type == "cuda" and torch.backends.cudnn.enabled else "ATen"
        return _Method(name, "baseline", lstm, lambda u: lstm(u)[0], f"torch.nn.LSTM ({backend})")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StabilityWarning)
        backend_name = "eager" if name == "odeint" else name
        rnn = compile(system, case.integrator, dt=case.dt, backend=backend_name)
    if name == "odeint":
        method = config.odeint_method
        return _Method(
            name,
            "baseline",
            rnn,
            lambda u: _odeint_forward(rnn, u, method),
            f"torchdiffeq odeint, method={method}, fixed grid t_k = k dt",
        )
    layers = compiled_layers(rnn)
    chosen = layers[0].backend.name
    detail = f"auto -> {chosen}" if name == "auto" else ""
    reversible = all(layer.integrator.is_reversible_for(layer.system) for layer in layers)
    return _Method(name, "backend", rnn, lambda u: rnn(u)[0], detail, reversible)


def _unsupported_reason(
    name: str, case: BenchCase, system: SecondOrderSystem | SystemStack
) -> str | None:
    """Why backend ``name`` cannot run ``case`` (``None`` if it can), by the backend's own
    ``unsupported_reason`` on an eager-compiled model of the case."""
    if name in BASELINES or name == "auto":
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StabilityWarning)
        rnn = compile(system, case.integrator, dt=case.dt)
    for layer in compiled_layers(rnn):
        try:
            backends.get(name, layer)
        except ValueError as error:
            message = str(error)
            prefix = f"backend '{name}' cannot run this model: "
            return message[len(prefix) :] if message.startswith(prefix) else message
    return None


def _forward_call(method: _Method, u: Tensor) -> Callable[[], object]:
    def call() -> object:
        with torch.no_grad():
            return method.forward(u)

    return call


def _training_call(method: _Method, u: Tensor, probe: Tensor) -> Callable[[], object]:
    parameters = method.parameters()

    def call() -> None:
        for parameter in parameters:
            parameter.grad = None
        y_seq = method.forward(u)
        (y_seq * probe).sum().backward()

    return call


# --------------------------------------------------------------------------------- running


def _record(system: str, method: str, kind: str, **values: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "system": system,
        "method": method,
        "kind": kind,
        "status": "ok",
        "reason": "",
        "detail": "",
        "reversible": None,
        "forward_s": None,
        "forward_backward_s": None,
        "forward_times_s": [],
        "forward_backward_times_s": [],
        "forward_peak_bytes": None,
        "forward_backward_peak_bytes": None,
        "forward_backward_io_excluded_peak_bytes": None,
        "first_call_s": None,
        "max_abs_diff_vs_eager": None,
        "finite_output": None,
    }
    record.update(values)
    return record


def _error_text(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}"
    return text if len(text) <= 200 else text[:197] + "..."


def _inputs(
    config: BenchConfig, length: int, device: torch.device, seed: int
) -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(seed)
    u = torch.randn(config.batch, length, config.input_size, generator=generator)
    probe = torch.randn(config.batch, length, config.hidden, generator=generator)
    return u.to(device), probe.to(device)


def _io_sizes(case: BenchCase, config: BenchConfig, length: int) -> tuple[int, int]:
    """(bytes of one ``batch x length x hidden`` float32 tensor, the excluded allowance)."""
    tensor = config.batch * length * config.hidden * 4
    return tensor, case.io_tensors * tensor


def _bench_system(
    case: BenchCase,
    config: BenchConfig,
    device: torch.device,
    budget: float,
    progress: tqdm,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Main-case records and sweep records of one system."""
    torch.manual_seed(config.seed)
    system = case.build(config.input_size, config.hidden).to(device)
    u, probe = _inputs(config, config.length, device, config.seed)
    records: dict[str, dict[str, Any]] = {}
    methods: dict[str, _Method] = {}
    for name in config.resolved_methods():
        kind = "baseline" if name in BASELINES else "backend"
        progress.set_postfix_str(f"{case.label} {name}: first call")
        reason = _unsupported_reason(name, case, system)
        if reason is not None:
            records[name] = _record(case.name, name, kind, status="skipped", reason=reason)
            progress.update(1 + 2 * config.repeats + 2)
            continue
        try:
            start = time.perf_counter()
            method = _build_method(name, case, system, config, device)
            _training_call(method, u, probe)()
            _synchronize(device)
            first = time.perf_counter() - start
            for _ in range(config.warmup):
                _forward_call(method, u)()
                _training_call(method, u, probe)()
        except Exception as error:  # a failing method is reported, not fatal to the run
            records[name] = _record(
                case.name, name, kind, status="error", reason=_error_text(error)
            )
            progress.update(1 + 2 * config.repeats + 2)
            continue
        methods[name] = method
        records[name] = _record(
            case.name,
            name,
            kind,
            detail=method.detail,
            reversible=method.reversible,
            first_call_s=first,
        )
        progress.update(1)

    # interleaved repeats: round r times every method once, so load changes hit all alike
    for _ in range(config.repeats):
        for name, method in methods.items():
            record = records[name]
            if record["status"] != "ok":
                progress.update(2)
                continue
            progress.set_postfix_str(f"{case.label} {name}: timing")
            try:
                record["forward_times_s"].append(_timed(_forward_call(method, u), device))
                progress.update(1)
                call = _training_call(method, u, probe)
                record["forward_backward_times_s"].append(_timed(call, device))
                progress.update(1)
            except Exception as error:
                record.update(status="error", reason=_error_text(error))
    io_tensor, io_allowance = _io_sizes(case, config, config.length)
    for name, method in methods.items():
        record = records[name]
        if record["status"] != "ok":
            progress.update(2)
            continue
        record["forward_s"] = statistics.median(record["forward_times_s"])
        record["forward_backward_s"] = statistics.median(record["forward_backward_times_s"])
        progress.set_postfix_str(f"{case.label} {name}: memory")
        try:
            record["forward_peak_bytes"] = peak_memory(_forward_call(method, u), device)[0]
            progress.update(1)
            peak, excluded = peak_memory(
                _training_call(method, u, probe), device, io_tensor, io_allowance
            )
            record["forward_backward_peak_bytes"] = peak
            record["forward_backward_io_excluded_peak_bytes"] = excluded
            progress.update(1)
        except Exception as error:
            record.update(status="error", reason=_error_text(error))
    _check_outputs(records, methods, u)
    sweep = _sweep(case, config, device, budget, records, methods, progress)
    return list(records.values()), sweep


def _check_outputs(
    records: dict[str, dict[str, Any]], methods: dict[str, _Method], u: Tensor
) -> None:
    """Sanity checks of each forward output: finite, and ``max |y - y_eager|`` (backends)."""
    with torch.no_grad():
        reference = methods["eager"].forward(u) if "eager" in methods else None
        for name, method in methods.items():
            if records[name]["status"] != "ok":
                continue
            try:
                output = method.forward(u)
            except Exception as error:
                records[name].update(status="error", reason=_error_text(error))
                continue
            records[name]["finite_output"] = bool(torch.isfinite(output).all())
            if method.kind == "backend" and reference is not None:
                difference = (output - reference).abs().max()
                records[name]["max_abs_diff_vs_eager"] = float(difference)


def _sweep(
    case: BenchCase,
    config: BenchConfig,
    device: torch.device,
    budget: float,
    records: dict[str, dict[str, Any]],
    methods: dict[str, _Method],
    progress: tqdm,
) -> list[dict[str, Any]]:
    """Forward+backward peak memory of every running method at each sweep length."""
    rows: list[dict[str, Any]] = []
    lengths = sorted(config.sweep)
    for name in records:
        method = methods.get(name)
        previous: tuple[int, float, float] | None = None  # (length, peak bytes, seconds)
        for length in lengths:
            row: dict[str, Any] = {
                "system": case.name,
                "method": name,
                "length": length,
                "status": "ok",
                "reason": "",
                "peak_bytes": None,
                "io_excluded_peak_bytes": None,
                "seconds": None,
            }
            rows.append(row)
            if method is None or records[name]["status"] != "ok":
                row.update(status="skipped", reason=records[name]["reason"] or "not run")
                progress.update(1)
                continue
            # the references are cut at the time limit (their growth is plain after a few
            # points); the other backends run every length: the growth target needs them
            limit = config.sweep_time_limit if name in REFERENCES else None
            reason = _sweep_skip_reason(previous, length, budget, limit)
            if reason is not None:
                row.update(status="skipped", reason=reason)
                progress.update(1)
                continue
            progress.set_postfix_str(f"{case.label} {name}: sweep length {length}")
            try:
                u, probe = _inputs(config, length, device, config.seed + length)
                io_tensor, io_allowance = _io_sizes(case, config, length)
                start = time.perf_counter()
                peak, excluded = peak_memory(
                    _training_call(method, u, probe), device, io_tensor, io_allowance
                )
                row["seconds"] = time.perf_counter() - start
                row.update(peak_bytes=peak, io_excluded_peak_bytes=excluded)
                previous = (length, float(peak), row["seconds"])
                del u, probe
            except Exception as error:
                row.update(status="error", reason=_error_text(error))
            progress.update(1)
    return rows


def _sweep_skip_reason(
    previous: tuple[int, float, float] | None,
    length: int,
    budget: float,
    time_limit: float | None,
) -> str | None:
    """Why a sweep point is skipped: its peak memory or time, predicted linear in the length
    from the method's previous point, exceeds the budget or the time limit."""
    if previous is None:
        return None
    scale = length / previous[0]
    memory, seconds = previous[1] * scale, previous[2] * scale
    if memory > budget:
        return f"predicted peak {memory / GIB:.1f} GiB > budget {budget / GIB:.1f} GiB"
    if time_limit is not None and seconds > time_limit:
        return f"predicted {seconds:.0f} s > limit {time_limit:.0f} s"
    return None


def _ratio(value: float | None, reference: float | None) -> float | None:
    if value is None or reference is None or reference <= 0 or value < 0:
        return None
    ratio = value / reference
    return ratio if math.isfinite(ratio) else None


_QUANTITIES = {
    "forward_time": "forward_s",
    "forward_backward_time": "forward_backward_s",
    "forward_memory": "forward_peak_bytes",
    "forward_backward_memory": "forward_backward_peak_bytes",
}


def _ratios(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    by_key = {(r["system"], r["method"]): r for r in results}
    for record in results:
        if record["status"] != "ok":
            continue
        for reference in REFERENCES:
            base = by_key.get((record["system"], reference))
            if base is None or base["status"] != "ok":
                continue
            for quantity, key in _QUANTITIES.items():
                ratio = _ratio(record[key], base[key])
                if ratio is not None:
                    rows.append(
                        {
                            "system": record["system"],
                            "method": record["method"],
                            "reference": reference,
                            "quantity": quantity,
                            "ratio": ratio,
                        }
                    )
    return rows


def _growth(sweep: list[dict[str, Any]], system: str, method: str) -> dict[str, Any] | None:
    """Peak growth from the shortest to the longest measured sweep length."""
    rows = [
        r for r in sweep if r["system"] == system and r["method"] == method and r["status"] == "ok"
    ]
    if len(rows) < 2:
        return None
    first, last = rows[0], rows[-1]
    return {
        "from_length": first["length"],
        "to_length": last["length"],
        "growth": _ratio(last["peak_bytes"], first["peak_bytes"]),
        "io_excluded_growth": _ratio(
            last["io_excluded_peak_bytes"], first["io_excluded_peak_bytes"]
        ),
    }


def _target(
    name: str, description: str, value: float | None, threshold: float, at_most: bool, note: str
) -> dict[str, Any]:
    if value is None:
        status = "N/A"
    else:
        status = "PASS" if (value <= threshold if at_most else value >= threshold) else "FAIL"
    return {
        "name": name,
        "description": description,
        "value": value,
        "threshold": threshold,
        "comparison": "<=" if at_most else ">=",
        "status": status,
        "note": note,
    }


def _targets(
    config: BenchConfig,
    device: torch.device,
    results: list[dict[str, Any]],
    ratios: list[dict[str, Any]],
    growth: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """The issue's targets, evaluated on this run's numbers (measured, never asserted)."""

    def ratio(system: str, method: str, reference: str) -> float | None:
        for row in ratios:
            if (row["system"], row["method"], row["reference"], row["quantity"]) == (
                system,
                method,
                reference,
                "forward_backward_time",
            ):
                return row["ratio"]
        return None

    case_note = "" if config.is_default_case() else "case differs from the issue's"
    cpu_note = case_note if device.type == "cpu" else "measured on CUDA; target is for the CPU"
    targets = []
    if "unicornn" in config.systems:
        targets.append(
            _target(
                "unicornn_fused_vs_lstm",
                "UnICORNN fused forward+backward time / nn.LSTM's",
                ratio("unicornn", "fused", "lstm"),
                0.2,
                True,
                cpu_note,
            )
        )
        to_eager = ratio("unicornn", "fused", "eager")
        targets.append(
            _target(
                "unicornn_fused_speedup_vs_eager",
                "UnICORNN fused forward+backward speed-up over eager",
                None if not to_eager else 1.0 / to_eager,
                20.0,
                False,
                cpu_note,
            )
        )
    if "cornn" in config.systems:
        targets.append(
            _target(
                "cornn_fused_vs_lstm",
                "CoRNN fused forward+backward time / nn.LSTM's",
                ratio("cornn", "fused", "lstm"),
                0.7,
                True,
                cpu_note,
            )
        )
    by_key = {(r["system"], r["method"]): r for r in results}
    for system, backend in ((n, b) for n in config.systems for b in ("fused", "triton")):
        record = by_key.get((system, backend))
        if record is None or record["status"] != "ok":
            continue
        row = next((g for g in growth if (g["system"], g["method"]) == (system, backend)), None)
        value = None if row is None else row["io_excluded_growth"]
        if row is None:
            sweep_note = "fewer than two sweep lengths measured"
        elif (row["from_length"], row["to_length"]) == (1000, 16000):
            sweep_note = ""
        else:
            sweep_note = f"measured over {row['from_length']}..{row['to_length']}, not 1000..16000"
        label = SYSTEMS[system].label
        description = f"{label} {backend} forward+backward peak memory growth, I/O excluded"
        if record["reversible"]:
            targets.append(
                _target(
                    f"{system}_{backend}_memory_growth",
                    description + " (reversible)",
                    value,
                    1.2,
                    True,
                    sweep_note,
                )
            )
        else:  # shown for information: the target is for the reversible backward
            measured = "-" if value is None else f"{value:.2f}x"
            targets.append(
                _target(
                    f"{system}_{backend}_memory_growth",
                    description + " (not reversible: stores every step)",
                    None,
                    1.2,
                    True,
                    f"target is for reversible schemes; measured {measured} "
                    "(Fused(recompute=True) stores sqrt(T) states)"
                    + (f", {sweep_note}" if sweep_note else ""),
                )
            )
    for record in results:
        if record["kind"] != "backend" or record["status"] != "ok":
            continue
        label = SYSTEMS[record["system"]].label
        targets.append(
            _target(
                f"{record['system']}_{record['method']}_first_call",
                f"{label} {record['method']} first call (compile + forward+backward), s",
                record["first_call_s"],
                10.0,
                True,
                case_note,
            )
        )
    gpu_case = config.batch == 128 and config.length == 1000 and config.hidden == 1000
    gpu_value = ratio("unicornn", "triton", "lstm") if device.type == "cuda" and gpu_case else None
    targets.append(
        _target(
            "unicornn_triton_vs_cudnn_lstm",
            "UnICORNN triton forward+backward time / cuDNN LSTM's (GPU)",
            gpu_value,
            0.25,
            True,
            ""
            if gpu_value is not None
            else "needs --device cuda --batch 128 --length 1000 --hidden 1000 and triton",
        )
    )
    return targets


def run_benchmark(config: BenchConfig, quiet: bool = False) -> dict[str, Any]:
    """Run the benchmark; a JSON-ready dict (``meta``, ``results``, ``ratios``, ``sweep``,
    ``growth``, ``targets``). ``quiet`` hides the progress bar."""
    device = torch.device(config.device)
    previous_threads = torch.get_num_threads()
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    budget = (
        config.memory_budget
        if config.memory_budget is not None
        else 0.5 * _available_memory(device)
    )
    methods = config.resolved_methods()
    per_system = len(methods) * (1 + 2 * config.repeats + 2 + len(config.sweep))
    meta = {
        "oscdyn": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "threads": torch.get_num_threads(),
        "dtype": "float32",
        "load_average_start": _load_average(),
        "memory_budget_bytes": budget,
        "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else "",
        "config": _jsonable(asdict(config)),
        "methods": list(methods),
        "systems": {
            name: {
                "label": SYSTEMS[name].label,
                "integrator": SYSTEMS[name].integrator,
                "dt": SYSTEMS[name].dt,
                "settings": SYSTEMS[name].settings,
            }
            for name in config.systems
        },
    }
    results: list[dict[str, Any]] = []
    sweep: list[dict[str, Any]] = []
    start = time.perf_counter()
    try:
        with tqdm(
            total=per_system * len(config.systems),
            desc="oscdyn bench",
            disable=quiet,
            file=sys.stderr,
            leave=False,
        ) as progress:
            for name in config.systems:
                system_results, system_sweep = _bench_system(
                    SYSTEMS[name], config, device, budget, progress
                )
                results += system_results
                sweep += system_sweep
    finally:
        torch.set_num_threads(previous_threads)
    meta["load_average_end"] = _load_average()
    meta["wall_s"] = time.perf_counter() - start
    ratios = _ratios(results)
    growth = []
    for name in config.systems:
        for method in methods:
            row = _growth(sweep, name, method)
            if row is not None:
                growth.append({"system": name, "method": method, **row})
    targets = _targets(config, device, results, ratios, growth)
    return {
        "meta": meta,
        "results": results,
        "ratios": ratios,
        "sweep": sweep,
        "growth": growth,
        "targets": targets,
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# ------------------------------------------------------------------------------ reporting


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e3:.1f}"


def _mib(nbytes: float | None) -> str:
    if nbytes is None:
        return "-"
    value = nbytes / MIB
    digits = 0 if value >= 100 else 1 if value >= 10 else 2 if value >= 1 else 3
    return f"{value:.{digits}f}"


def _x(ratio: float | None) -> str:
    if ratio is None:
        return "-"
    return f"{ratio:.3f}" if ratio < 0.1 else f"{ratio:.2f}"


#: force evaluations per step of torchdiffeq's fixed-step methods
_STAGES = {"euler": "1", "midpoint": "2", "rk4": "4"}


def format_table(report: dict[str, Any]) -> str:
    """The plain-text report: per system an absolute table, a ratio table and the memory
    sweep; then the targets as PASS/FAIL lines and the methodology notes."""
    meta = report["meta"]
    config = meta["config"]
    load = meta.get("load_average_start")
    load_end = meta.get("load_average_end")
    lines = [
        f"oscdyn bench: {meta['device_name']}, torch {meta['torch']}, "
        f"{meta['threads']} thread(s), {meta['dtype']}; batch {config['batch']}, length "
        f"{config['length']}, hidden {config['hidden']}, input {config['input_size']}; "
        f"median of {config['repeats']} interleaved repeats",
        f"load average (1, 5, 15 min) at start {load}, at end {load_end}; "
        f"{meta['cpu_count']} CPUs; run took {meta.get('wall_s', 0.0):.0f} s",
    ]
    busiest = max((x[0] for x in (load, load_end) if x), default=0.0)
    if meta["device"] == "cpu" and busiest > (meta["cpu_count"] or 1) - 0.5:
        lines.append(
            "WARNING: the machine was busy (1-min load >= the CPU count): other processes "
            "competed for the cores, so times (multi-threaded ops most) are inflated and noisy"
        )
    results = report["results"]
    ratio_index = {
        (r["system"], r["method"], r["reference"], r["quantity"]): r["ratio"]
        for r in report["ratios"]
    }
    for system in config["systems"]:
        info = meta["systems"][system]
        lines += ["", f"{info['label']} ({info['integrator']}; {info['settings']})", ""]
        rows, skipped = [], []
        for record in (r for r in results if r["system"] == system):
            name = record["method"] + (" *" if record["kind"] == "baseline" else "")
            if record["status"] != "ok":
                skipped.append((name, f"{record['status']}: {record['reason']}"))
                continue
            diff = record["max_abs_diff_vs_eager"]
            rows.append(
                [
                    name,
                    _ms(record["forward_s"]),
                    _ms(record["forward_backward_s"]),
                    _mib(record["forward_peak_bytes"]),
                    _mib(record["forward_backward_peak_bytes"]),
                    f"{record['first_call_s']:.2f}",
                    "-" if diff is None else f"{diff:.1e}",
                    record["detail"],
                ]
            )
        header = [
            "method",
            "fwd ms",
            "fwd+bwd ms",
            "fwd MiB",
            "fwd+bwd MiB",
            "first s",
            "|dy| vs eager",
            "",
        ]
        table = aligned_table(header, rows, left=(0, len(header) - 1))
        for record in results:
            if record["system"] == system and record["finite_output"] is False:
                skipped.append(("WARNING", f"{record['method']}: the output is not finite"))
        width = max(
            len(name) for name in ["method", *(r[0] for r in rows), *(n for n, _ in skipped)]
        )
        lines += table + [f"{name.ljust(width)}  {text}" for name, text in skipped]
        ok = [r for r in results if r["system"] == system and r["status"] == "ok"]
        if ok:
            lines += ["", "ratios (method / reference; < 1: faster or smaller), fwd | fwd+bwd:"]
            ratio_header = ["method"]
            for reference in REFERENCES:
                ratio_header += [f"time/{reference}", f"mem/{reference}"]
            ratio_rows = []
            for record in ok:
                cells = [record["method"] + (" *" if record["kind"] == "baseline" else "")]
                for reference in REFERENCES:
                    for prefix in ("time", "memory"):
                        key = (system, record["method"], reference)
                        fwd = ratio_index.get((*key, f"forward_{prefix}"))
                        both = ratio_index.get((*key, f"forward_backward_{prefix}"))
                        cells.append(f"{_x(fwd)} | {_x(both)}")
                ratio_rows.append(cells)
            lines += aligned_table(ratio_header, ratio_rows)
        sweep = [row for row in report["sweep"] if row["system"] == system]
        lengths = sorted({row["length"] for row in sweep})
        if lengths:
            lines += [
                "",
                "memory sweep: forward+backward peak MiB (I/O excluded in brackets)",
            ]
            sweep_header = [
                "method",
                *(str(length) for length in lengths),
                "growth",
                "excl I/O",
                "over",
            ]
            sweep_rows = []
            for method in dict.fromkeys(row["method"] for row in sweep):
                cells = [method]
                for length in lengths:
                    row = next(r for r in sweep if r["method"] == method and r["length"] == length)
                    if row["status"] == "ok":
                        cells.append(
                            f"{_mib(row['peak_bytes'])} ({_mib(row['io_excluded_peak_bytes'])})"
                        )
                    else:
                        cells.append(row["status"])
                growth = next(
                    (
                        g
                        for g in report["growth"]
                        if g["system"] == system and g["method"] == method
                    ),
                    None,
                )
                cells += (
                    ["-", "-", ""]
                    if growth is None
                    else [
                        _x(growth["growth"]),
                        _x(growth["io_excluded_growth"]),
                        f"{growth['from_length']}..{growth['to_length']}",
                    ]
                )
                sweep_rows.append(cells)
            lines += aligned_table(sweep_header, sweep_rows)
            skipped = [row for row in sweep if row["status"] != "ok" and row["reason"]]
            reasons = dict.fromkeys(
                f"  {row['method']} @ {row['length']}: {row['reason']}"
                for row in skipped
                if row["reason"].startswith("predicted") or row["status"] == "error"
            )
            lines += list(reasons)
    lines += ["", "targets (measured in this run, not asserted):"]
    for target in report["targets"]:
        value = target["value"]
        shown = "-" if value is None else f"{value:.3g}"
        note = f"  [{target['note']}]" if target["note"] else ""
        lines.append(
            f"  {target['status']:4}  {target['description']}: {shown} "
            f"(target {target['comparison']} {target['threshold']:g}){note}"
        )
    odeint_method = config["odeint_method"]
    lines += [
        "",
        "notes:",
        "  * baseline. lstm: torch.nn.LSTM(input, hidden, batch_first=True), one layer.",
        f"    odeint: torchdiffeq odeint(method='{odeint_method}', plain autograd, no adjoint) "
        "on y' = s v, v' = s a(y, v, x_k, t) over the",
        "    grid t_k = k dt: the compiled scheme's step count; "
        f"{_STAGES.get(odeint_method, 'several')} force evaluation(s) per step (the compiled "
        "schemes: 1);",
        "    s = per-unit step scale (UnICORNN's sigmoid(c)), x_k = encoded input held over "
        "step k. torchdiffeq's fixed-grid solver writes",
        "    each output into a preallocated tensor in place, so its backward copies the "
        "full-length gradient once per step (quadratic in length).",
        "  time: perf_counter median; fwd under no_grad; fwd+bwd = forward, "
        "loss sum(y_seq * probe), backward.",
        "  memory: peak tensor bytes allocated above the level at the call's start "
        + (
            "(torch.cuda.max_memory_allocated)."
            if meta["device"].startswith("cuda")
            else "(CPU: profiler allocation events, summed in time order)."
        ),
        "  I/O excluded: up to 4 live batch x length x hidden tensors (output, encoded input, "
        "their gradients; 6 with a readout: the positions and their gradient) subtracted.",
        "  first s: compile (module construction) + first forward+backward, in this process "
        "(torch already initialised).",
        "  sweep: one profiled forward+backward per point; points predicted (linear in length) "
        "to exceed the memory budget, or for the",
        f"    references (eager, lstm, odeint) the time limit ({config['sweep_time_limit']} s), "
        "are skipped.",
    ]
    return "\n".join(lines)


def _dataset(report: dict[str, Any]) -> xr.Dataset:
    """The report as an ``xarray.Dataset`` (dims ``system``, ``method``, ``reference``,
    ``length``); the metadata and targets go into attributes (JSON text)."""
    import json

    meta = report["meta"]
    systems = list(meta["config"]["systems"])
    methods = list(meta["methods"])
    shape = (len(systems), len(methods))

    def grid(key: str) -> np.ndarray:
        values = np.full(shape, np.nan)
        for record in report["results"]:
            value = record[key]
            if value is not None:
                i, j = systems.index(record["system"]), methods.index(record["method"])
                values[i, j] = value
        return values

    status = np.full(shape, "", dtype=object)
    reason = np.full(shape, "", dtype=object)
    for record in report["results"]:
        i, j = systems.index(record["system"]), methods.index(record["method"])
        status[i, j], reason[i, j] = record["status"], record["reason"]
    data: dict[str, Any] = {
        key: (("system", "method"), grid(key))
        for key in (
            "forward_s",
            "forward_backward_s",
            "forward_peak_bytes",
            "forward_backward_peak_bytes",
            "forward_backward_io_excluded_peak_bytes",
            "first_call_s",
            "max_abs_diff_vs_eager",
        )
    }
    data["status"] = (("system", "method"), status.astype(str))
    data["reason"] = (("system", "method"), reason.astype(str))
    quantities = list(_QUANTITIES)
    ratio = np.full((*shape, len(REFERENCES), len(quantities)), np.nan)
    for row in report["ratios"]:
        ratio[
            systems.index(row["system"]),
            methods.index(row["method"]),
            REFERENCES.index(row["reference"]),
            quantities.index(row["quantity"]),
        ] = row["ratio"]
    data["ratio"] = (("system", "method", "reference", "quantity"), ratio)
    lengths = sorted({row["length"] for row in report["sweep"]})
    coords: dict[str, Any] = {
        "system": systems,
        "method": methods,
        "reference": list(REFERENCES),
        "quantity": quantities,
    }
    if lengths:
        peaks = np.full((*shape, len(lengths)), np.nan)
        excluded = np.full_like(peaks, np.nan)
        for row in report["sweep"]:
            if row["status"] == "ok":
                index = (
                    systems.index(row["system"]),
                    methods.index(row["method"]),
                    lengths.index(row["length"]),
                )
                peaks[index] = row["peak_bytes"]
                excluded[index] = row["io_excluded_peak_bytes"]
        data["sweep_peak_bytes"] = (("system", "method", "length"), peaks)
        data["sweep_io_excluded_peak_bytes"] = (("system", "method", "length"), excluded)
        coords["length"] = lengths
    attrs = {
        "meta": json.dumps(_jsonable(meta), sort_keys=True),
        "targets": json.dumps(_jsonable(report["targets"]), sort_keys=True),
        "growth": json.dumps(_jsonable(report["growth"]), sort_keys=True),
    }
    return xr.Dataset(data, coords=coords, attrs=attrs)


def write_results(
    report: dict[str, Any], out: str | os.PathLike[str], table: str | None = None
) -> dict[str, Path]:
    """Write ``bench.json``, ``bench.nc`` and ``bench.txt`` (the table) into ``out``,
    each atomically; returns the paths by kind."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    text = format_table(report) if table is None else table
    return {
        "json": write_json(_jsonable(report), folder / "bench.json"),
        "netcdf": write_netcdf(_dataset(report), folder / "bench.nc"),
        "table": write_text(text + "\n", folder / "bench.txt"),
    }


# ------------------------------------------------------------------------------------ CLI


def _names(text: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    if not names:
        raise argparse.ArgumentTypeError("give at least one name (comma-separated)")
    return names


def _lengths(text: str) -> tuple[int, ...]:
    if text.strip().lower() in ("", "none", "0"):
        return ()
    try:
        lengths = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"lengths must be integers: {text!r}") from error
    if any(length < 1 for length in lengths):
        raise argparse.ArgumentTypeError(f"lengths must be positive: {text!r}")
    return lengths


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``oscdyn bench`` (and ``benchmarks/bench_backends.py``)."""
    known = ", ".join(_known_methods())
    parser.add_argument(
        "--systems",
        type=_names,
        default=None,
        metavar="NAMES",
        help=f"comma-separated systems ({', '.join(SYSTEMS)}; default: all)",
    )
    parser.add_argument(
        "--backends",
        type=_names,
        default=None,
        metavar="NAMES",
        help="comma-separated oscdyn backends and baselines to measure "
        f"({known}; default: every backend in oscdyn.backends.available(), those that "
        "cannot run the case listed with the reason, plus the baselines lstm and odeint)",
    )
    parser.add_argument("--batch", type=int, default=None, help="batch size (default 64)")
    parser.add_argument("--length", type=int, default=None, help="sequence length (default 784)")
    parser.add_argument("--hidden", type=int, default=None, help="hidden units (default 128)")
    parser.add_argument("--input-size", type=int, default=None, help="input size (default 1)")
    parser.add_argument(
        "--repeats", type=int, default=None, help="timed calls per method and mode (default 5)"
    )
    parser.add_argument(
        "--warmup", type=int, default=None, help="untimed calls before timing (default 1)"
    )
    parser.add_argument(
        "--sweep",
        type=_lengths,
        default=None,
        metavar="LENGTHS",
        help="sequence lengths of the memory sweep (default 1000,2000,4000,8000,16000; "
        "'none' for no sweep)",
    )
    parser.add_argument(
        "--device", choices=("cpu", "cuda"), default="cpu", help="device (default: cpu)"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)"
    )
    parser.add_argument(
        "--odeint-method",
        default="rk4",
        choices=("euler", "midpoint", "rk4"),
        help="fixed-step torchdiffeq method of the odeint baseline, one step per input "
        "sample (default: rk4; euler and midpoint blow up on the undamped UnICORNN at its dt)",
    )
    parser.add_argument(
        "--max-memory",
        type=float,
        default=None,
        metavar="GIB",
        help="skip sweep points predicted to need more (default: half the available memory)",
    )
    parser.add_argument(
        "--sweep-time-limit",
        type=float,
        default=None,
        metavar="SECONDS",
        help="skip sweep points of the references (eager, lstm, odeint) predicted to take "
        "longer (default 30; 0 for no limit); the other backends run every length",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of parameters and inputs")
    parser.add_argument(
        "--out", default="oscdyn-bench", metavar="DIR", help="output folder (default: %(default)s)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a small case (batch 16, length 128, hidden 32, 3 repeats, sweep 128,256,512)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar or file messages")


def config_from_args(args: argparse.Namespace) -> BenchConfig:
    """The :class:`BenchConfig` of parsed ``oscdyn bench`` options."""
    overrides: dict[str, Any] = {}
    pairs = {
        "systems": "systems",
        "backends": "methods",
        "batch": "batch",
        "length": "length",
        "hidden": "hidden",
        "input_size": "input_size",
        "repeats": "repeats",
        "warmup": "warmup",
        "sweep": "sweep",
        "threads": "threads",
        "seed": "seed",
    }
    for option, key in pairs.items():
        value = getattr(args, option, None)
        if value is not None:
            overrides[key] = value
    overrides["device"] = getattr(args, "device", "cpu")
    overrides["odeint_method"] = getattr(args, "odeint_method", "rk4")
    max_memory = getattr(args, "max_memory", None)
    if max_memory is not None:
        overrides["memory_budget"] = max_memory * GIB
    time_limit = getattr(args, "sweep_time_limit", None)
    if time_limit is not None:
        overrides["sweep_time_limit"] = time_limit if time_limit > 0 else None
    if getattr(args, "quick", False):
        return BenchConfig.quick(**overrides)
    return replace(BenchConfig(), **overrides)


def bench_command(args: argparse.Namespace) -> int:
    """Run ``oscdyn bench``: print the table, write the files. Exit status 0, or 1 when a
    method failed with an error (its row says which); targets never change the status."""
    try:
        config = config_from_args(args)
    except ValueError as error:
        print(f"oscdyn bench: error: {error}", file=sys.stderr)
        return 2
    report = run_benchmark(config, quiet=args.quiet)
    table = format_table(report)
    paths = write_results(report, args.out, table)
    print(table)
    if not args.quiet:
        print()
        for path in paths.values():
            print(f"wrote {path}")
    failed = any(record["status"] == "error" for record in report["results"])
    return 1 if failed else 0
