"""The adding problem by a curriculum: train at a short length, then go on at longer ones.

Each stage is one ``oscdyn train-task`` run (``oscdyn.tasks.run_experiment``) that starts
from the trained parameters of the stage before (``init_from``: the previous stage's
``checkpoint.pt``), so a model that learned the task at length 100 only has to stretch its
memory. Every model gets the same stages and updates; the table gives, per stage, the test
MSE before its first update (the previous stage's model at the new length), at its end and
at best. Each stage writes ``learning_curve.nc``, ``.png``, ``summary.txt`` and
``checkpoint.pt`` under ``--out/<model>/stage-<k>-length-<T>``; ``--resume`` goes on with
stages stopped part way (``--max-time``). Defaults: coRNN's released adding settings at
length 100 (lr 0.02), then lr 0.005; the LSTM at its lr 0.001 throughout::

    python examples/adding_curriculum.py
    python examples/adding_curriculum.py --lengths 100 200 500 1000 --steps 3000 2000 2000 4000

``--dt`` gives each stage its own base step (oscillator models), ``--option`` a system
argument to every model. A length may repeat, for a stage at a lower rate. UnICORNN at
length 1000 by a time-rescaled start: trained at length 100 with dt 1, then at length 1000
with dt 0.2 (the same model run 5 times slower; the README's best runs)::

    python examples/adding_curriculum.py --models unicornn --option alpha=1.0 \\
        --option num_layers=2 --option step_logit_range=6 --lengths 100 100 1000 \\
        --dt 1 1 0.2 --steps 25000 5000 20000 --lr 0.01 0.001 0.001 --seed 1
"""

from __future__ import annotations

import argparse
from pathlib import Path

from oscdyn.tables import aligned_table
from oscdyn.tasks import (
    ADDING_BASELINE_MSE,
    CHECKPOINT_NAME,
    MODELS,
    resolve_settings,
    run_experiment,
)
from oscdyn.tasks.command import parse_option


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[100, 200, 500])
    parser.add_argument("--steps", type=int, nargs="+", default=[3000, 2000, 2000])
    parser.add_argument("--models", nargs="+", default=["cornn", "lstm"], choices=list(MODELS))
    parser.add_argument("--hidden", type=int, default=128, help="units of every model (128)")
    parser.add_argument(
        "--lr", type=float, nargs="+", default=None, help="per stage (default: see above)"
    )
    parser.add_argument(
        "--dt", type=float, nargs="+", default=None, help="per stage (default: the model's)"
    )
    parser.add_argument(
        "--option",
        type=parse_option,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a constructor argument of every model's system, e.g. alpha=1.0; repeatable",
    )
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--test-size", type=int, default=1000)
    parser.add_argument("--max-time", type=float, default=None, help="seconds per stage")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="adding-curriculum", help="output folder")
    parser.add_argument("--resume", action="store_true", help="go on with stopped stages")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args()
    if len(args.steps) != len(args.lengths):
        parser.error(f"--steps needs one count per length ({len(args.lengths)})")
    for flag, values in (("--lr", args.lr), ("--dt", args.dt)):
        if values is not None and len(values) != len(args.lengths):
            parser.error(f"{flag} needs one value per length ({len(args.lengths)})")

    rows = []
    for name in args.models:
        previous = None
        for stage, (length, steps) in enumerate(zip(args.lengths, args.steps, strict=True)):
            out = Path(args.out) / name / f"stage-{stage}-length-{length}"
            if args.lr is not None:
                lr = args.lr[stage]
            elif name == "cornn":
                lr = 0.02 if stage == 0 else 0.005
            else:
                lr = None  # the model's default
            resume = args.resume and (out / CHECKPOINT_NAME).exists()
            dt = None if args.dt is None else args.dt[stage]
            settings = resolve_settings(
                name, hidden=args.hidden, lr=lr, dt=dt, options=dict(args.option)
            )
            run = run_experiment(
                "adding",
                settings,
                steps=steps,
                length=length,
                seed=args.seed,
                eval_every=args.eval_every,
                test_size=args.test_size,
                max_time=args.max_time,
                device="cpu",
                out=out,
                progress=not args.quiet,
                resume=resume,
                init_from=None if resume or previous is None else previous,
            )
            history = run.result.history
            best_step, best = run.result.best(higher_is_better=False)
            rows.append(
                [
                    name,
                    str(length),
                    f"{settings.lr:g}",
                    "-" if settings.dt is None else f"{settings.dt:g}",
                    str(run.result.steps),
                    f"{run.result.wall_time:.0f}",
                    f"{float(history['test_metric'][0]):.4g}",
                    f"{run.result.final_test_metric:.4g}",
                    f"{best:.4g}",
                    str(best_step),
                ]
            )
            previous = out / CHECKPOINT_NAME
    print(
        f"adding problem by a curriculum, hidden {args.hidden}; memoryless baseline MSE "
        f"{ADDING_BASELINE_MSE:.4f} (= 1/6)"
    )
    header = ["model", "length", "lr", "dt", "updates", "wall [s]", "MSE at start", "final MSE",
              "best MSE", "at update"]  # fmt: skip
    print("\n".join(aligned_table(header, rows, left=(0,))))


if __name__ == "__main__":
    main()
