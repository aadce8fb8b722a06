"""The Compare lab's back-end: noise schedules side by side, and which timesteps a few-step sampler visits.

* :func:`schedule_set` -- several schedules of one T, optionally each beside its zero-terminal-SNR rescale
  (Lin et al. 2023, Alg. 1).
* :func:`noised_grid` -- the same x_0 and the same noise eps, noised to the same timesteps under each schedule:
  x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps (DDPM eq. 4), so only alpha_bar differs.
* :func:`terminal_check` -- how much signal the last step keeps, sqrt(alpha_bar_{T-1}), and whether x_{T-1} of real
  data is really close to N(0, I), the distribution sampling starts from. Flagged when more than
  :data:`SIGNAL_LIMIT` of the signal is left (Lin et al. 2023 found Stable Diffusion's 0.068 already enough to stop
  it making very dark or bright images) or when x_{T-1} measurably differs from N(0, I): its quality figure against
  fresh N(0, I) draws (1.0 = as close as another N(0, I) draw) above :data:`GAUSSIAN_LIMIT`.
* :func:`~diffusion.samplers.visited_timesteps` / :func:`spacing_rows` -- the timesteps a sampler calls the model at
  under the ``leading``, ``trailing`` and ``linspace`` spacings (Lin et al. 2023, Table 2), found by *running* the
  sampler (with a model that predicts 0), so they are exactly what it does; and the signal sqrt(alpha_bar) it
  assumes x_T still holds at its first call. :func:`spacing_experiment` samples once per spacing to show the effect.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..forward import q_sample
from ..metrics import quality
from ..samplers import SPACINGS, seeded_noise, visited_timesteps
from ..schedules import SCHEDULES, Schedule, make_schedule
from .racers import Cell, draw_x_T, quality_of, run_one

__all__ = ["schedule_set", "noised_grid", "terminal_check", "TerminalCheck", "spacing_rows",
           "SpacingRow", "spacing_experiment", "DEFAULT_SCHEDULES", "STRIP_FRACTIONS", "SIGNAL_LIMIT",
           "GAUSSIAN_LIMIT", "MAX_SCHEDULE_T"]

DEFAULT_SCHEDULES = ("linear", "cosine", "scaled_linear", "sigmoid")
STRIP_FRACTIONS = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0)   # columns of the noised grid: t = round(f (T - 1))
SIGNAL_LIMIT = 0.05        # sqrt(alpha_bar_{T-1}) above this is flagged
GAUSSIAN_LIMIT = 1.5       # x_{T-1}'s quality figure against N(0, I) above this is flagged
MAX_SCHEDULE_T = 10_000


def schedule_set(names=DEFAULT_SCHEDULES, num_timesteps: int = 1000,
                 rescale_zero_terminal_snr: bool = False) -> list[Schedule]:
    """The named schedules with T = ``num_timesteps``; with ``rescale_zero_terminal_snr`` each is followed by its
    rescaled twin (``name+zero_snr``), whose alpha_bar_{T-1} = 0 exactly."""
    names = [names] if isinstance(names, str) else list(names or [])
    if not names:
        raise ValueError(f"no schedules chosen: pick at least one of {sorted(SCHEDULES)}")
    for name in names:
        if name not in SCHEDULES:
            raise ValueError(f"unknown schedule {name!r}; choose one of {sorted(SCHEDULES)}")
    T = num_timesteps
    if isinstance(T, bool) or not isinstance(T, int) or not 2 <= T <= MAX_SCHEDULE_T:
        raise ValueError(f"T must be a whole number in [2, {MAX_SCHEDULE_T}], got {num_timesteps!r}")
    out = []
    for name in dict.fromkeys(names):
        out.append(make_schedule(name, num_timesteps))
        if rescale_zero_terminal_snr:
            out.append(make_schedule(name, num_timesteps, rescale_zero_terminal_snr=True))
    return out


def noised_grid(schedules, x0: torch.Tensor, fractions=STRIP_FRACTIONS, seed: int = 0):
    """x_t of one x0 [1, ...] at t = round(f (T - 1)) for each fraction f, under each schedule, with ONE noise draw
    (from ``seed``) shared by all: returns (tensor [S, F, ...], the timesteps [F]). Schedules must share T."""
    if x0.ndim < 2 or x0.shape[0] != 1:
        raise ValueError(f"x0 must be one sample [1, ...], got shape {tuple(x0.shape)}")
    Ts = {s.num_timesteps for s in schedules}
    if len(Ts) != 1:
        raise ValueError(f"schedules must share T to be compared at the same t, got T = {sorted(Ts)}")
    T = Ts.pop()
    ts = [round(f * (T - 1)) for f in fractions]
    eps, _ = seeded_noise(x0.shape, seed, x0.dtype)
    rows = [torch.cat([q_sample(s, x0, t, eps) for t in ts]) for s in schedules]   # DDPM eq. 4, same eps
    return torch.stack(rows), ts


@dataclass
class TerminalCheck:
    """What the last forward step leaves of the data. ``gaussian``: quality of x_{T-1} against N(0, I)."""

    name: str
    num_timesteps: int
    alpha_bar_last: float
    signal_left: float         # sqrt(alpha_bar_{T-1}): the share of x_0 still in x_{T-1}
    log_snr_last: float        # -inf for a zero-terminal-SNR schedule
    gaussian: float            # 1.0 = as close to N(0, I) as a fresh N(0, I) draw
    flagged: bool
    reason: str


def terminal_check(schedule: Schedule, data: torch.Tensor, seed: int = 0) -> TerminalCheck:
    """Noise ``data`` [n, d] (n >= 2, d in {1, 2}) to the last step and compare it with N(0, I)."""
    data = torch.as_tensor(data, dtype=torch.float64)
    T = schedule.num_timesteps
    g = torch.Generator().manual_seed(int(seed))
    x_T = q_sample(schedule, data, T - 1, torch.randn(data.shape, generator=g, dtype=data.dtype))
    d = data.shape[1]
    gaussian = quality(x_T, lambda n, s: torch.randn(n, d, generator=torch.Generator().manual_seed(s),
                                                     dtype=torch.float64))
    ab = float(schedule.alphas_cumprod[-1])
    signal = ab**0.5
    reasons = []
    if signal > SIGNAL_LIMIT:
        reasons.append(f"x_T keeps {100 * signal:.1f} % of the signal (over {100 * SIGNAL_LIMIT:g} %)")
    if gaussian > GAUSSIAN_LIMIT:
        reasons.append(f"x_T is measurably not N(0, I) (quality {gaussian:.2f} > {GAUSSIAN_LIMIT:g})")
    return TerminalCheck(schedule.name, T, ab, signal, float(schedule.log_snr[-1]), gaussian, bool(reasons),
                         "; ".join(reasons) or "x_T is as good as pure noise")


@dataclass
class SpacingRow:
    spacing: str
    timesteps: list            # where each step starts, first (noisiest) first
    first: float
    last: float
    signal_first: float        # sqrt(alpha_bar) at the first call: the signal the sampler assumes x_T holds
    skipped: float             # timesteps between T-1 and the first call (never visited)


def spacing_rows(sampler: str, schedule: Schedule, num_steps: int) -> list[SpacingRow]:
    """One row per spacing (leading, trailing, linspace) for ``sampler`` with ``num_steps`` steps."""
    rows = []
    for spacing in SPACINGS:
        ts = visited_timesteps(sampler, schedule, num_steps, spacing)
        signal = float(schedule.alpha_bar_at(ts[0])) ** 0.5
        rows.append(SpacingRow(spacing, ts, ts[0], ts[-1], signal, schedule.num_timesteps - 1 - ts[0]))
    return rows


def spacing_experiment(racer, sampler: str = "ddim", num_steps: int = 10, n: int = 2000, seed: int = 0):
    """Sample with ``sampler`` x ``num_steps`` once per spacing, from one x_T: [(spacing, racers.Cell)]."""
    x_T = draw_x_T(racer, n, seed)
    out = []
    for spacing in SPACINGS:
        traj = run_one(racer, x_T, sampler, num_steps, seed, spacing)
        samples = racer.to_data(traj.x0).detach().float()
        out.append((spacing, Cell(sampler, num_steps, traj.nfe, samples, quality_of(racer, samples))))
    return out
