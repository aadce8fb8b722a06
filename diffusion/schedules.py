"""Noise schedules: plain functions returning float64 betas, and the ``Schedule`` that derives everything else.

Each ``*_betas`` function cites where it comes from. ``make_schedule(name, T, **options)`` is the one entry point;
with the default beta range (1e-4 .. 0.02) its betas equal diffusers' ``DDPMScheduler(beta_schedule=...)``
(``cosine`` is diffusers' ``squaredcos_cap_v2``) to float32 precision.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

__all__ = ["Schedule", "make_schedule", "truncated", "SCHEDULES", "linear_betas", "scaled_linear_betas", "cosine_betas",
           "sigmoid_betas", "zero_terminal_snr_betas", "sigma_from_alpha_bar", "alpha_bar_from_sigma"]

# sigma <-> alpha_bar, the two views of one noise level (the package docstring): every conversion goes through these.


def sigma_from_alpha_bar(alpha_bar):
    """sigma = sqrt((1 - alpha_bar) / alpha_bar): the noise level of x_t / sqrt(alpha_bar) (inf at alpha_bar 0)."""
    return ((1 - alpha_bar) / alpha_bar) ** 0.5


def alpha_bar_from_sigma(sigma):
    """alpha_bar = 1 / (1 + sigma^2): inverse of :func:`sigma_from_alpha_bar` (floats or tensors)."""
    return 1 / (1 + sigma**2)


def linear_betas(num_timesteps: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """Linear betas (Ho et al. 2020, DDPM §4: beta_1 = 1e-4 ... beta_T = 0.02)."""
    return torch.linspace(beta_start, beta_end, num_timesteps, dtype=torch.float64)


def scaled_linear_betas(num_timesteps: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """Linear in sqrt(beta), then squared (Rombach et al. 2022, latent diffusion / Stable Diffusion)."""
    return torch.linspace(beta_start**0.5, beta_end**0.5, num_timesteps, dtype=torch.float64) ** 2


def cosine_betas(num_timesteps: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Cosine alpha_bar (Nichol & Dhariwal 2021, eq. 17): alpha_bar(u) = cos^2((u + s) / (1 + s) * pi / 2).

    beta_t = 1 - alpha_bar((t+1)/T) / alpha_bar(t/T), clipped at ``max_beta`` (their §3.2: 0.999) to avoid the
    singularity at u = 1. diffusers calls this ``squaredcos_cap_v2``.
    """
    u = torch.arange(num_timesteps + 1, dtype=torch.float64) / num_timesteps
    alpha_bar = torch.cos((u + s) / (1 + s) * math.pi / 2) ** 2
    return (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=max_beta)


