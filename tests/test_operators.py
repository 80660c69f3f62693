"""Structured operators against dense linear algebra: apply, spectra, shifted solves, exact flows.

Every reference here is built independently of the operator under test: the dense matrix of
a ``Circulant`` from its stencil by explicit loops, flows from ``scipy.linalg.expm`` of the
augmented first-order matrix, the matrix exponential from 40-digit ``mpmath``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from oscdyn.systems.operators import (
    Circulant,
    Dense,
    Diagonal,
    damping_operator,
    matrix_exponential,
)


@pytest.fixture(autouse=True)
def float64():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def circulant_reference(stencil: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The dense matrix of a periodic convolution, entry by entry from the stencil."""
    stencil = np.asarray(stencil, dtype=float)
    symmetric = 0.5 * (stencil + stencil[tuple(slice(None, None, -1) for _ in shape)])
    size = math.prod(shape)
    matrix = np.zeros((size, size))
    centre = np.array(stencil.shape) // 2
    for site in np.ndindex(*shape):
        row = np.ravel_multi_index(site, shape)
        for offset in np.ndindex(*stencil.shape):
            target = tuple((np.array(site) + np.array(offset) - centre) % np.array(shape))
            matrix[row, np.ravel_multi_index(target, shape)] += symmetric[offset]
    return matrix


def spd(n: int, seed: int, shift: float = 0.1) -> np.ndarray:
    a = rng(seed).normal(size=(n, n))
    return a @ a.T / n + shift * np.eye(n)


RING_STENCIL = [-1.0, 2.5, -1.0]  # springs c = 1 on a ring, on-site stiffness 0.5
LATTICE_STENCIL = [[0.0, -0.7, 0.0], [-1.2, 4.3, -1.2], [0.0, -0.7, 0.0]]


def make_operator(kind: str):
    """``(operator, independent dense reference)`` for each kind of stiffness."""
    if kind == "diagonal":
        values = np.array([0.0, 0.5, 2.0, 9.0, 1.3])
        return Diagonal(torch.tensor(values)), np.diag(values)
    if kind == "diagonal_uniform":
        return Diagonal(torch.tensor(1.7), size=4), 1.7 * np.eye(4)
    if kind == "dense":
        matrix = spd(5, seed=1)
        # a non-symmetric weight: the operator is its symmetric part
        skew = rng(3).normal(size=(5, 5))
        skew = skew - skew.T
        return Dense(torch.tensor(matrix + skew)), matrix
    if kind == "circulant_1d":
        return Circulant(torch.tensor(RING_STENCIL), 7), circulant_reference(RING_STENCIL, (7,))
    if kind == "circulant_2d":
        shape = (4, 5)
        return (
            Circulant(torch.tensor(LATTICE_STENCIL), shape),
            circulant_reference(LATTICE_STENCIL, shape),
        )
    raise ValueError(kind)


KINDS = ["diagonal", "diagonal_uniform", "dense", "circulant_1d", "circulant_2d"]


