"""Training on the tasks and ``oscdyn train-task``: tiny runs (length <= 50, hidden <= 16)."""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import re
import shlex
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

import oscdyn
from oscdyn.tasks import (
    MODELS,
    AddingProblem,
    CopyTask,
    NoisePadded,
    TrainingCheckpoint,
    build_model,
    resolve_settings,
    run_experiment,
    train,
)
from oscdyn.tasks.command import add_train_task_arguments, parse_option, train_task_command
from oscdyn.tasks.train import TrainResult, learning_rate


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    parser = add_train_task_arguments(argparse.ArgumentParser(prog="oscdyn train-task"))
    args = parser.parse_args(argv)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = train_task_command(args)
    return status, out.getvalue(), err.getvalue()


def test_loss_falls_below_the_baseline_on_a_short_adding_problem() -> None:
    task = AddingProblem(6)
    settings = resolve_settings("hamiltonian", hidden=16, lr=0.02)
    torch.manual_seed(0)
    result = train(
        build_model(task, settings), task, 120, settings.batch, settings.lr,
        eval_every=30, test_size=500, progress=False,
    )  # fmt: skip
    test = result.history["test_loss"].values
    assert list(result.history["evaluation_step"].values) == [0, 30, 60, 90, 120]
    assert test[0] > 0.5  # untrained
    assert test[1] < 0.3 * test[0]  # within 30 steps
    assert test[-1] < 0.13 < task.baseline().loss  # below 1/6: it adds, not only averages
    assert result.stopped == "steps" and result.steps == 120
    assert result.history["train_loss"].shape == (120,)


def test_training_is_deterministic_for_a_seed() -> None:
    task = AddingProblem(12)

    def run(seed: int) -> xr.Dataset:
        settings = resolve_settings("unicornn", hidden=8)
        torch.manual_seed(seed)
        model = build_model(task, settings)
        history = train(
            model, task, 6, 10, 0.01, seed=seed, eval_every=3, test_size=20, progress=False
        ).history
        return history

    first, again, other = run(1), run(1), run(2)
    np.testing.assert_array_equal(first["train_loss"], again["train_loss"])
    np.testing.assert_array_equal(first["test_loss"], again["test_loss"])
    assert not np.array_equal(first["train_loss"], other["train_loss"])


def test_gradient_clipping_and_loss_scale() -> None:
    # one Adam step moves each weight by about lr whatever the gradient scale, so clip
    # is checked on the gradient itself: its norm after train_step's clipping
    from oscdyn.tasks import train_step

    task = AddingProblem(10)
    settings = resolve_settings("lstm", hidden=8)
    torch.manual_seed(0)
    model = build_model(task, settings)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    inputs, targets = task.sample(16, torch.Generator().manual_seed(0))
    _, norm = train_step(model, optimizer, task, inputs, targets)
    raw = torch.nn.utils.get_total_norm([p.grad for p in model.parameters()])
    assert norm.dtype == torch.float64 and float(norm) == pytest.approx(float(raw), rel=1e-6)
    _, norm = train_step(model, optimizer, task, inputs, targets, clip=float(raw) / 4)
    clipped = torch.nn.utils.get_total_norm([p.grad for p in model.parameters()])
    assert float(clipped) == pytest.approx(float(raw) / 4, rel=1e-4)
    assert float(norm) == pytest.approx(float(raw), rel=1e-6)  # the norm before clipping
    # a rank's loss_scale scales its gradient (and not the loss it reports)
    loss, _ = train_step(model, optimizer, task, inputs, targets, loss_scale=0.25)
    scaled = torch.nn.utils.get_total_norm([p.grad for p in model.parameters()])
    assert float(scaled) == pytest.approx(float(raw) / 4, rel=1e-5)
    with torch.no_grad():  # SGD at lr 0 left the model as it was
        assert float(loss) == pytest.approx(float(task.loss(model(inputs), targets)), rel=1e-6)


def test_max_time_stops_training() -> None:
    task = AddingProblem(10)
    settings = resolve_settings("unicornn", hidden=4)
    result = train(
        build_model(task, settings), task, 10_000, 4, 0.01, max_time=0.2, test_size=10,
        progress=False,
    )  # fmt: skip
    assert result.stopped == "max_time" and 0 < result.steps < 10_000
    assert int(result.history["evaluation_step"][-1]) == result.steps


