"""``oscdyn demo`` (identification): one slowly varying system, four integrators, one table.

A Duffing oscillator whose stiffness and damping drift slowly is generated from a seed
(:func:`~oscdyn.sysid.slowly_varying_duffing`, nothing downloaded) and split into
training (70 %), validation (10 %) and test (20 %) parts. The grey-box
:class:`~oscdyn.sysid.DuffingModel` is fitted with each of ``imex``, ``symplectic_euler``,
``leapfrog`` and ``exponential`` at one step per sample, by the same seeded
:func:`~oscdyn.sysid.fit`, then simulated on the test part from its 50-sample window.
The table reports simulation RMSE, NRMSE and fit % on the test part, training time,
the integrator's stability limit against the fitted model's ``omega_max h``, and the
measured gradient growth rate (:mod:`oscdyn.sysid.diagnostics`). ``results.nc`` holds
everything, ``prediction.png`` and ``error.png`` the test simulations.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from .. import __version__
from ..io import write_atomic, write_netcdf
from ..tables import aligned_table
from .diagnostics import gradient_growth_rate, stability_margin
from .fit import evaluate, fit
from .generators import slowly_varying_duffing
from .models import DuffingModel, OscNetModel, SimulationModel

__all__ = [
    "DEMO_INTEGRATORS",
    "SysidDemoConfig",
    "run_comparison",
    "run_sysid_demo",
    "format_table",
    "plot",
    "write_results",
]

#: the integrators compared, in table order
DEMO_INTEGRATORS: tuple[str, ...] = ("imex", "symplectic_euler", "leapfrog", "exponential")


@dataclass(frozen=True)
class SysidDemoConfig:
    """Sizes of the demo (the defaults take a few minutes on 2 CPU cores; see ``quick``).

    The system: ``y'' = -k(t) y - c(t) y' - cubic y^3 + u``, ``k`` around 1, ``c`` around
    ``damping``, drifting by ``drift``, sampled every ``dt`` s, multisine input up to
    ``f_max`` Hz, output noise ``noise_std``.
    """

    n_samples: int = 3000
    dt: float = 0.25
    damping: float = 0.2
    cubic: float = 0.5
    drift: float = 0.05
    drift_cycles: float = 1.0
    f_max: float = 0.5
    noise_std: float = 0.005
    model: str = "duffing"
    units: int = 4
    iterations: int = 300
    batch_size: int = 32
    horizon: tuple[int, int] = (10, 200)
    eval_every: int = 25
    patience: int = 6
    init_window: int = 50
    hold: str = "bandlimited"
    seed: int = 0

    @classmethod
    def quick(cls, seed: int = 0, model: str = "duffing") -> SysidDemoConfig:
        """A run of well under a minute (fewer samples, iterations and a shorter horizon)."""
        return cls(
            n_samples=1500,
            iterations=50,
            horizon=(10, 60),
            eval_every=25,
            seed=seed,
            model=model,
        )


def _model(config: SysidDemoConfig) -> SimulationModel:
    if config.model == "duffing":
        return DuffingModel()
    if config.model == "oscnet":
        return OscNetModel(units=config.units, seed=config.seed)
    raise ValueError(f"model must be 'duffing' or 'oscnet', got {config.model!r}")


def _coefficients(model: SimulationModel) -> dict[str, float]:
    if isinstance(model, DuffingModel):
        return model.coefficients()
    return {}


def _pad(rows: list[np.ndarray]) -> np.ndarray:
    width = max((len(r) for r in rows), default=0)
    out = np.full((len(rows), width), np.nan)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


def run_comparison(
    config: SysidDemoConfig | None = None,
    integrators: tuple[str, ...] = DEMO_INTEGRATORS,
    progress: bool = True,
) -> xr.Dataset:
    """Generate, fit with every integrator, evaluate; the results as an ``xarray.Dataset``."""
    config = config or SysidDemoConfig()
    system = dict(
        n_samples=config.n_samples,
        dt=config.dt,
        damping=config.damping,
        cubic=config.cubic,
        band=(0.01, config.f_max),
        noise_std=config.noise_std,
        seed=config.seed,
    )
    period = config.n_samples * config.dt / config.drift_cycles
    data = slowly_varying_duffing(drift=config.drift, drift_period=period, **system)
    # what the drift alone costs a time-invariant model: the same system without drift
    frozen = slowly_varying_duffing(drift=0.0, **system).dataset["y_clean"].values[:, 0]
    n_train = int(0.7 * len(data))
    n_val = int(0.1 * len(data))
    if n_val <= config.init_window + 1:
        raise ValueError(
            f"{config.n_samples} samples leave {n_val} for validation, not more than the "
            f"{config.init_window}-sample window"
        )
    train = data[:n_train]
    validation = data[n_train : n_train + n_val].with_init_window(config.init_window)
    test = data[n_train + n_val :].with_init_window(config.init_window)
    window = config.init_window

    rows: dict[str, list[float]] = {}
    predictions, losses, validations = [], [], []
    coefficient_names = ("k", "c", "k3", "b")
    for name in integrators:
        model = _model(config)
        result = fit(
            model,
            train,
            name,
            validation=validation,
            init_window=window,
            iterations=config.iterations,
            batch_size=config.batch_size,
            horizon=config.horizon,
            eval_every=config.eval_every,
            patience=config.patience,
            hold=config.hold,
            seed=config.seed,
            progress=progress,
        )
        scores = evaluate(result.model, test)
        predictions.append(result.model.predict(test)[:, 0])
        start = time.perf_counter()
        growth = gradient_growth_rate(result.model, test)
        margin = stability_margin(result.model)
        coefficients = _coefficients(result.model)
        values = {
            **scores,
            "train_time": result.train_time,
            "iterations": float(result.iterations),
            "stability_limit": margin["limit"],
            "omega_h": margin["omega_h"],
            "dt_max": margin["dt_max"],
            "gradient_growth_rate": growth["rate"],
            "diagnostics_time": time.perf_counter() - start,
            **{f"fitted_{k}": coefficients.get(k, math.nan) for k in coefficient_names},
        }
        for key, value in values.items():
            rows.setdefault(key, []).append(float(value))
        losses.append(result.history["loss"].values)
        validations.append(result.history["validation_rmse"].values)

    y = test.y[:, 0]
    predicted = np.stack(predictions)
    after = slice(len(data) - len(test) + window, None)
    drift_floor = float(np.sqrt(np.mean((frozen[after] - data.y[after, 0]) ** 2)))
    return xr.Dataset(
        {
            "u": ("time", test.u[:, 0]),
            "y": ("time", y),
            "y_clean": ("time", test.dataset["y_clean"].values[:, 0]),
            "y_no_drift": ("time", frozen[len(data) - len(test) :]),
            "stiffness": ("time", test.dataset["stiffness"].values),
            "damping": ("time", test.dataset["damping"].values),
            "y_pred": (("integrator", "time"), predicted),
            "error": (("integrator", "time"), predicted - y[None]),
            "loss": (("integrator", "iteration"), _pad(losses)),
            "validation_rmse": (("integrator", "evaluation"), _pad(validations)),
            **{key: ("integrator", np.asarray(value)) for key, value in rows.items()},
        },
        coords={"integrator": list(integrators), "time": test.time},
        attrs={
            "title": "oscdyn demo: identifying a slowly varying Duffing oscillator",
            "system": (
                "y'' = -k(t) y - c(t) y' - k3 y^3 + b u, k(t) = (1 + drift sin(2 pi t/T + p)), "
                "c(t) = c0 (1 + drift sin(2 pi t/T + q))"
            ),
            "true_k": 1.0,
            "true_c": config.damping,
            "true_k3": config.cubic,
            "true_b": 1.0,
            "model": config.model,
            "metrics_on": f"test part, {len(test) - window} samples after a {window}-sample window",
            "noise_rmse": float(np.sqrt(np.mean((test.y - test.dataset["y_clean"].values) ** 2))),
            "drift_rmse": drift_floor,
            **{
                f"config_{k}": (str(v) if isinstance(v, tuple) else v)
                for k, v in asdict(config).items()
            },
            "oscdyn_version": __version__,
            "torch_version": str(torch.__version__),
            "torch_threads": torch.get_num_threads(),
        },
    )


def _cell(value: float, digits: int = 3, fmt: str = "g") -> str:
    if math.isnan(value):
        return "-"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{digits}{fmt}}"


def format_table(results: xr.Dataset) -> str:
    """The comparison as a plain-text table with a header and footnotes."""
    header = [
        "integrator",
        "RMSE",
        "NRMSE",
        "fit%",
        "train[s]",
        "iters",
        "stab.limit(w*h)",
        "w_max*h",
        "h_max[s]",
        "grad.growth/sample",
        "k",
        "k3",
    ]
    rows = []
    for name in results["integrator"].values:
        r = results.sel(integrator=name)
        rows.append(
            [
                str(name),
                _cell(float(r["rmse"]), 4, "f"),
                _cell(float(r["nrmse"]), 4, "f"),
                _cell(float(r["fit_percent"]), 2, "f"),
                _cell(float(r["train_time"]), 1, "f"),
                str(int(r["iterations"])),
                _cell(float(r["stability_limit"]), 3),
                _cell(float(r["omega_h"]), 3),
                _cell(float(r["dt_max"]), 3),
                _cell(float(r["gradient_growth_rate"]), 3, "f"),
                _cell(float(r["fitted_k"]), 3),
                _cell(float(r["fitted_k3"]), 3),
            ]
        )
    a = results.attrs
    intro = [
        f"Slowly varying Duffing oscillator: y'' = -k(t) y - c(t) y' - {a['true_k3']:g} y^3 + u, "
        f"k ~ 1, c ~ {a['true_c']:g}, drifting by {100 * a['config_drift']:g} %; "
        f"dt = {a['config_dt']:g} s, {a['config_n_samples']} samples, noise RMS "
        f"{a['noise_rmse']:.4f}",
        f"model: {a['model']}, one step per sample, input hold {a['config_hold']}; metrics on "
        f"the {a['metrics_on']}",
        f"cost of the drift: the same system without drift (exact, noise-free) misses the "
        f"measured test output by RMSE {a['drift_rmse']:.4f}",
        "",
    ]
    notes = [
        "",
        "RMSE, NRMSE (RMSE / std y), fit% = 100 (1 - NRMSE): free simulation of the test part.",
        "train: wall seconds of fit() (incl. validation), iters: Adam steps (early stopping). "
        "stab.limit: largest omega*h for which",
        "the scheme keeps y'' = -omega^2 y bounded;",
        "w_max*h: the fitted model's largest linear frequency times its step; h_max: the "
        "largest stable step for it (s).",
        "grad.growth: slope of log ||dy_t/dx_0|| per sample along the test input (negative: "
        "gradients through time decay).",
        "k, k3: fitted stiffness and cubic coefficient of the Duffing model (true: k ~ 1 "
        f"drifting, k3 = {a['true_k3']:g}).",
    ]
    body = aligned_table(header, rows)
    return "\n".join(intro + body + notes)


def plot(results: xr.Dataset, out: str | os.PathLike[str]) -> dict[str, Path]:
    """``prediction.png`` (truth and simulations) and ``error.png`` (error over time)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    out = Path(out)
    window = int(results.attrs["config_init_window"])
    time_axis = results["time"].values
    shown = slice(window, min(len(time_axis), window + 200))
    paths = {}

    figure = Figure(figsize=(11, 4.2), layout="constrained")
    FigureCanvasAgg(figure)
    axis = figure.subplots()
    axis.plot(
        time_axis[shown],
        results["y"].values[shown],
        color="black",
        lw=2.5,
        alpha=0.3,
        label="measured y",
    )
    for k, name in enumerate(results["integrator"].values):
        axis.plot(
            time_axis[shown],
            results["y_pred"].sel(integrator=name).values[shown],
            color=f"C{k}",
            lw=1,
            label=f"{name} (RMSE {float(results['rmse'].sel(integrator=name)):.3g})",
        )
    axis.set(
        title="test part: free simulation against the measured output", xlabel="t [s]", ylabel="y"
    )
    axis.legend(fontsize="small", ncols=2)
    paths["prediction"] = write_atomic(
        out / "prediction.png", lambda p: figure.savefig(p, format="png", dpi=100)
    )

    figure = Figure(figsize=(11, 4.2), layout="constrained")
    FigureCanvasAgg(figure)
    axis = figure.subplots()
    for k, name in enumerate(results["integrator"].values):
        error = np.abs(results["error"].sel(integrator=name).values[window:])
        kernel = np.ones(25) / 25
        smooth = np.sqrt(np.convolve(error**2, kernel, mode="same"))
        axis.semilogy(time_axis[window:], smooth, color=f"C{k}", lw=1, label=name)
    frozen = np.abs(results["y_no_drift"].values[window:] - results["y"].values[window:])
    axis.semilogy(
        time_axis[window:],
        np.sqrt(np.convolve(frozen**2, np.ones(25) / 25, mode="same")),
        color="gray",
        lw=1.5,
        label="true system without drift",
    )
    axis.axhline(float(results.attrs["noise_rmse"]), color="gray", ls="--", lw=1, label="noise RMS")
    axis.set(
        title="simulation error over the test part (RMS over 25 samples)",
        xlabel="t [s]",
        ylabel="|y_pred - y|",
    )
    axis.legend(fontsize="small", ncols=3)
    paths["error"] = write_atomic(
        out / "error.png", lambda p: figure.savefig(p, format="png", dpi=100)
    )
    return paths


def write_results(results: xr.Dataset, out: str | os.PathLike[str]) -> dict[str, Path]:
    """``results.nc``, ``prediction.png`` and ``error.png`` in ``out`` (created), atomically."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    return {"netcdf": write_netcdf(results, out / "results.nc"), **plot(results, out)}


def run_sysid_demo(
    out: str | os.PathLike[str] = "oscdyn-demo",
    quick: bool = False,
    quiet: bool = False,
    seed: int = 0,
    model: str = "duffing",
) -> tuple[xr.Dataset, dict[str, Path]]:
    """Run the comparison and write its files into ``out``; returns results and paths."""
    config = (
        SysidDemoConfig.quick(seed, model) if quick else SysidDemoConfig(seed=seed, model=model)
    )
    results = run_comparison(config, progress=not quiet)
    return results, write_results(results, out)