def as_numpy(value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().numpy()
    return np.asarray(value, dtype=float)


def assert_close(actual, expected, rtol: float, what: str) -> None:
    actual, expected = as_numpy(actual), as_numpy(expected)
    scale = max(np.abs(expected).max(), 1.0)
    error = np.abs(actual - expected).max() / scale
    assert error < rtol, f"{what}: relative error {error:.3e} >= {rtol:.1e}"


# --- apply, dense form, spectrum, shifted solve ---------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_to_dense_matches_independent_reference(kind):
    operator, reference = make_operator(kind)
    assert operator.size == reference.shape[0]
    assert_close(operator.to_dense(), reference, 1e-14, "to_dense")


@pytest.mark.parametrize("kind", KINDS)
def test_apply_equals_dense_matvec(kind):
    operator, reference = make_operator(kind)
    y = torch.tensor(rng(10).normal(size=(3, operator.size)))
    expected = y.numpy() @ reference.T
    assert_close(operator.apply(y), expected, 1e-13, "apply")
    assert_close(operator.apply(y), y @ operator.to_dense().T, 1e-13, "apply vs to_dense")
    # the quadratic form used for energies
    assert_close(
        operator.energy(y), 0.5 * np.einsum("bi,bi->b", y.numpy(), expected), 1e-13, "energy"
    )


@pytest.mark.parametrize("kind", KINDS)
def test_eigenvalues_match_eigvalsh(kind):
    operator, reference = make_operator(kind)
    eigenvalues = np.sort(operator.eigenvalues().detach().numpy())
    assert eigenvalues.shape == (operator.size,)
    assert_close(eigenvalues, np.linalg.eigvalsh(reference), 1e-13, "eigenvalues vs numpy")
    dense = operator.to_dense().detach()
    assert_close(eigenvalues, torch.linalg.eigvalsh(dense), 1e-13, "eigenvalues vs torch")
    assert_close(operator.max_eigenvalue(), eigenvalues.max(), 1e-13, "max_eigenvalue")


@pytest.mark.parametrize("s", [0.3, 2.0, -0.05])
@pytest.mark.parametrize("kind", KINDS)
def test_solve_shifted_inverts_identity_plus_sK(kind, s):
    operator, reference = make_operator(kind)
    x = torch.tensor(rng(11).normal(size=(4, operator.size)))
    solved = operator.solve_shifted(x, s).detach().numpy()
    shifted = np.eye(operator.size) + s * reference
    assert_close(solved @ shifted.T, x.numpy(), 1e-12, "(I + sK) solve_shifted(x)")
    assert_close(solved, np.linalg.solve(shifted, x.numpy().T).T, 1e-12, "vs numpy solve")


def test_circulant_non_symmetric_stencil_is_symmetrised():
    stencil_1d = torch.tensor([1.0, 2.0, 3.0])
    ring = Circulant(stencil_1d, 6)
    dense = as_numpy(ring.to_dense())
    assert np.abs(dense - dense.T).max() < 1e-15
    # (s + flip(s)) / 2 = [2, 2, 2]
    assert_close(dense, Circulant(torch.tensor([2.0, 2.0, 2.0]), 6).to_dense(), 1e-15, "1-D")
    assert_close(dense, circulant_reference([1.0, 2.0, 3.0], (6,)), 1e-15, "1-D reference")

    stencil_2d = torch.tensor(rng(4).normal(size=(3, 5)))
    lattice = Circulant(stencil_2d, (5, 6))
    dense = as_numpy(lattice.to_dense())
    assert np.abs(dense - dense.T).max() < 1e-15
    symmetric = 0.5 * (stencil_2d + stencil_2d.flip((0, 1)))
    assert_close(dense, Circulant(symmetric, (5, 6)).to_dense(), 1e-14, "2-D")
    # the spectrum of the symmetrised operator is real and matches the dense one
    assert_close(
        np.sort(as_numpy(lattice.eigenvalues())), np.linalg.eigvalsh(dense), 1e-13, "2-D spectrum"
    )


def test_dense_uses_symmetric_part():
    weight = rng(5).normal(size=(4, 4))
    operator = Dense(torch.tensor(weight))
    assert_close(operator.to_dense(), 0.5 * (weight + weight.T), 1e-15, "symmetric part")


# --- exact flows --------------------------------------------------------------------------


def flow_reference(stiffness: np.ndarray, damping: np.ndarray, h: float):
    """``(state map, force gain)`` of ``y'' = -K y - D y' + f`` over ``h`` via scipy expm."""
    n = stiffness.shape[0]
    zero, eye = np.zeros((n, n)), np.eye(n)
    generator = np.block([[zero, eye, zero], [-stiffness, -damping, eye], [zero, zero, zero]])
    phi = scipy.linalg.expm(generator * h)
    return phi[: 2 * n, : 2 * n], phi[: 2 * n, 2 * n :]


def make_damping(kind: str, damping: str, size: int):
    """``(operator or None, dense reference)`` damping compatible with a stiffness kind."""
    if damping == "none":
        return None, np.zeros((size, size))
    if damping == "uniform":
        return Diagonal(torch.tensor(0.35), size=size), 0.35 * np.eye(size)
    if damping == "diagonal":
        values = np.linspace(0.0, 7.0, size)  # up to overdamped
        return Diagonal(torch.tensor(values)), np.diag(values)
    if damping == "structured":
        if kind.startswith("circulant"):
            shape = (7,) if kind == "circulant_1d" else (4, 5)
            stencil = [0.05, 0.4, 0.05] if kind == "circulant_1d" else [[0.0, 0.02, 0.0]] * 3
            stencil = np.array(stencil, dtype=float)
            if kind == "circulant_2d":
                stencil[1, 1] = 0.5
            return Circulant(torch.tensor(stencil), shape), circulant_reference(stencil, shape)
        matrix = spd(size, seed=6, shift=0.05)
        return Dense(torch.tensor(matrix)), matrix
    raise ValueError(damping)


FLOW_CASES = [
    (kind, damping)
    for kind in KINDS
    for damping in ["none", "uniform", "diagonal", "structured"]
    if not (kind == "diagonal_uniform" and damping == "structured")
]


@pytest.mark.parametrize("h", [0.3, 1.7])
@pytest.mark.parametrize(("kind", "damping"), FLOW_CASES)
def test_flow_equals_expm_of_block_matrix(kind, damping, h):
    operator, stiffness = make_operator(kind)
    damping_op, damping_matrix = make_damping(kind, damping, operator.size)
    state_map, gain = flow_reference(stiffness, damping_matrix, h)
    g = rng(12)
    y, v, f = (torch.tensor(g.normal(size=(3, operator.size))) for _ in range(3))
    flow = operator.flow(h, damping_op)

    expected = np.concatenate([y.numpy(), v.numpy()], 1) @ state_map.T
    y_next, v_next = flow(y, v)
    assert_close(torch.cat([y_next, v_next], 1), expected, 1e-13, "free flow")

    expected = expected + f.numpy() @ gain.T
    y_next, v_next = flow(y, v, f)
    assert_close(torch.cat([y_next, v_next], 1), expected, 1e-13, "forced flow")


@pytest.mark.parametrize(("kind", "damping"), FLOW_CASES)
def test_backward_flow_inverts_forward_flow(kind, damping):
    operator, _ = make_operator(kind)
    damping_op, _ = make_damping(kind, damping, operator.size)
    g = rng(13)
    y, v, f = (torch.tensor(g.normal(size=(2, operator.size))) for _ in range(3))
    h = 0.45
    forward, backward = operator.flow(h, damping_op), operator.flow(-h, damping_op)
    y_back, v_back = backward(*forward(y, v))
    assert_close(torch.cat([y_back, v_back], 1), torch.cat([y, v], 1), 1e-12, "free")
    y_back, v_back = backward(*forward(y, v, f), f)
    assert_close(torch.cat([y_back, v_back], 1), torch.cat([y, v], 1), 1e-12, "forced")


def test_diagonal_flow_with_per_unit_step():
    values = np.array([0.0, 0.25, 4.0, 16.0])
    damping = np.array([0.2, 0.0, 5.0, 0.4])
    h = np.array([0.1, 0.5, 0.3, 0.05])
    operator = Diagonal(torch.tensor(values))
    flow = operator.flow(torch.tensor(h), Diagonal(torch.tensor(damping)))
    g = rng(14)
    y, v, f = (torch.tensor(g.normal(size=(3, 4))) for _ in range(3))
    y_next, v_next = flow(y, v, f)
    for unit in range(4):
        state_map, gain = flow_reference(values[[unit], None], damping[[unit], None], h[unit])
        expected = (
            np.stack([y[:, unit], v[:, unit]], 1) @ state_map.T + f[:, [unit]].numpy() @ gain.T
        )
        actual = torch.stack([y_next[:, unit], v_next[:, unit]], 1)
        assert_close(actual, expected, 1e-13, f"unit {unit}")


@pytest.mark.parametrize("kind", ["dense", "circulant_1d", "circulant_2d"])
def test_coupled_flow_rejects_per_unit_step(kind):
    operator, _ = make_operator(kind)
    with pytest.raises(ValueError, match="per-unit dt"):
        operator.flow(torch.full((operator.size,), 0.1))


# Relative drift of the energy norm allowed over 1000 steps. Undamped flows apply three
# shears, each exactly area-preserving whatever the rounding of its coefficients, in the
# original coordinates: only rounding noise remains (measured <= 2e-15 over 1000 steps).
# A rotation with fixed, correctly rounded cos/sin coefficients drifts linearly instead
# (~1e-13 here); 1e-13 separates the two.
ENERGY_DRIFT = {"diagonal": 1e-13, "dense": 1e-13, "circulant_1d": 1e-13, "circulant_2d": 1e-13}


@pytest.mark.parametrize("h", [0.37, 1.7])
@pytest.mark.parametrize("kind", list(ENERGY_DRIFT))
def test_undamped_flow_preserves_energy_norm(kind, h):
    operator, stiffness = make_operator(kind)
    g = rng(15)
    y, v = (torch.tensor(g.normal(size=(16, operator.size))) for _ in range(2))
    stiffness = torch.tensor(stiffness)

    def norm(y, v):
        return (v * v).sum(-1) + ((y @ stiffness) * y).sum(-1)

    start, y_start = norm(y, v), y
    flow = operator.flow(h)
    with torch.no_grad():
        for _ in range(1000):
            y, v = flow(y, v)
    drift = ((norm(y, v) - start).abs() / start).max().item()
    print(f"{kind}, h={h}: relative energy-norm drift {drift:.2e} over 1000 steps")
    assert drift < ENERGY_DRIFT[kind], f"energy norm drifted by {drift:.3e} over 1000 steps"
    # and the flow did something: the state moved (not an identity map)
    assert (y - y_start).abs().max() > 1e-2


# --- matrix exponential -------------------------------------------------------------------


def test_matrix_exponential_agrees_with_scipy_and_high_precision():
    """Relative Frobenius error <= 1e-14 for 1-norms 1e-4..10.

    Against scipy for norms up to 3; at norm 10 scipy's own error on non-normal matrices
    reaches ~2e-13 (measured against 40-digit mpmath), so there the reference is mpmath
    and scipy is only required to agree within its own error.
    """
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 40
    g = rng(16)
    worst = {}
    for norm in [1e-4, 1e-3, 1e-2, 1e-1, 1.0, 3.0, 10.0]:
        for kind in ["general", "oscillator"]:
            for seed in range(3):
                if kind == "general":
                    matrix = g.normal(size=(6, 6))
                else:  # the generators the exact flows exponentiate
                    stiffness, damping = spd(3, seed=20 + seed), np.diag(g.uniform(0, 1, 3))
                    matrix = np.block([[np.zeros((3, 3)), np.eye(3)], [-stiffness, -damping]])
                matrix = matrix / np.abs(matrix).sum(0).max() * norm
                ours = matrix_exponential(torch.tensor(matrix)).numpy()
                ref = scipy.linalg.expm(matrix)
                exact = np.array(mpmath.expm(mpmath.matrix(matrix.tolist())).tolist(), dtype=float)
                scale = np.linalg.norm(exact)
                error_exact = np.linalg.norm(ours - exact) / scale
                error_scipy = np.linalg.norm(ours - ref) / scale
                scipy_own = np.linalg.norm(ref - exact) / scale
                worst[norm] = max(worst.get(norm, (0.0, 0.0)), (error_exact, error_scipy))
                assert error_exact < 1e-14, f"norm {norm}: error {error_exact:.2e} vs 40 digits"
                assert error_scipy < 1e-14 + scipy_own, (
                    f"norm {norm}: differs from scipy by {error_scipy:.2e} "
                    f"(scipy's own error {scipy_own:.2e})"
                )
                if norm <= 3.0:
                    assert error_scipy < 1e-14, f"norm {norm}: {error_scipy:.2e} vs scipy"
    for norm, (exact, scipy_) in worst.items():
        print(f"norm {norm:g}: worst error vs mpmath {exact:.1e}, vs scipy {scipy_:.1e}")


def test_matrix_exponential_batched_and_zero():
    g = rng(17)
    batch = g.normal(size=(4, 3, 3)) * np.array([1e-3, 0.1, 0.3, 0.5])[:, None, None]
    ours = matrix_exponential(torch.tensor(batch)).numpy()
    for matrix, result in zip(batch, ours, strict=True):
        expected = scipy.linalg.expm(matrix)
        assert np.linalg.norm(result - expected) / np.linalg.norm(expected) < 1e-14
    # One scaling serves the whole batch (that of its largest norm), so a small member next
    # to a large one is squared far more often than it needs; that must not cost accuracy
    # (it cost 5e-14 here, 1.6e-12 next to a member of norm 1e4, before the squarings kept
    # exp - I apart from the identity).
    for large in (200.0, 1e4):
        stiff = 0.5 * np.array([[0.0, 1.0, 0.0], [-large, -0.1, 1.0], [0.0, 0.0, 0.0]])
        mixed = np.stack([batch[2], stiff])
        ours = matrix_exponential(torch.tensor(mixed)).numpy()
        expected = scipy.linalg.expm(batch[2])
        error = np.linalg.norm(ours[0] - expected) / np.linalg.norm(expected)
        assert error < 1e-14, f"small member next to norm {large}: error {error:.2e}"
        expected = scipy.linalg.expm(stiff)
        error = np.linalg.norm(ours[1] - expected) / np.linalg.norm(expected)
        assert error < 1e-13, f"member of norm {large}: error {error:.2e}"
    assert torch.equal(matrix_exponential(torch.zeros(3, 3)), torch.eye(3))


# --- construction errors ------------------------------------------------------------------


BAD_CONSTRUCTIONS = [
    (lambda: Diagonal(torch.ones(2, 2)), "values"),
    (lambda: Diagonal(torch.tensor([1.0, float("nan")])), "values"),
    (lambda: Diagonal(torch.tensor(1.0)), "size"),
    (lambda: Diagonal(torch.tensor([1.0, 2.0]), size=3), "size"),
    (lambda: Diagonal(torch.tensor(1.0), size=0), "size"),
    (lambda: Dense(torch.ones(2, 3)), "matrix"),
    (lambda: Dense(torch.ones(3)), "matrix"),
    (lambda: Dense(torch.tensor([[1.0, float("inf")], [0.0, 1.0]])), "matrix"),
    (lambda: Circulant(torch.tensor([1.0, 2.0]), 5), "stencil"),
    (lambda: Circulant(torch.tensor([[1.0, 2.0, 1.0]]), 5), "stencil"),
    (lambda: Circulant(torch.tensor([1.0, 2.0, 1.0]), (3, 3)), "shape"),
    (lambda: Circulant(torch.ones(3, 3, 3), (3, 3, 3)), "shape"),
    (lambda: Circulant(torch.tensor([1.0, 2.0, 1.0]), 0), "shape"),
    (lambda: Circulant(torch.tensor([float("nan"), 2.0, 1.0]), 4), "stencil"),
    (lambda: damping_operator(-0.1, 3), "damping"),
    (lambda: damping_operator(torch.tensor([0.1, 0.2]), 3), "damping"),
]


@pytest.mark.parametrize(("build", "argument"), BAD_CONSTRUCTIONS)
def test_bad_construction_raises_value_error_naming_argument(build, argument):
    with pytest.raises(ValueError, match=argument):
        build()
