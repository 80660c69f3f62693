"""Simulation models for identification: a grey-box Duffing model and a black-box network.

A :class:`SimulationModel` wraps a :class:`~oscdyn.SecondOrderSystem` with what turns it
into an input/output simulator:

* normalisation: inputs and outputs are centred and scaled by the training data's mean and
  standard deviation (buffers saved with the model); the system runs in those units;
* time: one sample lasts ``time_scale`` model time units (a buffer, 1 unless a model's
  :meth:`initialize` sets it: the Duffing model picks its natural period, so its
  coefficients are of order one, which suits Adam); :meth:`configure` sets the integrator,
  ``substeps`` integration steps per sample (step ``h = time_scale / substeps``) and how
  the input is held over a sample:
  ``"zoh"`` (constant ``u_k``), ``"foh"`` (linear from ``u_k`` to ``u_{k+1}``, read at
  each substep's midpoint) or ``"bandlimited"`` (windowed-sinc interpolation from the 24
  nearest samples, read at each substep's midpoint: exact to about 1e-3 for inputs
  band-limited below 2/3 of the Nyquist frequency, such as Silverbox's multisine; the
  sequence's ends are padded by repeating the end samples), and the backend;
* the initial state, at the last sample of the initialisation window, from the window's
  measured samples (:mod:`oscdyn.sysid.initial_state`), and an output map from positions.

Simulation: a window of ``W >= 1`` measured samples gives the state at one of its samples
(the first for the Duffing model's window fit, the last for an encoder); each step ``k``
(input ``u_k``, or ``u_k .. u_{k+1}``) advances to sample ``k + 1``; the predictions are
the outputs at samples ``W .. T - 1``. Without measured outputs the state
starts at rest at sample 0 and all ``T`` samples are predicted.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from ..compile import OscillatorRNN, StabilityWarning
from ..compile import compile as compile_system
from ..integrators import get as get_integrator
from ..systems import Duffing
from ..systems.base import SecondOrderSystem
from .data import DataError, IOData
from .initial_state import DerivativeEstimator, WindowEncoder
from .oscillator_network import OscillatorNetwork
from .positive_diagonal import PositiveDiagonal, cached_values
from .threads import intra_op_threads

__all__ = [
    "SimulationModel",
    "DuffingModel",
    "OscNetModel",
    "MODELS",
    "build_model",
    "HOLDS",
]

#: how the input is held over a sample
HOLDS = ("zoh", "foh", "bandlimited")
#: half-width (samples) of the windowed-sinc interpolator of ``hold="bandlimited"``
SINC_HALF_WIDTH = 12


def sinc_taps(substeps: int, half_width: int = SINC_HALF_WIDTH) -> Tensor:
    """Interpolation taps ``(substeps, 2 half_width)``: row ``j`` reads a band-limited
    signal at ``k + (j + 0.5) / substeps`` from samples ``k - half_width + 1 .. k +
    half_width`` (Lanczos-windowed sinc, rows normalised to unit DC gain)."""
    offsets = torch.arange(-half_width + 1, half_width + 1, dtype=torch.float64)
    fraction = (torch.arange(substeps, dtype=torch.float64) + 0.5) / substeps
    distance = offsets[None, :] - fraction[:, None]
    taps = torch.sinc(distance) * torch.sinc(distance / half_width)
    return taps / taps.sum(1, keepdim=True)


class SimulationModel(nn.Module):
    """Base class: a second-order system run as an input/output simulator (see module doc).

    Subclasses set ``kind`` and ``config`` (the constructor's keyword arguments, plain
    values, so :func:`build_model` rebuilds the model from a file) and implement
    :meth:`initial_state` and :meth:`output`.
    """

    kind: ClassVar[str]
    #: the backend :func:`~oscdyn.sysid.fit` uses unless told otherwise (measured fastest)
    preferred_backend: ClassVar[str] = "eager"

    def __init__(
        self, system: SecondOrderSystem, n_inputs: int, n_outputs: int, config: dict[str, Any]
    ) -> None:
        super().__init__()
        if n_inputs < 1 or n_outputs < 1:
            raise ValueError(f"need inputs and outputs, got {n_inputs} and {n_outputs}")
        self.system = system
        self.n_inputs = int(n_inputs)
        self.n_outputs = int(n_outputs)
        self.config = dict(config)
        self.register_buffer("u_offset", torch.zeros(n_inputs))
        self.register_buffer("u_scale", torch.ones(n_inputs))
        self.register_buffer("y_offset", torch.zeros(n_outputs))
        self.register_buffer("y_scale", torch.ones(n_outputs))
        self.register_buffer("time_scale", torch.ones(()))
        self.settings: dict[str, Any] = {
            "integrator": "leapfrog",
            "substeps": 1,
            "hold": "foh",
            "backend": "eager",
            "sample_time": 1.0,
        }
        self._compiled: OscillatorRNN | None = None

    # -- set-up ----------------------------------------------------------------------------

    def check_data(self, data: IOData) -> None:
        """Raise :class:`DataError` if ``data``'s channels do not fit this model."""
        if data.n_inputs != self.n_inputs:
            raise DataError(
                f"{self.kind} model has {self.n_inputs} input(s), data {data.name!r} has "
                f"{data.n_inputs}"
            )
        if data.has_output and data.n_outputs != self.n_outputs:
            raise DataError(
                f"{self.kind} model has {self.n_outputs} output(s), data {data.name!r} has "
                f"{data.n_outputs}"
            )

    def set_normalization(self, data: IOData) -> None:
        """Centre and scale inputs and outputs by ``data``'s mean and standard deviation."""
        self.check_data(data)
        for name, values in (("u", data.u), ("y", data.y)):
            mean, std = values.mean(0), values.std(0)
            std = np.where(std > 0, std, 1.0)
            getattr(self, f"{name}_offset").copy_(torch.as_tensor(mean))
            getattr(self, f"{name}_scale").copy_(torch.as_tensor(std))

    def configure(
        self,
        integrator: str = "leapfrog",
        substeps: int = 1,
        hold: str = "foh",
        backend: str = "eager",
        sample_time: float | None = None,
    ) -> SimulationModel:
        """Choose the integrator, steps per sample, input hold and backend; returns ``self``.

        ``sample_time`` (s) is recorded to convert coefficients to physical units.
        """
        get_integrator(integrator).check(self.system)
        if int(substeps) != substeps or substeps < 1:
            raise ValueError(f"substeps must be a positive integer, got {substeps}")
        if hold not in HOLDS:
            raise ValueError(f"hold must be one of {HOLDS}, got {hold!r}")
        self.settings.update(
            integrator=str(integrator), substeps=int(substeps), hold=hold, backend=str(backend)
        )
        if sample_time is not None:
            self.settings["sample_time"] = float(sample_time)
        self._compiled = None
        return self

    @property
    def step(self) -> float:
        """The integration step in model time units, ``time_scale / substeps``."""
        return float(self.time_scale) / self.settings["substeps"]

    @property
    def rnn(self) -> OscillatorRNN:
        """The system compiled with the configured integrator, step and backend."""
        if self._compiled is None:
            with warnings.catch_warnings():
                # the fit keeps the stiffness inside the stability limit (see project())
                warnings.simplefilter("ignore", StabilityWarning)
                rnn = compile_system(
                    self.system,
                    self.settings["integrator"],
                    dt=self.step,
                    backend=self.settings["backend"],
                )
            # kept outside the module tree so the state dict holds the system only once
            object.__setattr__(self, "_compiled", rnn)
        return self._compiled  # type: ignore[return-value]

    def _apply(self, fn: Any, recurse: bool = True) -> SimulationModel:  # .double(), .to()
        self._compiled = None
        return super()._apply(fn, recurse)

    def initialize(self, data: IOData) -> None:
        """Set starting coefficients from training data (normalised); default: nothing."""

    def stability_bound(self) -> float | None:
        """Largest stiffness eigenvalue the configured explicit scheme keeps stable
        (``(0.9 limit / h)^2``), ``None`` for unconditionally stable schemes."""
        limit = get_integrator(self.settings["integrator"]).stability_limit
        if limit is None or math.isinf(limit) or limit <= 0:
            return None
        return (0.9 * limit / self.step) ** 2

    def project(self) -> None:
        """Keep coefficients admissible after an update: positive damping at most ``1/h``
        and stiffness within the integrator's stability limit."""
        bound = self.stability_bound()
        for name in ("stiffness", "damping"):
            operator = getattr(self.system, name)
            if isinstance(operator, PositiveDiagonal):
                high = bound if name == "stiffness" else 1.0 / self.step
                operator.clamp_(1e-8, high)

    # -- simulation ------------------------------------------------------------------------

    def initial_state(self, u: Tensor, y: Tensor) -> tuple[tuple[Tensor, Tensor], int]:
        """The state ``(y0, v0)`` (each ``(batch, units)``) and the window sample it is at,
        from the window's normalised inputs ``(batch, W, inputs)`` and outputs
        ``(batch, W, outputs)``."""
        raise NotImplementedError

    def fit_window_state(
        self,
        u: Tensor,
        y: Tensor,
        state: tuple[Tensor, Tensor],
        iterations: int = 5,
        tolerance: float = 1e-7,
        ridge: float = 1e-6,
    ) -> tuple[Tensor, Tensor]:
        """Refine a state at the window's first sample so the simulation over the window
        matches its measured outputs: Gauss-Newton on ``||y - y_sim(x0)||^2`` with the
        sensitivity ``d y_sim / d x0`` from finite differences (all perturbations simulated
        as one batch), ``ridge`` regularising unobservable directions. Stops when a step is
        below ``tolerance`` (relative) or after ``iterations`` steps; one step is exact for
        a linear model, two or three suffice for a weakly nonlinear one. No gradient flows
        through the estimate; the dynamics after it are differentiated as usual."""
        batch, window = y.shape[0], y.shape[1]
        units = self.system.state_size
        x = torch.cat(state, -1).detach()
        eps = 1e-6 if x.dtype == torch.float64 else 1e-3
        eye = torch.eye(2 * units, dtype=x.dtype, device=x.device)
        with torch.no_grad():
            for _ in range(iterations):
                trial = torch.cat([x[None], x[None] + eps * eye[:, None]], 0)
                trial = trial.reshape(-1, 2 * units)
                inputs = u.repeat(2 * units + 1, 1, 1)
                positions = self._advance(
                    (trial[:, :units], trial[:, units:]), inputs, 0, window - 1
                )
                positions = torch.cat([trial[:, None, :units], positions], 1)
                outputs = self.output(positions, inputs).reshape(2 * units + 1, batch, -1)
                base = outputs[0]
                sensitivity = ((outputs[1:] - base) / eps).permute(1, 2, 0)  # (batch, W n_y, 2n)
                residual = (y.reshape(batch, -1) - base)[..., None]
                normal = sensitivity.transpose(1, 2) @ sensitivity
                scale = normal.diagonal(dim1=1, dim2=2).mean(-1)[:, None, None] + 1e-12
                step = torch.linalg.solve(
                    normal + ridge * scale * eye, sensitivity.transpose(1, 2) @ residual
                )[..., 0]
                step = torch.where(torch.isfinite(step), step, torch.zeros_like(step))
                x = x + step
                if float(step.abs().max()) <= tolerance * (1 + float(x.abs().max())):
                    break
        return x[:, :units], x[:, units:]

    def output(self, positions: Tensor, u: Tensor) -> Tensor:
        """Normalised outputs ``(batch, time, outputs)`` from positions and inputs."""
        raise NotImplementedError

    def _held_inputs(self, u: Tensor, start: int, steps: int) -> Tensor:
        s = self.settings["substeps"]
        low = u[:, start : start + steps]
        if self.settings["hold"] == "zoh":
            return low.repeat_interleave(s, dim=1) if s > 1 else low
        if self.settings["hold"] == "bandlimited":
            return self._sinc_inputs(u, start, steps)
        high = u[:, start + 1 : start + steps + 1]
        # linear between the samples, read at each substep's midpoint
        fraction = (torch.arange(s, dtype=u.dtype, device=u.device) + 0.5) / s
        held = low[:, :, None] + fraction[None, :, None] * (high - low)[:, :, None]
        return held.reshape(u.shape[0], steps * s, u.shape[2])

    def _sinc_inputs(self, u: Tensor, start: int, steps: int) -> Tensor:
        s, width = self.settings["substeps"], SINC_HALF_WIDTH
        batch, length, channels = u.shape
        # samples start - width + 1 .. start + steps + width - 1, ends repeated
        first, last = start - width + 1, start + steps + width
        index = torch.arange(first, last, device=u.device).clamp(0, length - 1)
        window = u[:, index].permute(0, 2, 1).reshape(batch * channels, 1, -1)
        taps = sinc_taps(s, width).to(u)[:, None, :]
        held = torch.nn.functional.conv1d(window, taps)  # (batch channels, s, steps)
        held = held.reshape(batch, channels, s, steps).permute(0, 3, 2, 1)
        return held.reshape(batch, steps * s, channels)

    def _advance(self, state: tuple[Tensor, Tensor], u: Tensor, start: int, steps: int) -> Tensor:
        """Positions at samples ``start + 1 .. start + steps`` from the state at ``start``."""
        with cached_values(self.system):
            y_seq, _ = self.rnn(self._held_inputs(u, start, steps), state)
        s = self.settings["substeps"]
        return y_seq[:, s - 1 :: s] if s > 1 else y_seq

    def forward(self, u: Tensor, y_init: Tensor | None = None) -> Tensor:
        """Normalised predictions from normalised inputs ``u`` ``(batch, T, inputs)``.

        With ``y_init`` ``(batch, W, outputs)`` (the measured window, ``1 <= W < T``):
        predictions for samples ``W .. T - 1``, ``(batch, T - W, outputs)``. Without: from
        rest at sample 0, predictions for all ``T`` samples.
        """
        batch, length = u.shape[0], u.shape[1]
        if y_init is None or y_init.shape[1] == 0:
            zero = u.new_zeros(batch, self.system.state_size)
            positions = zero[:, None]
            if length > 1:
                positions = torch.cat([positions, self._advance((zero, zero), u, 0, length - 1)], 1)
            return self.output(positions, u)
        window = y_init.shape[1]
        if window >= length:
            raise ValueError(f"the window ({window}) must be shorter than the sequence ({length})")
        state, start = self.initial_state(u[:, :window], y_init)
        positions = self._advance(state, u, start, length - 1 - start)
        return self.output(positions[:, window - 1 - start :], u[:, window:])

    def normalize_inputs(self, u: Tensor) -> Tensor:
        return (u - self.u_offset) / self.u_scale

    def normalize_outputs(self, y: Tensor) -> Tensor:
        return (y - self.y_offset) / self.y_scale

    def denormalize_outputs(self, y: Tensor) -> Tensor:
        return y * self.y_scale + self.y_offset

    def predict(self, data: IOData, init_window: int | None = None) -> np.ndarray:
        """Simulated outputs ``(time, outputs)`` in data units; NaN over the window.

        ``init_window`` defaults to ``data.init_window``; with no measured outputs (or a
        window of 0) the simulation starts at rest at sample 0.
        """
        self.check_data(data)
        window = data.init_window if init_window is None else int(init_window)
        if not data.has_output:
            window = 0
        reference = self.u_offset
        with torch.no_grad(), intra_op_threads(1):
            u = torch.as_tensor(data.u, dtype=reference.dtype, device=reference.device)[None]
            u = self.normalize_inputs(u)
            y_init = None
            if window > 0:
                y = torch.as_tensor(data.y[:window], dtype=reference.dtype)[None]
                y_init = self.normalize_outputs(y.to(reference.device))
            predicted = self.denormalize_outputs(self(u, y_init))[0].cpu().numpy()
        result = np.full((len(data), self.n_outputs), np.nan)
        result[window:] = predicted
        return result

    def spec(self) -> dict[str, Any]:
        """What :func:`build_model` needs to rebuild this model (without its weights)."""
        return {
            "kind": self.kind,
            "n_inputs": self.n_inputs,
            "n_outputs": self.n_outputs,
            "config": dict(self.config),
            "settings": dict(self.settings),
        }

    def extra_repr(self) -> str:
        s = self.settings
        return (
            f"integrator={s['integrator']}, substeps={s['substeps']}, hold={s['hold']}, "
            f"backend={s['backend']}"
        )


