"""The models ``oscdyn train-task`` trains, by name, with their papers' adding-problem defaults.

An oscillator model is a built-in system compiled with ``oscdyn.compile`` (any registered
integrator and backend) and a linear readout of its positions: of the last step for tasks
with one answer per sequence, of every step for ``per_step`` tasks
(``LinearOscillators`` has its own readout ``C y + D u``). ``lstm`` is ``torch.nn.LSTM``
with the same readout; ``unitary`` is ``oscdyn.systems.unitary.UnitaryRNN`` (imported when
built). Each :class:`ModelSpec` names where its defaults come from; the user's ``hidden``,
``integrator``, ``dt``, ``lr``, ``batch`` and constructor ``options`` replace them.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import torch
from torch import Tensor, nn

from .. import compile as compile_system
from ..compile import StabilityWarning, compiled_layers
from ..systems import (
    CoRNN,
    HamiltonianRNN,
    LatticeOscillators,
    LinearOscillators,
    SecondOrderSystem,
    SystemStack,
    UnICORNN,
)
from .base import SequenceTask

__all__ = [
    "ModelSpec",
    "MODELS",
    "TaskModel",
    "OscillatorTaskModel",
    "LSTMTaskModel",
    "UnitaryTaskModel",
    "Settings",
    "build_model",
    "resolve_settings",
    "parameter_count",
]

#: builds the system (oscillator models) or the whole module: ``build(task, hidden, options)``
Builder = Callable[[SequenceTask, int, dict[str, Any]], Any]


@dataclass(frozen=True)
class ModelSpec:
    """A model of ``oscdyn train-task``.

    Attributes:
        name: the ``--model`` name.
        description: one line with the paper.
        hidden: default hidden size (units).
        lr: default Adam learning rate.
        batch: default batch size.
        integrator: default scheme (oscillator models), ``None`` for the others.
        dt: default step (oscillator models), ``None`` for the others.
        options: default keyword arguments of the system's (or cell's) constructor.
        source: where these defaults come from.
        build: ``build(task, hidden, options)`` -> a system (oscillator models) or a module.
        own_readout: the system reads itself out to ``task.output_size`` (``LinearOscillators``).
    """

    name: str
    description: str
    hidden: int
    lr: float
    batch: int
    integrator: str | None
    dt: float | None
    options: Mapping[str, Any]
    source: str
    build: Builder
    own_readout: bool = False

    @property
    def oscillator(self) -> bool:
        """Whether this is an oscillator system compiled with ``oscdyn.compile``."""
        return self.integrator is not None


class TaskModel(nn.Module):
    """``forward(u)``: ``u`` ``(batch, time, input)`` -> ``(batch, output)``, or
    ``(batch, time, output)`` when ``per_step``."""

    per_step: bool

    def select(self, sequence: Tensor) -> Tensor:
        """The outputs the task reads: the last step, or every step when ``per_step``."""
        return sequence if self.per_step else sequence[:, -1]

    def omega_dt(self) -> float | None:
        """The recurrence's largest ``omega * h`` (``OscillatorRNN.omega_dt``); ``None``
        when it is not an oscillator."""
        return None

    def backend_name(self) -> str | None:
        """The backend that runs the recurrence (``auto`` resolved); ``None`` when it is no
        compiled oscillator."""
        return None

    def stability_message(self) -> str | None:
        """Which units step beyond the recurrence's stability limit
        (``OscillatorRNN.stability_message``); ``None`` when none does or it is no oscillator."""
        return None

    def check_stability(self) -> None:
        """Warn ``StabilityWarning`` if the recurrence steps beyond its scheme's limit."""
        message = self.stability_message()
        if message is not None:
            warnings.warn(message, StabilityWarning, stacklevel=2)


class OscillatorTaskModel(TaskModel):
    """A compiled oscillator recurrence and a linear readout of its positions."""

    def __init__(self, rnn: nn.Module, readout: nn.Module | None, per_step: bool) -> None:
        super().__init__()
        self.rnn = rnn
        self.readout = readout
        self.per_step = per_step

    def omega_dt(self) -> float | None:
        return self.rnn.omega_dt()

    def backend_name(self) -> str:
        """Layers on different backends are named in order, joined by ``/``."""
        return "/".join(dict.fromkeys(layer.backend.name for layer in compiled_layers(self.rnn)))

    def stability_message(self) -> str | None:
        return self.rnn.stability_message()

    def forward(self, u: Tensor) -> Tensor:
        y_seq, _ = self.rnn(u)
        features = self.select(y_seq)
        return features if self.readout is None else self.readout(features)


