"""Backends side by side: time and peak memory against eager, nn.LSTM and torchdiffeq.

    python benchmarks/bench_backends.py [--quick] [--systems unicornn,cornn]
        [--backends eager,fused,lstm,odeint] [--batch 64] [--length 784] [--hidden 128]
        [--repeats 5] [--sweep 1000,2000,4000,8000,16000] [--out DIR] [--quiet]

The same code as ``oscdyn bench`` (:mod:`oscdyn.bench`): prints the table (absolute numbers,
ratios to the references, the memory sweep, the issue's targets as PASS/FAIL lines) and
writes ``bench.json``, ``bench.nc`` and ``bench.txt`` into ``--out``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from oscdyn.bench import add_bench_arguments, bench_command


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench_backends.py",
        description="Time and peak memory of every oscdyn backend against the eager loop, "
        "torch.nn.LSTM and torchdiffeq odeint, measured side by side in one run.",
    )
    add_bench_arguments(parser)
    return bench_command(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
