"""``oscdyn train-task``: train a model on a long-dependency task and write its learning curve.

    oscdyn train-task adding --model unicornn|cornn|linoss|hamiltonian|lattice|unitary|lstm
        --length 1000 [--integrator NAME] [--backend NAME] [--hidden N] [--steps N]
        [--batch N] [--lr X] [--lr-drop STEP] [--dt X] [--clip X] [--seed N] [--out DIR]
        [--resume] [--quiet]

``add_train_task_arguments(parser)`` adds the options to an ``argparse`` (sub)parser;
``train_task_command(args)`` runs it, prints the summary and returns the exit status
(2 with a message on stderr for bad arguments or missing data).
"""

from __future__ import annotations

import argparse
import ast
import sys
from typing import Any

import torch

from ..distributed import DistributedContext, init_distributed, shutdown
from .experiment import TASK_NAMES, resolve_device, run_experiment
from .models import MODELS, resolve_settings

__all__ = ["add_train_task_arguments", "train_task_command", "parse_option"]


def parse_option(text: str) -> tuple[str, Any]:
    """``"KEY=VALUE"`` -> ``(KEY, VALUE)``; VALUE a Python literal (``2``, ``0.5``, ``True``)
    or else the string. Raises ``argparse.ArgumentTypeError``."""
    key, separator, raw = text.partition("=")
    if not separator or not key.isidentifier():
        raise argparse.ArgumentTypeError(
            f"invalid option '{text}': give KEY=VALUE, e.g. alpha=30.65 or num_layers=2"
        )
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    return key, value


def add_train_task_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``oscdyn train-task`` options to ``parser`` (returned, for chaining)."""
    parser.add_argument("task", choices=TASK_NAMES, help="the task")
    task = parser.add_argument_group("task")
    task.add_argument(
        "--length",
        type=int,
        default=None,
        metavar="T",
        help="adding: sequence length; copy: delay (default 1000)",
    )
    task.add_argument(
        "--data",
        default=None,
        metavar="PATH",
        help="smnist/psmnist: a folder of the MNIST IDX files or an .npz (x_train, y_train, "
        "x_test, y_test); oscdyn downloads nothing",
    )
    task.add_argument(
        "--noise-pad",
        type=int,
        default=None,
        metavar="T",
        help="pad each sequence with N(0,1) noise to T steps (coRNN's noise padding)",
    )
    task.add_argument(
        "--fresh-noise",
        action="store_true",
        help="with --noise-pad: new noise per sequence (default: one fixed pattern, as coRNN)",
    )
    task.add_argument(
        "--permutation-seed", type=int, default=0, help="psmnist pixel permutation (default 0)"
    )
    model = parser.add_argument_group("model (defaults: the paper's adding-problem settings)")
    model.add_argument(
        "--model", choices=list(MODELS), default="unicornn", help="default %(default)s"
    )
    model.add_argument(
        "--integrator",
        default=None,
        metavar="NAME",
        help="oscillator models: any registered scheme (oscdyn.integrators.available(), "
        "torchdiffeq:<method>); default the model's published one",
    )
    model.add_argument(
        "--backend", default=None, metavar="NAME", help="oscillator models (default auto)"
    )
    model.add_argument("--hidden", type=int, default=None, metavar="N", help="hidden units")
    model.add_argument("--dt", type=float, default=None, metavar="X", help="integration step")
    model.add_argument(
        "--option",
        type=parse_option,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a constructor argument of the system, e.g. gamma=66 epsilon=15 (coRNN), "
        "alpha=30.65 num_layers=2 (UnICORNN); repeatable",
    )
    training = parser.add_argument_group("training")
    training.add_argument("--steps", type=int, default=1000, help="updates (default %(default)s)")
    training.add_argument("--batch", type=int, default=None, metavar="N", help="batch size")
    training.add_argument("--lr", type=float, default=None, metavar="X", help="Adam rate")
    training.add_argument(
        "--lr-drop",
        type=int,
        action="append",
        default=[],
        metavar="STEP",
        help="divide the rate by 10 after STEP updates (repeatable), as the papers' "
        "released scripts do at fixed epochs",
    )
    training.add_argument(
        "--clip", type=float, default=None, metavar="X", help="clip the gradient norm to X"
    )
    training.add_argument("--seed", type=int, default=0, help="model and batches (default 0)")
    training.add_argument(
        "--eval-every", type=int, default=100, metavar="N", help="default %(default)s"
    )
    training.add_argument(
        "--test-size", type=int, default=1000, metavar="N", help="held-out sequences (1000)"
    )
    training.add_argument(
        "--max-time", type=float, default=None, metavar="S", help="stop after S seconds"
    )
    training.add_argument(
        "--device", default="auto", help="auto (CUDA if available), cpu, cuda, cuda:N"
    )
    training.add_argument(
        "--resume",
        action="store_true",
        help="go on from --out/checkpoint.pt (written after every evaluation) with the same "
        "settings: --steps counts all updates, --max-time this session",
    )
    training.add_argument(
        "--init-from",
        default=None,
        metavar="CHECKPOINT",
        help="start from the model parameters of another run's checkpoint.pt (same model "
        "and hidden size; e.g. a shorter sequence length first, a curriculum)",
    )
    parser.add_argument(
        "--out", default="oscdyn-train-task", metavar="DIR", help="output folder (%(default)s)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar or file messages")
    return parser


def train_task_command(args: argparse.Namespace) -> int:
    """Run ``oscdyn train-task``: print the summary and the files written; the exit status.

    Under ``torchrun --nproc-per-node N`` the processes train data-parallel
    (:mod:`oscdyn.distributed`: gloo on the CPU, nccl on GPUs); rank 0 prints and writes.
    On the CPU, denormal floats are flushed to zero for the run: a damped recurrence's
    cotangents shrink geometrically along the sequence, and once they are denormal every
    backward operation is tens of times slower (a coRNN step at length 1000 with the adding
    defaults: 10 s of backward instead of 0.26 s).
    """
    try:
        device = resolve_device(args.device)
    except ValueError as error:
        print(f"oscdyn train-task: error: {error}", file=sys.stderr)
        return 2
    torch.set_flush_denormal(True)
    context = init_distributed(device.type)
    try:
        return _train_task(args, context)
    finally:
        shutdown(context)


def _train_task(args: argparse.Namespace, context: DistributedContext) -> int:
    try:
        settings = resolve_settings(
            args.model,
            hidden=args.hidden,
            lr=args.lr,
            batch=args.batch,
            integrator=args.integrator,
            dt=args.dt,
            backend=args.backend,
            options=dict(args.option),
        )
        experiment = run_experiment(
            args.task,
            settings,
            steps=args.steps,
            length=args.length,
            data=args.data,
            noise_pad=args.noise_pad,
            fresh_noise=args.fresh_noise,
            permutation_seed=args.permutation_seed,
            seed=args.seed,
            eval_every=args.eval_every,
            test_size=args.test_size,
            clip=args.clip,
            lr_drops=args.lr_drop,
            max_time=args.max_time,
            device=args.device,
            out=args.out,
            progress=not args.quiet,
            context=context,
            resume=args.resume,
            init_from=args.init_from,
        )
    except (ValueError, TypeError, FileNotFoundError) as error:
        print(f"oscdyn train-task: error: {error}", file=sys.stderr)
        return 2
    if not context.is_main:
        return 0
    print(experiment.summary, end="")
    if not args.quiet:
        for path in experiment.paths.values():
            print(f"wrote {path}")
    return 0