def sigmoid_betas(num_timesteps: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """Sigmoid betas over [-6, 6], rescaled to [beta_start, beta_end] (Xu et al. 2022, GeoDiff; as diffusers' DDPM)."""
    u = torch.linspace(-6, 6, num_timesteps, dtype=torch.float64)
    return torch.sigmoid(u) * (beta_end - beta_start) + beta_start


# name -> (function, the options it takes). A plain registry; make_schedule rejects anything else.
SCHEDULES = {
    "linear": linear_betas,
    "scaled_linear": scaled_linear_betas,
    "cosine": cosine_betas,
    "sigmoid": sigmoid_betas,
}
_OPTIONS = {
    "linear": ("beta_start", "beta_end"),
    "scaled_linear": ("beta_start", "beta_end"),
    "cosine": ("s", "max_beta"),
    "sigmoid": ("beta_start", "beta_end"),
}


def zero_terminal_snr_betas(betas: torch.Tensor) -> torch.Tensor:
    """Shift and scale sqrt(alpha_bar) so that alpha_bar_{T-1} = 0 exactly (Lin et al. 2023, Algorithm 1).

    The first step keeps its alpha_bar; the last has SNR 0, so x_{T-1} is pure noise, as sampling assumes.
    A model on such a schedule must predict v (or x_0): epsilon-prediction cannot give x_0 at SNR 0
    (x_0 = (x_t - sqrt(1 - alpha_bar) eps) / sqrt(alpha_bar) divides by zero), see Lin et al. §3.2.
    """
    sqrt_ab = torch.cumprod(1 - betas.to(torch.float64), 0).sqrt()
    first, last = sqrt_ab[0].clone(), sqrt_ab[-1].clone()
    sqrt_ab = (sqrt_ab - last) * first / (first - last)  # Alg. 1: shift so the last is 0, scale so the first stays
    alpha_bar = sqrt_ab**2
    alphas = torch.cat([alpha_bar[:1], alpha_bar[1:] / alpha_bar[:-1]])
    return 1 - alphas


@dataclass(frozen=True, eq=False)
class Schedule:
    """A discrete variance-preserving noise schedule of T steps; every tensor is float64 of length T.

    Build one with :func:`make_schedule` or :meth:`Schedule.from_betas`. Conventions: see ``diffusion.__doc__``.
    """

    betas: torch.Tensor
    name: str = "custom"
    alphas: torch.Tensor = field(init=False, repr=False)
    alphas_cumprod: torch.Tensor = field(init=False, repr=False)

    def __post_init__(self):
        betas = torch.as_tensor(self.betas, dtype=torch.float64).detach().clone()
        if betas.ndim != 1 or len(betas) < 1:
            raise ValueError(f"betas must be a non-empty 1-D sequence, got shape {tuple(betas.shape)}")
        if not torch.isfinite(betas).all() or (betas <= 0).any() or (betas > 1).any():
            raise ValueError(f"betas must be finite and in (0, 1], got min {betas.min().item()!r}, "
                             f"max {betas.max().item()!r}")
        object.__setattr__(self, "betas", betas)
        object.__setattr__(self, "alphas", 1 - betas)
        object.__setattr__(self, "alphas_cumprod", torch.cumprod(1 - betas, 0))  # alpha_bar_t, DDPM eq. 4

    @classmethod
    def from_betas(cls, betas, name: str = "custom") -> "Schedule":
        """A schedule from explicit betas, e.g. a checkpoint's ``scheduler_config`` (``trained_betas``)."""
        return cls(betas=betas, name=name)

    @property
    def num_timesteps(self) -> int:
        return len(self.betas)

    @property
    def sqrt_alphas_cumprod(self) -> torch.Tensor:
        return self.alphas_cumprod.sqrt()

    @property
    def sqrt_one_minus_alphas_cumprod(self) -> torch.Tensor:
        return (1 - self.alphas_cumprod).sqrt()

    @property
    def sigmas(self) -> torch.Tensor:
        """sigma_t = sqrt((1 - alpha_bar) / alpha_bar): the noise level of x_t / sqrt(alpha_bar) (inf at SNR 0)."""
        return sigma_from_alpha_bar(self.alphas_cumprod)

    @property
    def ode_sigmas(self) -> torch.Tensor:
        """The sigma table the sigma-space samplers step on (float64 [T]): ``sigmas``, except that a zero terminal
        alpha_bar is replaced by 2**-24 so sigma_{T-1} stays finite (~4096), as diffusers' Euler and DPM-Solver
        schedulers do with rescale_betas_zero_snr."""
        ab = self.alphas_cumprod.clone()
        if ab[-1] == 0:
            ab[-1] = 2.0**-24
        return sigma_from_alpha_bar(ab)

    def sigma_at(self, t) -> torch.Tensor:
        """sigma at (possibly fractional) timesteps t in [0, T-1]: ``ode_sigmas`` linearly interpolated in t
        between integers (diffusers' ``np.interp`` in Euler/Heun ``set_timesteps``). float64 of t's shape."""
        t = self._check_t(t)
        table, last = self.ode_sigmas, self.num_timesteps - 1
        lo = t.floor().long().clamp(max=last)
        hi = (lo + 1).clamp(max=last)
        frac = t - lo
        return table[lo] + frac * (table[hi] - table[lo])

    def alpha_bar_at(self, t) -> torch.Tensor:
        """alpha_bar at (possibly fractional) timesteps t in [0, T-1], float64 of t's shape.

        At integer t exactly ``alphas_cumprod[t]`` (0 at a zero-terminal-SNR end); between integers
        1 / (1 + sigma^2) with sigma from :meth:`sigma_at`, where the sigma-space samplers place fractional
        timesteps."""
        t = self._check_t(t)
        exact = self.alphas_cumprod[t.floor().long().clamp(max=self.num_timesteps - 1)]
        return torch.where(t == t.floor(), exact, alpha_bar_from_sigma(self.sigma_at(t)))

    def _check_t(self, t) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=torch.float64)
        last = self.num_timesteps - 1
        if t.numel() and (torch.isnan(t).any() or (t < 0).any() or (t > last).any()):
            raise ValueError(f"timesteps must lie in [0, {last}], got min {t.min().item():.4g}, "
                             f"max {t.max().item():.4g}")
        return t

    @property
    def snr(self) -> torch.Tensor:
        """SNR_t = alpha_bar / (1 - alpha_bar) = 1 / sigma^2 (Kingma et al. 2021, VDM eq. 1)."""
        return self.alphas_cumprod / (1 - self.alphas_cumprod)

    @property
    def log_snr(self) -> torch.Tensor:
        return self.snr.log()

    @property
    def zero_terminal_snr(self) -> bool:
        """True when alpha_bar_{T-1} == 0, i.e. x_{T-1} holds no signal (Lin et al. 2023)."""
        return bool(self.alphas_cumprod[-1] == 0)

    def __repr__(self):
        return (f"Schedule(name={self.name!r}, num_timesteps={self.num_timesteps}, "
                f"alpha_bar_last={self.alphas_cumprod[-1].item():.3g})")


