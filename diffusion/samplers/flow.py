"""Flow matching with the rectified-flow (straight) path, and its Euler and Heun ODE samplers.

Path (Liu et al. 2022, rectified flow, eq. 1; Lipman et al. 2022, the optimal-transport path with sigma_min = 0):
x_t = (1 - t) x_0 + t eps, t in [0, 1], t = 0 the data and t = 1 pure noise. Its velocity dx_t/dt = eps - x_0 is
what the network learns by plain regression (conditional flow matching, Lipman et al. eq. 23). Sampling integrates
dx/dt = v(x, t) from t = 1 down to t = 0. Each step's x0_pred = x_t - t v (the straight line's end point).

The samplers return the same :class:`~diffusion.Trajectory` as diffusion's: ``timesteps`` are flow times in
(0, 1] (the time each step starts from), ``xs`` go from the noise x_1 to the sample, one ``x0_preds`` per call.
"""
from __future__ import annotations

import torch

from ..parameterization import velocity_from_x0_eps, x0_eps_from_velocity
from .common import Recorder, Trajectory, check_output, drive
from .guidance import Guided, check_guidance

__all__ = ["FLOW_SAMPLERS", "flow_path", "flow_velocity_target", "flow_sample"]


def flow_path(x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """x_t = (1 - t) x_0 + t eps  (rectified flow, Liu et al. 2022 eq. 1); t [batch] broadcast over the rest."""
    t = t.reshape(-1, *([1] * (x0.ndim - 1))).to(x0.dtype)
    return (1 - t) * x0 + t * eps


def flow_velocity_target(x0: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """d x_t / dt = eps - x_0: the regression target of conditional flow matching (Lipman et al. 2022 eq. 23)."""
    return velocity_from_x0_eps(x0, eps)


def _velocity(model, x, t, calls: Recorder):
    v = check_output(model(x, torch.full((x.shape[0],), t, dtype=x.dtype)), x, t, calls.nfe, "a velocity")
    x0_pred, eps_pred = x0_eps_from_velocity(v, x, t)          # follow the straight line to t = 0
    parts = getattr(model, "parts", (None, None))               # a guided run's two velocities, for the record
    extra = {f"v_{name}": p for name, p in zip(("cond", "uncond"), parts) if p is not None}
    calls.add(t, 1 - t, t, x, x0_pred, eps_pred, extra)
    return v


def _euler(model, x, times, calls):
    """Euler's method: x_{t'} = x_t + (t' - t) v(x_t, t)."""
    for t, t_next in zip(times[:-1], times[1:]):
        v = _velocity(model, x, t, calls)
        x = x + (t_next - t) * v
        yield t, x


def _heun(model, x, times, calls):
    """Heun's method (trapezoidal predictor-corrector, as Karras et al. 2022 Alg. 1); the last step is plain Euler,
    so N steps cost 2N - 1 model calls, as diffusion's ``heun``."""
    for t, t_next in zip(times[:-1], times[1:]):
        v = _velocity(model, x, t, calls)
        x_euler = x + (t_next - t) * v
        if t_next == 0:
            x = x_euler
        else:
            v_next = _velocity(model, x_euler, t_next, calls)
            x = x + (t_next - t) * (v + v_next) / 2
        yield t, x


FLOW_SAMPLERS = {"euler": _euler, "heun": _heun}


def flow_sample(model, x1: torch.Tensor, sampler: str = "euler", num_steps: int = 50,
                generator: torch.Generator | None = None, *, callback=None, record: bool = True,
                grad: bool = False, y=None, guidance_scale: float | None = None) -> Trajectory:
    """Integrate a flow model from noise ``x1`` at t = 1 to t = 0 on a uniform grid of ``num_steps`` steps.

    ``model(x_t, t)`` returns the velocity, t a float tensor [batch] in [0, 1]. ``callback(step)`` after every
    step with a :class:`~diffusion.samplers.common.Step` (a = 1 - t, s = t); raising
    :class:`~diffusion.StopSampling` in it stops the run (``stopped=True``, ``x0`` = the last x0_pred). The ODE is
    deterministic; ``generator`` is accepted for a uniform signature. ``y`` and ``guidance_scale``: classifier-free
    guidance of a conditional velocity model ``model(x_t, t, y)``, as in :func:`diffusion.sample`.
    """
    if sampler not in FLOW_SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r} for a flow-matching model; choose one of "
                         f"{list(FLOW_SAMPLERS)} (ddpm, ddim, ... need a diffusion model)")
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or not 1 <= num_steps <= 10_000:
        raise ValueError(f"num_steps must be an int in [1, 10000], got {num_steps!r}")
    if not isinstance(x1, torch.Tensor) or not x1.is_floating_point() or not torch.isfinite(x1).all():
        raise ValueError("x1 must be a finite floating-point tensor [batch, ...] (a standard-normal draw)")
    y, w = check_guidance(y, guidance_scale, x1.shape[0])
    if y is not None:
        model = Guided(model, y, w)
    times = [1 - i / num_steps for i in range(num_steps)] + [0.0]
    calls = Recorder(record)
    return drive(FLOW_SAMPLERS[sampler](model, x1, times, calls), calls, x1, num_steps, callback, record, grad)
