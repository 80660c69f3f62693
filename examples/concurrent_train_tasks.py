"""Several ``oscdyn train-task`` runs at once on one GPU, each in its own thread and stream.

At the adding problem's batch of 50 a coRNN or UnICORNN kernel occupies a handful of the
GPU's multiprocessors, so runs on separate CUDA streams execute side by side; separate
processes would take turns on the GPU instead (without MPS, kernels of different processes
do not overlap). Each ``--run`` is one ``oscdyn train-task`` command line without the
program name; each writes its own ``--out`` folder (NetCDF, PNG, summary) as the command
does, and the summaries are printed as the runs finish.

    python examples/concurrent_train_tasks.py \\
        --run "adding --model cornn --length 1000 --steps 60000 --out runs/cornn" \\
        --run "adding --model lstm --length 1000 --steps 60000 --out runs/lstm"

Runs start two seconds apart: the model's initialisation seeds the process's global
generator, which threads share. On the CPU the runs share the cores (use it to check the
command lines; the timings are the GPU's business).
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import sys
import threading
import time
from collections.abc import Iterator

import torch

from oscdyn.tasks.command import add_train_task_arguments, train_task_command

#: seconds between thread starts (each run's initialisation seeds the global generator)
STAGGER = 2.0


def _stream_for(device: str) -> contextlib.AbstractContextManager[object]:
    """A fresh CUDA stream as the thread's current stream (nothing on the CPU)."""
    if device.startswith("cuda") or (device == "auto" and torch.cuda.is_available()):
        return torch.cuda.stream(torch.cuda.Stream())
    return contextlib.nullcontext()


def _parse_runs(lines: list[str]) -> Iterator[argparse.Namespace]:
    parser = add_train_task_arguments(
        argparse.ArgumentParser(prog="train-task", exit_on_error=False)
    )
    outs = set()
    for line in lines:
        args = parser.parse_args(shlex.split(line))
        if args.out in outs:
            raise SystemExit(f"error: two runs write to --out {args.out}")
        outs.add(args.out)
        args.quiet = True  # one progress bar per thread would garble the terminal
        yield args


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--run", action="append", required=True, metavar="ARGS", help="a train-task command line"
    )
    runs = list(_parse_runs(parser.parse_args().run))
    status: dict[int, int] = {}
    lock = threading.Lock()

    def work(index: int, args: argparse.Namespace) -> None:
        started = time.perf_counter()
        try:
            with _stream_for(args.device):
                code = train_task_command(args)
        except Exception as error:  # a failing run must not take the others down
            print(f"run {index} failed: {type(error).__name__}: {error}", file=sys.stderr)
            code = 1
        with lock:
            status[index] = code
            elapsed = time.perf_counter() - started
            print(f"-- run {index} ({args.out}) finished in {elapsed:.0f} s, status {code}")
            sys.stdout.flush()

    threads = []
    for index, args in enumerate(runs):
        if threads:
            time.sleep(STAGGER)
        thread = threading.Thread(target=work, args=(index, args), name=f"run-{index}")
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()
    return max(status.values(), default=0)


if __name__ == "__main__":
    sys.exit(main())
