"""``oscdyn sweep``: the command-line face of :func:`oscdyn.sweep.run_sweep`.

    oscdyn sweep CONFIG.toml [--executor local|ray|serial] [--workers N] [--address ADDR]
                             [--out DIR] [--retry-failed] [--quiet]

``add_sweep_arguments(parser)`` adds the options to an ``argparse`` (sub)parser;
``sweep_command(args)`` runs the sweep, prints the summary table and returns the exit
status: 0 when every cell is stored (cells that raised or gave NaN included: they are
results), 1 when the executor lost cells (rerun to retry them), 2 for an invalid
configuration or options, 130 after Ctrl-C (finished cells are kept; rerun to resume).
"""

from __future__ import annotations

import argparse
import sys

from .config import ConfigError, load_config
from .runner import EXECUTORS, cell_store, run_sweep

__all__ = ["add_sweep_arguments", "sweep_command"]


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"--workers must be a positive integer, got {text!r}")
    return value


def add_sweep_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``oscdyn sweep`` options to ``parser`` (returned, for chaining)."""
    parser.add_argument(
        "config", metavar="CONFIG.toml", help="the sweep: study, grid, options, outputs"
    )
    parser.add_argument(
        "--executor",
        choices=EXECUTORS,
        default="local",
        help="local: a process pool on this machine; ray: Ray tasks (a local Ray instance, "
        "or the cluster at --address); serial: one cell after another in this process "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--workers",
        type=_workers,
        default=None,
        metavar="N",
        help="processes of the local executor (default: the available cores)",
    )
    parser.add_argument(
        "--address",
        default=None,
        metavar="ADDR",
        help="Ray cluster to connect to ('auto', 'ray://host:10001'; default: start a local "
        "Ray instance)",
    )
    parser.add_argument(
        "--out", default=None, metavar="DIR", help="output folder (default: the config's out)"
    )
    parser.add_argument(
        "--retry-failed",
        action="store_true",
        help="rerun cells stored with status error or nan (finished ones are always kept)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar or file messages")
    parser.set_defaults(handler=sweep_command)
    return parser


def _fail(message: str) -> int:
    print(f"oscdyn sweep: error: {message}", file=sys.stderr)
    return 2


def sweep_command(args: argparse.Namespace) -> int:
    """Run ``oscdyn sweep`` from parsed ``args``; the exit status (see the module docstring)."""
    if args.address is not None and args.executor != "ray":
        return _fail("--address applies to --executor ray only")
    if args.workers is not None and args.executor != "local":
        return _fail("--workers applies to --executor local only")
    try:
        config = load_config(args.config, out=args.out)
    except ConfigError as error:
        return _fail(str(error))
    cells = config.cells()
    if not args.quiet:
        done = len(cells) - len(cell_store(config).pending(cells, args.retry_failed))
        print(
            f"sweep: {config.study} study, {len(cells)} cells, {done} stored earlier, "
            f"{len(cells) - done} to run ({args.executor} executor)",
            flush=True,
        )
    try:
        run = run_sweep(
            config,
            args.executor,
            workers=args.workers,
            address=args.address,
            retry_failed=args.retry_failed,
            quiet=args.quiet,
        )
    except ImportError as error:
        return _fail(str(error))
    except KeyboardInterrupt:
        stored = len(cell_store(config).load(cells))
        print(
            f"\ninterrupted: {stored} of {len(cells)} cells are stored in "
            f"{config.out / 'cells'}; run the same command again to resume",
            file=sys.stderr,
        )
        return 130
    print(run.table)
    if not args.quiet:
        print()
        for path in run.paths.values():
            print(f"wrote {path}")
    if run.lost:
        print(
            f"oscdyn sweep: {len(run.lost)} cell(s) lost by the executor (not stored); run "
            "the same command again to retry them",
            file=sys.stderr,
        )
        return 1
    return 0
