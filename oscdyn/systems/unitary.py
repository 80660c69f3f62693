"""Unitary / orthogonal recurrent cells, and the unitary form of a contractive ReLU RNN.

A recurrence ``h_{t+1} = act(W h_t + V u_t + b)`` with ``W`` orthogonal (real) or unitary
(complex) neither amplifies nor attenuates the state through ``W``: all its singular values
are 1, so the linear part keeps ``||h||`` exactly and the hidden-state gradients through it
neither explode nor vanish (Arjovsky, Shah & Bengio, "Unitary evolution recurrent neural
networks", ICML 2016). ``W`` is kept on the orthogonal / unitary group by a parametrisation
(:class:`OrthogonalMatrix`): the exponential map of a skew matrix (Lezcano-Casado &
Martinez-Rubio, "Cheap orthogonal constraints in neural networks", ICML 2019, expRNN) or
its Cayley transform (Helfrich, Willmott & Ye, "Orthogonal recurrent neural networks with
scaled Cayley transform", ICML 2018, scoRNN).

How this meets oscdyn's oscillators: the exact flow of the undamped linear oscillator
``y'' = -K y`` over a step ``h`` is, in the energy coordinates ``(sqrt(K) y, v)``, the
orthogonal matrix ``expm(h [[0, sqrt(K)], [-sqrt(K), 0]])`` (see
``oscdyn.systems.operators``: every ``Operator.flow`` without damping). So the ``exponential``
integrator applied to a linear oscillator network *is* an orthogonal recurrence whose skew
generator is fixed by the stiffness (``tests/test_unitary.py`` checks the two agree to
1e-12); with a force ``F`` the integrator interleaves that rotation with force kicks, as a
unitary RNN interleaves ``W`` with its activation. :class:`UnitaryRNN` with ``map="expm"``
learns a general skew generator instead.

:func:`from_contractive_relu` is the construction of Emami, Sahraee-Ardakan, Rangan &
Fletcher, "Input-output equivalence of unitary and contractive RNNs", NeurIPS 2019: a
contractive ReLU RNN with ``n`` states has the same input-output map as an orthogonal ReLU
RNN with ``2n`` states (for inputs of bounded norm); with a smooth activation the same
construction is not equivalent (:func:`orthogonal_dilation` builds it for either).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize

from .operators import matrix_exponential

__all__ = [
    "OrthogonalMatrix",
    "ModReLU",
    "UnitaryRNN",
    "ContractiveReLURNN",
    "orthogonal_dilation",
    "from_contractive_relu",
]

MAPS = ("expm", "cayley")
UNITARY_ACTIVATIONS = ("modrelu", "relu", "tanh")
CONTRACTIVE_ACTIVATIONS = ("relu", "tanh")


def _check_size(value: object, name: str, allow_zero: bool = False) -> int:
    smallest = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or value < smallest:
        kind = "a non-negative" if allow_zero else "a positive"
        raise ValueError(f"{name} must be {kind} integer, got {value!r}")
    return value


def _check_choice(value: object, name: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value  # type: ignore[return-value]


def _as_complex(storage: Tensor) -> Tensor:
    """A complex view of real storage whose last axis (size 2) holds real and imaginary parts."""
    return torch.view_as_complex(storage.contiguous())


def _real_storage(matrix: Tensor) -> Tensor:
    """Real storage of a complex tensor: real and imaginary parts on a new last axis."""
    return torch.view_as_real(matrix.to(torch.promote_types(matrix.dtype, torch.complex64)))


def _unitary_error(matrix: Tensor) -> float:
    """``max |W^H W - I|`` (entries), computed in the matrix' own precision."""
    eye = torch.eye(matrix.shape[-1], dtype=matrix.dtype, device=matrix.device)
    return float((matrix.mH @ matrix - eye).abs().max())


def _check_sequence(u: object, input_size: int, batch_first: bool, reference: Tensor) -> Tensor:
    """``u`` as ``(batch, time, input_size)`` in the model's real dtype and device."""
    if not isinstance(u, Tensor):
        raise TypeError(f"u must be a torch.Tensor, got {type(u).__name__}")
    layout = "(batch, time, input)" if batch_first else "(time, batch, input)"
    if u.ndim != 3 or u.shape[-1] != input_size:
        raise ValueError(f"u must be {layout} with input={input_size}, got shape {tuple(u.shape)}")
    if u.dtype != reference.dtype or u.device != reference.device:
        raise TypeError(
            f"u is {u.dtype} on {u.device} but the model is {reference.dtype} on "
            f"{reference.device}; convert one (u.to(...) or model.to(...))"
        )
    u = u if batch_first else u.transpose(0, 1)
    if u.shape[1] < 1:
        raise ValueError(f"u must have at least one time step, got shape {tuple(u.shape)}")
    return u