def truncated(schedule: Schedule, t_start: int) -> Schedule:
    """The schedule's first ``t_start + 1`` steps: the same alpha_bar_t for t <= t_start, so a sampler run on it
    with "trailing" spacing starts exactly at x_{t_start} (noise-and-restore, denoising a noisy picture)."""
    T = schedule.num_timesteps
    if isinstance(t_start, bool) or not isinstance(t_start, int) or not 0 <= t_start <= T - 1:
        raise ValueError(f"the starting timestep must be a whole number in [0, {T - 1}], got {t_start!r}")
    return Schedule.from_betas(schedule.betas[: t_start + 1], name=f"{schedule.name}[:{t_start + 1}]")


def make_schedule(name: str, num_timesteps: int = 1000, *, rescale_zero_terminal_snr: bool = False,
                  **options) -> Schedule:
    """A named schedule of ``num_timesteps`` steps.

    names: ``linear``, ``scaled_linear`` (options ``beta_start=1e-4``, ``beta_end=0.02``), ``cosine`` (``s=0.008``,
    ``max_beta=0.999``), ``sigmoid`` (``beta_start``, ``beta_end``).
    ``rescale_zero_terminal_snr=True`` rescales to alpha_bar_{T-1} = 0 (Lin et al. 2023, Algorithm 1). Such a
    schedule needs a v-prediction (or x_0-prediction) model: epsilon-prediction is undefined at SNR 0, and the
    samplers refuse it with a ValueError.
    """
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; choose one of {sorted(SCHEDULES)}")
    if isinstance(num_timesteps, bool) or not isinstance(num_timesteps, int) or num_timesteps < 2:
        raise ValueError(f"num_timesteps must be an int >= 2, got {num_timesteps!r}")
    unknown = sorted(set(options) - set(_OPTIONS[name]))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for schedule {name!r}; it takes {list(_OPTIONS[name])} "
                         f"and rescale_zero_terminal_snr")
    for key in ("beta_start", "beta_end"):
        if key in options and not 0 < options[key] < 1:
            raise ValueError(f"{key} must be in (0, 1), got {options[key]!r}")
    betas = SCHEDULES[name](num_timesteps, **options)
    if rescale_zero_terminal_snr:
        betas = zero_terminal_snr_betas(betas)
    return Schedule(betas=betas, name=name + ("+zero_snr" if rescale_zero_terminal_snr else ""))
