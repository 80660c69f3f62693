"""Structured linear operators for the stiffness ``K`` and damping ``D`` of a system.

Every operator acts on the last axis of a state ``y`` of shape ``(..., size)`` and offers

* ``apply(y)``: ``K y``;
* ``solve_shifted(x, s)``: ``(I + s K)^{-1} x`` (implicit damping in IMEX and leapfrog);
* ``flow(h, damping)``: the exact flow of ``y'' = -K y - D y' + f`` over a step ``h``
  with ``f`` held constant over the step, as a :class:`LinearFlow`.

``Diagonal`` and ``Circulant`` (and ``Dense`` with no or uniform damping) compute the flow
mode by mode in their eigenbasis: identity, FFT or one symmetric eigendecomposition. In
energy coordinates ``(sqrt(K) y, v)`` an undamped flow is orthogonal (unitary in complex
form), so the energy norm is preserved to float precision.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from itertools import chain

import torch
from torch import Tensor, nn

__all__ = [
    "Operator",
    "Diagonal",
    "Dense",
    "Circulant",
    "LinearFlow",
    "ModalFlow",
    "ShearFlow",
    "MatrixFlow",
]


def as_float_tensor(value: Tensor | float | Sequence[float], name: str) -> Tensor:
    """A finite floating-point copy of ``value`` (default dtype unless already floating)."""
    tensor = torch.as_tensor(value)
    if not tensor.is_floating_point():
        tensor = tensor.to(torch.get_default_dtype())
    if not torch.isfinite(tensor).all():
        raise ValueError(f"{name} must be finite, got {tensor}")
    return tensor.detach().clone()


def floating_reference(module: nn.Module) -> Tensor:
    """The first floating-point parameter or buffer of ``module``: the dtype and device it
    runs in (an empty default-dtype CPU tensor if it has none)."""
    tensors = chain(module.parameters(), module.buffers())
    return next((t for t in tensors if t.is_floating_point()), torch.empty(0))


def _store(module: nn.Module, name: str, tensor: Tensor, trainable: bool) -> None:
    if trainable:
        module.register_parameter(name, nn.Parameter(tensor))
    else:
        module.register_buffer(name, tensor)


def matrix_exponential(matrix: Tensor, degree: int = 16) -> Tensor:
    """``exp(matrix)`` for a batch ``(..., m, m)``: Taylor series with scaling and squaring.

    The matrix is scaled by ``2^-s`` to 1-norm at most 1/4, where the degree-16 Taylor
    remainder is below 1e-25, then squared ``s`` times. Used instead of
    ``torch.linalg.matrix_exp``, whose float64 result for 1-norms near 1e-2 is off by about
    1e-13 (measured with torch 2.13 against scipy), too coarse for an exact integrator.
    Differentiable; one host sync (choosing ``s``) per call.
    """
    norm = float(matrix.detach().abs().sum(-2).amax()) if matrix.numel() else 0.0
    squarings = max(0, math.ceil(math.log2(norm / 0.25))) if norm > 0 else 0
    scaled = matrix / 2**squarings
    eye = torch.eye(matrix.shape[-1], dtype=matrix.dtype, device=matrix.device)
    # R = exp(scaled) - I, squared as (I + R)^2 = I + (2 R + R R): the identity is added
    # once at the end, so its rounding is not amplified by the squarings
    result = eye + scaled / degree
    for k in range(degree - 1, 1, -1):
        result = eye + (scaled @ result) / k
    result = scaled @ result
    for _ in range(squarings):
        result = 2 * result + result @ result
    return eye + result


def modal_flow_coefficients(
    stiffness: Tensor, damping: Tensor, h: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Exact one-step coefficients of ``y'' = -k y - d y' + f`` per mode.

    ``stiffness`` (k), ``damping`` (d) and ``h`` broadcast together. Returns
    ``(a, b, c, e, g_y, g_v)`` with ``y(h) = a y + b v + g_y f`` and ``v(h) = c y + e v + g_v f``,
    from the exponential of the augmented 3x3 matrix ``h [[0, 1, 0], [-k, -d, 1], [0, 0, 0]]``,
    which is exact for every regime (undamped, critically damped, overdamped, k = 0).
    """
    k, d, h = torch.broadcast_tensors(stiffness, damping, h)
    zero = torch.zeros_like(k)
    one = torch.ones_like(k)
    generator = (
        torch.stack(
            [
                torch.stack([zero, one, zero], -1),
                torch.stack([-k, -d, one], -1),
                torch.stack([zero, zero, zero], -1),
            ],
            -2,
        )
        * h[..., None, None]
    )
    phi = matrix_exponential(generator)
    return (
        phi[..., 0, 0],
        phi[..., 0, 1],
        phi[..., 1, 0],
        phi[..., 1, 1],
        phi[..., 0, 2],
        phi[..., 1, 2],
    )