def _initial_state(
    h0: Tensor | None, batch: int, size: int, dtype: torch.dtype, device: torch.device
) -> Tensor:
    """``h0`` checked as ``(batch, size)`` and cast to ``dtype``; zeros when ``None``."""
    if h0 is None:
        return torch.zeros(batch, size, dtype=dtype, device=device)
    if not isinstance(h0, Tensor):
        raise TypeError(f"h0 must be a torch.Tensor or None, got {type(h0).__name__}")
    if h0.shape != (batch, size):
        raise ValueError(f"h0 must be (batch, hidden) = ({batch}, {size}), got {tuple(h0.shape)}")
    if h0.is_complex() and not dtype.is_complex:
        raise TypeError(f"h0 is complex ({h0.dtype}) but the model's state is real ({dtype})")
    return h0.to(dtype=dtype, device=device)


class OrthogonalMatrix(nn.Module):
    """A parametrisation ``W = B phi(A)`` of an ``(n, n)`` orthogonal or unitary matrix.

    For ``torch.nn.utils.parametrize.register_parametrization``. ``A`` is skew-symmetric
    (real) or skew-Hermitian (``complex=True``), built from the unconstrained original:

    * real: original ``(n, n)``, ``A = T - T^T`` with ``T`` its strict upper triangle;
    * complex: original ``(n, n, 2)`` (real and imaginary parts, so ``.double()`` and
      ``.float()`` convert it), ``A = T - T^H`` with ``T`` its upper triangle (the diagonal
      of ``A`` is ``2i Im T_kk``).

    ``phi`` is ``map="expm"``, the matrix exponential (expRNN, Lezcano-Casado &
    Martinez-Rubio 2019; through :func:`oscdyn.systems.operators.matrix_exponential`), or
    ``map="cayley"``, ``(I - A)^{-1} (I + A)`` computed by one linear solve (scoRNN, Helfrich
    et al. 2018; ``I - A`` is invertible since ``A``'s eigenvalues are imaginary). ``B`` is
    a fixed orthogonal / unitary base (a buffer, identity at first): assigning a matrix to the
    parametrised tensor calls :meth:`right_inverse`, which stores it as ``B`` and returns a
    zero original (``phi(0) = I``), as ``torch.nn.utils.parametrizations.orthogonal`` does.
    So the set reached is ``B exp(skew)``: all of ``B SO(n)`` (real) or ``U(n)`` (complex)
    for ``expm``; that minus the matrices with eigenvalue ``-1`` relative to ``B`` for
    ``cayley``. Evaluate it once per forward pass and reuse the result at every step.
    """

    def __init__(self, n: int, map: str = "expm", complex: bool = False) -> None:
        super().__init__()
        self.n = _check_size(n, "n")
        self.map = _check_choice(map, "map", MAPS)
        if not isinstance(complex, bool):
            raise TypeError(f"complex must be a bool, got {type(complex).__name__}")
        self.complex = complex
        eye = torch.eye(n)
        self.register_buffer("base", _real_storage(eye) if complex else eye)

    @property
    def original_shape(self) -> tuple[int, ...]:
        """Shape of the unconstrained original: ``(n, n)``, or ``(n, n, 2)`` if complex."""
        return (self.n, self.n, 2) if self.complex else (self.n, self.n)

    @property
    def dtype(self) -> torch.dtype:
        """dtype of ``W``: the base's real dtype, or its complex counterpart."""
        if self.complex:
            return torch.promote_types(self.base.dtype, torch.complex64)
        return self.base.dtype

    def rotation_original(self) -> Tensor:
        """A random original whose ``phi(A)`` is block rotations (Henaff, Szlam & LeCun,
        "Recurrent orthogonal networks and long-memory tasks", ICML 2016; expRNN's start).

        Real: 2x2 rotations on the diagonal (a 1 last when ``n`` is odd) by angles ``theta``
        uniform in ``[-pi, pi]`` for ``expm`` (skew entry ``theta``) and in ``[-pi/2, pi/2]``
        for ``cayley`` (skew entry ``tan(theta / 2)``, at most 1: away from the Cayley map's
        singularity at eigenvalue ``-1``). Complex: phases ``e^{i theta}`` on the diagonal.
        Drawn with torch's global generator, in the base's dtype.
        """
        count = self.n if self.complex else self.n // 2
        limit = math.pi if self.map == "expm" else 0.5 * math.pi
        angles = torch.empty(count, dtype=self.base.dtype).uniform_(-limit, limit)
        entries = angles if self.map == "expm" else torch.tan(0.5 * angles)
        original = torch.zeros(self.original_shape, dtype=self.base.dtype)
        if self.complex:
            # A_kk = 2i Im T_kk = i theta_k
            original[range(self.n), range(self.n), 1] = 0.5 * entries
        else:
            original[range(0, self.n - 1, 2), range(1, self.n, 2)] = entries
        return original.to(self.base.device)

    def skew(self, original: Tensor) -> Tensor:
        """The skew-symmetric / skew-Hermitian ``A`` (``(n, n)``) from the original."""
        if original.shape != self.original_shape:
            raise ValueError(
                f"the original of OrthogonalMatrix(n={self.n}, complex={self.complex}) must "
                f"have shape {self.original_shape}, got {tuple(original.shape)}"
            )
        if self.complex:
            upper = _as_complex(original).triu()
            return upper - upper.mH
        upper = original.triu(1)
        return upper - upper.T

    def forward(self, original: Tensor) -> Tensor:
        """``W = B phi(A)``: ``(n, n)``, real or complex, orthogonal / unitary."""
        skew = self.skew(original)
        if self.map == "expm":
            rotation = matrix_exponential(skew)
        else:
            eye = torch.eye(self.n, dtype=skew.dtype, device=skew.device)
            rotation = torch.linalg.solve(eye - skew, eye + skew)
        base = _as_complex(self.base) if self.complex else self.base
        return base.to(rotation.dtype) @ rotation

    def right_inverse(self, matrix: Tensor) -> tuple[Tensor]:
        """Make ``matrix`` (orthogonal / unitary, ``(n, n)``) the base; original zero.

        ``matrix`` is converted to this parametrisation's dtype and device (those of the
        model). Returns a one-tuple (torch then stores the original as ``original0``, which
        may differ in dtype from ``W``: real storage for a complex ``W``). Raises
        ``ValueError`` if ``matrix`` is not ``(n, n)``, is complex while ``complex=False``,
        or is not orthogonal / unitary to ``100 n eps`` (``max |W^H W - I|``).
        """
        if not isinstance(matrix, Tensor) or matrix.shape != (self.n, self.n):
            shape = tuple(matrix.shape) if isinstance(matrix, Tensor) else type(matrix).__name__
            raise ValueError(f"the matrix must be ({self.n}, {self.n}), got {shape}")
        if matrix.is_complex() and not self.complex:
            raise ValueError(f"a complex matrix ({matrix.dtype}) needs complex=True")
        matrix = matrix.detach().to(dtype=self.dtype, device=self.base.device)
        tolerance = 100 * self.n * torch.finfo(self.base.dtype).eps
        error = _unitary_error(matrix)
        if not error <= tolerance:
            raise ValueError(
                f"the matrix must be {'unitary' if self.complex else 'orthogonal'}: "
                f"max |W^H W - I| = {error:.3g} exceeds {tolerance:.3g}"
            )
        self.base = (_real_storage(matrix) if self.complex else matrix).clone()
        return (torch.zeros(self.original_shape, dtype=self.base.dtype, device=matrix.device),)

    def extra_repr(self) -> str:
        return f"n={self.n}, map={self.map!r}, complex={self.complex}"


