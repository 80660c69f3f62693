"""``oscdyn stability``: the command-line face of :func:`~oscdyn.analysis.run_stability_study`.

    oscdyn stability --system duffing --integrators all --dt 0.01:2.0:50 [--out DIR] [--quiet]

``add_stability_arguments(parser)`` adds the options to an ``argparse`` (sub)parser;
``stability_command(args)`` runs the study, prints the table and returns the exit status.
"""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np

from .catalog import STUDY_SYSTEMS

__all__ = ["parse_dt_range", "add_stability_arguments", "stability_command"]


def parse_dt_range(text: str) -> list[float]:
    """``"start:stop:count"`` (``count`` evenly spaced values, ends included), ``"a,b,c"``
    or one value -> a list of positive steps. Raises ``argparse.ArgumentTypeError``."""
    try:
        if ":" in text:
            parts = text.split(":")
            if len(parts) != 3:
                raise ValueError
            start, stop, count = float(parts[0]), float(parts[1]), int(parts[2])
            if count < 1 or (count > 1 and stop <= start):
                raise ValueError
            values = [float(v) for v in np.linspace(start, stop, count)]
        else:
            values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid dt range '{text}': give start:stop:count (e.g. 0.01:2.0:50, stop > "
            "start, count >= 1), a list a,b,c or one value"
        ) from None
    if not values or any(not math.isfinite(v) or v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"dt values must be positive and finite, got '{text}'")
    return values


def add_stability_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``oscdyn stability`` options to ``parser`` (returned, for chaining)."""
    parser.add_argument(
        "--system",
        default="duffing",
        choices=list(STUDY_SYSTEMS),
        help="built-in system to study (default: %(default)s)",
    )
    parser.add_argument(
        "--integrators",
        default="all",
        metavar="NAMES",
        help="'all' (every fixed-step scheme) or a comma-separated list, e.g. "
        "leapfrog,rk4 (default: %(default)s)",
    )
    parser.add_argument(
        "--dt",
        default="0.01:2.0:50",
        type=parse_dt_range,
        metavar="START:STOP:COUNT",
        help="dt grid of the stability regions: COUNT evenly spaced values from START to "
        "STOP, or a list a,b,c (default: %(default)s)",
    )
    parser.add_argument(
        "--out",
        default="oscdyn-stability",
        metavar="DIR",
        help="output folder (default: %(default)s)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar or file messages")
    parser.add_argument(
        "--steps",
        type=int,
        default=1000,
        help="length of the gradient-norm and energy runs (default: %(default)s)",
    )
    parser.add_argument(
        "--probe-dt",
        type=float,
        default=None,
        metavar="DT",
        help="step of the gradient-norm and energy runs (default: the system's own)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of weights, inputs and states")
    parser.set_defaults(handler=stability_command)
    return parser


def stability_command(args: argparse.Namespace) -> int:
    """Run the study from parsed ``args``; print the table (and the files written unless
    ``--quiet``). Returns 0, or 2 with a message on stderr for invalid settings."""
    from .study import run_stability_study

    dts = args.dt if isinstance(args.dt, list) else parse_dt_range(str(args.dt))
    try:
        study = run_stability_study(
            args.system,
            args.integrators,
            dts,
            out=args.out,
            quiet=args.quiet,
            steps=args.steps,
            probe_dt=args.probe_dt,
            seed=args.seed,
        )
    except ValueError as error:
        print(f"oscdyn stability: error: {error}", file=sys.stderr)
        return 2
    print(study.table)
    if not args.quiet:
        print()
        for path in study.paths.values():
            print(f"wrote {path}")
    return 0
