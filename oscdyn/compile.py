"""``oscdyn.compile``: a system and an integrator become a batched recurrent module."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import torch
import xarray as xr
from torch import Tensor, nn

from . import backends
from .integrators import Integrator, get
from .systems.base import SecondOrderSystem
from .systems.operators import Diagonal, floating_reference
from .systems.stack import SystemStack

__all__ = ["compile", "OscillatorRNN", "StackedOscillatorRNN", "StabilityWarning"]


class StabilityWarning(UserWarning):
    """``dt`` is beyond an explicit scheme's stability limit for the system."""


def _positive_dt(dt: Tensor | float, units: int) -> Tensor:
    # a Python number stays float64 until cast to the model's dtype (no rounding to float32)
    value = dt if isinstance(dt, Tensor) else torch.as_tensor(dt, dtype=torch.float64)
    if not value.is_floating_point():
        value = value.to(torch.get_default_dtype())
    if value.ndim > 1 or (value.ndim == 1 and value.numel() not in (1, units)):
        raise ValueError(
            f"dt must be a float or a per-unit tensor of shape ({units},), "
            f"got shape {tuple(value.shape)}"
        )
    if not torch.isfinite(value).all() or (value <= 0).any():
        raise ValueError(f"dt must be positive and finite, got {dt}")
    return value.detach().clone().reshape(-1) if value.ndim == 1 else value.detach().clone()


