"""What each sampler takes and costs: its options and their defaults, the lab's default run, and the number of
network calls a run makes. Every part of the lab asks these; none keeps its own copy."""
from __future__ import annotations

from ..schedules import Schedule
from .timesteps import check_spacing

__all__ = ["SAMPLER_OPTIONS", "VARIANCE_TYPES", "LAB_DEFAULT", "options_for", "check_options", "model_calls",
           "default_num_steps"]

VARIANCE_TYPES = ("fixed_small", "fixed_large")

# The options each sampler takes, with its default. timestep_spacing defaults follow diffusers' scheduler
# defaults (DDPM/DDIM: leading; Euler/Heun/DPM-Solver: linspace) so that defaults match defaults.
SAMPLER_OPTIONS = {
    "ddpm": {"timestep_spacing": "leading", "variance_type": "fixed_small"},
    "ddim": {"timestep_spacing": "leading", "eta": 0.0},
    "euler": {"timestep_spacing": "linspace"},
    "heun": {"timestep_spacing": "linspace"},
    "dpmpp_2m": {"timestep_spacing": "linspace"},
    "euler_ancestral": {"timestep_spacing": "linspace"},
    "pc": {"timestep_spacing": "leading", "snr": 0.16, "corrector_steps": 1},
}
# What the lab offers first (the UI's choice; sample()'s own defaults stay diffusers'). DPM-Solver++(2M) reaches
# ddpm-1000 quality in 20 calls (Lu et al. 2022b). "leading" spacing (first call at t = 20 * (T // 21) = 940 for
# T = 1000) steps around the cosine schedule's last, clipped step (beta = 0.999, sigma_{T-1} = 2e4), where every
# sampler that starts at t = T-1 multiplies an epsilon-network's error by sigma (bench/README.md has the figures).
LAB_DEFAULT = {"sampler": "dpmpp_2m", "num_steps": 20, "timestep_spacing": "leading"}

_ALL_OPTIONS = {name for opts in SAMPLER_OPTIONS.values() for name in opts}


def _check_sampler(sampler: str) -> None:
    if sampler not in SAMPLER_OPTIONS:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {list(SAMPLER_OPTIONS)}")


def options_for(sampler: str, **wanted) -> dict:
    """The options of ``wanted`` that ``sampler`` takes (None ones dropped); the rest are left out, not refused.

    For callers that hold one set of settings for every sampler (a UI's eta and spacing, a checkpoint's variance
    type): ``options_for("ddpm", eta=0.3, timestep_spacing="trailing")`` is ``{"timestep_spacing": "trailing"}``.
    """
    _check_sampler(sampler)
    unknown = sorted(set(wanted) - _ALL_OPTIONS)
    if unknown:
        raise ValueError(f"unknown option(s) {unknown}; samplers take {sorted(_ALL_OPTIONS)}")
    takes = SAMPLER_OPTIONS[sampler]
    return {k: v for k, v in wanted.items() if k in takes and v is not None}


def check_options(sampler: str, options: dict) -> dict:
    """``sampler``'s full option set: its defaults, overridden by ``options`` (None = default), each checked.
    An option this sampler does not use must be left at its default (else ValueError naming who uses it)."""
    _check_sampler(sampler)
    unknown = sorted(set(options) - _ALL_OPTIONS)
    if unknown:
        raise ValueError(f"unknown option(s) {unknown}; samplers take {sorted(_ALL_OPTIONS)} plus "
                         f"prediction_type, clip_sample, clip_sample_range, callback, record, grad")
    takes = SAMPLER_OPTIONS[sampler]
    resolved = dict(takes)
    for name, value in options.items():
        if name in takes:
            if value is not None:
                resolved[name] = value
        elif value is not None and value != _default_anywhere(name):
            users = [s for s, o in SAMPLER_OPTIONS.items() if name in o]
            raise ValueError(f"option {name}={value!r} is not used by sampler {sampler!r} (only by {users})")
    if "timestep_spacing" in resolved:
        check_spacing(resolved["timestep_spacing"])
    if resolved.get("variance_type", "fixed_small") not in VARIANCE_TYPES:
        raise ValueError(f"unknown variance_type {resolved['variance_type']!r}; choose one of {list(VARIANCE_TYPES)}")
    if "eta" in resolved and not (isinstance(resolved["eta"], (int, float)) and resolved["eta"] >= 0):
        raise ValueError(f"eta must be a number >= 0, got {resolved['eta']!r}")
    if "snr" in resolved and not (isinstance(resolved["snr"], (int, float)) and resolved["snr"] > 0):
        raise ValueError(f"snr must be a number > 0, got {resolved['snr']!r}")
    steps = resolved.get("corrector_steps", 0)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"corrector_steps must be an int >= 0, got {steps!r}")
    return resolved


def _default_anywhere(name: str):
    for opts in SAMPLER_OPTIONS.values():
        if name in opts:
            return opts[name]


def model_calls(sampler: str, num_steps: int, corrector_steps: int | None = None) -> int:
    """How many network calls ``num_steps`` steps of ``sampler`` make: N, except heun 2N - 1 (its last step is
    plain Euler, Karras et al. 2022 Alg. 1) and pc N (M + 1) with M corrector steps. The flow-matching samplers
    (euler, heun) count alike."""
    _check_sampler(sampler)
    if sampler == "heun":
        return 2 * num_steps - 1
    if sampler == "pc":
        m = SAMPLER_OPTIONS["pc"]["corrector_steps"] if corrector_steps is None else corrector_steps
        return num_steps * (m + 1)
    return num_steps


def default_num_steps(sampler: str, schedule: Schedule) -> int:
    """The full chain for ddpm and pc (as Ho et al. and Song et al.), else 50 (diffusers' pipelines), capped at T."""
    return schedule.num_timesteps if sampler in ("ddpm", "pc") else min(50, schedule.num_timesteps)