# -- checkpoints and resumption ------------------------------------------------------------


def _tiny_run(
    name: str,
    steps: int,
    checkpoint: Path | None = None,
    resume: TrainingCheckpoint | None = None,
    lr_drops: tuple[int, ...] = (),
) -> TrainResult:
    task = AddingProblem(12)
    settings = resolve_settings(name, hidden=8)
    torch.manual_seed(3)
    return train(
        build_model(task, settings), task, steps, 6, 0.02, seed=5, eval_every=4, test_size=16,
        progress=False, checkpoint=checkpoint, resume=resume, run={"model": name},
        lr_drops=lr_drops,
    )  # fmt: skip


def test_lr_drops_divide_the_rate_by_ten_after_their_updates(monkeypatch) -> None:
    assert [learning_rate(0.5, (2, 4), k) for k in range(6)] == pytest.approx(
        [0.5, 0.5, 0.05, 0.05, 0.005, 0.005]
    )
    used: list[float] = []
    adam_step = torch.optim.Adam.step

    def recording_step(self, *args, **kwargs):
        used.append(self.param_groups[0]["lr"])
        return adam_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", recording_step)
    result = _tiny_run("lstm", 6, lr_drops=(4, 2))
    assert used == pytest.approx([0.02, 0.02, 0.002, 0.002, 0.0002, 0.0002])
    assert result.steps == 6
    assert np.isnan(result.history["omega_dt"]).all()  # an LSTM has no oscillator frequency
    for bad, message in (((0,), "positive update counts, got 0"), ((3, 3), "distinct")):
        with pytest.raises(ValueError, match=message):
            _tiny_run("lstm", 6, lr_drops=bad)


@pytest.mark.parametrize(("name", "lr_drops"), [("cornn", ()), ("lstm", ()), ("cornn", (8,))])
def test_resumed_training_is_bitwise_the_uninterrupted_run(
    name: str, lr_drops: tuple[int, ...], tmp_path: Path
) -> None:
    # with a drop after the interruption, the resumed session keeps the schedule
    path = tmp_path / "checkpoint.pt"
    whole = _tiny_run(name, 14, lr_drops=lr_drops)
    first = _tiny_run(name, 6, checkpoint=path, lr_drops=lr_drops)
    saved = TrainingCheckpoint.load(path)
    assert saved.step == 6 and saved.evaluations["step"] == [0, 4, 6]
    assert saved.elapsed >= float(first.history["wall_time"][-1])
    if lr_drops:
        with pytest.raises(ValueError, match=r"lr_drops: \[8\] in the checkpoint, \[9\] now"):
            _tiny_run(name, 14, resume=saved, lr_drops=(9,))
    second = _tiny_run(name, 14, checkpoint=path, resume=saved, lr_drops=lr_drops)
    assert second.steps == 14 and TrainingCheckpoint.load(path).step == 14
    # the resumed run repeats no evaluation and its clock goes on from the first session's
    assert list(second.history["evaluation_step"].values) == [0, 4, 6, 8, 12, 14]
    assert np.all(np.diff(second.history["wall_time"].values) >= 0)
    for name in ("train_loss", "grad_norm"):
        np.testing.assert_array_equal(second.history[name], whole.history[name])
    assert np.all(np.isfinite(whole.history["grad_norm"])) and np.all(
        whole.history["grad_norm"] > 0
    )

    def test_losses(result: TrainResult) -> dict[int, float]:
        steps = result.history["evaluation_step"].values
        return dict(zip(steps.tolist(), result.history["test_loss"].values.tolist(), strict=True))

    resumed, uninterrupted = test_losses(second), test_losses(whole)
    assert {step: resumed[step] for step in uninterrupted} == uninterrupted
    for (key, value), expected in zip(
        second.model.state_dict().items(), whole.model.state_dict().values(), strict=True
    ):
        assert torch.equal(value, expected), key