class LSTMTaskModel(TaskModel):
    """``torch.nn.LSTM`` (one layer, ``batch_first``) and a linear readout of its output."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int, per_step: bool) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, batch_first=True)
        self.readout = nn.Linear(hidden_size, output_size)
        self.per_step = per_step

    def forward(self, u: Tensor) -> Tensor:
        sequence, _ = self.lstm(u)
        return self.readout(self.select(sequence))


class UnitaryTaskModel(TaskModel):
    """A unitary / orthogonal cell (``UnitaryRNN``, which reads itself out)."""

    def __init__(self, cell: nn.Module, per_step: bool) -> None:
        super().__init__()
        self.cell = cell
        self.per_step = per_step

    def forward(self, u: Tensor) -> Tensor:
        output, _ = self.cell(u)
        return self.select(output)


def _cornn(task: SequenceTask, hidden: int, options: dict[str, Any]) -> CoRNN:
    return CoRNN(task.input_size, hidden, **options)


def _unicornn(task: SequenceTask, hidden: int, options: dict[str, Any]) -> UnICORNN:
    return UnICORNN(task.input_size, hidden, **options)


def _linoss(task: SequenceTask, hidden: int, options: dict[str, Any]) -> LinearOscillators:
    return LinearOscillators(task.input_size, hidden, task.output_size, **options)


def _hamiltonian(task: SequenceTask, hidden: int, options: dict[str, Any]) -> HamiltonianRNN:
    return HamiltonianRNN(task.input_size, hidden, **options)


def _lattice(task: SequenceTask, hidden: int, options: dict[str, Any]) -> LatticeOscillators:
    return LatticeOscillators(hidden, input_size=task.input_size, **options)


def _lstm(task: SequenceTask, hidden: int, options: dict[str, Any]) -> LSTMTaskModel:
    return LSTMTaskModel(task.input_size, hidden, task.output_size, task.per_step)


def _unitary(task: SequenceTask, hidden: int, options: dict[str, Any]) -> UnitaryTaskModel:
    from ..systems.unitary import UnitaryRNN  # imported when the model is built

    cell = UnitaryRNN(
        task.input_size, hidden, output_size=task.output_size, batch_first=True, **options
    )
    return UnitaryTaskModel(cell, task.per_step)


def _frozen(**options: Any) -> Mapping[str, Any]:
    return MappingProxyType(dict(options))


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "cornn",
            "coRNN (Rusch & Mishra, ICLR 2021)",
            hidden=128,
            lr=0.02,
            batch=50,
            integrator="symplectic_euler",
            dt=0.06,
            options=_frozen(gamma=66.0, epsilon=15.0),
            source="coRNN's released adding defaults (github.com/tk-rusch/coRNN, "
            "adding/adding_task.py); symplectic_euler is its released explicit step "
            "(imex is the paper's eq. 3)",
            build=_cornn,
        ),
        ModelSpec(
            "unicornn",
            "UnICORNN (Rusch & Mishra, ICML 2021)",
            hidden=128,
            lr=0.00251,
            batch=50,
            integrator="symplectic_euler",
            dt=0.19,
            options=_frozen(num_layers=1, alpha=30.65),
            source="UnICORNN's released psMNIST dt, alpha and lr (github.com/tk-rusch/unicornn; "
            "its release has no adding task), one layer; hidden 128 and batch 50 as coRNN's "
            "adding defaults",
            build=_unicornn,
        ),
        ModelSpec(
            "linoss",
            "LinOSS-style linear oscillatory layer (Rusch & Rus, ICLR 2025)",
            hidden=128,
            lr=0.001,
            batch=50,
            integrator="symplectic_euler",
            dt=1.0,
            options=_frozen(),
            source="LinOSS-IMEX step (symplectic_euler), dt 1; no published adding setting "
            "(oscdyn's choice). One linear layer: its output is linear in the inputs, so it "
            "cannot form the product of value and mark the adding problem needs",
            build=_linoss,
            own_readout=True,
        ),
        ModelSpec(
            "hamiltonian",
            "Hamiltonian RNN (Rusch, Pearson & Zygalakis 2019)",
            hidden=128,
            lr=0.001,
            batch=50,
            integrator="leapfrog",
            dt=0.1,
            options=_frozen(alpha=1.0),
            source="no published adding setting (oscdyn's choice: leapfrog, dt 0.1, alpha 1)",
            build=_hamiltonian,
        ),
        ModelSpec(
            "lattice",
            "oscillators on a ring coupled by a convolution (after Magnasco 2023)",
            hidden=128,
            lr=0.001,
            batch=50,
            integrator="exponential",
            dt=0.1,
            options=_frozen(nonlinear=True, omega0=1.0, coupling=1.0),
            source="no published adding setting (oscdyn's choice: exact flow by FFT, dt 0.1, "
            "a tanh force per site)",
            build=_lattice,
        ),
        ModelSpec(
            "unitary",
            "unitary / orthogonal RNN (oscdyn.systems.unitary.UnitaryRNN)",
            hidden=128,
            lr=0.001,
            batch=50,
            integrator=None,
            dt=None,
            options=_frozen(),
            source="UnitaryRNN's own defaults; lr 0.001, hidden 128, batch 50 (oscdyn's choice)",
            build=_unitary,
        ),
        ModelSpec(
            "lstm",
            "torch.nn.LSTM (Hochreiter & Schmidhuber 1997)",
            hidden=128,
            lr=0.001,
            batch=50,
            integrator=None,
            dt=None,
            options=_frozen(),
            source="hidden and batch as coRNN's adding defaults; Adam's usual lr 0.001",
            build=_lstm,
        ),
    )
}


@dataclass
class Settings:
    """A model's resolved settings: its spec's defaults with the user's values in place."""

    model: str
    hidden: int
    lr: float
    batch: int
    integrator: str | None
    dt: float | None
    backend: str | None
    options: dict[str, Any] = field(default_factory=dict)


