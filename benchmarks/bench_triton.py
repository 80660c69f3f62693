"""UnICORNN or coRNN on a GPU: the triton backend against eager, fused and cuDNN's LSTM.

Times the forward pass (under ``torch.no_grad``) and forward+backward (``y_seq.backward``
with a fixed random cotangent; parameter gradients included) of one UnICORNN layer or one
coRNN (``--system cornn``; symplectic_euler, the psMNIST gamma and epsilon), input
projection ``V u + b`` included, next to an ``nn.LSTM`` of the same hidden size (cuDNN),
all in one run: CUDA events around each call after warm-up, the median of the repeats.
Prints a table with ratios to the LSTM and to eager, and writes JSON with ``--json``.

    python benchmarks/bench_triton.py                    # hidden 1000, batch 128, length 1000
    python benchmarks/bench_triton.py --inputs 1 --skip-slow --sweep --precision tf32
    python benchmarks/bench_triton.py --system cornn --hidden 128 --batch 50 --inputs 2 --sweep

Needs CUDA and Triton.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import oscdyn  # noqa: E402
from oscdyn.backends.eager import Eager  # noqa: E402
from oscdyn.backends.fused import Fused  # noqa: E402
from oscdyn.backends.triton_cornn import PRECISIONS  # noqa: E402
from oscdyn.backends.triton_kernels import Triton  # noqa: E402
from oscdyn.systems import CoRNN, UnICORNN  # noqa: E402


def _median_ms(fn: Callable[[], object], warmup: int, repeat: int) -> float:
    for _ in range(warmup):
        fn()
    if not torch.cuda.is_available():  # a dry run on the CPU (TRITON_INTERPRET=1)
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            fn()
            times.append(1e3 * (time.perf_counter() - start))
        return statistics.median(times)
    torch.cuda.synchronize()
    times = []
    for _ in range(repeat):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def _peak_mib(fn: Callable[[], object]) -> float:
    if not torch.cuda.is_available():
        return float("nan")
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    fn()
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - base) / 2**20


def _clear(module: nn.Module) -> None:
    for p in module.parameters():
        p.grad = None


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--system", choices=["unicornn", "cornn"], default="unicornn")
    parser.add_argument("--hidden", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--length", type=int, default=1000)
    parser.add_argument("--inputs", type=int, default=1000, help="input size (default: hidden)")
    parser.add_argument("--dt", type=float, default=None, help="unicornn 0.19, cornn 0.076")
    parser.add_argument("--repeat", type=int, default=20, help="repeats of the fast rows")
    parser.add_argument("--slow-repeat", type=int, default=3, help="repeats of eager and fused")
    parser.add_argument("--skip-slow", action="store_true", help="leave out eager and fused")
    parser.add_argument(
        "--sweep", action="store_true", help="also time other triton blocks (coRNN: precisions)"
    )
    parser.add_argument(
        "--precision",
        choices=["default", "tf32", "fp32"],
        default="default",
        help="default: torch's (TF32 in cuDNN's LSTM, not in matmuls); tf32: both; fp32: neither",
    )
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--dry-run", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not torch.cuda.is_available() and not args.dry_run:
        raise SystemExit("bench_triton needs a CUDA GPU (or --dry-run with TRITON_INTERPRET=1)")
    if args.precision != "default":
        torch.backends.cuda.matmul.allow_tf32 = args.precision == "tf32"
        torch.backends.cudnn.allow_tf32 = args.precision == "tf32"
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    batch, length, hidden, inputs = args.batch, args.length, args.hidden, args.inputs

    if args.system == "cornn":
        layer, dt = CoRNN(inputs, hidden, gamma=0.4, epsilon=8.0).to(device), 0.076
    else:
        layer, dt = UnICORNN(inputs, hidden).layers[0].to(device), 0.19
    dt = dt if args.dt is None else args.dt
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", oscdyn.StabilityWarning)
        rnn = oscdyn.compile(layer, "symplectic_euler", dt).to(device)
    lstm = nn.LSTM(inputs, hidden, batch_first=True).to(device)
    u = torch.randn(batch, length, inputs, device=device)
    cotangent = torch.randn(batch, length, hidden, device=device)

    def oscillator(backend):
        def forward() -> None:
            rnn.backend = backend
            with torch.no_grad():
                rnn(u)

        def train() -> None:
            rnn.backend = backend
            _clear(rnn)
            y_seq, _ = rnn(u)
            y_seq.backward(cotangent)

        return forward, train

    def lstm_calls():
        def forward() -> None:
            with torch.no_grad():
                lstm(u)

        def train() -> None:
            _clear(lstm)
            out, _ = lstm(u)
            out.backward(cotangent)

        return forward, train

    def recurrence_only(backend):
        """The triton kernels alone, on an encoded input given (no input projection)."""
        with torch.no_grad():
            encoded = layer.encode_input(u)
        encoded.requires_grad_()
        zeros = torch.zeros(batch, hidden, device=device)

        def forward() -> None:
            with torch.no_grad():
                backend.run(rnn, encoded, zeros, zeros, length)

        def train() -> None:
            _clear(rnn)
            encoded.grad = None
            y_seq, _, _ = backend.run(rnn, encoded, zeros, zeros, length)
            y_seq.backward(cotangent)

        return forward, train

    rows: list[tuple[str, tuple, bool]] = [("lstm (cuDNN)", lstm_calls(), False)]
    system = args.system
    tritons = [(f"{system} triton", Triton())]
    if args.sweep and system == "cornn":
        tritons += [(f"  triton {p}", Triton(precision=p)) for p in PRECISIONS[1:]]
    elif args.sweep:
        tritons += [(f"  triton block={b}", Triton(block=b)) for b in (32, 64, 128, 256)]
    for name, backend in tritons:
        reason = backend.unsupported_reason(rnn)
        if reason is None:
            rows.append((name, oscillator(backend), False))
        else:
            print(f"  skipped {name.strip()}: {reason}")
    triton_runs = Triton().unsupported_reason(rnn) is None
    if triton_runs:
        rows.append(("  triton recurrence only", recurrence_only(Triton()), False))
    if not args.skip_slow:
        rows.append((f"{system} fused", oscillator(Fused()), True))
        rows.append((f"{system} eager", oscillator(Eager()), True))

    results = []
    for name, (forward, train), slow in rows:
        repeat = args.slow_repeat if slow else args.repeat
        warmup = 1 if slow else 3
        forward_ms = _median_ms(forward, warmup, repeat)
        train_ms = _median_ms(train, warmup, repeat)
        peak = _peak_mib(train)
        results.append({"name": name, "forward_ms": forward_ms, "train_ms": train_ms,
                        "peak_mib": peak})  # fmt: skip
        print(f"  timed {name}: {forward_ms:.2f} ms / {train_ms:.2f} ms", flush=True)

    fastest = Triton() if triton_runs else Fused()
    check = _check(rnn, u, cotangent, fastest) if not args.skip_slow else None

    lstm_row = results[0]
    eager_row = next((r for r in results if r["name"] == f"{system} eager"), None)
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu (dry run)"
    print()
    label = "coRNN" if system == "cornn" else "UnICORNN layer"
    print(
        f"{label} vs LSTM on {gpu}: batch {batch}, length {length}, hidden {hidden}, "
        f"input {inputs}, float32; torch {torch.__version__}, TF32 matmul "
        f"{torch.backends.cuda.matmul.allow_tf32}, TF32 cuDNN {torch.backends.cudnn.allow_tf32}"
    )
    header = (
        f"{'':26s} {'fwd ms':>9s} {'fwd+bwd ms':>11s} {'x LSTM fwd':>10s} "
        f"{'x LSTM f+b':>10s} {'x eager f+b':>11s} {'peak MiB':>9s}"
    )
    print(header)
    for row in results:
        vs_eager = f"{row['train_ms'] / eager_row['train_ms']:.4f}" if eager_row else "-"
        row["ratio_lstm_forward"] = row["forward_ms"] / lstm_row["forward_ms"]
        row["ratio_lstm_train"] = row["train_ms"] / lstm_row["train_ms"]
        print(
            f"{row['name']:26s} {row['forward_ms']:9.2f} {row['train_ms']:11.2f} "
            f"{row['ratio_lstm_forward']:10.3f} {row['ratio_lstm_train']:10.3f} "
            f"{vs_eager:>11s} {row['peak_mib']:9.0f}"
        )
    if check is not None:
        print(
            f"{fastest.name} vs eager at this size: output {check['output']:.2e}, "
            f"gradients {check['gradients']:.2e} (max relative, norm-wise)"
        )
    report = {
        "device": gpu,
        "system": system,
        "torch": torch.__version__,
        "batch": batch,
        "length": length,
        "hidden": hidden,
        "inputs": inputs,
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "tf32_cudnn": torch.backends.cudnn.allow_tf32,
        "rows": results,
        "check": check,
    }
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return report


def _check(rnn, u: torch.Tensor, cotangent: torch.Tensor, fast) -> dict[str, float]:
    """Relative difference of ``fast`` (a backend) from eager: outputs and gradients."""
    outputs = []
    for backend in (Eager(), fast):
        rnn.backend = backend
        _clear(rnn)
        y_seq, _ = rnn(u)
        y_seq.backward(cotangent)
        outputs.append((y_seq.detach(), [p.grad.clone() for p in rnn.parameters()]))
    (y_e, g_e), (y_t, g_t) = outputs

    def rel(a: torch.Tensor, b: torch.Tensor) -> float:
        return float((a - b).norm() / b.norm())

    return {
        "output": rel(y_t, y_e),
        "gradients": max(rel(a, b) for a, b in zip(g_t, g_e, strict=True)),
    }


if __name__ == "__main__":
    main()
