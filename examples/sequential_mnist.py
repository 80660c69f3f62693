"""The papers' sequential-MNIST runs with their released settings, on a user's MNIST file.

``cornn-smnist`` and ``cornn-psmnist`` are coRNN's (Rusch & Mishra, ICLR 2021;
github.com/tk-rusch/coRNN, sMNIST/ and psMNIST/), ``unicornn-psmnist`` is UnICORNN's
(Rusch & Mishra, ICML 2021; github.com/tk-rusch/unicornn, psMNIST/): hidden size, layers,
batch, dt, the model's constants, Adam's rate and its schedule (divided by 10 after a fixed
epoch: ``lr_drops``) as released. Each is one ``oscdyn train-task`` run
(``oscdyn.tasks.run_experiment``) writing ``learning_curve.nc``, ``.png``, ``summary.txt``
and ``checkpoint.pt`` under ``--out/<run>``; an epoch is (training images / batch) updates,
evaluated on the test split after each. The table gives the final and best test accuracy
beside the paper's. The releases train for 120 (coRNN) and 2600 (UnICORNN) epochs on a GPU;
``--epochs`` shortens a run (the schedule stays the released one) and ``--resume`` goes on
with one stopped by ``--max-time``::

    python examples/sequential_mnist.py --data mnist/ --device cuda
    python examples/sequential_mnist.py --data mnist/ --runs cornn-smnist --epochs 2
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oscdyn.tables import aligned_table
from oscdyn.tasks import CHECKPOINT_NAME, load_mnist, resolve_settings, run_experiment


@dataclass(frozen=True)
class PaperRun:
    """A released sequential-MNIST setting and the test accuracy its paper reports (%)."""

    task: str
    model: str
    hidden: int
    batch: int
    lr: float
    dt: float
    epochs: int
    drop_epochs: tuple[int, ...]
    paper_accuracy: float
    options: dict[str, Any] = field(default_factory=dict)


RUNS = {
    "cornn-smnist": PaperRun("smnist", "cornn", 256, 120, 0.0021, 0.042, 120, (100,), 99.4,
                             {"gamma": 2.7, "epsilon": 4.7}),
    "cornn-psmnist": PaperRun("psmnist", "cornn", 256, 120, 0.0054, 0.076, 120, (100,), 97.3,
                              {"gamma": 0.4, "epsilon": 8.0}),
    "unicornn-psmnist": PaperRun("psmnist", "unicornn", 256, 32, 0.00251, 0.19, 2600, (650,),
                                 98.4, {"alpha": 30.65, "num_layers": 3}),
}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="a folder of the MNIST IDX files or .npz")
    parser.add_argument("--runs", nargs="+", default=list(RUNS), choices=list(RUNS))
    parser.add_argument("--epochs", type=float, default=None, help="at most this many epochs")
    parser.add_argument("--hidden", type=int, default=None, help="instead of the released size")
    parser.add_argument("--batch", type=int, default=None, help="instead of the released batch")
    parser.add_argument("--test-size", type=int, default=10000, help="test images (10000)")
    parser.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda")
    parser.add_argument("--max-time", type=float, default=None, help="seconds per run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="sequential-mnist", help="output folder")
    parser.add_argument("--resume", action="store_true", help="go on with stopped runs")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args()

    training_images = len(load_mnist(args.data)["train"][1])
    rows = []
    for name in args.runs:
        paper = RUNS[name]
        batch = paper.batch if args.batch is None else args.batch
        per_epoch = max(1, training_images // batch)
        epochs = paper.epochs if args.epochs is None else min(args.epochs, paper.epochs)
        out = Path(args.out) / name
        hidden = paper.hidden if args.hidden is None else args.hidden
        settings = resolve_settings(paper.model, hidden=hidden, lr=paper.lr, batch=batch,
                                    dt=paper.dt, options=paper.options)  # fmt: skip
        run = run_experiment(
            paper.task,
            settings,
            steps=max(1, math.ceil(epochs * per_epoch)),
            data=args.data,
            seed=args.seed,
            eval_every=per_epoch,
            test_size=args.test_size,
            max_time=args.max_time,
            device=args.device,
            out=out,
            progress=not args.quiet,
            resume=args.resume and (out / CHECKPOINT_NAME).exists(),
            lr_drops=[epoch * per_epoch for epoch in paper.drop_epochs],
        )
        result = run.result
        rows.append(
            [
                name,
                str(result.steps),
                f"{result.steps / per_epoch:.2f}",
                f"{result.wall_time:.0f}",
                f"{100 * result.final_test_metric:.2f}",
                f"{100 * result.best(higher_is_better=True)[1]:.2f}",
                f"{paper.paper_accuracy:.1f}",
            ]
        )
    header = ["run", "updates", "epochs", "wall [s]", "final acc [%]", "best acc [%]",
              "paper [%]"]  # fmt: skip
    print("\n".join(aligned_table(header, rows, left=(0,))))


if __name__ == "__main__":
    main()