def _spec(name: str) -> ModelSpec:
    if name not in MODELS:
        raise ValueError(f"unknown model '{name}'; known: {', '.join(MODELS)}")
    return MODELS[name]


def resolve_settings(
    name: str,
    hidden: int | None = None,
    lr: float | None = None,
    batch: int | None = None,
    integrator: str | None = None,
    dt: float | None = None,
    backend: str | None = None,
    options: Mapping[str, Any] | None = None,
) -> Settings:
    """The settings of model ``name``: each ``None`` takes the spec's default.

    Raises ``ValueError`` for an unknown model, a non-positive size, step or rate, an
    option the model's constructor does not take, or ``integrator``/``dt``/``backend``
    given to a model that is not an oscillator system.
    """
    spec = _spec(name)
    if not spec.oscillator:
        given = [
            f"--{label}"
            for label, value in (("integrator", integrator), ("dt", dt), ("backend", backend))
            if value is not None
        ]
        if given:
            oscillators = ", ".join(n for n, s in MODELS.items() if s.oscillator)
            raise ValueError(
                f"{', '.join(given)} apply to the oscillator models ({oscillators}), "
                f"not to '{name}'"
            )
    settings = Settings(
        model=name,
        hidden=spec.hidden if hidden is None else hidden,
        lr=spec.lr if lr is None else lr,
        batch=spec.batch if batch is None else batch,
        integrator=spec.integrator if integrator is None else integrator,
        dt=spec.dt if dt is None else dt,
        backend=("auto" if spec.oscillator else None) if backend is None else backend,
        options={**spec.options, **(options or {})},
    )
    for label, value in (("hidden", settings.hidden), ("batch", settings.batch)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{label} must be a positive integer, got {value!r}")
    for label, value in (("lr", settings.lr), ("dt", settings.dt)):
        if value is not None and not (0 < value < float("inf")):
            raise ValueError(f"{label} must be positive and finite, got {value!r}")
    return settings


def build_model(
    task: SequenceTask, settings: Settings, device: str | torch.device = "cpu"
) -> TaskModel:
    """The model of ``settings`` for ``task``, float32 on ``device`` (seed torch first).

    Parameters are initialised on the CPU (the same values for every device), then moved.
    Oscillator systems are moved before ``oscdyn.compile(system, integrator, dt, backend)``,
    which picks a backend for the device they are on (``auto``: ``triton`` on CUDA), so a
    scheme or backend that cannot run a system raises the library's ``ValueError``; a
    constructor option the model does not take raises ``ValueError`` naming it.
    """
    spec = _spec(settings.model)
    try:
        built = spec.build(task, settings.hidden, dict(settings.options))
    except TypeError as error:
        raise ValueError(
            f"model '{spec.name}' does not take these options {settings.options}: {error}"
        ) from error
    if not spec.oscillator:
        return built.to(device)
    if not isinstance(built, (SecondOrderSystem, SystemStack)):
        raise TypeError(f"model '{spec.name}' built a {type(built).__name__}, not a system")
    readout = None if spec.own_readout else nn.Linear(settings.hidden, task.output_size)
    rnn = compile_system(
        built.to(device), settings.integrator, settings.dt, backend=settings.backend
    )
    return OscillatorTaskModel(rnn, readout, task.per_step).to(device)


def parameter_count(model: nn.Module) -> int:
    """Trainable parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