class ModReLU(nn.Module):
    """modReLU, ``relu(|z| + b) z / |z|`` per feature (Arjovsky, Shah & Bengio 2016).

    Real or complex ``z`` of shape ``(..., features)``; ``b`` (``(features,)``, learned,
    uniform in ``+-0.01`` at first as in expRNN) thresholds the modulus and keeps the phase
    (the sign, for real ``z``). ``z / |z|`` is ``torch.sgn``, 0 at ``z = 0``, so the value is
    0 there and the gradient is finite (0) for any ``b``. With ``b = 0`` it is the identity.
    """

    def __init__(self, features: int) -> None:
        super().__init__()
        self.features = _check_size(features, "features")
        self.bias = nn.Parameter(torch.empty(features).uniform_(-0.01, 0.01))

    def forward(self, z: Tensor) -> Tensor:
        if z.ndim < 1 or z.shape[-1] != self.features:
            raise ValueError(f"ModReLU input must be (..., {self.features}), got {tuple(z.shape)}")
        return F.relu(z.abs() + self.bias) * torch.sgn(z)

    def extra_repr(self) -> str:
        return f"features={self.features}"


def _split_relu(z: Tensor) -> Tensor:
    """ReLU on real and imaginary parts (CReLU, Trabelsi et al., "Deep complex networks",
    ICLR 2018); plain ReLU for real ``z``."""
    if z.is_complex():
        return torch.complex(F.relu(z.real), F.relu(z.imag))
    return F.relu(z)


