"""What every sampler shares: the model wrapper, the step record a callback receives, the returned Trajectory,
StopSampling, the noise draws, and the loop that drives a sampler."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Optional

import torch

from ..parameterization import to_x0_eps
from ..schedules import Schedule


class StopSampling(Exception):
    """Raise inside a ``callback`` to stop a run; ``sample`` then returns the trajectory so far (stopped=True)."""


@dataclass
class Trajectory:
    """What a sampling run visited. xs are in the variance-preserving scale whatever the sampler's inner scale."""

    x0: torch.Tensor                      # final sample (or the last x0_pred when stopped), shape of x_T
    timesteps: torch.Tensor               # float64 [K]: the timestep each step started from, in order visited
    xs: Optional[torch.Tensor]            # [K+1, *x_T.shape]: x_T first; None when record=False
    x0_preds: Optional[torch.Tensor]      # [nfe, *x_T.shape]: x0_pred of every model call; None when record=False
    nfe: int                              # number of model calls
    stopped: bool = False                 # True when a callback raised StopSampling


@dataclass
class Step:
    """One step of a run, as the ``callback`` receives it (k-diffusion's callback dict, grown).

    The step starts where the model is first called: at timestep ``t`` on the state ``x_t`` (VP scale; a flow
    model's x_t = (1 - t) x_0 + t eps), noise level x_t = a x_0 + s eps, with the model's ``x0_pred`` and
    ``eps_pred`` there; ``x`` is the state the step ends on. ``extra`` carries what a method adds to a step (a
    guided run's conditional and unconditional eps, a known region, a step back in time, latents)."""

    step: int                             # 0-based index of this step
    total: int                            # steps in the run
    t: float                              # the timestep the step starts from
    a: float                              # x_t = a x_0 + s eps at t
    s: float
    x_t: torch.Tensor                     # the state the model saw at the step's first call
    x0_pred: torch.Tensor                 # the model's x_0 there (clipped when the run clips)
    eps_pred: torch.Tensor                # the model's eps there
    x: torch.Tensor                       # the state after the step
    nfe: int                              # model calls made so far in the run
    extra: dict = field(default_factory=dict)

    @property
    def sigma(self) -> float:
        """s / a: the noise level of x_t / a = x_0 + sigma eps (inf when no signal is left)."""
        return self.s / self.a if self.a > 0 else float("inf")

    @property
    def alpha_bar(self) -> float:
        """a^2 / (a^2 + s^2): alpha_bar for diffusion (a^2 + s^2 = 1), the same-SNR alpha_bar for a flow model."""
        return self.a**2 / (self.a**2 + self.s**2)


class Recorder:
    """Counts model calls, keeps every x0_pred when recording, and remembers each step's first call."""

    def __init__(self, record: bool):
        self.nfe = 0
        self.x0_preds = [] if record else None
        self.last_x0 = None
        self.first = None                 # (t, a, s, x_t, x0_pred, eps_pred, extra) of the step's first call

    def add(self, t, a, s, x_t, x0, eps, extra=None) -> None:
        # detached: a method that differentiates through the model (DPS) must not keep every step's graph alive
        x_t, x0, eps = x_t.detach(), x0.detach(), eps.detach()
        self.nfe += 1
        self.last_x0 = x0
        if self.x0_preds is not None:
            self.x0_preds.append(x0)
        if self.first is None:
            self.first = (float(t), float(a), float(s), x_t, x0, eps, extra or {})

    def note(self, **extra) -> None:
        """Add to the current step's record (``Step.extra``): what a method does besides the model call."""
        if self.first is not None:
            self.first[6].update(extra)


