"""How far back an untrained model's output gradient reaches on the adding problem.

For each model and setting, one batch of the adding problem (length ``--length``) runs
through the freshly initialised network and its linear readout; the table gives the mean
magnitude of ``d readout(y_T) / d u_t`` at a few times ``t``. Zero (or 1e-40) early in the
sequence means the first mark cannot teach anything until slow modes have been learnt from
the later one (vanishing gradient); a flat profile means gradients are not the obstacle.

    python examples/adding_gradient_probe.py --length 1000
"""

from __future__ import annotations

import argparse

import torch

import oscdyn
from oscdyn.systems import CoRNN, UnICORNN
from oscdyn.tasks import AddingProblem

#: (label, build(input_size, hidden) -> system, integrator, dt)
SETTINGS = [
    (
        "coRNN released adding (dt 0.06, gamma 66, epsilon 15)",
        lambda n, h: CoRNN(n, h, gamma=66.0, epsilon=15.0),
        "symplectic_euler",
        0.06,
    ),
    (
        "coRNN psMNIST (dt 0.076, gamma 0.4, epsilon 8)",
        lambda n, h: CoRNN(n, h, gamma=0.4, epsilon=8.0),
        "symplectic_euler",
        0.076,
    ),
    (
        "coRNN sMNIST (dt 0.042, gamma 2.7, epsilon 4.7)",
        lambda n, h: CoRNN(n, h, gamma=2.7, epsilon=4.7),
        "imex",
        0.042,
    ),
    (
        "UnICORNN psMNIST (dt 0.19, alpha 30.65)",
        lambda n, h: UnICORNN(n, h, num_layers=1, alpha=30.65),
        "symplectic_euler",
        0.19,
    ),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=1000, help="sequence length (1000)")
    parser.add_argument("--hidden", type=int, default=128, help="units (128)")
    parser.add_argument("--batch", type=int, default=50, help="sequences (50)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    task = AddingProblem(args.length)
    times = sorted({0, args.length // 10, args.length // 2, 9 * args.length // 10, args.length - 1})
    print(f"mean |d readout(y_T) / d u_t|, adding problem of length {args.length}, untrained")
    print(f"{'setting':<56}" + "".join(f"{'t=' + str(t):>10}" for t in times))
    for label, build, integrator, dt in SETTINGS:
        torch.manual_seed(args.seed)
        rnn = oscdyn.compile(build(task.input_size, args.hidden), integrator, dt, backend="auto")
        readout = torch.nn.Linear(args.hidden, 1)
        u, _ = task.sample(args.batch, torch.Generator().manual_seed(args.seed))
        u.requires_grad_(True)
        y_seq, _ = rnn(u)
        readout(y_seq[:, -1]).sum().backward()
        profile = u.grad.abs().mean(dim=(0, 2))
        print(f"{label:<56}" + "".join(f"{profile[t].item():>10.1e}" for t in times))


if __name__ == "__main__":
    main()
