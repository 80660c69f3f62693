"""The ``oscdyn`` command.

    oscdyn demo [--out DIR] [--quick] [--quiet]
    oscdyn fit --data FILE --model duffing|oscnet [--units N] --integrator NAME --out MODEL.pt
    oscdyn simulate --model MODEL.pt --data FILE --init-window 50 --out PRED.nc
    oscdyn compare [--out DIR] [--quick] [--quiet] [--seed N]
    oscdyn stability --system duffing --integrators all --dt 0.01:2.0:50 [--out DIR] [--quiet]
    oscdyn bench [--systems ...] [--backends ...] [--quick] [--out DIR] [--quiet]
    oscdyn train-task adding --model cornn|unicornn|linoss|hamiltonian|lattice|unitary|lstm ...
    oscdyn sweep CONFIG.toml [--executor local|ray|serial] [--workers N] [--address ADDR]

``demo`` is the embedded system-identification experiment (:mod:`oscdyn.sysid.demo`);
``compare`` the integrator comparison on a Duffing oscillator (:mod:`oscdyn.demo`).
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

    from .sysid import commands as sysid

    demo = commands.add_parser(
        "demo",
        help="fit a slowly varying system with each integrator (the embedded default data)",
        description="Generate a slowly varying Duffing oscillator (deterministic, no "
        "download), fit it with imex, symplectic_euler, leapfrog and exponential, print a "
        "table and write results.nc and PNG plots into --out.",
    )
    sysid.add_demo_arguments(demo)
    demo.set_defaults(handler=sysid.demo_command)

    fit = commands.add_parser("fit", help="fit an oscillator model to input/output data")
    sysid.add_fit_arguments(fit)
    fit.set_defaults(handler=sysid.fit_command)

    simulate = commands.add_parser(
        "simulate", help="simulate a fitted model on data from a state initialisation window"
    )
    sysid.add_simulate_arguments(simulate)
    simulate.set_defaults(handler=sysid.simulate_command)

    compare = commands.add_parser(
        "compare",
        help="compare the integrators on a damped, driven Duffing oscillator",
        description="Simulate a batch of damped, driven Duffing oscillators with every "
        "integrator at a few step sizes, compare with a tight torchdiffeq dopri5 reference, "
        "measure energy drift on the undamped, undriven oscillator, print a table and write "
        "results.nc and demo.png into --out.",
    )
    compare.add_argument(
        "--out",
        default="oscdyn-compare",
        metavar="DIR",
        help="output folder (default: %(default)s)",
    )
    compare.add_argument("--quick", action="store_true", help="a smaller, faster run")
    compare.add_argument("--quiet", action="store_true", help="no progress bar or file messages")
    compare.add_argument("--seed", type=int, default=0, help="seed of the initial conditions")
    compare.set_defaults(handler=_compare)

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

    from .tasks.command import add_train_task_arguments, train_task_command

    train_task = commands.add_parser(
        "train-task",
        help="train a recurrent model on a long-dependency task (adding, copy, (p)sMNIST)",
        description="Train an oscillator network (any built-in recurrent system and valid "
        "integrator), a unitary RNN or an LSTM on one of the papers' long-dependency tasks; "
        "prints and writes the learning curve (NetCDF, PNG, summary table) into --out.",
    )
    add_train_task_arguments(train_task)
    train_task.set_defaults(handler=train_task_command)

    from .sweep import add_sweep_arguments

    sweep = commands.add_parser(
        "sweep",
        help="run one study over a grid of systems x integrators x dt x seeds (pool or Ray)",
        description="Run stability, fit or train-task at every cell of the grid a TOML file "
        "names; cells are stored as they finish (a rerun resumes) and merged into sweep.nc, "
        "summary.txt and heatmap.png.",
    )
    add_sweep_arguments(sweep)
    return parser


def _compare(args: argparse.Namespace) -> int:
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