class UnitaryRNN(nn.Module):
    """``h_{t+1} = act(W h_t + V u_t + b)``, ``y_t = C h_{t+1} + D u_t``, ``W`` orthogonal.

    The unitary RNN of Arjovsky, Shah & Bengio, "Unitary evolution recurrent neural networks",
    ICML 2016 (uRNN, modReLU), with ``W`` parametrised as in expRNN (Lezcano-Casado &
    Martinez-Rubio, ICML 2019: ``map="expm"``, the exponential of a skew matrix) or scoRNN
    (Helfrich, Willmott & Ye, ICML 2018: ``map="cayley"``); see :class:`OrthogonalMatrix`.
    ``complex=True`` makes ``W`` unitary and the state complex; the output is then the real
    part ``Re(C h) + D u`` (a general real linear map of ``(Re h, Im h)``, as in the uRNN).

    ``activation``: ``"modrelu"`` (:class:`ModReLU`, whose threshold is the bias ``b``;
    no additive bias, as in the uRNN and expRNN), ``"relu"`` (additive ``b``; ReLU on the
    real and imaginary parts when complex) or ``"tanh"`` (additive ``b``; real only). With
    ``b = 0`` modReLU is the identity and the cell is the orthogonal linear recurrence, which
    preserves ``||h||`` exactly; the exact flow of a linear oscillator in energy coordinates
    is such a recurrence (module docstring).

    Shapes follow ``torch.nn.RNN(batch_first=True)``: ``forward(u, h0=None)`` with ``u``
    ``(batch, time, input_size)`` returns ``(output, h_T)``: ``output`` is
    ``(batch, time, output_size)`` (or the states ``(batch, time, hidden_size)``, complex if
    the model is, when ``output_size`` is ``None``), ``h_T`` is ``(batch, hidden_size)``;
    ``h0`` defaults to zeros. ``W`` is evaluated once per forward and reused at every step.
    Parameters are real tensors (complex ones stored as real and imaginary parts on a last
    axis of 2), so ``.double()``, ``.float()`` and ``.to(device)`` convert the whole model.
    Initialisation: ``W`` random 2x2 rotations (Henaff et al. 2016); ``V``, ``C``, ``D``
    Gaussian with variance ``1 / fan_in`` (split over real and imaginary parts). Save and
    restore through ``state_dict`` (it holds the base ``B`` of :class:`OrthogonalMatrix`) and
    the constructor arguments: torch refuses to pickle a parametrised module whole.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int | None = None,
        map: str = "expm",
        complex: bool = False,
        activation: str = "modrelu",
        batch_first: bool = True,
    ) -> None:
        super().__init__()
        self.input_size = _check_size(input_size, "input_size")
        self.hidden_size = _check_size(hidden_size, "hidden_size")
        if output_size is not None:
            _check_size(output_size, "output_size")
        self.output_size = output_size
        self.activation_name = _check_choice(activation, "activation", UNITARY_ACTIVATIONS)
        if not isinstance(complex, bool):
            raise TypeError(f"complex must be a bool, got {type(complex).__name__}")
        if complex and activation == "tanh":
            raise ValueError("activation='tanh' needs complex=False (tanh has complex poles)")
        self.complex = complex
        self.batch_first = batch_first

        orthogonal = OrthogonalMatrix(hidden_size, map, complex)
        self.recurrent_weight = nn.Parameter(torch.eye(hidden_size, dtype=orthogonal.dtype))
        parametrize.register_parametrization(self, "recurrent_weight", orthogonal)
        with torch.no_grad():
            self.parametrizations.recurrent_weight.original0.copy_(orthogonal.rotation_original())
        self.input_weight = nn.Parameter(self._gaussian(hidden_size, input_size))
        if activation == "modrelu":
            self.modrelu = ModReLU(hidden_size)
            self.bias = None
        else:
            self.modrelu = None
            self.bias = nn.Parameter(torch.zeros(hidden_size))
        if output_size is None:
            self.output_weight = None
            self.feedthrough = None
        else:
            self.output_weight = nn.Parameter(self._gaussian(output_size, hidden_size))
            self.feedthrough = nn.Parameter(torch.randn(output_size, input_size) / input_size**0.5)

    def _gaussian(self, rows: int, columns: int) -> Tensor:
        """``(rows, columns)`` (``(rows, columns, 2)`` if complex), variance ``1 / columns``."""
        if self.complex:
            return torch.randn(rows, columns, 2) / (2 * columns) ** 0.5
        return torch.randn(rows, columns) / columns**0.5

    @property
    def map(self) -> str:
        """``"expm"`` or ``"cayley"``: how the recurrent matrix is parametrised."""
        return self.parametrizations.recurrent_weight[0].map

    @property
    def state_dtype(self) -> torch.dtype:
        """dtype of the hidden state: the real dtype, or its complex counterpart."""
        return self.parametrizations.recurrent_weight[0].dtype

    def input_matrix(self) -> Tensor:
        """``V``, ``(hidden_size, input_size)``, real or complex."""
        return _as_complex(self.input_weight) if self.complex else self.input_weight

    def output_matrix(self) -> Tensor | None:
        """``C``, ``(output_size, hidden_size)``, real or complex (``None`` without output)."""
        if self.output_weight is None:
            return None
        return _as_complex(self.output_weight) if self.complex else self.output_weight

    def activation(self, z: Tensor) -> Tensor:
        """``act(z)`` for the pre-activation ``z = W h + V u (+ b)``."""
        if self.modrelu is not None:
            return self.modrelu(z)
        if self.activation_name == "relu":
            return _split_relu(z)
        return torch.tanh(z)

    def forward(self, u: Tensor, h0: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Run over ``u`` ``(batch, time, input_size)``; returns ``(output, h_T)``."""
        u = _check_sequence(u, self.input_size, self.batch_first, self.input_weight)
        batch, steps, _ = u.shape
        recurrent = self.recurrent_weight  # the parametrisation, evaluated once
        drive = u.to(self.state_dtype) @ self.input_matrix().T
        if self.bias is not None:
            drive = drive + self.bias
        h = _initial_state(h0, batch, self.hidden_size, self.state_dtype, u.device)
        states = []
        for k in range(steps):
            h = self.activation(h @ recurrent.T + drive[:, k])
            states.append(h)
        hidden = torch.stack(states, 1)
        output_matrix = self.output_matrix()
        if output_matrix is None:
            output = hidden
        else:
            readout = hidden @ output_matrix.T
            output = (readout.real if self.complex else readout) + u @ self.feedthrough.T
        return (output if self.batch_first else output.transpose(0, 1)), h

    def extra_repr(self) -> str:
        return (
            f"input_size={self.input_size}, hidden_size={self.hidden_size}, "
            f"output_size={self.output_size}, map={self.map!r}, complex={self.complex}, "
            f"activation={self.activation_name!r}, batch_first={self.batch_first}"
        )