def test_checkpoint_errors_and_atomic_writes(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "checkpoint.pt"
    _tiny_run("lstm", 4, checkpoint=path)
    saved = TrainingCheckpoint.load(path)
    with pytest.raises(ValueError, match=r"belongs to another run; model: 'lstm' in the "):
        _tiny_run("cornn", 8, resume=saved)
    with pytest.raises(ValueError, match=r"lr: 0.02 in the checkpoint, 0.5 now"):
        saved.check_run({**saved.run, "lr": 0.5})
    saved.check_run({**saved.run, "added_later": None})  # absent counts as None
    with pytest.raises(ValueError, match=r"added_later: None in the checkpoint, 1 now"):
        saved.check_run({**saved.run, "added_later": 1})
    with pytest.raises(FileNotFoundError, match="no checkpoint to resume at"):
        TrainingCheckpoint.load(tmp_path / "absent.pt")
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match="is not a readable oscdyn checkpoint"):
        TrainingCheckpoint.load(damaged)
    # a checkpoint written before gradient norms and omega*dt were recorded resumes with
    # NaN for them
    older = torch.load(path, weights_only=True)
    del older["grad_norms"], older["evaluations"]["omega_dt"]
    torch.save(older, damaged)
    assert torch.isnan(TrainingCheckpoint.load(damaged).grad_norms).all()
    assert len(TrainingCheckpoint.load(damaged).grad_norms) == 4
    omega_dt = TrainingCheckpoint.load(damaged).evaluations["omega_dt"]
    assert len(omega_dt) == len(saved.evaluations["step"]) and np.isnan(omega_dt).all()
    del older["evaluations"]["wall"]
    torch.save(older, damaged)
    with pytest.raises(ValueError, match="evaluations must have keys"):
        TrainingCheckpoint.load(damaged)
    torch.save({"format": 99}, damaged)
    with pytest.raises(ValueError, match="not an oscdyn training checkpoint of format 1"):
        TrainingCheckpoint.load(damaged)

    # a write that fails leaves the previous checkpoint whole and no temporary file
    def failing_write(self: Path, data: bytes) -> int:
        self.open("wb").write(data[: len(data) // 2])
        raise OSError("disk full")

    monkeypatch.setattr(Path, "write_bytes", failing_write)
    with pytest.raises(OSError, match="disk full"):
        _tiny_run("lstm", 8, checkpoint=path, resume=saved)
    monkeypatch.undo()
    assert TrainingCheckpoint.load(path).step == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt", "damaged.pt"]


def test_cli_resume_goes_on_where_the_run_stopped(tmp_path: Path) -> None:
    common = ["adding", "--model", "cornn", "--length", "12", "--hidden", "8", "--batch", "6",
              "--eval-every", "3", "--test-size", "16", "--device", "cpu", "--quiet"]  # fmt: skip
    out = tmp_path / "resumed"
    assert run_cli([*common, "--steps", "5", "--out", str(out)])[0] == 0
    status, _, stderr = run_cli([*common, "--steps", "9", "--out", str(out)])
    assert status == 2 and "holds the checkpoint of an earlier run; pass --resume" in stderr
    status, _, stderr = run_cli(
        [*common, "--steps", "9", "--lr", "0.1", "--out", str(out), "--resume"]
    )
    assert status == 2 and "lr: 0.02 in the checkpoint, 0.1 now" in stderr
    status, stdout, stderr = run_cli([*common, "--steps", "9", "--out", str(out), "--resume"])
    assert status == 0, stderr
    assert "resumed from the checkpoint at step 5" in stdout
    status, _, stderr = run_cli(
        [*common, "--steps", "9", "--out", str(tmp_path / "new"), "--resume"]
    )
    assert status == 2 and "no checkpoint to resume at" in stderr
    assert run_cli([*common, "--steps", "9", "--out", str(tmp_path / "whole")])[0] == 0
    with (
        xr.open_dataset(out / "learning_curve.nc", engine="h5netcdf") as resumed,
        xr.open_dataset(tmp_path / "whole" / "learning_curve.nc", engine="h5netcdf") as whole,
    ):
        np.testing.assert_array_equal(resumed["train_loss"], whole["train_loss"])
        assert list(resumed["evaluation_step"].values) == [0, 3, 5, 6, 9]
        assert float(resumed["test_loss"][-1]) == float(whole["test_loss"][-1])


def test_init_from_starts_a_new_run_from_another_runs_parameters(tmp_path: Path) -> None:
    source = tmp_path / "short"
    common = ["--model", "cornn", "--hidden", "8", "--batch", "6", "--eval-every", "2",
              "--test-size", "8", "--device", "cpu", "--quiet"]  # fmt: skip
    assert (
        run_cli(["adding", "--length", "8", "--steps", "4", "--out", str(source), *common])[0] == 0
    )
    checkpoint = source / "checkpoint.pt"
    trained = TrainingCheckpoint.load(checkpoint).model
    # a longer sequence, another gamma, a learning rate that leaves the weights in place
    settings = resolve_settings("cornn", hidden=8, batch=6, lr=1e-12, options={"gamma": 2.7})
    run = run_experiment("adding", settings, steps=1, length=12, eval_every=1, test_size=8,
                         device="cpu", out=tmp_path / "long", progress=False,
                         init_from=checkpoint)  # fmt: skip
    state = run.result.model.state_dict()
    for name in ("rnn.system.i2h.weight", "rnn.system.i2h.bias", "readout.weight"):
        torch.testing.assert_close(state[name], trained[name], rtol=0, atol=1e-9)
    assert float(state["rnn.system.stiffness.diagonal"]) == pytest.approx(2.7)  # not 66
    assert f"parameters initialised from {checkpoint} (step 4, adding problem, length 8" in (
        run.summary
    )
    assert f"--init-from {checkpoint}" in run.command
    # a resumed run keeps its start, in the record and in the command that reproduces it
    status, stdout, stderr = run_cli(["adding", "--length", "12", "--steps", "2", "--lr",
                                      "1e-12", "--option", "gamma=2.7", "--resume", "--out",
                                      str(tmp_path / "long"), *common])  # fmt: skip
    assert status == 0, stderr
    assert f"parameters initialised from {checkpoint} (step 4" in stdout
    assert f"--init-from {checkpoint}" in stdout.split("command: ")[1]
    status, _, stderr = run_cli(["adding", "--length", "12", "--steps", "1", "--resume",
                                 "--init-from", str(checkpoint), "--out", str(tmp_path / "x"),
                                 *common])  # fmt: skip
    assert status == 2 and "give one of them" in stderr
    status, _, stderr = run_cli(["adding", "--model", "lstm", "--hidden", "8", "--steps", "1",
                                 "--init-from", str(checkpoint), "--out", str(tmp_path / "y"),
                                 "--device", "cpu"])  # fmt: skip
    assert status == 2 and "its model is 'cornn', this run's 'lstm'" in stderr
    status, _, stderr = run_cli(["adding", "--model", "cornn", "--hidden", "4", "--steps", "1",
                                 "--init-from", str(checkpoint), "--out", str(tmp_path / "z"),
                                 "--device", "cpu"])  # fmt: skip
    assert status == 2 and "its hidden is 8, this run's 4" in stderr
    assert not any((tmp_path / name).exists() for name in "xyz")  # no empty folders left


def test_init_from_warns_when_trained_units_step_beyond_the_limit_at_the_new_dt(
    tmp_path: Path,
) -> None:
    # UnICORNN's unit i steps by h_i = dt sigmoid(c_i) at omega_i = sqrt(alpha + max(w_i, 0));
    # symplectic Euler needs omega_i h_i < 2. A checkpoint with one unit at omega 3 and
    # sigmoid(c) 0.9 is stable at dt 0.5 (1.35) and beyond the limit at dt 1 (2.7).
    settings = resolve_settings("unicornn", hidden=4, batch=4, lr=1e-12, dt=0.5,
                                options={"alpha": 1.0})  # fmt: skip
    common = {"steps": 1, "length": 6, "eval_every": 1, "test_size": 4, "device": "cpu",
              "progress": False}  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error", oscdyn.StabilityWarning)
        source = run_experiment("adding", settings, out=tmp_path / "source", **common)
    checkpoint = tmp_path / "source" / "checkpoint.pt"
    saved = TrainingCheckpoint.load(checkpoint)
    saved.model["rnn.stack.layers.0.recurrent_weight"][2] = 8.0
    saved.model["rnn.stack.layers.0.step_logit"][2] = math.log(9.0)  # sigmoid = 0.9
    saved.save(checkpoint)
    assert float(source.result.history["omega_dt"][0]) < 2
    with warnings.catch_warnings():
        warnings.simplefilter("error", oscdyn.StabilityWarning)
        stable = run_experiment("adding", settings, out=tmp_path / "half", init_from=checkpoint,
                                **common)  # fmt: skip
    np.testing.assert_allclose(stable.result.history["omega_dt"].values, 1.35, rtol=1e-6)
    assert "1.35 at the end; symplectic_euler is stable below 2, this is within it" in (
        stable.summary
    )
    faster = resolve_settings("unicornn", hidden=4, batch=4, lr=1e-12, dt=1.0,
                              options={"alpha": 1.0})  # fmt: skip
    with pytest.warns(oscdyn.StabilityWarning, match=r"unit 2 steps by h = 0\.9 at omega = 3\b"):
        beyond = run_experiment("adding", faster, out=tmp_path / "one", init_from=checkpoint,
                                **common)  # fmt: skip
    np.testing.assert_allclose(beyond.result.history["omega_dt"].values, 2.7, rtol=1e-6)
    assert "2.7 at the end; symplectic_euler is stable below 2, this is beyond it" in (
        beyond.summary
    )
    assert beyond.summary.splitlines()[6].endswith("omega*dt")  # the table's last column


class _Drifting(torch.nn.Module):
    """Predicts one learned value for every sequence; "beyond its limit" while it exceeds
    0.5 (a stand-in for a unit whose omega*h training pushes past the limit)."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = torch.nn.Parameter(torch.tensor(value))

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return self.value.expand(len(u), 1)

    def omega_dt(self) -> float:
        return 4 * self.value.item()

    def stability_message(self) -> str | None:
        value = self.value.item()
        return f"value {value:.2f} > 0.5" if value > 0.5 else None


def test_training_warns_once_when_it_moves_the_model_beyond_its_stability_limit() -> None:
    # the adding targets average 1: Adam at lr 0.1 raises the value by about 0.1 per update,
    # past 0.5 between the evaluations after 4 and 6 updates, and it stays beyond
    task = AddingProblem(5)
    common = {"steps": 12, "batch_size": 8, "lr": 0.1, "eval_every": 2, "test_size": 8,
              "progress": False}  # fmt: skip
    with pytest.warns(oscdyn.StabilityWarning) as caught:
        result = train(_Drifting(0.0), task, **common)
    assert len(caught) == 1  # not again at the later evaluations beyond the limit
    assert re.fullmatch(
        r"after 6 updates, training moved the model beyond its stability limit: "
        r"value 0\.\d\d > 0\.5",
        str(caught[0].message),
    )
    assert caught[0].filename == __file__  # points at the caller of train
    omega_dt = result.history["omega_dt"].values
    assert omega_dt[2] < 2 < omega_dt[3] and (omega_dt[3:] > 2).all()
    with warnings.catch_warnings():  # beyond from the start: warned when built or loaded
        warnings.simplefilter("error", oscdyn.StabilityWarning)
        train(_Drifting(0.8), task, **common)


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_reads_out_the_last_step_or_every_step(name: str) -> None:
    if name == "unitary":
        pytest.importorskip("oscdyn.systems.unitary")  # written beside this package
    for task, shape in (
        (AddingProblem(9), (3, 1)),
        (CopyTask(delay=4, copy_length=3), (3, 10, 10)),
    ):
        torch.manual_seed(0)
        model = build_model(task, resolve_settings(name, hidden=6))
        inputs, targets = task.sample(3, torch.Generator().manual_seed(0))
        output = model(inputs)
        assert output.shape == shape
        loss = task.loss(output, targets)
        loss.backward()
        assert math.isfinite(float(loss.detach()))
        assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_unitary_options_reach_its_constructor() -> None:
    pytest.importorskip("oscdyn.systems.unitary")
    task = AddingProblem(8)
    settings = resolve_settings("unitary", hidden=6, options={"map": "cayley"})
    model = build_model(task, settings)
    assert model.cell.map == "cayley"
    with pytest.raises(ValueError, match="model 'unitary' does not take these options"):
        build_model(task, resolve_settings("unitary", hidden=6, options={"gamma": 1.0}))


def test_unicornn_options_reach_its_layers() -> None:
    settings = resolve_settings(
        "unicornn", hidden=16, options={"num_layers": 2, "alpha": 1.0, "step_logit_range": 6.0}
    )
    torch.manual_seed(0)
    layers = build_model(AddingProblem(8), settings).rnn.stack.layers
    assert len(layers) == 2 and all(layer.alpha == 1.0 for layer in layers)
    assert max(float(layer.step_logit.detach().abs().max()) for layer in layers) > 1.0


def test_settings_errors() -> None:
    with pytest.raises(ValueError, match="unknown model 'gru'; known: cornn, unicornn"):
        resolve_settings("gru")
    with pytest.raises(ValueError, match="--integrator, --dt apply to the oscillator models"):
        resolve_settings("lstm", integrator="leapfrog", dt=0.1)
    with pytest.raises(ValueError, match="hidden must be a positive integer, got 0"):
        resolve_settings("cornn", hidden=0)
    with pytest.raises(ValueError, match="lr must be positive and finite, got -1"):
        resolve_settings("cornn", lr=-1.0)
    with pytest.raises(ValueError, match="model 'cornn' does not take these options"):
        build_model(AddingProblem(5), resolve_settings("cornn", hidden=4, options={"beta": 1}))
    # an integrator that cannot run a system: the library's own error
    with pytest.raises(ValueError, match="needs one scalar step, but UnICORNNLayer"):
        build_model(AddingProblem(5), resolve_settings("unicornn", integrator="torchdiffeq:rk4"))
    with pytest.raises(ValueError, match="unknown integrator 'verlet'"):
        build_model(AddingProblem(5), resolve_settings("cornn", integrator="verlet"))


def test_defaults_are_the_published_adding_settings() -> None:
    cornn = resolve_settings("cornn")
    assert (cornn.hidden, cornn.dt, cornn.lr, cornn.batch) == (128, 0.06, 0.02, 50)
    assert cornn.options == {"gamma": 66.0, "epsilon": 15.0}
    unicornn = resolve_settings("unicornn", options={"num_layers": 2})
    assert (unicornn.dt, unicornn.lr, unicornn.options["alpha"]) == (0.19, 0.00251, 30.65)
    assert unicornn.options["num_layers"] == 2
    assert resolve_settings("lstm").hidden == cornn.hidden


# -- the command ----------------------------------------------------------------------------


def test_cli_writes_netcdf_png_and_summary(tmp_path: Path) -> None:
    out = tmp_path / "run"
    status, stdout, stderr = run_cli(
        ["adding", "--model", "cornn", "--length", "20", "--hidden", "8", "--steps", "4",
         "--batch", "8", "--eval-every", "2", "--test-size", "16", "--integrator", "imex",
         "--option", "gamma=2.7", "--lr-drop", "3", "--lr-drop", "2", "--device", "cpu",
         "--out", str(out)]
    )  # fmt: skip
    assert status == 0, stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoint.pt",
        "learning_curve.nc",
        "learning_curve.png",
        "summary.txt",
    ]
    assert (out / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = (out / "summary.txt").read_text()
    assert stdout.startswith(summary) and f"wrote {out / 'summary.txt'}" in stdout
    assert "step  wall [s]  train loss  max grad norm  test loss  test mse" in summary
    assert "integrator imex, dt 0.06, backend auto (fused); " in summary  # what auto chose
    assert "gamma=2.7" in summary
    assert "Adam lr 0.02 (divided by 10 after updates 2, 3), batch 8" in summary
    assert "baseline: mse 0.1667, loss 0.1667; predict 1 (the mean of the sum)" in summary
    with xr.open_dataset(out / "learning_curve.nc", engine="h5netcdf") as ds:
        assert ds["train_loss"].dims == ("step",) and ds.sizes["step"] == 4
        assert ds["grad_norm"].dims == ("step",) and np.all(ds["grad_norm"].values > 0)
        assert list(ds["evaluation_step"].values) == [0, 2, 4]
        # coRNN's units: omega = sqrt(gamma), stepped by the scalar dt
        np.testing.assert_allclose(ds["omega_dt"].values, math.sqrt(2.7) * 0.06, rtol=1e-6)
        assert ds.attrs["model"] == "cornn" and ds.attrs["integrator"] == "imex"
        assert (ds.attrs["backend"], ds.attrs["backend_used"]) == ("auto", "fused")
        assert (
            ds.attrs["sequence_length"] == 20 and ds.attrs["options"] == "epsilon=15.0, gamma=2.7"
        )
        assert ds.attrs["baseline_loss"] == pytest.approx(1 / 6)
        assert list(ds.attrs["lr_drops"]) == [2, 3]
        final = float(ds["test_loss"][-1])
        command = ds.attrs["command"]
    assert f"final test mse {final:.4g}" in summary
    # the recorded command reproduces the run
    assert command.startswith("oscdyn train-task adding --model cornn --length 20")
    again = tmp_path / "again"
    argv = shlex.split(command)[2:]
    argv[argv.index("--out") + 1] = str(again)
    status, _, _ = run_cli([*argv, "--quiet"])
    assert status == 0
    with xr.open_dataset(again / "learning_curve.nc", engine="h5netcdf") as ds:
        assert float(ds["test_loss"][-1]) == final


def test_cli_copy_task_with_lstm_and_noise_padded_adding(tmp_path: Path) -> None:
    status, stdout, stderr = run_cli(
        ["copy", "--model", "lstm", "--length", "5", "--hidden", "8", "--steps", "2",
         "--batch", "4", "--eval-every", "1", "--test-size", "8", "--device", "cpu",
         "--quiet", "--out", str(tmp_path / "copy")]
    )  # fmt: skip
    assert status == 0, stderr
    assert "test accuracy" in stdout and "wrote" not in stdout  # --quiet: no file messages
    assert "memoryless" in stdout
    status, stdout, stderr = run_cli(
        ["adding", "--model", "unicornn", "--length", "10", "--noise-pad", "30", "--hidden",
         "4", "--steps", "2", "--batch", "4", "--test-size", "8", "--device", "cpu",
         "--quiet", "--out", str(tmp_path / "noisy")]
    )  # fmt: skip
    assert status == 0, stderr
    with xr.open_dataset(tmp_path / "noisy" / "learning_curve.nc", engine="h5netcdf") as ds:
        assert ds.attrs["sequence_length"] == 30
        assert "--noise-pad 30" in ds.attrs["command"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["adding", "--model", "lstm", "--integrator", "leapfrog"], "--integrator apply to the"),
        (["adding", "--model", "cornn", "--backend", "scan"], "backend 'scan' cannot run"),
        (["adding", "--model", "cornn", "--integrator", "midpoint"], "unknown integrator"),
        (["adding", "--length", "1"], "length must be an integer >= 2"),
        (["adding", "--steps", "0"], "steps must be a positive integer, got 0"),
        (["adding", "--lr-drop", "0"], "lr_drops must be positive update counts, got 0"),
        (["smnist"], "smnist needs --data"),
        (["psmnist", "--data", "/nonexistent/mnist.npz"], "yann.lecun.com/exdb/mnist"),
        (["adding", "--option", "alpha=-1", "--model", "hamiltonian"], "alpha must be finite"),
        (["adding", "--device", "tpu:x"], "device must be auto, cpu, cuda or cuda:N"),
    ],
)
def test_cli_errors_name_the_argument(tmp_path: Path, argv: list[str], message: str) -> None:
    status, stdout, stderr = run_cli([*argv, "--hidden", "4", "--out", str(tmp_path)])
    assert status == 2 and stdout == ""
    assert stderr.startswith("oscdyn train-task: error:") and message in stderr
    assert list(tmp_path.iterdir()) == []


def test_option_parsing() -> None:
    assert parse_option("num_layers=2") == ("num_layers", 2)
    assert parse_option("alpha=30.65") == ("alpha", 30.65)
    assert parse_option("nonlinear=False") == ("nonlinear", False)
    assert parse_option("map=cayley") == ("map", "cayley")
    with pytest.raises(argparse.ArgumentTypeError, match="give KEY=VALUE"):
        parse_option("alpha")


def test_noise_padded_training_reads_the_answer_at_the_end() -> None:
    task = NoisePadded(AddingProblem(6), 16)
    settings = resolve_settings("unicornn", hidden=4)
    model = build_model(task, settings)
    result = train(model, task, 2, 4, 0.01, eval_every=1, test_size=8, progress=False)
    assert result.history.attrs["baseline_loss"] == pytest.approx(1 / 6)


def test_adding_problem_example_runs(tmp_path: Path) -> None:
    script = Path(__file__).resolve().parent.parent / "examples" / "adding_problem.py"
    argv = ["--length", "8", "--steps", "4", "--hidden", "4", "--models", "cornn", "lstm"]
    result = subprocess.run(
        [sys.executable, str(script), *argv, "--quiet", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[3:]}
    assert rows["cornn"][1:3] == ["symplectic_euler", "dt=0.06"] and rows["lstm"][1] == "-"
    for name in ("cornn", "lstm"):
        assert int(rows[name][-5]) == 4  # steps
        with xr.open_dataset(tmp_path / name / "learning_curve.nc", engine="h5netcdf") as ds:
            assert float(ds["test_loss"][-1]) == pytest.approx(float(rows[name][-3]), abs=1e-4)
