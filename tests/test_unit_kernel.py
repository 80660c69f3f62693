"""The fused backend's C kernels for independent-unit recurrences (UnICORNN layers,
LinearOscillators, diagonal harmonic oscillators): they agree with the torch-op path and
with eager, they are the path taken on the CPU, their build cache, and the fallback to the
torch operations without a compiler."""

from __future__ import annotations

import copy
import ctypes
import threading
import warnings
from pathlib import Path

import pytest
import torch

import oscdyn
from oscdyn.backends import cpu_kernels
from oscdyn.systems import HarmonicOscillator, LinearOscillators, UnICORNN

SCHEMES = ["symplectic_euler", "imex", "leapfrog"]
STEPS = 25
#: relative error allowed against the torch-op path and eager, per dtype
TOLERANCE = {torch.float64: 1e-10, torch.float32: 1e-5}


@pytest.fixture(scope="module")
def kernels() -> None:
    """Skip where the kernels cannot be built (no C compiler): the fallback tests still run."""
    for dtype in (torch.float32, torch.float64):
        reason = cpu_kernels.unit_kernel_unavailable_reason(dtype)
        if reason is not None:
            pytest.skip(f"C kernels unavailable for {dtype}: {reason}")


def _systems() -> list[tuple[str, object, float, bool]]:
    """(name, system, dt, driven): unit counts not a multiple of the vector width, so both
    the vector loops and their scalar remainders run."""
    torch.manual_seed(5)
    omega = torch.linspace(0.5, 2.0, 11)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # initialising a (19, 0) input weight
        free_unicornn = UnICORNN(0, 19).layers[0]
    return [
        ("unicornn", UnICORNN(2, 19).layers[0], 0.19, True),
        ("unicornn free", free_unicornn, 0.19, False),  # x: the expanded bias
        ("linoss", LinearOscillators(2, 19, 3), 0.3, True),
        ("harmonic damped", HarmonicOscillator(omega, damping=0.3, input_size=2), 0.1, True),
        ("harmonic", HarmonicOscillator(omega, input_size=2), 0.1, True),
        ("harmonic free", HarmonicOscillator(omega, damping=0.3), 0.1, False),  # no x
    ]


def _compiled(system, scheme: str, dt: float, backend: str, dtype: torch.dtype):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", oscdyn.StabilityWarning)
        rnn = oscdyn.compile(copy.deepcopy(system), scheme, dt, backend=backend, learn_dt=True)
    if backend == "fused":
        rnn.backend.min_anchor_spacing = 6  # several anchors
    return rnn.to(dtype)


def _outputs_and_grads(rnn, u, y0, v0) -> list[torch.Tensor]:
    """Positions, final state and the gradients of a loss on all three w.r.t. the input,
    the initial state and every parameter (zeros where unused)."""
    y_seq, (y_T, v_T) = rnn(u, (y0, v0), steps=STEPS)
    loss = (y_seq**2).sum() + (y_T * v_T).sum()
    inputs = [y0, v0, *rnn.parameters()] + ([u] if u is not None else [])
    grads = torch.autograd.grad(loss, inputs, allow_unused=True)
    grads = [torch.zeros_like(x) if g is None else g for g, x in zip(grads, inputs, strict=True)]
    return [y_seq.detach(), y_T.detach(), v_T.detach(), *grads]


def _relative_error(got: torch.Tensor, want: torch.Tensor) -> float:
    """Largest difference over the reference's largest magnitude, at least 1 (as in
    test_backend_fused: a sum that cancels, like the learned step's gradient, is not
    judged against its own small value)."""
    if want.numel() == 0:  # UnICORNN(0, ...)'s input weight
        return 0.0
    return ((got - want).abs().max() / want.abs().max().clamp(min=1.0)).item()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("scheme", SCHEMES)
def test_kernel_matches_torch_ops_and_eager(
    kernels: None, monkeypatch: pytest.MonkeyPatch, scheme: str, dtype: torch.dtype
) -> None:
    for name, system, dt, driven in _systems():
        eager = _compiled(system, scheme, dt, "eager", dtype)
        fused = _compiled(system, scheme, dt, "fused", dtype)
        torch.manual_seed(6)
        u = torch.randn(3, STEPS, 2, dtype=dtype, requires_grad=True) if driven else None
        y0 = torch.randn(3, system.state_size, dtype=dtype, requires_grad=True)
        v0 = torch.randn(3, system.state_size, dtype=dtype, requires_grad=True)
        with_kernel = _outputs_and_grads(fused, u, y0, v0)
        with monkeypatch.context() as patch:
            patch.setattr(cpu_kernels, "unit_kernel_available", lambda dtype=None: False)
            with_torch_ops = _outputs_and_grads(fused, u, y0, v0)
        references = {"torch ops": with_torch_ops, "eager": _outputs_and_grads(eager, u, y0, v0)}
        for reference, expected in references.items():
            for index, (got, want) in enumerate(zip(with_kernel, expected, strict=True)):
                error = _relative_error(got, want)
                assert error < TOLERANCE[dtype], (
                    f"{name}/{scheme}/{dtype}: output {index} vs {reference}: {error:.1e}"
                )