class ContractiveReLURNN(nn.Module):
    """``x_t = act(W x_{t-1} + U u_t + b)``, ``y_t = C x_t + D u_t``, with ``||W||_2 < 1``.

    The contractive RNN of Emami, Sahraee-Ardakan, Rangan & Fletcher, NeurIPS 2019 (their
    ``h_t = phi(W h_{t-1} + F x_t + b)``, ``y_t = C h_t``, plus a feedthrough ``D``). ``act`` is
    ``"relu"`` or the smooth ``"tanh"``; both are 1-Lipschitz, so ``||W||_2 < 1`` makes the
    state map a contraction. The state read out at step ``t`` is the one that has consumed
    ``u_t`` (as in :class:`UnitaryRNN` and ``torch.nn.RNN``). ``forward(u, h0=None)``: ``u``
    ``(batch, time, input_size)`` -> ``(y (batch, time, output_size), x_T (batch, hidden))``.

    A new instance draws ``W`` Gaussian rescaled to spectral norm ``recurrent_norm`` (in
    ``[0, 1)``), ``U`` and ``D`` Gaussian with variance ``1 / input_size``, ``C`` with
    ``1 / hidden_size``, ``b`` Gaussian with standard deviation 0.1, all from ``generator``
    (torch's global one if ``None``). :meth:`random` is the seeded float64 shortcut;
    :meth:`from_weights` takes given weights and checks ``||W||_2 < 1``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        activation: str = "relu",
        recurrent_norm: float = 0.9,
        batch_first: bool = True,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.input_size = _check_size(input_size, "input_size")
        self.hidden_size = _check_size(hidden_size, "hidden_size")
        self.output_size = _check_size(output_size, "output_size")
        self.activation_name = _check_choice(activation, "activation", CONTRACTIVE_ACTIVATIONS)
        if not 0 <= recurrent_norm < 1:
            raise ValueError(f"recurrent_norm must be in [0, 1), got {recurrent_norm}")
        self.batch_first = batch_first

        def gaussian(*shape: int) -> Tensor:
            return torch.randn(*shape, generator=generator)

        weight = gaussian(hidden_size, hidden_size)
        weight = weight * (recurrent_norm / torch.linalg.matrix_norm(weight, ord=2))
        self.recurrent_weight = nn.Parameter(weight)
        self.input_weight = nn.Parameter(gaussian(hidden_size, input_size) / input_size**0.5)
        self.bias = nn.Parameter(0.1 * gaussian(hidden_size))
        self.output_weight = nn.Parameter(gaussian(output_size, hidden_size) / hidden_size**0.5)
        self.feedthrough = nn.Parameter(gaussian(output_size, input_size) / input_size**0.5)

    @classmethod
    def random(
        cls,
        input_size: int,
        hidden_size: int,
        output_size: int,
        recurrent_norm: float = 0.9,
        activation: str = "relu",
        seed: int = 0,
        dtype: torch.dtype = torch.float64,
    ) -> ContractiveReLURNN:
        """A random contractive RNN drawn (in the default dtype) from a generator seeded with
        ``seed``, then converted to ``dtype``: the same weights for the same seed."""
        generator = torch.Generator().manual_seed(seed)
        rnn = cls(
            input_size, hidden_size, output_size, activation, recurrent_norm, generator=generator
        )
        return rnn.to(dtype)

    @classmethod
    def from_weights(
        cls,
        recurrent_weight: Tensor,
        input_weight: Tensor,
        bias: Tensor,
        output_weight: Tensor,
        feedthrough: Tensor | None = None,
        activation: str = "relu",
        batch_first: bool = True,
    ) -> ContractiveReLURNN:
        """An RNN with the given ``W`` ``(n, n)``, ``U`` ``(n, m)``, ``b`` ``(n,)``, ``C``
        ``(p, n)`` and ``D`` ``(p, m)`` (zeros if ``None``); ``ValueError`` unless
        ``||W||_2 < 1`` or if shapes disagree."""
        weights = [recurrent_weight, input_weight, bias, output_weight]
        if not all(isinstance(w, Tensor) and w.is_floating_point() for w in weights):
            raise TypeError("the weights must be real floating-point tensors")
        if recurrent_weight.ndim != 2 or recurrent_weight.shape[0] != recurrent_weight.shape[1]:
            raise ValueError(
                f"recurrent_weight must be (n, n), got {tuple(recurrent_weight.shape)}"
            )
        n = recurrent_weight.shape[0]
        if input_weight.ndim != 2 or input_weight.shape[0] != n:
            raise ValueError(f"input_weight must be ({n}, m), got {tuple(input_weight.shape)}")
        m = input_weight.shape[1]
        if bias.shape != (n,):
            raise ValueError(f"bias must be ({n},), got {tuple(bias.shape)}")
        if output_weight.ndim != 2 or output_weight.shape[1] != n:
            raise ValueError(f"output_weight must be (p, {n}), got {tuple(output_weight.shape)}")
        p = output_weight.shape[0]
        if feedthrough is None:
            feedthrough = output_weight.new_zeros(p, m)
        if feedthrough.shape != (p, m):
            raise ValueError(f"feedthrough must be ({p}, {m}), got {tuple(feedthrough.shape)}")
        rnn = cls(m, n, p, activation, batch_first=batch_first)
        given = {
            "recurrent_weight": recurrent_weight,
            "input_weight": input_weight,
            "bias": bias,
            "output_weight": output_weight,
            "feedthrough": feedthrough,
        }
        for name, value in given.items():
            setattr(rnn, name, nn.Parameter(value.detach().clone()))
        rnn.check_contractive()
        return rnn

    def spectral_norm(self) -> float:
        """``||W||_2``, the largest singular value of the recurrent matrix."""
        return float(torch.linalg.matrix_norm(self.recurrent_weight.detach(), ord=2))

    def check_contractive(self) -> float:
        """``||W||_2``; ``ValueError`` if it is not below 1."""
        norm = self.spectral_norm()
        if not norm < 1:
            raise ValueError(f"the RNN is not contractive: ||W||_2 = {norm:.6g}, must be < 1")
        return norm

    def activation(self, z: Tensor) -> Tensor:
        """``relu(z)`` or ``tanh(z)``."""
        return F.relu(z) if self.activation_name == "relu" else torch.tanh(z)

    def forward(self, u: Tensor, h0: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Run over ``u`` ``(batch, time, input_size)``; returns ``(y, x_T)``."""
        u = _check_sequence(u, self.input_size, self.batch_first, self.recurrent_weight)
        batch, steps, _ = u.shape
        drive = u @ self.input_weight.T + self.bias
        x = _initial_state(h0, batch, self.hidden_size, u.dtype, u.device)
        states = []
        for k in range(steps):
            x = self.activation(x @ self.recurrent_weight.T + drive[:, k])
            states.append(x)
        y = torch.stack(states, 1) @ self.output_weight.T + u @ self.feedthrough.T
        return (y if self.batch_first else y.transpose(0, 1)), x

    def extra_repr(self) -> str:
        return (
            f"input_size={self.input_size}, hidden_size={self.hidden_size}, "
            f"output_size={self.output_size}, activation={self.activation_name!r}"
        )


