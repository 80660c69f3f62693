"""oscdyn.gradients.clip_grad_norm: torch's clipping where torch's works, and a finite
norm where float32 squares overflow (exploding gradients of an unstable oscillator)."""

from __future__ import annotations

import pytest
import torch

from oscdyn.gradients import clip_grad_norm
from oscdyn.tasks import AddingProblem, train_step


def _parameters_with_grads(*grads: torch.Tensor) -> list[torch.nn.Parameter]:
    parameters = []
    for grad in grads:
        p = torch.nn.Parameter(torch.zeros_like(grad))
        p.grad = grad.clone()
        parameters.append(p)
    return parameters


class _AmplifiedGradient(torch.autograd.Function):
    """Identity forward; the backward multiplies the gradient by 1e22 (float32 finite,
    its square not)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return x.clone()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return grad * 1e22


class _ExplodingReadout(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.tensor([0.5, -0.25]))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return (inputs.mean(dim=1) @ _AmplifiedGradient.apply(self.weight))[:, None]


def test_matches_torch_on_ordinary_gradients() -> None:
    generator = torch.Generator().manual_seed(0)
    grads = [torch.randn(5, 3, generator=generator), torch.randn(7, generator=generator)]
    ours, theirs = _parameters_with_grads(*grads), _parameters_with_grads(*grads)
    norm = clip_grad_norm(ours, 0.5)
    expected = torch.nn.utils.clip_grad_norm_(theirs, 0.5)
    assert norm.dtype == torch.float64
    assert float(norm) == pytest.approx(float(expected), rel=1e-6)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-6, atol=0)
    # below the clip nothing changes, bit for bit
    small = _parameters_with_grads(*grads)
    clip_grad_norm(small, 1e3)
    for p, g in zip(small, grads, strict=True):
        assert torch.equal(p.grad, g)


def test_float32_gradients_whose_squares_overflow_are_scaled_to_the_clip() -> None:
    huge = torch.tensor([3e22, -4e22], dtype=torch.float32)
    other = torch.tensor([1e21], dtype=torch.float32)
    assert torch.isinf(torch.linalg.vector_norm(huge))  # what float32 accumulation gives
    parameters = _parameters_with_grads(huge, other)
    norm = clip_grad_norm(parameters, 2.0)
    exact = (3e22**2 + 4e22**2 + 1e21**2) ** 0.5
    assert float(norm) == pytest.approx(exact, rel=1e-6)
    clipped = torch.cat([p.grad for p in parameters]).double()
    assert float(torch.linalg.vector_norm(clipped)) == pytest.approx(2.0, rel=1e-5)
    direction = torch.cat([huge, other]).double() / exact
    torch.testing.assert_close(clipped / 2.0, direction, rtol=1e-5, atol=1e-12)


def test_a_non_finite_gradient_gives_a_non_finite_norm_and_update() -> None:
    parameters = _parameters_with_grads(torch.tensor([1.0, float("inf")]), torch.ones(2))
    norm = clip_grad_norm(parameters, 1.0)
    assert torch.isinf(norm)
    assert not torch.isfinite(parameters[0].grad).all()
    parameters = _parameters_with_grads(torch.tensor([1.0, float("nan")]))
    assert torch.isnan(clip_grad_norm(parameters, 1.0))


@pytest.mark.parametrize("bad", [0.0, -1.0, float("inf"), float("nan")])
def test_max_norm_must_be_positive_and_finite(bad: float) -> None:
    with pytest.raises(ValueError, match="max_norm must be positive and finite, got"):
        clip_grad_norm(_parameters_with_grads(torch.ones(2)), bad)


def test_train_step_with_clip_still_moves_a_model_whose_gradient_norm_overflows() -> None:
    # torch.nn.utils.clip_grad_norm_ turns a float32 norm above ~1e19 into a zero
    # gradient (scale clip / inf): the run would stop learning without a sign of it
    task = AddingProblem(10)
    model = _ExplodingReadout()
    before = model.weight.detach().clone()
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    inputs, targets = task.sample(8, torch.Generator().manual_seed(0))
    train_step(model, optimizer, task, inputs, targets, clip=0.1)
    moved = float(torch.linalg.vector_norm(model.weight.detach() - before))
    assert moved == pytest.approx(0.1, rel=1e-4)