class LinearFlow(ABC):
    """Exact flow of ``y'' = -K y - D y' + f`` over one step, ``f`` constant over the step.

    Built once per forward pass by :meth:`Operator.flow` and applied at every step:
    ``flow(y, v)`` or ``flow(y, v, f)`` with ``y, v, f`` of shape ``(..., size)``.
    """

    @abstractmethod
    def __call__(self, y: Tensor, v: Tensor, f: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(y(h), v(h))`` from ``(y, v)`` under the constant force ``f`` (zero if None)."""

    @abstractmethod
    def transpose(self) -> LinearFlow:
        """The adjoint map on ``(y, v)`` (the force part dropped): backward sweeps use it."""


class ModalFlow(LinearFlow):
    """The flow in an eigenbasis: per-mode coefficients from :func:`modal_flow_coefficients`."""

    def __init__(
        self,
        coefficients: tuple[Tensor, ...],
        to_modes: Callable[[Tensor], Tensor],
        from_modes: Callable[[Tensor], Tensor],
    ) -> None:
        self.a, self.b, self.c, self.e, self.g_y, self.g_v = coefficients
        self.to_modes = to_modes
        self.from_modes = from_modes

    def __call__(self, y: Tensor, v: Tensor, f: Tensor | None = None) -> tuple[Tensor, Tensor]:
        ym, vm = self.to_modes(y), self.to_modes(v)
        y_next = self.a * ym + self.b * vm
        v_next = self.c * ym + self.e * vm
        if f is not None:
            fm = self.to_modes(f)
            y_next = y_next + self.g_y * fm
            v_next = v_next + self.g_v * fm
        return self.from_modes(y_next), self.from_modes(v_next)

    def transpose(self) -> ModalFlow:
        # each block is a function of the symmetric K (and commuting D): transposing the
        # 2x2 block map swaps its off-diagonal blocks
        zero = torch.zeros_like(self.g_y)
        coefficients = (self.a, self.c, self.b, self.e, zero, zero)
        return ModalFlow(coefficients, self.to_modes, self.from_modes)


def undamped_shears(stiffness: Tensor, h: Tensor) -> tuple[Tensor, Tensor, int]:
    """Per-mode factors ``(p, q)`` and a repeat count ``r`` of the exact undamped flow.

    The flow of ``y'' = -k y`` over ``h`` equals ``r`` times the three shears
    ``y += p v; v -= q y; y += p v``. A rotation by ``theta = sqrt(k) h``, reduced modulo
    ``2 pi`` and split into ``r`` equal parts ``phi`` with ``|phi| <= pi/2``, has
    ``p = tan(phi / 2) / sqrt(k)`` and ``q = sqrt(k) sin(phi)``; ``k < 0`` gives the
    hyperbolic ``p = tanh(kappa h / 2r) / kappa``, ``q = -kappa sinh(kappa h / r)``; ``k = 0``
    a free drift. Each shear has determinant exactly 1 whatever the rounding of ``p`` and
    ``q``, so the computed map is exactly symplectic: it conserves a quadratic energy within
    rounding of the true one, with no drift over any number of steps. One host sync (``r``).
    """
    k, h = torch.broadcast_tensors(stiffness, h)
    positive, negative = k > 0, k < 0
    omega = torch.sqrt(torch.where(positive, k, torch.ones_like(k)))
    kappa = torch.sqrt(torch.where(negative, -k, torch.ones_like(k)))
    theta = omega * h
    theta = theta - 2 * math.pi * torch.round(theta / (2 * math.pi))
    wide = bool((positive & (theta.abs() > 0.5 * math.pi)).any())
    repeats = 2 if wide else 1
    phi, part = theta / repeats, h / repeats
    p = torch.where(
        positive,
        torch.tan(0.5 * phi) / omega,
        torch.where(negative, torch.tanh(0.5 * kappa * part) / kappa, 0.5 * part),
    )
    q = torch.where(
        positive,
        omega * torch.sin(phi),
        torch.where(negative, -kappa * torch.sinh(kappa * part), torch.zeros_like(k)),
    )
    return p, q, repeats


class ShearFlow(ModalFlow):
    """An undamped modal flow applied as three exactly area-preserving shears per mode.

    The 2x2 coefficients (used for the transpose and the forcing) come from
    :func:`modal_flow_coefficients`; the homogeneous part from :func:`undamped_shears`.
    """

    def __init__(
        self,
        coefficients: tuple[Tensor, ...],
        shears: tuple[Tensor, Tensor, int],
        to_modes: Callable[[Tensor], Tensor],
        from_modes: Callable[[Tensor], Tensor],
    ) -> None:
        super().__init__(coefficients, to_modes, from_modes)
        self.p, self.q, self.repeats = shears

    def __call__(self, y: Tensor, v: Tensor, f: Tensor | None = None) -> tuple[Tensor, Tensor]:
        # the shears act in the original coordinates, each through its symmetric operator
        # p(K) or q(K): a transform that is not exactly orthogonal then only adds rounding
        # noise, where a map conjugated by it once per step drifts the energy steadily
        for _ in range(self.repeats):
            y = y + self._mode_apply(self.p, v)
            v = v - self._mode_apply(self.q, y)
            y = y + self._mode_apply(self.p, v)
        if f is not None:
            y = y + self._mode_apply(self.g_y, f)
            v = v + self._mode_apply(self.g_v, f)
        return y, v

    def _mode_apply(self, coefficient: Tensor, x: Tensor) -> Tensor:
        return self.from_modes(coefficient * self.to_modes(x))


def modal_flow(
    stiffness: Tensor,
    damping: Tensor | None,
    h: Tensor,
    to_modes: Callable[[Tensor], Tensor],
    from_modes: Callable[[Tensor], Tensor],
) -> ModalFlow:
    """The exact flow from per-mode stiffness and damping eigenvalues (``None``: undamped).

    Undamped flows are applied as shears (:class:`ShearFlow`), exactly symplectic.
    """
    zero = torch.zeros((), dtype=stiffness.dtype, device=stiffness.device)
    coefficients = modal_flow_coefficients(stiffness, zero if damping is None else damping, h)
    if damping is None:
        return ShearFlow(coefficients, undamped_shears(stiffness, h), to_modes, from_modes)
    return ModalFlow(coefficients, to_modes, from_modes)


class MatrixFlow(LinearFlow):
    """The flow as a ``(2n, 2n)`` state matrix and a ``(2n, n)`` force gain."""

    def __init__(self, step: Tensor, gain: Tensor) -> None:
        self.step = step
        self.gain = gain
        self.size = gain.shape[1]

    def __call__(self, y: Tensor, v: Tensor, f: Tensor | None = None) -> tuple[Tensor, Tensor]:
        state = torch.cat([y, v], -1) @ self.step.T
        if f is not None:
            state = state + f @ self.gain.T
        return state[..., : self.size], state[..., self.size :]

    def transpose(self) -> MatrixFlow:
        return MatrixFlow(self.step.T, torch.zeros_like(self.gain))


def _identity(x: Tensor) -> Tensor:
    return x


class Operator(nn.Module, ABC):
    """A linear operator on the last axis of the state; ``size`` is that axis' length."""

    size: int

    @abstractmethod
    def apply(self, y: Tensor) -> Tensor:
        """``K y`` for ``y`` of shape ``(..., size)``."""

    @abstractmethod
    def to_dense(self) -> Tensor:
        """The operator as a ``(size, size)`` matrix."""

    @abstractmethod
    def eigenvalues(self) -> Tensor:
        """The (real) eigenvalues, shape ``(size,)``."""

    def max_eigenvalue(self) -> Tensor:
        """The largest eigenvalue, a 0-d tensor (``omega_max**2`` for a stiffness)."""
        return self.eigenvalues().max()

    def solve_shifted(self, x: Tensor, s: Tensor | float) -> Tensor:
        """``(I + s K)^{-1} x`` for ``x`` of shape ``(..., size)``."""
        eye = torch.eye(self.size, dtype=x.dtype, device=x.device)
        matrix = eye + s * self.to_dense()
        return torch.linalg.solve(matrix, x.unsqueeze(-1)).squeeze(-1)

    def flow(self, h: Tensor | float, damping: Operator | None = None) -> LinearFlow:
        """Exact flow over ``h`` of ``y'' = -K y - D y' + f``, ``D = damping`` (or none).

        This general version exponentiates the ``3 size x 3 size`` augmented matrix;
        subclasses diagonalise instead where they can.
        """
        h = torch.as_tensor(h, dtype=self._dtype(), device=self._device())
        if h.numel() != 1:
            raise ValueError(
                f"a per-unit dt needs independent units (Diagonal stiffness and damping); "
                f"{type(self).__name__} stiffness couples units, got dt of shape {tuple(h.shape)}"
            )
        n = self.size
        stiffness = self.to_dense()
        damp = damping.to_dense() if damping is not None else torch.zeros_like(stiffness)
        zero = torch.zeros_like(stiffness)
        eye = torch.eye(n, dtype=stiffness.dtype, device=stiffness.device)
        generator = torch.cat(
            [
                torch.cat([zero, eye, zero], 1),
                torch.cat([-stiffness, -damp, eye], 1),
                torch.cat([zero, zero, zero], 1),
            ],
            0,
        ) * h.reshape(())
        phi = matrix_exponential(generator)
        return MatrixFlow(phi[: 2 * n, : 2 * n], phi[: 2 * n, 2 * n :])

    def energy(self, y: Tensor) -> Tensor:
        """``y^T K y / 2`` summed over the last axis."""
        return 0.5 * (y * self.apply(y)).sum(-1)

    def _dtype(self) -> torch.dtype:
        return floating_reference(self).dtype

    def _device(self) -> torch.device:
        return floating_reference(self).device


def _is_uniform(op: Operator | None) -> bool:
    return isinstance(op, Diagonal) and op.values.ndim == 0


def _damping_values(op: Operator | None) -> Tensor | None:
    """A uniform or diagonal damping's eigenvalues, ``None`` without damping."""
    return None if op is None else op.values


class Diagonal(Operator):
    """``K = diag(values)``: independent units.

    ``values`` has shape ``(size,)``, or is a scalar (``values * I``) with ``size`` given.
    Any damping that is ``None`` or ``Diagonal`` gives a closed-form flow per unit, and
    ``h`` may then be a per-unit tensor of shape ``(size,)``.
    """

    def __init__(
        self,
        values: Tensor | float | Sequence[float],
        size: int | None = None,
        trainable: bool = True,
    ) -> None:
        super().__init__()
        values = as_float_tensor(values, "values")
        if values.ndim > 1:
            raise ValueError(f"values must be a scalar or 1-D, got shape {tuple(values.shape)}")
        if values.ndim == 1:
            if size is not None and size != values.shape[0]:
                raise ValueError(f"size={size} does not match values of length {values.shape[0]}")
            size = values.shape[0]
        elif size is None:
            raise ValueError("a scalar Diagonal needs size=")
        if size < 1:
            raise ValueError(f"size must be positive, got {size}")
        self.size = int(size)
        _store(self, "diagonal", values, trainable)

    @property
    def values(self) -> Tensor:
        """The diagonal (a scalar for a uniform operator); stored as ``diagonal``."""
        return self.diagonal

    def apply(self, y: Tensor) -> Tensor:
        return y * self.values

    def to_dense(self) -> Tensor:
        return torch.diag(self.eigenvalues())

    def eigenvalues(self) -> Tensor:
        return self.values.expand(self.size)

    def solve_shifted(self, x: Tensor, s: Tensor | float) -> Tensor:
        return x / (1 + s * self.values)

    def flow(self, h: Tensor | float, damping: Operator | None = None) -> LinearFlow:
        if damping is not None and not isinstance(damping, Diagonal):
            return super().flow(h, damping)
        h = torch.as_tensor(h, dtype=self.values.dtype, device=self.values.device)
        damping_values = None if damping is None else damping.values
        return modal_flow(self.eigenvalues(), damping_values, h, _identity, _identity)

    def extra_repr(self) -> str:
        return f"size={self.size}"


class Dense(Operator):
    """A symmetric ``(size, size)`` matrix ``K = (W + W^T) / 2``.

    With no damping or uniform damping the flow comes from one symmetric
    eigendecomposition (computed once per forward pass); otherwise from the matrix
    exponential of the augmented first-order system.
    """

    def __init__(self, matrix: Tensor | Sequence[Sequence[float]], trainable: bool = True) -> None:
        super().__init__()
        matrix = as_float_tensor(matrix, "matrix")
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            raise ValueError(f"matrix must be square (size, size), got shape {tuple(matrix.shape)}")
        self.size = matrix.shape[0]
        _store(self, "weight", matrix, trainable)

    @property
    def matrix(self) -> Tensor:
        return 0.5 * (self.weight + self.weight.T)

    def apply(self, y: Tensor) -> Tensor:
        return y @ self.matrix

    def to_dense(self) -> Tensor:
        return self.matrix

    def eigenvalues(self) -> Tensor:
        return torch.linalg.eigvalsh(self.matrix)

    def flow(self, h: Tensor | float, damping: Operator | None = None) -> LinearFlow:
        h = torch.as_tensor(h, dtype=self._dtype(), device=self._device())
        if h.numel() != 1 or not (damping is None or _is_uniform(damping)):
            return super().flow(h, damping)
        eigenvalues, basis = torch.linalg.eigh(self.matrix)
        return modal_flow(
            eigenvalues,
            _damping_values(damping),
            h.reshape(()),
            lambda x: x @ basis,
            lambda x: x @ basis.T,
        )


class Circulant(Operator):
    """Periodic convolution on a 1-D or 2-D lattice: ``K y = stencil * y`` (circular).

    ``stencil`` is a centred array of odd side lengths (e.g. ``[-c, 2c + k, -c]`` for a
    ring of springs ``c`` with on-site stiffness ``k``), symmetrised so ``K`` is symmetric.
    ``shape`` is the lattice, ``(n,)`` or ``(rows, cols)``; units are the flattened lattice.
    The FFT diagonalises ``K``: eigenvalues are the real FFT of the stencil wrapped onto
    the lattice. Damping for the modal flow is ``None``, uniform, or a ``Circulant``.
    With ``nonnegative=True`` negative eigenvalues are clipped to zero (``K`` stays positive
    semi-definite while a trainable stencil is fitted, as LinOSS does with ``relu``).
    """

    def __init__(
        self,
        stencil: Tensor | Sequence,
        shape: int | Sequence[int],
        trainable: bool = True,
        nonnegative: bool = False,
    ) -> None:
        super().__init__()
        stencil = as_float_tensor(stencil, "stencil")
        shape = (shape,) if isinstance(shape, int) else tuple(int(s) for s in shape)
        if len(shape) not in (1, 2) or stencil.ndim != len(shape):
            raise ValueError(
                f"shape must be (n,) or (rows, cols) and stencil of the same rank; "
                f"got shape {shape} and stencil of shape {tuple(stencil.shape)}"
            )
        if any(s % 2 == 0 for s in stencil.shape):
            raise ValueError(f"stencil sides must be odd (centred), got {tuple(stencil.shape)}")
        if any(n < 1 for n in shape):
            raise ValueError(f"shape must be positive, got {shape}")
        self.shape = shape
        self.size = math.prod(shape)
        self.nonnegative = nonnegative
        offsets = [torch.arange(k) - k // 2 for k in stencil.shape]
        grids = torch.meshgrid(*offsets, indexing="ij")
        flat = torch.zeros_like(grids[0])
        for axis, grid in enumerate(grids):
            flat = flat * shape[axis] + grid % shape[axis]
        self.register_buffer("_wrap_index", flat.reshape(-1), persistent=False)
        _store(self, "stencil", stencil, trainable)

    def generator(self) -> Tensor:
        """The first column of ``K``: the symmetrised stencil wrapped onto the lattice."""
        symmetric = 0.5 * (self.stencil + self.stencil.flip(tuple(range(self.stencil.ndim))))
        column = torch.zeros(self.size, dtype=symmetric.dtype, device=symmetric.device)
        column = column.index_add(0, self._wrap_index, symmetric.reshape(-1))
        return column.reshape(self.shape)

    def modal_eigenvalues(self) -> Tensor:
        """Eigenvalues on the half-spectrum grid of ``rfftn`` (shape ``shape[:-1] + (n//2+1,)``)."""
        dims = tuple(range(-len(self.shape), 0))
        return self._clip(torch.fft.rfftn(self.generator(), dim=dims).real)

    def eigenvalues(self) -> Tensor:
        dims = tuple(range(-len(self.shape), 0))
        return self._clip(torch.fft.fftn(self.generator(), dim=dims).real.reshape(-1))

    def _clip(self, eigenvalues: Tensor) -> Tensor:
        return eigenvalues.clamp(min=0) if self.nonnegative else eigenvalues

    def to_dense(self) -> Tensor:
        eye = torch.eye(self.size, dtype=self.stencil.dtype, device=self.stencil.device)
        return self.apply(eye).T

    def _to_hartley(self, x: Tensor) -> Tensor:
        """The discrete Hartley transform ``Re F x - Im F x`` on the lattice: real and, with
        ``1 / sqrt(size)``, orthogonal; it diagonalises the symmetric ``K`` (eigenvalues on
        the full FFT grid). Flows use it instead of ``rfft``, whose inverse drops the
        rounding that breaks Hermitian symmetry and so loses energy at every step."""
        dims = tuple(range(-len(self.shape), 0))
        spectrum = torch.fft.fftn(x.reshape(*x.shape[:-1], *self.shape), dim=dims)
        return spectrum.real - spectrum.imag

    def _from_hartley(self, x: Tensor) -> Tensor:
        back = self._to_hartley(x.reshape(*x.shape[: -len(self.shape)], self.size)) / self.size
        return back.reshape(*back.shape[: -len(self.shape)], self.size)

    def _to_modes(self, x: Tensor) -> Tensor:
        dims = tuple(range(-len(self.shape), 0))
        return torch.fft.rfftn(x.reshape(*x.shape[:-1], *self.shape), dim=dims)

    def _from_modes(self, x: Tensor) -> Tensor:
        dims = tuple(range(-len(self.shape), 0))
        out = torch.fft.irfftn(x, s=self.shape, dim=dims)
        return out.reshape(*out.shape[: -len(self.shape)], self.size)

    def apply(self, y: Tensor) -> Tensor:
        return self._from_modes(self._to_modes(y) * self.modal_eigenvalues())

    def solve_shifted(self, x: Tensor, s: Tensor | float) -> Tensor:
        return self._from_modes(self._to_modes(x) / (1 + s * self.modal_eigenvalues()))

    def flow(self, h: Tensor | float, damping: Operator | None = None) -> LinearFlow:
        h = torch.as_tensor(h, dtype=self.stencil.dtype, device=self.stencil.device)
        compatible = (
            damping is None
            or _is_uniform(damping)
            or (isinstance(damping, Circulant) and damping.shape == self.shape)
        )
        if h.numel() != 1 or not compatible:
            return super().flow(h, damping)
        if isinstance(damping, Circulant):
            damping_modes = damping.eigenvalues().reshape(self.shape)
        else:
            damping_modes = _damping_values(damping)
        return modal_flow(
            self.eigenvalues().reshape(self.shape),
            damping_modes,
            h.reshape(()),
            self._to_hartley,
            self._from_hartley,
        )

    def extra_repr(self) -> str:
        return f"shape={self.shape}, nonnegative={self.nonnegative}"


def damping_operator(damping: Tensor | float, size: int) -> Diagonal | None:
    """A ``Diagonal`` damping from a user value (scalar or ``(size,)``), ``None`` for a plain 0.

    Pass a tensor to keep a zero damping as a trainable operator.
    """
    if isinstance(damping, (int, float)) and damping == 0:
        return None
    values = as_float_tensor(damping, "damping")
    if values.ndim > 1 or (values.ndim == 1 and values.numel() != size):
        raise ValueError(
            f"damping must be a scalar or of shape ({size},), got shape {tuple(values.shape)}"
        )
    if (values < 0).any():
        raise ValueError(f"damping must be non-negative, got {values}")
    return Diagonal(values.expand(size).clone())