def _orthogonal_completion(weight: Tensor) -> Tensor:
    """The ``(2n, 2n)`` orthogonal dilation ``[[W, P S P^T], [Q S Q^T, -W^T]]`` of ``W``.

    ``W = P Sigma Q^T`` (SVD), ``S = sqrt(I - Sigma^2)``: the matrix is
    ``diag(P, Q) [[Sigma, S], [S, -Sigma]] diag(Q, P)^T``, orthogonal because
    ``Sigma^2 + S^2 = I`` and diagonal ``Sigma``, ``S`` commute (Halmos' unitary dilation of
    a contraction). Computed in float64, returned in ``weight``'s dtype.
    """
    w = weight.detach().to(torch.float64)
    p, sigma, qh = torch.linalg.svd(w)
    complement = torch.sqrt(torch.clamp(1 - sigma**2, min=0))
    upper_right = (p * complement) @ p.T
    lower_left = (qh.T * complement) @ qh
    top = torch.cat([w, upper_right], 1)
    bottom = torch.cat([lower_left, -w.T], 1)
    return torch.cat([top, bottom], 0).to(weight.dtype)


def orthogonal_dilation(
    rnn: ContractiveReLURNN,
    *,
    input_bound: float,
    initial_state_bound: float = 0.0,
    map: str = "expm",
) -> UnitaryRNN:
    """The ``2n``-state orthogonal RNN of Emami et al.'s construction, for either activation.

    ``W' = [[W, P S P^T], [Q S Q^T, -W^T]]`` (:func:`_orthogonal_completion`), ``V' = [U; 0]``,
    ``b' = [b; -R 1]``, ``C' = [C, 0]``, ``D' = D``, activation copied from ``rnn``, with
    ``R = max(initial_state_bound, (||U||_2 input_bound + ||b||) / (1 - ||W||_2))`` the
    invariant bound on ``||x_t||``. Equivalent to ``rnn`` when its activation is ReLU (see
    :func:`from_contractive_relu`); with ``tanh`` the extra states are ``tanh(... - R) != 0``
    and feed back through ``P S P^T``, so it is not. ``ValueError`` unless ``||W||_2 < 1``.
    """
    if not isinstance(rnn, ContractiveReLURNN):
        raise TypeError(f"rnn must be a ContractiveReLURNN, got {type(rnn).__name__}")
    if not (math.isfinite(input_bound) and input_bound >= 0):
        raise ValueError(f"input_bound must be finite and >= 0, got {input_bound}")
    if not (math.isfinite(initial_state_bound) and initial_state_bound >= 0):
        raise ValueError(f"initial_state_bound must be finite and >= 0, got {initial_state_bound}")
    norm = rnn.check_contractive()
    n = rnn.hidden_size
    dtype = rnn.recurrent_weight.dtype
    device = rnn.recurrent_weight.device
    input_gain = float(torch.linalg.matrix_norm(rnn.input_weight.detach(), ord=2))
    drive_bound = input_gain * input_bound + float(torch.linalg.vector_norm(rnn.bias.detach()))
    radius = max(initial_state_bound, drive_bound / (1 - norm))

    unitary = UnitaryRNN(
        rnn.input_size,
        2 * n,
        rnn.output_size,
        map=map,
        activation=rnn.activation_name,
        batch_first=rnn.batch_first,
    ).to(dtype=dtype, device=device)
    with torch.no_grad():
        unitary.recurrent_weight = _orthogonal_completion(rnn.recurrent_weight)
        unitary.input_weight.copy_(
            torch.cat([rnn.input_weight, torch.zeros_like(rnn.input_weight)], 0)
        )
        unitary.bias.copy_(torch.cat([rnn.bias, torch.full_like(rnn.bias, -radius)]))
        unitary.output_weight.copy_(
            torch.cat([rnn.output_weight, torch.zeros_like(rnn.output_weight)], 1)
        )
        unitary.feedthrough.copy_(rnn.feedthrough)
    return unitary


