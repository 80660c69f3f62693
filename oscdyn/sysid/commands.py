"""Hooks for the ``oscdyn`` command: ``fit``, ``simulate`` and the identification ``demo``.

Each command is a pair ``add_<name>_arguments(parser)`` / ``<name>_command(args) -> int``
for ``oscdyn/cli.py`` to wire into its sub-parsers::

    oscdyn fit --data FILE --model duffing|oscnet [--units N] --integrator NAME --out MODEL.pt
    oscdyn simulate --model MODEL.pt --data FILE --init-window 50 --out PRED.nc
    oscdyn demo [--out DIR] [--quick] [--quiet] [--seed N] [--model duffing|oscnet]

``oscdyn fit`` runs data-parallel under ``torchrun --nproc-per-node N`` (gloo on CPU): the
global batch ``--batch-size`` is split over the processes, which take the same steps as
one process (:mod:`oscdyn.distributed`); rank 0 alone prints and writes the model file.

Data files: ``.nc``, ``.csv`` (``--inputs``/``--outputs`` name the columns, ``--sample-time``
when there is no ``time`` column), ``.npz`` (arrays ``u``, ``y``, ``dt``) or the Silverbox
``.mat`` (``--split`` picks the record). Every file is written atomically.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from ..distributed import DistributedContext, init_distributed, shutdown
from ..integrators import available
from .checkpoint import load_model, save_model
from .data import DataError, IOData
from .fit import fit
from .loaders import SILVERBOX_SPLITS, load
from .models import HOLDS, MODELS, build_model
from .simulate import simulate

__all__ = [
    "add_fit_arguments",
    "fit_command",
    "add_simulate_arguments",
    "simulate_command",
    "add_demo_arguments",
    "demo_command",
]


def _add_data_arguments(parser: argparse.ArgumentParser) -> None:
    data = parser.add_argument_group("data file")
    data.add_argument(
        "--data", required=True, metavar="FILE", help="input/output record (.nc, .csv, .npz, .mat)"
    )
    data.add_argument(
        "--split",
        choices=SILVERBOX_SPLITS,
        default=None,
        help="record of a Silverbox .mat file (fit: train, simulate: test_multisine)",
    )
    data.add_argument(
        "--inputs", default=None, metavar="NAMES", help="CSV input columns, comma-separated (u)"
    )
    data.add_argument(
        "--outputs",
        default=None,
        metavar="NAMES",
        help="CSV output columns, comma-separated (y; empty: input only)",
    )
    data.add_argument(
        "--sample-time",
        type=float,
        default=None,
        metavar="S",
        help="CSV sampling period (s) when the file has no 'time' column",
    )


def _load_data(args: argparse.Namespace, default_split: str, outputs_required: bool) -> IOData:
    path = Path(args.data)
    options: dict[str, Any] = {}
    if path.suffix.lower() == ".csv":
        if args.inputs:
            options["inputs"] = args.inputs.split(",")
        if args.outputs is not None:  # an empty list: an input-only record
            options["outputs"] = args.outputs.split(",") if args.outputs else None
        if args.sample_time is not None:
            options["dt"] = args.sample_time
    elif args.inputs or args.outputs or args.sample_time is not None:
        raise DataError("--inputs, --outputs and --sample-time apply to CSV files only")
    split = None
    if path.suffix.lower() == ".mat":
        split = args.split or default_split
    elif args.split is not None:
        raise DataError("--split applies to the Silverbox .mat file only")
    data = load(path, split=split, **options)
    if outputs_required and not data.has_output:
        raise DataError(f"{path}: no output y to fit")
    return data


def _fail(message: str) -> int:
    print(f"oscdyn: error: {message}", file=sys.stderr)
    return 2


# -- fit ------------------------------------------------------------------------------------


def add_fit_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``oscdyn fit``."""
    _add_data_arguments(parser)
    model = parser.add_argument_group("model")
    model.add_argument("--model", choices=sorted(MODELS), default="duffing", help="%(default)s")
    model.add_argument("--units", type=int, default=8, help="oscnet units (default %(default)s)")
    model.add_argument(
        "--integrator",
        default="leapfrog",
        choices=[n for n in available() if n != "torchdiffeq"],
        help="discretization (default %(default)s)",
    )
    steps = model.add_mutually_exclusive_group()
    steps.add_argument(
        "--dt",
        type=float,
        default=None,
        metavar="S",
        help="integration step (s); must divide the sampling period (default: one per sample)",
    )
    steps.add_argument(
        "--substeps",
        type=int,
        default=None,
        metavar="N",
        help="integration steps per sample (instead of --dt)",
    )
    model.add_argument(
        "--hold",
        choices=HOLDS,
        default="foh",
        help="input between samples (default %(default)s; bandlimited for sampled "
        "band-limited signals such as multisines)",
    )
    model.add_argument(
        "--backend",
        default=None,
        help="oscdyn backend (default: the model's measured fastest, eager for duffing, "
        "fused for oscnet)",
    )
    training = parser.add_argument_group("training")
    training.add_argument("--iterations", type=int, default=1000, help="default %(default)s")
    training.add_argument("--batch-size", type=int, default=32, help="default %(default)s")
    training.add_argument(
        "--horizon",
        type=int,
        nargs=2,
        default=(20, 400),
        metavar=("FIRST", "LAST"),
        help="simulation horizon (samples), growing (default 20 400)",
    )
    training.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate (%(default)s)")
    training.add_argument(
        "--validation",
        type=float,
        default=0.2,
        metavar="FRACTION",
        help="tail of the data held out for early stopping (default %(default)s)",
    )
    training.add_argument(
        "--init-window", type=int, default=50, help="state initialisation window (samples)"
    )
    training.add_argument("--eval-every", type=int, default=50, help="default %(default)s")
    training.add_argument(
        "--patience", type=int, default=8, help="evaluations without improvement before stopping"
    )
    training.add_argument(
        "--max-time", type=float, default=None, metavar="S", help="stop after S seconds"
    )
    training.add_argument("--seed", type=int, default=0, help="default %(default)s")
    training.add_argument(
        "--checkpoint",
        default=None,
        metavar="PATH",
        help="training state written at each evaluation; an existing one is resumed",
    )
    training.add_argument(
        "--no-resume", action="store_true", help="ignore an existing --checkpoint"
    )
    parser.add_argument("--out", required=True, metavar="MODEL.pt", help="fitted model file")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def fit_command(args: argparse.Namespace) -> int:
    """Run ``oscdyn fit`` (data-parallel when started by ``torchrun``); the exit status."""
    try:
        context = init_distributed(device="cpu")
    except ValueError as error:
        return _fail(f"torchrun environment: {error}")
    try:
        return _fit_command(args, context)
    finally:
        shutdown(context)


