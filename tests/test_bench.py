"""``oscdyn bench`` (:mod:`oscdyn.bench`): a tiny run through ``bench_command``.

Only the report's content is checked (every requested method appears, ratios are positive
finite numbers, the files are written atomically): speed targets are measured by the
benchmark and printed, never asserted here.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch
import xarray as xr

from oscdyn import backends, bench
from oscdyn.backends.eager import Eager

TINY = [
    "--batch",
    "2",
    "--length",
    "20",
    "--hidden",
    "8",
    "--repeats",
    "1",
    "--sweep",
    "20,40",
    "--threads",
    "1",
]
RUNNABLE = ["eager", "fused", "lstm", "odeint"]


def _run(argv: list[str]) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    bench.add_bench_arguments(parser)
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        status = bench.bench_command(parser.parse_args(argv))
    return status, stdout.getvalue()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, dict[str, Any]]:
    """One tiny benchmark of every backend and baseline on every system (a few seconds)."""
    out = tmp_path_factory.mktemp("bench")
    threads = torch.get_num_threads()
    status, table = _run([*TINY, "--quiet", "--out", str(out)])
    assert status == 0, table
    assert torch.get_num_threads() == threads  # --threads holds for the run only
    report = json.loads((out / "bench.json").read_text())
    return out, table, report


def test_writes_json_netcdf_and_table_atomically(
    tiny_run: tuple[Path, str, dict[str, Any]],
) -> None:
    out, table, _ = tiny_run
    # the three results and nothing else: no temporary file left behind
    assert sorted(p.name for p in out.iterdir()) == ["bench.json", "bench.nc", "bench.txt"]
    assert (out / "bench.txt").read_text().strip() == table.strip()
    with xr.open_dataset(out / "bench.nc") as ds:
        assert list(ds["system"].values) == ["unicornn", "cornn", "linoss"]
        assert set(RUNNABLE) <= set(ds["method"].values)
        assert ds["forward_backward_s"].dims == ("system", "method")
        assert ds["ratio"].dims == ("system", "method", "reference", "quantity")
        assert list(ds["length"].values) == [20, 40]


def test_every_backend_and_baseline_appears(tiny_run: tuple[Path, str, dict[str, Any]]) -> None:
    _, table, report = tiny_run
    expected = [*backends.available(), *bench.BASELINES]
    assert report["meta"]["methods"] == expected
    for system in ("unicornn", "cornn"):
        records = {r["method"]: r for r in report["results"] if r["system"] == system}
        assert list(records) == expected
        for record in records.values():
            assert record["status"] in ("ok", "skipped"), record
            if record["status"] == "skipped":  # a backend that cannot run the case says why
                assert record["reason"]
                assert record["reason"] in table
        for name in RUNNABLE:
            record = records[name]
            assert record["status"] == "ok", record
            for key in ("forward_s", "forward_backward_s", "first_call_s"):
                assert record[key] > 0
            for key in ("forward_peak_bytes", "forward_backward_peak_bytes"):
                assert record[key] > 0
            assert len(record["forward_backward_times_s"]) == 1
        # every backend reproduces the eager loop
        assert records["fused"]["max_abs_diff_vs_eager"] < 1e-5
    for label in ("UnICORNN", "CoRNN"):
        assert label in table
    for name in expected:
        assert name in table
    assert "1 thread(s)" in table  # --threads 1 is applied and printed


def test_ratios_are_positive_and_finite(tiny_run: tuple[Path, str, dict[str, Any]]) -> None:
    _, _, report = tiny_run
    ratios = report["ratios"]
    for row in ratios:
        assert math.isfinite(row["ratio"]) and row["ratio"] > 0, row
    present = {(r["system"], r["method"], r["reference"], r["quantity"]) for r in ratios}
    for system in ("unicornn", "cornn"):
        for method in RUNNABLE:
            for reference in bench.REFERENCES:
                for quantity in (
                    "forward_time",
                    "forward_backward_time",
                    "forward_memory",
                    "forward_backward_memory",
                ):
                    assert (system, method, reference, quantity) in present
        # a method against itself
        self_ratio = next(
            r["ratio"]
            for r in ratios
            if (r["system"], r["method"], r["reference"], r["quantity"])
            == (system, "lstm", "lstm", "forward_backward_time")
        )
        assert self_ratio == pytest.approx(1.0)


def test_sweep_and_targets(tiny_run: tuple[Path, str, dict[str, Any]]) -> None:
    _, table, report = tiny_run
    sweep = report["sweep"]
    for system in ("unicornn", "cornn"):
        for method in RUNNABLE:
            rows = [r for r in sweep if r["system"] == system and r["method"] == method]
            assert [r["length"] for r in rows] == [20, 40]
            assert all(r["status"] == "ok" and r["peak_bytes"] > 0 for r in rows), rows
            assert all(0 <= r["io_excluded_peak_bytes"] <= r["peak_bytes"] for r in rows)
    growth = {(g["system"], g["method"]): g for g in report["growth"]}
    for key in (("unicornn", "fused"), ("cornn", "eager")):
        assert math.isfinite(growth[key]["growth"]) and growth[key]["growth"] > 0
    names = {t["name"] for t in report["targets"]}
    assert {
        "unicornn_fused_vs_lstm",
        "unicornn_fused_speedup_vs_eager",
        "cornn_fused_vs_lstm",
        "unicornn_fused_memory_growth",
        "unicornn_fused_first_call",
        "unicornn_triton_vs_cudnn_lstm",
    } <= names
    for target in report["targets"]:
        assert target["status"] in ("PASS", "FAIL", "N/A")
        assert f"{target['status']:4}  {target['description']}" in table
    assert "targets (measured in this run, not asserted)" in table


class _NeedsAccelerator(Eager):
    """A stand-in for a backend that cannot run on this machine (e.g. triton)."""

    name: ClassVar[str] = "needs_accelerator"

    def unsupported_reason(self, rnn: Any) -> str | None:
        return "runs on an accelerator only"


def test_backend_that_cannot_run_is_listed_with_its_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(backends._BACKENDS, _NeedsAccelerator.name, _NeedsAccelerator)
    argv = [*TINY, "--systems", "cornn", "--sweep", "none", "--quiet", "--out", str(tmp_path)]
    status, table = _run([*argv, "--backends", "eager,needs_accelerator,lstm"])
    assert status == 0
    report = json.loads((tmp_path / "bench.json").read_text())
    records = {r["method"]: r for r in report["results"]}
    assert list(records) == ["eager", "needs_accelerator", "lstm"]
    assert records["needs_accelerator"]["status"] == "skipped"
    assert records["needs_accelerator"]["reason"] == "runs on an accelerator only"
    assert "needs_accelerator  skipped: runs on an accelerator only" in table
    assert report["sweep"] == []


def test_unknown_backend_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _ = _run(["--backends", "eager,warp", "--out", str(tmp_path)])
    assert status == 2
    assert "unknown backend or baseline ['warp']" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_peak_memory_integrates_allocations() -> None:
    mib = 2**20

    def call() -> None:
        x = torch.ones(mib)  # 4 MiB
        y = torch.ones(2 * mib)  # 8 MiB: 12 live
        del x  # 8 live
        z = torch.ones(mib)  # 12 live again
        del y, z

    peak, excluded = bench.peak_memory(call, "cpu", io_tensor=8 * mib, io_allowance=8 * mib)
    assert peak == 12 * mib
    assert excluded == 4 * mib  # the 8 MiB tensor counts as input/output


def test_integrate_peaks_caps_the_excluded_allowance() -> None:
    # three 10-byte "sequence" tensors with an allowance of two: one still counts
    sizes = [10, 10, 10, 3, -3, -10, -10, -10]
    assert bench._integrate_peaks(sizes, io_tensor=10, io_allowance=20) == (33, 13)
    assert bench._integrate_peaks(sizes, io_tensor=0, io_allowance=0) == (33, 33)


def test_write_results_keeps_the_previous_file_on_failure(tmp_path: Path) -> None:
    (tmp_path / "bench.json").write_text("previous\n")
    report = {"meta": {}, "results": [object()]}  # not JSON-serialisable
    with pytest.raises(TypeError):
        bench.write_results(report, tmp_path, table="table")
    assert (tmp_path / "bench.json").read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench.json"]