class Denoiser(Recorder):
    """The model, wrapped once at the edge (EDM's preconditioning, k-diffusion's wrappers).

    ``denoiser(x_t, t, alpha_bar) -> (x0_pred, eps_pred)``: calls ``model(x_t, t)`` with x_t in the VP scale and t a
    float tensor [batch]; checks the output's shape and finiteness; converts it from ``prediction_type``; clips
    x0_pred to [-clip_sample_range, clip_sample_range] when ``clip_sample`` (eps_pred stays the model's own, as
    diffusers' default use_clipped_model_output=False); counts calls (nfe) and records every x0_pred.
    """

    def __init__(self, model, prediction_type: str, clip_sample: bool, clip_sample_range: float, record: bool):
        super().__init__(record)
        self.model, self.prediction_type = model, prediction_type
        self.clip = clip_sample_range if clip_sample else None

    def __call__(self, x_t: torch.Tensor, t: float, alpha_bar: float):
        out = check_output(self.model(x_t, torch.full((x_t.shape[0],), t, dtype=x_t.dtype, device=x_t.device)),
                           x_t, t, self.nfe, f"a {self.prediction_type!r} prediction")
        x0, eps = to_x0_eps(out.to(x_t.dtype), x_t, alpha_bar, self.prediction_type)
        if self.clip is not None:
            x0 = x0.clamp(-self.clip, self.clip)
        # the guided parts are converted only for a step's first call: the one its record shows
        extra = self._guidance_parts(x_t, alpha_bar) if self.first is None else None
        self.add(t, alpha_bar**0.5, (1 - alpha_bar) ** 0.5, x_t, x0, eps, extra)
        return x0, eps

    def _guidance_parts(self, x_t, alpha_bar) -> dict:
        """A guided run's conditional and unconditional eps at this call (those it computed), for the step record."""
        parts = getattr(self.model, "parts", None)
        if parts is None:
            return {}
        return {f"eps_{name}": to_x0_eps(p.to(x_t.dtype), x_t, alpha_bar, self.prediction_type)[1]
                for name, p in zip(("cond", "uncond"), parts) if p is not None}


def check_output(out, x_t: torch.Tensor, t: float, calls_before: int, what: str) -> torch.Tensor:
    """The model's output, checked: a finite tensor shaped like x_t, else a ValueError saying what came back."""
    if not isinstance(out, torch.Tensor) or out.shape != x_t.shape:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"model returned {got} at t={t:g}; expected a tensor of shape {tuple(x_t.shape)} "
                         f"({what} shaped like x_t)")
    if not torch.isfinite(out).all():
        raise ValueError(f"model returned NaN/inf at t={t:g} (call {calls_before + 1}); its output must be finite")
    return out


def drive(steps, recorder: Recorder, x_T: torch.Tensor, num_steps: int, callback, record: bool,
          grad: bool) -> Trajectory:
    """Run a sampler's step generator (yielding (t, x_next)) to its end, or until a callback raises StopSampling;
    hand the callback one :class:`Step` per step, and return the Trajectory. ``grad`` leaves autograd on (for
    methods that differentiate through the model); otherwise the loop runs under ``torch.no_grad()``."""
    xs = [x_T] if record else None
    timesteps, x, stopped = [], x_T, False
    with contextlib.nullcontext() if grad else torch.no_grad():
        try:
            for i, (t, x) in enumerate(steps):
                timesteps.append(t)
                if record:
                    xs.append(x)
                first, recorder.first = recorder.first, None
                if callback is not None:
                    t0, a, s, x_t, x0_pred, eps_pred, extra = first
                    callback(Step(i, num_steps, t0, a, s, x_t, x0_pred, eps_pred, x, recorder.nfe, extra))
        except StopSampling:
            stopped = True
            steps.close()
    return Trajectory(
        x0=recorder.last_x0 if stopped else x,
        timesteps=torch.tensor(timesteps, dtype=torch.float64),
        xs=torch.stack(xs) if record else None,
        x0_preds=torch.stack(recorder.x0_preds) if record and recorder.x0_preds else None,
        nfe=recorder.nfe,
        stopped=stopped,
    )


def randn(x: torch.Tensor, generator: Optional[torch.Generator]) -> torch.Tensor:
    """Standard-normal noise shaped like x, drawn as diffusers' randn_tensor draws it on the CPU."""
    return torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)


def seeded_noise(shape, seed: int, dtype=torch.float32) -> tuple[torch.Tensor, torch.Generator]:
    """(x ~ N(0, I) of ``shape``, the generator that drew it) from ``seed``: the one way the lab draws x_T (and a
    fixed forward-process eps). The generator goes on to the sampler for its own noise, so a seed reproduces a
    diffusers pipeline's run exactly (``randn_tensor(shape, generator, dtype)`` on the CPU draws the same)."""
    generator = torch.Generator().manual_seed(int(seed))
    return torch.randn(tuple(shape), generator=generator, dtype=dtype), generator


def alpha_bar_or_one(schedule: Schedule, t: int) -> float:
    """alpha_bar_t as a python float; t = -1 means "before the first step": alpha_bar = 1 (x_0 itself)."""
    return 1.0 if t < 0 else float(schedule.alphas_cumprod[t])