class OscillatorRNN(nn.Module):
    """A second-order system discretized by an integrator: a recurrent module.

    Call it like ``torch.nn.RNN(batch_first=True)``::

        y_seq, (y_T, v_T) = rnn(u)                      # u: (batch, time, input)
        y_seq, state = rnn(None, state=(y0, v0), steps=1000)

    ``y_seq`` has shape ``(batch, time, units)``: the positions after each step. With
    ``batch_first=False`` inputs and outputs are ``(time, batch, ...)``. The input sample
    ``u[:, k]`` is held over step ``k``, from ``t = k dt`` to ``(k + 1) dt``. The module
    runs in the dtype and on the device of its parameters (``.double()``, ``.cuda()``).
    """

    def __init__(
        self,
        system: SecondOrderSystem,
        integrator: str | Integrator,
        dt: Tensor | float,
        backend: str = "eager",
        learn_dt: bool = False,
        batch_first: bool = True,
    ) -> None:
        super().__init__()
        if not isinstance(system, SecondOrderSystem):
            raise TypeError(f"system must be a SecondOrderSystem, got {type(system).__name__}")
        self.system = system
        self.integrator = get(integrator)
        self.integrator.check(system)
        self.batch_first = batch_first
        dt_value = _positive_dt(dt, system.state_size)
        per_unit = dt_value.ndim == 1 or system.step_scale() is not None
        if per_unit and not _independent_units(system):
            raise ValueError(
                "a per-unit dt needs independent units (Diagonal or no stiffness and damping); "
                f"{type(system).__name__} has stiffness {type(system.stiffness).__name__} and "
                f"damping {type(system.damping).__name__}"
            )
        if per_unit and not self.integrator.per_unit_step:
            raise ValueError(
                f"integrator '{self.integrator.name}' needs one scalar step, but "
                f"{type(system).__name__} steps each unit by its own dt"
            )
        # a fixed scalar step is also kept as the Python float it was given, so a float64
        # model steps by exactly that value whatever dtype the module had when compiled
        self._fixed_step = float(dt_value) if dt_value.ndim == 0 and not learn_dt else None
        dt_value = dt_value.to(self.dtype)
        if learn_dt:
            self.log_dt = nn.Parameter(dt_value.log())
        else:
            self.register_buffer("fixed_dt", dt_value)
        message = self.stability_message()
        if message is not None:  # stacklevel: the caller of oscdyn.compile
            warnings.warn(message, StabilityWarning, stacklevel=3)
        self.backend = backends.get(backend, self)

    @property
    def dt(self) -> Tensor:
        """The step (time units): a 0-d tensor or per unit ``(units,)``."""
        return self.log_dt.exp() if hasattr(self, "log_dt") else self.fixed_dt

    def step_size(self) -> Tensor | float:
        """The step as the integrators take it: a float when fixed and scalar, else a tensor."""
        scale = self.system.step_scale()
        if scale is not None:
            return self.dt * scale
        if self._fixed_step is not None:
            return self._fixed_step
        return self.dt

    def forward(
        self,
        u: Tensor | None = None,
        state: tuple[Tensor, Tensor] | None = None,
        steps: int | None = None,
        check_finite: bool = False,
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """Run the recurrence. Returns ``(y_seq, (y_T, v_T))``.

        Args:
            u: inputs ``(batch, time, input_size)`` (``(time, batch, input_size)`` if not
                ``batch_first``), or ``None`` for free evolution over ``steps``.
            state: ``(y0, v0)``, each ``(batch, units)``; zeros if ``None``.
            steps: the number of steps when ``u`` is ``None``.
            check_finite: raise if ``u`` or ``state`` holds NaN or infinity (costs a sync).
        """
        u, y, v, steps = self._validate(u, state, steps, check_finite)
        encoded = None if u is None else self.system.encode_input(u)
        y_seq, _, final = self.backend.run(self, encoded, y, v, steps)
        y_seq = self.system.readout(y_seq, u)
        if not self.batch_first:
            y_seq = y_seq.transpose(0, 1)
        return y_seq, final

    def trajectory(
        self,
        u: Tensor | None = None,
        state: tuple[Tensor, Tensor] | None = None,
        steps: int | None = None,
    ) -> xr.Dataset:
        """Simulate without gradients and return an ``xarray.Dataset``.

        Dims ``(batch, time, unit)``; ``time`` in the system's time units, starting with the
        initial state at 0 (``steps + 1`` samples). Variables ``position``, ``velocity`` and,
        where the system defines one, ``energy`` ``(batch, time)``. Attrs name the system,
        integrator, backend and ``dt``.
        """
        with torch.no_grad():
            u, y0, v0, steps = self._validate(u, state, steps, check_finite=False)
            encoded = None if u is None else self.system.encode_input(u)
            y_seq, v_seq, _ = self.backend.run(self, encoded, y0, v0, steps, keep_velocity=True)
            positions = torch.cat([y0[:, None], y_seq], 1)
            velocities = torch.cat([v0[:, None], v_seq], 1)
            data = {
                "position": (("batch", "time", "unit"), positions.cpu().numpy()),
                "velocity": (("batch", "time", "unit"), velocities.cpu().numpy()),
            }
            if self.system.has_energy:
                energy = self.system.energy(positions, velocities)
                data["energy"] = (("batch", "time"), energy.cpu().numpy())
        step = self.step_size()
        dt = np.asarray(step) if isinstance(step, float) else step.detach().cpu().numpy()
        steps_axis = np.arange(steps + 1)
        time = steps_axis * float(dt) if dt.ndim == 0 else steps_axis
        dataset = xr.Dataset(
            data,
            coords={
                "batch": np.arange(positions.shape[0]),
                "time": time,
                "unit": np.arange(positions.shape[2]),
            },
            attrs={
                "system": type(self.system).__name__,
                "integrator": self.integrator.name,
                "backend": self.backend.name,
                "dt": dt.tolist(),
                "time_units": "system time units" if dt.ndim == 0 else "steps (per-unit dt)",
            },
        )
        return dataset

    def _validate(
        self,
        u: Tensor | None,
        state: tuple[Tensor, Tensor] | None,
        steps: int | None,
        check_finite: bool,
    ) -> tuple[Tensor | None, Tensor, Tensor, int]:
        reference = floating_reference(self.system)
        units, inputs = self.system.state_size, self.system.input_size
        batch = None
        if u is not None:
            _check_tensor(u, "u", reference)
            if u.ndim != 3 or u.shape[-1] != inputs:
                layout = "(batch, time, input)" if self.batch_first else "(time, batch, input)"
                raise ValueError(
                    f"u must have shape {layout} with input={inputs} for "
                    f"{type(self.system).__name__}, got {tuple(u.shape)}"
                )
            if not self.batch_first:
                u = u.transpose(0, 1)
            batch = u.shape[0]
            if steps is not None and steps != u.shape[1]:
                raise ValueError(f"steps={steps} disagrees with u's length {u.shape[1]}")
            steps = u.shape[1]
            if inputs == 0:
                u = None
        elif steps is None:
            raise ValueError("give u (batch, time, input) or steps= for free evolution")
        if not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps must be a positive integer, got {steps!r}")
        if inputs > 0 and u is None:
            raise ValueError(
                f"{type(self.system).__name__} takes {inputs} input(s): u (batch, time, "
                f"{inputs}) is required"
            )
        if state is None:
            if batch is None:
                raise ValueError("state=(y0, v0) is required for free evolution (u is None)")
            y = torch.zeros(batch, units, dtype=reference.dtype, device=reference.device)
            v = torch.zeros_like(y)
        else:
            if not (isinstance(state, (tuple, list)) and len(state) == 2):
                raise TypeError("state must be a pair (y0, v0)")
            y, v = state
            for name, value in (("state[0] (y0)", y), ("state[1] (v0)", v)):
                _check_tensor(value, name, reference)
                if (
                    value.ndim != 2
                    or value.shape[1] != units
                    or (batch is not None and value.shape[0] != batch)
                ):
                    expected = f"({'batch' if batch is None else batch}, {units})"
                    raise ValueError(f"{name} must have shape {expected}, got {tuple(value.shape)}")
            if y.shape != v.shape:
                raise ValueError(f"y0 {tuple(y.shape)} and v0 {tuple(v.shape)} differ in shape")
        if check_finite:
            for name, value in (("u", u), ("y0", y), ("v0", v)):
                if value is not None and not torch.isfinite(value).all():
                    raise ValueError(f"{name} contains NaN or infinite values")
        return u, y, v, steps

    def omega_dt(self) -> float | None:
        """The largest ``omega * h``: each unit's linear frequency times the step it takes.

        An explicit scheme is linearly stable while this is below its ``stability_limit``
        (2 for leapfrog and symplectic Euler). Per-unit steps (a per-unit ``dt``, or UnICORNN's
        ``dt * sigmoid(c)``) pair with :meth:`~oscdyn.systems.SecondOrderSystem.unit_frequencies`;
        a scalar step with ``max_frequency``. ``None`` when the system gives no frequency.
        """
        products = self._omega_h()
        return None if products is None else float(products.max())

    def check_stability(self) -> None:
        """Warn :class:`StabilityWarning` if a step is beyond the integrator's stability limit.

        Runs when the module is built; run it again after loading trained parameters (which
        move UnICORNN's frequencies and steps) or changing ``dt``.
        """
        message = self.stability_message()
        if message is not None:
            warnings.warn(message, StabilityWarning, stacklevel=2)

    def stability_message(self) -> str | None:
        """What :meth:`check_stability` would warn (which units, their ``h`` and ``omega``, the
        ``h`` they need), or ``None`` while every step is within the limit."""
        limit = self.integrator.stability_limit
        products = self._omega_h()
        if limit is None or math.isinf(limit) or products is None:
            return None
        product = float(products.max())
        if product <= 0 or product < limit:
            return None
        name, system = self.integrator.name, type(self.system).__name__
        if limit == 0:
            message = (
                f"'{name}' is unstable for undamped oscillation at every dt > 0 (it amplifies "
                f"each step by sqrt(1 + (omega dt)^2); here omega_max*dt = {product:.3g} for "
                f"{system}): stability limit omega*dt < 0"
            )
        elif products.ndim == 1:
            unit = int(products.argmax())
            omega = float(self.system.unit_frequencies()[unit])
            step = product / omega  # omega > 0: its product is beyond a positive limit
            beyond = int((products >= limit).sum())
            message = (
                f"{beyond} of {products.numel()} units of {system} step beyond the stability "
                f"limit of '{name}', omega*dt < {limit:.4g}: unit {unit} steps by h = "
                f"{step:.4g} at omega = {omega:.4g} (omega*h = {product:.3g}; it needs "
                f"h < {limit / omega:.4g})"
            )
        else:
            omega = self.system.max_frequency()
            step = product / omega
            message = (
                f"dt = {step:.4g} is beyond the stability limit of '{name}' for "
                f"{system}: it needs omega*dt < {limit:.4g}, i.e. dt < {limit / omega:.4g} at "
                f"the largest frequency omega_max = {omega:.4g}; here omega_max*dt = {product:.3g}"
            )
        return message

    def _omega_h(self) -> Tensor | None:
        """``omega_i * h_i`` per unit ``(units,)`` or a 0-d ``omega_max * h``; ``None``
        without a frequency."""
        step = torch.as_tensor(self.step_size()).detach()
        units = self.system.unit_frequencies() if step.ndim == 1 else None
        if units is not None:
            return units.to(step) * step
        omega = self.system.max_frequency()
        return None if not omega else omega * step.max()

    @property
    def dtype(self) -> torch.dtype:
        """The dtype the module runs in (that of the system's parameters)."""
        return floating_reference(self.system).dtype

    @property
    def device(self) -> torch.device:
        """The device the module runs on (that of the system's parameters)."""
        return floating_reference(self.system).device

    def extra_repr(self) -> str:
        dt = self.dt.detach()
        dt_text = f"{float(dt):.4g}" if dt.ndim == 0 else f"per-unit {tuple(dt.shape)}"
        return (
            f"integrator={self.integrator.name}, dt={dt_text}, backend={self.backend.name}, "
            f"learn_dt={hasattr(self, 'log_dt')}"
        )


def _independent_units(system: SecondOrderSystem) -> bool:
    return all(op is None or isinstance(op, Diagonal) for op in (system.stiffness, system.damping))


def _check_tensor(value: object, name: str, reference: Tensor) -> None:
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if value.dtype != reference.dtype:
        raise TypeError(
            f"{name} has dtype {value.dtype} but the model is {reference.dtype}; "
            f"convert one (e.g. {name}.to({reference.dtype}) or model.to({value.dtype}))"
        )
    if value.device != reference.device:
        raise ValueError(
            f"{name} is on {value.device} but the model is on {reference.device}; "
            f"move one (e.g. {name}.to('{reference.device}'))"
        )


class StackedOscillatorRNN(nn.Module):
    """A compiled :class:`~oscdyn.systems.SystemStack`: one :class:`OscillatorRNN` per layer.

    ``y_seq, (y_T, v_T) = rnn(u)``: ``y_seq`` is the last layer's output sequence and
    ``y_T``, ``v_T`` have shape ``(num_layers, batch, units)`` (as ``torch.nn.RNN``'s ``h_n``).
    ``state`` takes the same layout.
    """

    def __init__(
        self,
        stack: SystemStack,
        integrator: str | Integrator,
        dt: Tensor | float | Sequence[float],
        backend: str = "eager",
        learn_dt: bool = False,
        batch_first: bool = True,
    ) -> None:
        super().__init__()
        steps = list(dt) if isinstance(dt, (list, tuple)) else [dt] * len(stack)
        if len(steps) != len(stack):
            raise ValueError(f"dt must be one step or {len(stack)} (one per layer), got {dt}")
        self.stack = stack
        self.batch_first = batch_first
        with warnings.catch_warnings():  # warned below, naming the layer
            warnings.simplefilter("ignore", StabilityWarning)
            self.layers = nn.ModuleList(
                OscillatorRNN(layer, integrator, step, backend, learn_dt, batch_first=True)
                for layer, step in zip(stack.layers, steps, strict=True)
            )
        message = self.stability_message()
        if message is not None:  # stacklevel: the caller of oscdyn.compile
            warnings.warn(message, StabilityWarning, stacklevel=3)

    def forward(
        self,
        u: Tensor | None = None,
        state: tuple[Tensor, Tensor] | None = None,
        steps: int | None = None,
        check_finite: bool = False,
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """Run the layers in turn; shapes as :meth:`OscillatorRNN.forward`, states stacked."""
        if u is not None and not self.batch_first:
            u = u.transpose(0, 1)
        states = self._layer_states(state)
        finals = []
        x = u
        for layer, layer_state in zip(self.layers, states, strict=True):
            x, final = layer(x, layer_state, steps, check_finite)
            finals.append(final)
        y_final = torch.stack([y for y, _ in finals])
        v_final = torch.stack([v for _, v in finals])
        if not self.batch_first:
            x = x.transpose(0, 1)
        return x, (y_final, v_final)

    def trajectory(
        self,
        u: Tensor | None = None,
        state: tuple[Tensor, Tensor] | None = None,
        steps: int | None = None,
    ) -> xr.Dataset:
        """Every layer's trajectory (see :meth:`OscillatorRNN.trajectory`), along dim ``layer``."""
        if u is not None and not self.batch_first:
            u = u.transpose(0, 1)
        datasets = []
        x = u
        for layer, layer_state in zip(self.layers, self._layer_states(state), strict=True):
            dataset = layer.trajectory(x, layer_state, steps)
            datasets.append(dataset)
            positions = torch.as_tensor(
                dataset.position.values[:, 1:], dtype=layer.dtype, device=layer.device
            )
            with torch.no_grad():
                x = layer.system.readout(positions, x)
        return xr.concat(datasets, dim="layer", combine_attrs="drop_conflicts")

    def omega_dt(self) -> float | None:
        """The largest :meth:`OscillatorRNN.omega_dt` over the layers."""
        values = [v for v in (layer.omega_dt() for layer in self.layers) if v is not None]
        return max(values) if values else None

    def check_stability(self) -> None:
        """:meth:`OscillatorRNN.check_stability` of every layer, the warning naming it."""
        message = self.stability_message()
        if message is not None:
            warnings.warn(message, StabilityWarning, stacklevel=2)

    def stability_message(self) -> str | None:
        """:meth:`OscillatorRNN.stability_message` of the layers beyond their limit, each
        prefixed by its index; ``None`` when none is."""
        messages = [
            f"layer {index}: {message}"
            for index, message in enumerate(layer.stability_message() for layer in self.layers)
            if message is not None
        ]
        return "; ".join(messages) if messages else None

    def _layer_states(
        self, state: tuple[Tensor, Tensor] | None
    ) -> list[tuple[Tensor, Tensor] | None]:
        if state is None:
            return [None] * len(self.layers)
        y0, v0 = state
        if y0.ndim != 3 or y0.shape[0] != len(self.layers) or v0.shape != y0.shape:
            raise ValueError(
                f"state must be (y0, v0), each (num_layers={len(self.layers)}, batch, units); "
                f"got {tuple(y0.shape)} and {tuple(v0.shape)}"
            )
        return [(y0[k], v0[k]) for k in range(len(self.layers))]


def compiled_layers(rnn: OscillatorRNN | StackedOscillatorRNN) -> list[OscillatorRNN]:
    """The layers of a compiled module, in order: a stack's, or the module itself."""
    return list(rnn.layers) if isinstance(rnn, StackedOscillatorRNN) else [rnn]


def compile(  # noqa: A001 - the public name of DESIGN.md
    system: SecondOrderSystem | SystemStack,
    integrator: str | Integrator,
    dt: Tensor | float | Sequence[float],
    backend: str = "eager",
    learn_dt: bool = False,
    batch_first: bool = True,
) -> OscillatorRNN | StackedOscillatorRNN:
    """Discretize ``system`` with ``integrator`` at step ``dt`` into an :class:`OscillatorRNN`.

    A :class:`~oscdyn.systems.SystemStack` (e.g. a multi-layer ``UnICORNN``) becomes a
    :class:`StackedOscillatorRNN`, with ``dt`` one step or one per layer.

    Args:
        system: a :class:`~oscdyn.systems.SecondOrderSystem` or a ``SystemStack``.
        integrator: a registered name (``oscdyn.integrators.available()``, or
            ``"torchdiffeq:<method>"``) or an :class:`~oscdyn.integrators.Integrator`.
        dt: the step in the system's time units: a float, or a per-unit tensor
            ``(units,)`` for systems with independent units.
        backend: ``"eager"`` (the reference loop), ``"fused"``, ``"scan"``, ``"triton"`` or
            ``"auto"`` (see ``oscdyn.backends``). The backend is chosen for the device the
            system is on now: move the system to the GPU before compiling for ``triton``.
        learn_dt: make ``dt`` a trainable parameter (stored as ``log dt``, so it stays > 0).
        batch_first: ``(batch, time, ...)`` tensors (True) or ``(time, batch, ...)``.

    Warns :class:`StabilityWarning` when ``dt`` is beyond an explicit scheme's stability
    limit at the system's largest linear frequency.
    """
    if isinstance(system, SystemStack):
        return StackedOscillatorRNN(system, integrator, dt, backend, learn_dt, batch_first)
    return OscillatorRNN(system, integrator, dt, backend, learn_dt, batch_first)
