"""Define a new oscillator system by subclassing ``oscdyn.SecondOrderSystem``.

    python examples/define_your_system.py

A driven pendulum on a quartic spring, ``y'' = -k y - c y' - g sin(y) - q y^3 + A cos(w t)``:
the linear spring ``k`` and damping ``c`` are structured operators (so ``exponential`` solves
them exactly and ``imex`` takes damping implicitly), the rest is the force ``F``. It is
compiled with two integrators at a few step sizes and compared with a fine rk4 solution.
"""

from __future__ import annotations

import torch
from torch import Tensor

import oscdyn
from oscdyn.systems import Diagonal


class QuarticPendulum(oscdyn.SecondOrderSystem):
    """``y'' = -k y - c y' - g sin(y) - q y^3 + A cos(w t)``; energy without c and A."""

    has_energy = True  # potential() below is defined

    def __init__(
        self,
        k: float = 1.0,
        c: float = 0.05,
        g: float = 2.0,
        q: float = 0.5,
        amplitude: float = 0.4,
        frequency: float = 1.3,
    ) -> None:
        super().__init__(state_size=1)
        self.stiffness = Diagonal(torch.tensor([k]))  # K: linear spring
        self.damping = Diagonal(torch.tensor([c])) if c else None  # D: linear damping
        self.g, self.q = torch.nn.Parameter(torch.tensor(g)), torch.nn.Parameter(torch.tensor(q))
        self.amplitude, self.frequency = amplitude, frequency

    def force(self, y: Tensor, v: Tensor, u: Tensor | None, t: Tensor | float) -> Tensor:
        # F: everything that is not K y or D v
        drive = self.amplitude * torch.cos(self.frequency * torch.as_tensor(t, dtype=y.dtype))
        return -self.g * torch.sin(y) - self.q * y**3 + drive

    def potential(self, y: Tensor) -> Tensor:
        # V with F = -grad V (undriven); energy() adds v^2/2 + K y^2/2 itself
        return (self.g * (1 - torch.cos(y)) + 0.25 * self.q * y**4).sum(-1)


def main(duration: float = 20.0) -> None:
    system = QuarticPendulum().double()
    y0 = torch.linspace(-2.0, 2.0, 5, dtype=torch.float64)[:, None]
    v0 = torch.zeros_like(y0)
    fine = 0.005
    reference, _ = oscdyn.compile(system, "rk4", dt=fine)(
        None, state=(y0, v0), steps=round(duration / fine)
    )
    print(f"QuarticPendulum, 5 initial conditions, t in [0, {duration:g}], rk4 dt={fine} reference")
    print(f"{'integrator':<14}{'dt':>8}{'max error':>12}")
    for name in ("leapfrog", "exponential"):
        for dt in (0.1, 0.05, 0.025):
            rnn = oscdyn.compile(system, name, dt=dt)
            y, _ = rnn(None, state=(y0, v0), steps=round(duration / dt))
            stride = round(dt / fine)
            error = (y - reference[:, stride - 1 :: stride]).abs().max().item()
            print(f"{name:<14}{dt:>8g}{error:>12.2e}")
    undriven = QuarticPendulum(c=0.0, amplitude=0.0).double()
    ds = oscdyn.compile(undriven, "leapfrog", dt=0.05).trajectory(None, (y0, v0), steps=4000)
    drift = (abs(ds.energy - ds.energy.isel(time=0)) / ds.energy.isel(time=0)).max().item()
    print(f"leapfrog energy drift, undamped and undriven, 4000 steps of 0.05: {drift:.2e}")


if __name__ == "__main__":
    main()