def _fit_command(args: argparse.Namespace, context: DistributedContext) -> int:
    try:
        data = _load_data(args, "train", outputs_required=True)
    except (DataError, FileNotFoundError) as error:
        return _fail(str(error))
    if args.substeps is not None and args.substeps < 1:
        return _fail(f"--substeps must be positive, got {args.substeps}")
    dt = data.dt / args.substeps if args.substeps else args.dt
    config: dict[str, Any] = {"n_inputs": data.n_inputs, "n_outputs": data.n_outputs}
    if args.model == "oscnet":
        config.update(units=args.units, seed=args.seed)
    try:
        model = build_model(args.model, **config)
        result = fit(
            model,
            data,
            args.integrator,
            dt,
            validation=args.validation if args.validation > 0 else None,
            init_window=args.init_window,
            batch_size=args.batch_size,
            horizon=tuple(args.horizon),
            iterations=args.iterations,
            lr=args.lr,
            eval_every=args.eval_every,
            patience=args.patience,
            max_time=args.max_time,
            hold=args.hold,
            backend=args.backend,
            seed=args.seed,
            checkpoint=args.checkpoint,
            resume=not args.no_resume,
            progress=not args.quiet,
            distributed=context,
        )
    except (DataError, ValueError) as error:
        return _fail(str(error))
    if not context.is_main:
        return 0
    options = result.options
    metadata = {
        "data": str(args.data),
        "validation_rmse": result.best_rmse,
        "best_iteration": result.best_iteration,
        "iterations": result.iterations,
        "train_time": result.train_time,
        "stopped": result.stopped,
        "options": {k: v for k, v in options.items() if not isinstance(v, list)},
    }
    path = save_model(result.model, args.out, **metadata)
    print(
        f"fitted {args.model} with {args.integrator} ({options['substeps']} step(s) per sample, "
        f"hold {args.hold}) on {args.data}: {options['train_samples']} training, "
        f"{options['validation_samples']} validation samples"
        + (f", {context.world_size} processes" if context.is_distributed else "")
    )
    if math.isfinite(result.best_rmse):
        print(
            f"validation RMSE {result.best_rmse:.6g} at iteration {result.best_iteration} "
            f"(stopped: {result.stopped} after {result.iterations} iterations)"
        )
    print(f"training time {result.train_time:.1f} s")
    if hasattr(result.model, "coefficients"):
        text = ", ".join(f"{k}={v:.6g}" for k, v in result.model.coefficients().items())
        print(f"coefficients: {text}")
    print(f"wrote {path}")
    return 0