def from_contractive_relu(
    rnn: ContractiveReLURNN,
    *,
    input_bound: float,
    initial_state_bound: float = 0.0,
    map: str = "expm",
) -> UnitaryRNN:
    """An orthogonal ReLU RNN with ``2n`` states and the same input-output map as ``rnn``.

    Emami, Sahraee-Ardakan, Rangan & Fletcher, "Input-output equivalence of unitary and
    contractive RNNs", NeurIPS 2019: for inputs with ``||u_t||_2 <= input_bound`` and an
    initial state (of ``rnn``; the returned RNN starts from ``[x_0; 0]``) with
    ``||x_0||_2 <= initial_state_bound``, ``unitary(u, [x_0; 0])`` gives the outputs of
    ``rnn(u, x_0)``. The construction is :func:`orthogonal_dilation`.

    Proof sketch. Let ``rho = ||W||_2 < 1``. ReLU is 1-Lipschitz with ``relu(0) = 0``, so
    ``||x_t|| <= rho ||x_{t-1}|| + ||U|| input_bound + ||b||``, and ``||x_t|| <= R`` for all
    ``t`` with ``R = max(initial_state_bound, (||U|| input_bound + ||b||) / (1 - rho))``.
    ``W'`` is orthogonal, so each row of its lower-left block ``Q S Q^T`` has norm at most 1.
    Suppose the state is ``[x_{t-1}; 0]``. The first block's pre-activation is
    ``W x_{t-1} + P S P^T 0 + U u_t + b``, the original one, so the first block becomes
    ``x_t``. The second block's pre-activation is ``Q S Q^T x_{t-1} - R 1``; each entry is at
    most ``||x_{t-1}|| - R <= 0``, so ReLU returns exactly 0. By induction the state is
    ``[x_t; 0]`` at every step and the output ``[C, 0] [x_t; 0] + D u_t = C x_t + D u_t``.
    Strict contractivity is what bounds the state (``R``); ``W'`` alone needs only
    ``rho <= 1``. The paper also shows ``2n`` states are needed for some RNNs, and that for
    smooth activations (sigmoid-type) a URNN in general cannot match a contractive RNN with
    any number of states: the smooth activation cannot switch the extra states off
    (:func:`orthogonal_dilation` with ``tanh`` is the counterexample tested here).

    Raises ``ValueError`` if ``rnn`` is not contractive (message gives ``||W||_2``) or its
    activation is not ReLU.
    """
    if not isinstance(rnn, ContractiveReLURNN):
        raise TypeError(f"rnn must be a ContractiveReLURNN, got {type(rnn).__name__}")
    if rnn.activation_name != "relu":
        raise ValueError(
            f"the equivalence needs a ReLU RNN, got activation={rnn.activation_name!r} "
            f"(use orthogonal_dilation for the same construction with a smooth activation)"
        )
    return orthogonal_dilation(
        rnn, input_bound=input_bound, initial_state_bound=initial_state_bound, map=map
    )