def _narx_duffing(u: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float]:
    """``(k, c, k3, b)`` per sample of ``y'' = -k y - c y' - k3 y^3 + b u`` from a least-
    squares NARX fit ``y_{t+1} = a1 y_t + a2 y_{t-1} + b1 u_t + b2 u_{t-1} + d y_t^3 + e``:
    the linear part's poles mapped by ``s = log z`` give ``k, c``, its static gain ``b``,
    and ``y_{t+1} - 2 y_t + y_{t-1} ~ -k3 y_t^3`` (one sample as time unit) gives
    ``k3 = -d``. Falls back to a slow, damped linear mode if the fit is not an oscillator."""
    regressors = np.stack([y[1:-1], y[:-2], u[1:-1], u[:-2], y[1:-1] ** 3, np.ones(len(y) - 2)], 1)
    coefficients, *_ = np.linalg.lstsq(regressors, y[2:], rcond=None)
    a1, a2, b1, b2, d, _ = coefficients
    poles = np.roots([1.0, -a1, -a2]).astype(complex)
    fallback = (0.1, 0.1, 0.0, 0.1)
    if np.any(np.abs(poles) >= 1) or np.any(np.abs(poles) < 1e-6):
        return fallback
    s = np.log(poles)
    k = float(np.real(s[0] * s[1]))
    c = float(-np.real(s[0] + s[1]))
    if not (k > 0 and c > 0 and abs(1 - a1 - a2) > 1e-9):
        return fallback
    static_gain = (b1 + b2) / (1 - a1 - a2)
    return k, c, float(-d), float(static_gain * k)


