"""The ``oscdyn`` command.

    oscdyn demo [--out DIR] [--quick] [--quiet] [--seed N]
    oscdyn stability --system duffing --integrators all --dt 0.01:2.0:50 [--out DIR] [--quiet]
    oscdyn bench [--systems ...] [--backends ...] [--quick] [--out DIR] [--quiet]

``demo`` compares the integrators on a damped, driven Duffing oscillator and writes
``results.nc`` and ``demo.png`` (see :mod:`oscdyn.demo`).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from . import __version__

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``oscdyn`` command."""
    parser = argparse.ArgumentParser(
        prog="oscdyn",
        description="Oscillator networks as second-order ODE systems, discretized by "
        "swappable integrators.",
    )
    parser.add_argument("--version", action="version", version=f"oscdyn {__version__}")
    commands = parser.add_subparsers(dest="command", title="commands")
    commands.required = True

    demo = commands.add_parser(
        "demo",
        help="compare the integrators on a damped, driven Duffing oscillator",
        description="Simulate a batch of damped, driven Duffing oscillators with every "
        "integrator at a few step sizes, compare with a tight torchdiffeq dopri5 reference, "
        "measure energy drift on the undamped, undriven oscillator, print a table and write "
        "results.nc and demo.png into --out.",
    )
    demo.add_argument(
        "--out", default="oscdyn-demo", metavar="DIR", help="output folder (default: %(default)s)"
    )
    demo.add_argument("--quick", action="store_true", help="a smaller, faster run")
    demo.add_argument("--quiet", action="store_true", help="no progress bar or file messages")
    demo.add_argument("--seed", type=int, default=0, help="seed of the initial conditions")
    demo.set_defaults(handler=_demo)

    from .analysis import add_stability_arguments

    stability = commands.add_parser(
        "stability",
        help="stability regions, gradient norms and energy drift of one system",
        description="Spectral radius of each integrator's step map against dt, the measured "
        "stability limit, hidden-state gradient norms along a sequence and energy drift, for "
        "one built-in system: a summary table, a NetCDF file and PNG plots in --out.",
    )
    add_stability_arguments(stability)

    from .bench import add_bench_arguments, bench_command

    bench = commands.add_parser(
        "bench",
        help="time and peak memory of every backend against eager, nn.LSTM and torchdiffeq",
        description="Forward and forward+backward time and peak memory of each backend "
        "against the eager loop, torch.nn.LSTM and torchdiffeq odeint, side by side in one "
        "run, as ratios; a length sweep for memory. Writes bench.json, bench.nc, bench.txt.",
    )
    add_bench_arguments(bench)
    bench.set_defaults(handler=bench_command)
    return parser


def _demo(args: argparse.Namespace) -> int:
    from .demo import format_table, run_demo

    results, paths = run_demo(out=args.out, quick=args.quick, quiet=args.quiet, seed=args.seed)
    print(format_table(results))
    if not args.quiet:
        print()
        for path in paths.values():
            print(f"wrote {path}")
    return 0


def main(argv: Sequence[str | os.PathLike[str]] | None = None) -> int:
    """Run the ``oscdyn`` command with ``argv`` (default: ``sys.argv[1:]``); the exit status."""
    arguments = sys.argv[1:] if argv is None else [os.fspath(a) for a in argv]
    args = build_parser().parse_args(arguments)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
