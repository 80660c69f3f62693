"""Silverbox: a grey-box Duffing model and a black-box oscillator network, by simulation error.

The Silverbox is an electronic circuit that behaves as a Duffing oscillator (Wigren &
Schoukens, ECC 2013; nonlinearbenchmark.org). This script reads the official training
part (``silverbox_train.npz``: 65,062 samples of the multisine record at 610.35 Hz), holds
out its last 16,000 samples as a test tail and the 6,000 before them for validation (early
stopping), and fits on the rest:

* grey-box: ``y'' = -k y - c y' - k3 y^3 + b u`` (:class:`oscdyn.sysid.DuffingModel`),
  leapfrog with 4 steps per sample (measured on this split: 0.71 mV with 1, 0.33 with 2,
  0.30 with 4; the exponential integrator: 0.61 with 1, 0.32 with 2);
* black-box: :class:`oscdyn.sysid.OscNetModel`, 8 damped oscillators coupled through a
  tanh layer, a linear readout and a learned initial-state encoder, exponential integrator.

Both read the input band-limited (the multisine has no content above 200 Hz; windowed-sinc
interpolation between samples) and start each simulation from a 50-sample window of
measured outputs, as the benchmark's protocol does. The RMSE is over the test tail after
its window, in mV. Each model trains for at most ``--minutes`` (wall clock).

    python examples/silverbox.py                      # both models, 10 minutes each at most
    python examples/silverbox.py --model duffing --minutes 5
    python examples/silverbox.py --quick              # a smoke run (about a minute)
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

import torch

from oscdyn.sysid import (
    DuffingModel,
    IOData,
    OscNetModel,
    SimulationModel,
    evaluate,
    fit,
    load,
    save_model,
    simulate,
)

DEFAULT_DATA = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "silverbox" / ("silverbox_train.npz")
)
TEST_SAMPLES = 16_000
VALIDATION_SAMPLES = 6_000
INIT_WINDOW = 50

#: per model: how it is built and fitted (iterations are an upper bound; --minutes also stops)
SETUPS = {
    "duffing": {
        "build": lambda: DuffingModel(),
        "integrator": "leapfrog",
        "substeps": 4,
        "fit": dict(iterations=600, batch_size=32, horizon=(20, 300), lr=1e-2),
    },
    "oscnet": {
        "build": lambda: OscNetModel(
            units=8, omega_min=0.1, omega_max=1.5, encoder_window=INIT_WINDOW
        ),
        "integrator": "exponential",
        "substeps": 1,
        "fit": dict(iterations=3000, batch_size=32, horizon=(20, 300), lr=1e-2),
    },
}


def split(data: IOData) -> tuple[IOData, IOData, IOData]:
    rest, test = data.split_at(len(data) - TEST_SAMPLES)
    train, validation = rest.split_at(len(rest) - VALIDATION_SAMPLES)
    return train, validation.with_init_window(INIT_WINDOW), test.with_init_window(INIT_WINDOW)


def run(
    name: str, train: IOData, validation: IOData, test: IOData, minutes: float, quick: bool
) -> tuple[SimulationModel, dict[str, float]]:
    setup = SETUPS[name]
    options = dict(setup["fit"])
    if quick:
        options.update(iterations=60, horizon=(20, 100))
    model = setup["build"]()
    wall, cpu = time.perf_counter(), time.process_time()
    result = fit(
        model,
        train,
        setup["integrator"],
        dt=train.dt / setup["substeps"],
        validation=validation,
        init_window=INIT_WINDOW,
        eval_every=100 if not quick else 30,
        patience=4,
        max_time=60 * minutes,
        hold="bandlimited",
        seed=0,
        progress=sys.stderr.isatty(),
        **options,
    )
    scores = evaluate(result.model, test)
    return result.model, {
        "train_wall_s": result.train_time,
        "total_wall_s": time.perf_counter() - wall,
        "cpu_s": time.process_time() - cpu,
        "iterations": result.iterations,
        "stopped": result.stopped,
        "validation_mV": 1000 * result.best_rmse,
        "test_mV": 1000 * scores["rmse"],
        "nrmse": scores["nrmse"],
        "fit_percent": scores["fit_percent"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="silverbox_train.npz")
    parser.add_argument("--model", choices=["duffing", "oscnet", "both"], default="both")
    parser.add_argument("--minutes", type=float, default=10.0, help="training budget per model")
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--out", default=None, help="folder for the models and predictions")
    args = parser.parse_args(argv)
    if not Path(args.data).is_file():
        print(f"no Silverbox file at {args.data}: pass --data", file=sys.stderr)
        return 2
    # thousands of tiny tensor operations: a second intra-op thread only adds overhead
    torch.set_num_threads(1)
    command = "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv or sys.argv[1:])])
    data = load(args.data)
    train, validation, test = split(data)
    print(f"command: {command}")
    print(
        f"data: {args.data} ({len(data)} samples at {1 / data.dt:.2f} Hz); train {len(train)}, "
        f"validation {len(validation)}, test tail {len(test)} (RMSE after a {INIT_WINDOW}-sample "
        f"window); output std {1000 * test.y.std():.1f} mV"
    )
    print(f"load: {os.getloadavg()[0]:.2f} (1-minute average, {os.cpu_count()} CPUs)")
    names = ["duffing", "oscnet"] if args.model == "both" else [args.model]
    rows = []
    for name in names:
        model, row = run(name, train, validation, test, args.minutes, args.quick)
        rows.append((name, row))
        if name == "duffing":
            text = ", ".join(f"{k}={v:.5g}" for k, v in model.coefficients().items())
            print(f"duffing coefficients (V, s): {text}")
        if args.out:
            out = Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
            save_model(model, out / f"{name}.pt", **row)
            from oscdyn.io import write_netcdf

            write_netcdf(simulate(model, test), out / f"{name}_test.nc")
    header = (
        f"{'model':8s} {'integrator':12s} {'steps/sample':>12s} {'test RMSE [mV]':>14s} "
        f"{'val RMSE [mV]':>13s} {'NRMSE':>7s} {'fit %':>6s} {'train [s]':>9s} {'CPU [s]':>8s} "
        f"{'iters':>5s}  stopped"
    )
    print()
    print(header)
    print("-" * len(header))
    for name, row in rows:
        setup = SETUPS[name]
        print(
            f"{name:8s} {setup['integrator']:12s} {setup['substeps']:>12d} "
            f"{row['test_mV']:>14.3f} {row['validation_mV']:>13.3f} {row['nrmse']:>7.4f} "
            f"{row['fit_percent']:>6.2f} {row['train_wall_s']:>9.0f} {row['cpu_s']:>8.0f} "
            f"{row['iterations']:>5d}  {row['stopped']}"
        )
    print(f"load at the end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
