"""Every integrator on one harmonic oscillator, against the closed-form solution.

    python examples/harmonic_integrators.py

Three independent undamped units (omega = 1, 2, 3) from a batch of initial conditions, in
float64, 1000 steps of dt = 0.05 (t = 50). Prints, per integrator, the error of the final
position against ``y0 cos(omega t) + v0 sin(omega t) / omega`` and the largest relative
energy drift ``|E(t) - E(0)| / E(0)`` along the run. Expect: ``exponential`` exact to float
precision (it solves the linear flow in closed form), ``euler`` growing, the symplectic
schemes with bounded energy error.
"""

from __future__ import annotations

import warnings

import torch

import oscdyn
from oscdyn.systems import HarmonicOscillator

INTEGRATORS = [*oscdyn.integrators.available()]
INTEGRATORS[INTEGRATORS.index("torchdiffeq")] = "torchdiffeq:dopri5"


def main(dt: float = 0.05, steps: int = 1000, batch: int = 8) -> None:
    torch.manual_seed(0)
    system = HarmonicOscillator(omega=torch.tensor([1.0, 2.0, 3.0])).double()
    y0 = torch.randn(batch, 3, dtype=torch.float64)
    v0 = torch.randn(batch, 3, dtype=torch.float64)
    t = steps * dt
    omega = system.omega.detach()
    exact = y0 * torch.cos(omega * t) + v0 * torch.sin(omega * t) / omega

    print(f"harmonic oscillator, omega = 1, 2, 3, dt = {dt}, {steps} steps (t = {t:g}), float64")
    print(
        f"{'integrator':<20}{'order':>6}{'symplectic':>12}{'final error':>14}{'energy drift':>14}"
    )
    for name in INTEGRATORS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", oscdyn.StabilityWarning)  # euler: never stable
            rnn = oscdyn.compile(system, name, dt=dt)
        ds = rnn.trajectory(None, state=(y0, v0), steps=steps)
        error = (torch.from_numpy(ds.position.values[:, -1]) - exact).abs().max().item()
        energy = ds.energy.values
        drift = (abs(energy - energy[:, :1]) / energy[:, :1]).max()
        facts = rnn.integrator.facts()
        order = "-" if facts["order"] is None else facts["order"]
        symplectic = "yes" if facts["symplectic"] else "no"
        print(f"{name:<20}{order:>6}{symplectic:>12}{error:>14.2e}{drift:>14.2e}")


if __name__ == "__main__":
    main()