class InputDuffing(Duffing):
    """The built-in :class:`~oscdyn.systems.Duffing` with its input force ``B u + gamma``
    (drive frequency 0: a constant force) computed once per sequence in :meth:`encode_input`
    rather than at every step; the same equation, fewer operations per step."""

    def encode_input(self, u: Tensor) -> Tensor:
        return u @ self.input_gain.T + self.gamma * torch.cos(self.drive_frequency * 0.0)

    def force(self, y: Tensor, v: Tensor, u: Tensor | None, t: Tensor | float) -> Tensor:
        if u is None:
            return self.gamma - self.beta * y * y * y
        return u - self.beta * y * y * y


class DuffingModel(SimulationModel):
    """Grey-box: the built-in :class:`~oscdyn.systems.Duffing` with its coefficients fitted.

        x'' = -k x - c x' - k3 x^3 + b u + f0,    y = x + y0

    in normalised units (``x``: the normalised output less an offset ``y0``).
    ``k`` and ``c`` are :class:`PositiveDiagonal`; ``k3`` (``beta``), ``b`` (input gain),
    ``f0`` (``gamma``, a constant force: drive frequency fixed at 0) and ``y0`` are free.
    The initial state: a quadratic least-squares fit through the window's first
    ``init_points`` outputs gives position and velocity at its first sample
    (:class:`DerivativeEstimator`), refined by Gauss-Newton steps so that the model's
    simulation through the whole window matches the measured outputs
    (:meth:`~SimulationModel.fit_window_state`); with ``window_fit=False`` the estimator is
    applied at the window's last sample instead. :meth:`initialize` fits a NARX model
    (ARX(2, 2) plus a cubic term) to the training data by least squares and takes the
    time unit from its natural frequency (``time_scale`` = ``omega0`` in rad/sample, so
    ``k`` starts at 1) and ``c, k3, b`` from its poles, cubic term and static gain.
    For Silverbox: ``y'' = -k y - c y' - k3 y^3 + b u``; :meth:`coefficients` gives them
    in volts and seconds.
    """

    kind: ClassVar[str] = "duffing"

    def __init__(
        self,
        n_inputs: int = 1,
        n_outputs: int = 1,
        stiffness: float = 0.1,
        damping: float = 0.1,
        cubic: float = 0.0,
        gain: float = 0.1,
        init_points: int = 5,
        init_degree: int = 2,
        window_fit: bool = True,
    ) -> None:
        if n_outputs != 1:
            raise ValueError(f"the Duffing model has one output (its position), not {n_outputs}")
        system = InputDuffing(
            alpha=stiffness,
            beta=cubic,
            delta=damping,
            gamma=0.0,
            drive_frequency=0.0,
            input_size=n_inputs,
            input_gain=torch.full((1, n_inputs), float(gain)),
        )
        system.stiffness = PositiveDiagonal(torch.tensor([float(stiffness)]))
        system.damping = PositiveDiagonal(torch.tensor([float(damping)]))
        system.drive_frequency.requires_grad_(False)
        config = dict(
            n_inputs=n_inputs,
            n_outputs=n_outputs,
            stiffness=stiffness,
            damping=damping,
            cubic=cubic,
            gain=gain,
            init_points=init_points,
            init_degree=init_degree,
            window_fit=window_fit,
        )
        super().__init__(system, n_inputs, 1, config)
        self.output_offset = nn.Parameter(torch.zeros(1))
        self.estimator = DerivativeEstimator(init_points, init_degree)

    def initialize(self, data: IOData) -> None:
        u = (data.u - self.u_offset.cpu().numpy()) / self.u_scale.cpu().numpy()
        y = ((data.y - self.y_offset.cpu().numpy()) / self.y_scale.cpu().numpy())[:, 0]
        k, c, k3, b = _narx_duffing(u.mean(1), y)
        omega = math.sqrt(k)  # rad/sample: the model's time unit becomes 1/omega samples
        with torch.no_grad():
            self.time_scale.fill_(omega)
            self.system.stiffness.log_values.fill_(0.0)
            self.system.damping.log_values.fill_(math.log(c / omega))
            self.system.input_gain.fill_(b / k / self.n_inputs)
            self.system.beta.fill_(k3 / k)
            self.system.gamma.zero_()
            self.output_offset.zero_()

    def initial_state(self, u: Tensor, y: Tensor) -> tuple[tuple[Tensor, Tensor], int]:
        positions = y - self.output_offset
        if not self.config["window_fit"] or y.shape[1] < 3:
            return self.estimator(positions, step=float(self.time_scale)), y.shape[1] - 1
        # a first guess at the window's first sample (the estimator on reversed time) ...
        value, slope = self.estimator(positions.flip(1), step=float(self.time_scale))
        # ... refined so that the simulation through the window matches it
        return self.fit_window_state(u, y, (value, -slope)), 0

    def output(self, positions: Tensor, u: Tensor) -> Tensor:
        return positions + self.output_offset

    def coefficients(self) -> dict[str, float]:
        """The fitted coefficients in physical units: ``y'' = -k y - c y' - k3 y^3 + b u``
        on the data's ``y`` less its equilibrium offset, time in seconds."""
        rate = float(self.time_scale) / self.settings["sample_time"]  # model time units per s
        sy, su = float(self.y_scale[0]), float(self.u_scale.mean())
        with torch.no_grad():
            k = float(self.system.alpha[0])
            c = float(self.system.damping.values[0])
            k3 = float(self.system.beta[0])
            b = float(self.system.input_gain[0].sum())
        return {
            "k": k * rate**2,
            "c": c * rate,
            "k3": k3 * rate**2 / sy**2,
            "b": b * rate**2 * sy / su,
            "natural_frequency_hz": math.sqrt(k) * rate / (2 * math.pi),
        }