# -- simulate -------------------------------------------------------------------------------


def add_simulate_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``oscdyn simulate``."""
    parser.add_argument(
        "--model", required=True, metavar="MODEL.pt", help="a model written by oscdyn fit"
    )
    _add_data_arguments(parser)
    parser.add_argument(
        "--init-window",
        type=int,
        default=None,
        metavar="N",
        help="measured samples that set the initial state (default: the record's, else 50)",
    )
    parser.add_argument("--out", required=True, metavar="PRED.nc", help="u, y and y_pred")


def simulate_command(args: argparse.Namespace) -> int:
    """Run ``oscdyn simulate``; the exit status."""
    try:
        model = load_model(args.model)
        data = _load_data(args, "test_multisine", outputs_required=False)
    except (DataError, FileNotFoundError, ValueError) as error:
        return _fail(str(error))
    window = args.init_window
    if window is None:
        window = data.init_window or 50
    if data.has_output and not 0 <= window < len(data):
        return _fail(f"--init-window must be in [0, {len(data)}), got {window}")
    try:
        dataset = simulate(model, data, window)
    except (DataError, ValueError) as error:
        return _fail(str(error))
    from ..io import write_netcdf

    path = write_netcdf(dataset, args.out)
    if "rmse" in dataset.attrs:
        samples = len(data) - int(dataset.attrs["init_window"])
        print(
            f"simulation RMSE over y[{dataset.attrs['init_window']}:] ({samples} samples): "
            f"{dataset.attrs['rmse']:.6g} (NRMSE {dataset.attrs['nrmse']:.4g}, "
            f"fit {dataset.attrs['fit_percent']:.2f} %)"
        )
    else:
        print("no measured output in the data: simulated from rest, no RMSE")
    print(f"wrote {path}")
    return 0


# -- demo -----------------------------------------------------------------------------------


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``oscdyn demo`` (identification of a slowly varying system)."""
    parser.add_argument(
        "--out", default="oscdyn-demo", metavar="DIR", help="output folder (default %(default)s)"
    )
    parser.add_argument("--quick", action="store_true", help="a run of well under a minute")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or file messages")
    parser.add_argument("--seed", type=int, default=0, help="data and training seed")
    parser.add_argument(
        "--model", choices=sorted(MODELS), default="duffing", help="model fitted (%(default)s)"
    )


def demo_command(args: argparse.Namespace) -> int:
    """Run ``oscdyn demo``: print the table, write results.nc and the plots."""
    from .demo import format_table, run_sysid_demo

    results, paths = run_sysid_demo(
        out=args.out, quick=args.quick, quiet=args.quiet, seed=args.seed, model=args.model
    )
    print(format_table(results))
    if not args.quiet:
        print()
        for path in paths.values():
            print(f"wrote {path}")
    return 0