def test_kernel_is_used_and_respects_wanted_gradients(
    kernels: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    for name in ("unit_forward", "unit_backward"):
        original = getattr(cpu_kernels, name)

        def counted(*args, _original=original, _name=name, **kwargs):
            calls.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(cpu_kernels, name, counted)
    rnn = _compiled(UnICORNN(1, 16).layers[0], "symplectic_euler", 0.19, "fused", torch.float32)
    rnn.system.input_map.requires_grad_(False)  # only some parameters want a gradient
    u = torch.randn(2, 30, 1)
    y_seq, _ = rnn(u)
    y_seq.sum().backward()
    assert calls == ["unit_forward", "unit_backward"]
    assert rnn.system.input_map.weight.grad is None
    assert rnn.system.recurrent_weight.grad.abs().sum() > 0


def test_double_backward_is_refused() -> None:
    rnn = _compiled(UnICORNN(1, 4).layers[0], "symplectic_euler", 0.19, "fused", torch.float64)
    u = torch.randn(2, 10, 1, dtype=torch.float64, requires_grad=True)
    y_seq, _ = rnn(u)
    with pytest.raises(RuntimeError, match="create_graph"):
        torch.autograd.grad(y_seq.sum(), u, create_graph=True)


_STUB = """
#include <stdint.h>
int64_t oscdyn_units_struct_size(void) { return %d; }
int oscdyn_units_forward_f32(const void *args) { return 0; }
int oscdyn_units_backward_f32(const void *args) { return 0; }
"""


@pytest.fixture
def stub_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tiny stand-in for the kernel source: it builds in milliseconds."""
    if cpu_kernels._compiler() is None:
        pytest.skip("no C compiler")
    source = tmp_path / "stub.c"
    source.write_text(_STUB % ctypes.sizeof(cpu_kernels._Args))
    monkeypatch.setattr(cpu_kernels, "_SOURCE", source)
    return source


def _counting_compiles(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    built: list[Path] = []
    original = cpu_kernels._compile

    def compile_(command: list[str], target: Path) -> None:
        built.append(target)
        original(command, target)

    monkeypatch.setattr(cpu_kernels, "_compile", compile_)
    return built


def test_cache_reuses_the_library_and_rebuilds_a_corrupted_one(
    stub_source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = _counting_compiles(monkeypatch)
    cpu_kernels.load_unit_library(torch.float32, tmp_path / "a")
    assert len(built) == 1 and built[0].exists()
    library = built[0]
    # leftovers of an interrupted build, next to the library, are ignored
    (library.parent / f"{library.name}.123.deadbeef.tmp").write_bytes(b"\x7fELF partial")
    cpu_kernels.load_unit_library(torch.float32, tmp_path / "a")
    assert len(built) == 1, "the second load rebuilt the library"
    # a corrupted library (in another directory: a loaded one must not be overwritten)
    corrupted = tmp_path / "b" / library.name
    corrupted.parent.mkdir()
    corrupted.write_bytes(b"not a shared library")
    cpu_kernels.load_unit_library(torch.float32, corrupted.parent)
    assert built[1:] == [corrupted]
    assert [p.name for p in corrupted.parent.iterdir()] == [library.name]
    # another source is another file
    stub_source.write_text(stub_source.read_text() + "\n/* changed */\n")
    cpu_kernels.load_unit_library(torch.float32, tmp_path / "a")
    assert len(built) == 3 and built[2].parent == library.parent and built[2] != library


def test_concurrent_builds_leave_one_complete_library(stub_source: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    errors: list[Exception] = []

    def build() -> None:
        try:
            cpu_kernels.load_unit_library(torch.float32, cache)
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=build) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert [p.suffix for p in cache.iterdir()] == [".so"]  # no temporary files left


def test_library_with_another_argument_layout_is_refused(stub_source: Path, tmp_path: Path) -> None:
    stub_source.write_text(_STUB % (ctypes.sizeof(cpu_kernels._Args) + 8))
    with pytest.raises(cpu_kernels.KernelBuildError, match="struct size"):
        cpu_kernels.load_unit_library(torch.float32, tmp_path)


def _fallback_matches_eager() -> None:
    torch.manual_seed(7)
    system = UnICORNN(2, 9).layers[0]
    eager = _compiled(system, "leapfrog", 0.19, "eager", torch.float64)
    fused = _compiled(system, "leapfrog", 0.19, "fused", torch.float64)
    u = torch.randn(2, STEPS, 2, dtype=torch.float64, requires_grad=True)
    y0 = torch.randn(2, 9, dtype=torch.float64, requires_grad=True)
    v0 = torch.zeros(2, 9, dtype=torch.float64, requires_grad=True)
    for got, want in zip(
        _outputs_and_grads(fused, u, y0, v0), _outputs_and_grads(eager, u, y0, v0), strict=True
    ):
        assert _relative_error(got, want) < 1e-10


def test_fallback_without_a_compiler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OSCDYN_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))  # no cc, gcc or clang on it
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setattr(cpu_kernels, "_loaded", {})
    monkeypatch.setattr(cpu_kernels, "unit_forward", None)  # would fail if called
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no compiler is no surprise: no warning
        assert not cpu_kernels.unit_kernel_available(torch.float64)
        _fallback_matches_eager()
    assert "no C compiler" in cpu_kernels.unit_kernel_unavailable_reason(torch.float64)


def test_fallback_when_the_build_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if cpu_kernels._compiler() is None:
        pytest.skip("no C compiler")
    monkeypatch.setenv("OSCDYN_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("CC", f"{cpu_kernels._compiler()[0]} -fno-such-option")
    monkeypatch.setattr(cpu_kernels, "_loaded", {})
    with pytest.warns(RuntimeWarning, match="torch operations") as record:
        _fallback_matches_eager()
        assert not cpu_kernels.unit_kernel_available(torch.float32)
    assert len(record) == 1  # one warning per process
    assert "no-such-option" in cpu_kernels.unit_kernel_unavailable_reason(torch.float32)
    assert list(tmp_path.glob("kernels/*")) == []  # nothing half-built left behind