class OscNetModel(SimulationModel):
    """Black-box: an :class:`OscillatorNetwork` of ``units`` oscillators and a linear readout.

        x'' = -diag(k) x - diag(c) x' + W tanh(A x + V u + a) + B u,   y = C x + D u + d

    The initial state comes from a learned :class:`WindowEncoder` over the last
    ``encoder_window`` samples of the window (linear unless ``encoder_hidden``).
    :meth:`initialize` fits the readout ``C, D, d`` by least squares to a simulation of the
    training data by the initial network (a good linear start: the network is then a bank
    of modes with a regression readout).
    """

    kind: ClassVar[str] = "oscnet"
    preferred_backend: ClassVar[str] = "fused"

    def __init__(
        self,
        n_inputs: int = 1,
        n_outputs: int = 1,
        units: int = 8,
        hidden: int | None = None,
        omega_min: float = 0.02,
        omega_max: float = 1.0,
        zeta: float = 0.1,
        coupling: float = 0.1,
        encoder_window: int = 20,
        encoder_hidden: int = 0,
        seed: int = 0,
    ) -> None:
        generator = torch.Generator().manual_seed(seed)
        system = OscillatorNetwork(
            units, n_inputs, hidden, omega_min, omega_max, zeta, coupling, generator
        )
        config = dict(
            n_inputs=n_inputs,
            n_outputs=n_outputs,
            units=units,
            hidden=hidden,
            omega_min=omega_min,
            omega_max=omega_max,
            zeta=zeta,
            coupling=coupling,
            encoder_window=encoder_window,
            encoder_hidden=encoder_hidden,
            seed=seed,
        )
        super().__init__(system, n_inputs, n_outputs, config)
        self.readout = nn.Parameter(torch.randn(n_outputs, units, generator=generator) / units)
        self.feedthrough = nn.Parameter(torch.zeros(n_outputs, n_inputs))
        self.output_bias = nn.Parameter(torch.zeros(n_outputs))
        self.encoder = WindowEncoder(n_inputs, n_outputs, units, encoder_window, encoder_hidden)

    def initial_state(self, u: Tensor, y: Tensor) -> tuple[tuple[Tensor, Tensor], int]:
        return self.encoder(u, y), y.shape[1] - 1

    def output(self, positions: Tensor, u: Tensor) -> Tensor:
        return positions @ self.readout.T + u @ self.feedthrough.T + self.output_bias

    def initialize(self, data: IOData, max_samples: int = 4000) -> None:
        self._place_modes(data)
        part = data[: min(len(data), max_samples)]
        with torch.no_grad():
            reference = self.u_offset
            u = torch.as_tensor(part.u, dtype=reference.dtype)[None]
            u = self.normalize_inputs(u)
            y = self.normalize_outputs(torch.as_tensor(part.y, dtype=reference.dtype))
            zero = u.new_zeros(1, self.system.state_size)
            positions = torch.cat(
                [zero[:, None], self._advance((zero, zero), u, 0, len(part) - 1)], 1
            )
            skip = min(len(part) // 4, 200)  # let the start from rest fade
            features = torch.cat(
                [positions[0, skip:], u[0, skip:], torch.ones(len(part) - skip, 1, dtype=u.dtype)],
                1,
            )
            solution = torch.linalg.lstsq(
                features.double(), y[skip:].double(), driver="gelsd"
            ).solution.to(u.dtype)
        if not torch.isfinite(solution).all():
            return
        units = self.system.state_size
        with torch.no_grad():
            self.readout.copy_(solution[:units].T)
            self.feedthrough.copy_(solution[units : units + self.n_inputs].T)
            self.output_bias.copy_(solution[-1])

    def _place_modes(self, data: IOData) -> None:
        """Start units at the lightly damped modes of a least-squares ARX model of the
        data (order twice the units; complex pole pairs inside the unit circle, within
        ``[omega_min, omega_max]``, least damped first); the other units keep their
        log-spaced frequencies. Input gains are rescaled to unit static gain."""
        units = self.system.state_size
        u = (data.u - self.u_offset.cpu().numpy()) / self.u_scale.cpu().numpy()
        y = ((data.y - self.y_offset.cpu().numpy()) / self.y_scale.cpu().numpy()).mean(1)
        order = 2 * units
        if len(y) <= 4 * order:
            return
        rows = len(y) - order
        lagged = [y[order - k - 1 : order - k - 1 + rows] for k in range(order)]
        lagged += [u[order - k - 1 : order - k - 1 + rows].mean(1) for k in range(order)]
        coefficients, *_ = np.linalg.lstsq(np.stack(lagged, 1), y[order:], rcond=None)
        poles = np.roots(np.r_[1.0, -coefficients[:order]])
        poles = poles[(poles.imag > 1e-9) & (np.abs(poles) < 1) & (np.abs(poles) > 1e-6)]
        s = np.log(poles.astype(complex)) / float(self.time_scale)
        low, high = self.config["omega_min"], self.config["omega_max"]
        s = s[(np.abs(s) >= low) & (np.abs(s) <= high) & (s.real < 0)]
        s = s[np.argsort(-s.real / np.abs(s))]  # least damped first
        if s.size == 0:
            return
        with torch.no_grad():
            stiffness = self.system.stiffness.values.detach().clone()
            damping = self.system.damping.values.detach().clone()
            chosen = torch.as_tensor(np.abs(s[:units]) ** 2, dtype=stiffness.dtype)
            # replace the log-spaced units nearest in frequency by the ARX modes
            free = list(range(units))
            for k, value in zip(range(len(chosen)), chosen, strict=True):
                nearest = min(free, key=lambda i: abs(math.log(stiffness[i] / value)))
                free.remove(nearest)
                ratio = value / stiffness[nearest]
                stiffness[nearest] = value
                damping[nearest] = float(-2 * s[k].real)
                self.system.input_gain[nearest] *= ratio
            self.system.stiffness.log_values.copy_(stiffness.log())
            self.system.damping.log_values.copy_(damping.clamp(min=1e-6).log())


#: model kinds by name (``oscdyn fit --model``)
MODELS: dict[str, type[SimulationModel]] = {"duffing": DuffingModel, "oscnet": OscNetModel}


def build_model(kind: str, **config: Any) -> SimulationModel:
    """A model of ``kind`` (``"duffing"`` or ``"oscnet"``) from its keyword arguments."""
    if kind not in MODELS:
        raise ValueError(f"unknown model {kind!r}; known: {sorted(MODELS)}")
    return MODELS[kind](**config)
