"""What each sampler takes and costs: its options and their defaults, the lab's default run, and the number of
network calls a run makes. Every part of the lab asks these; none keeps its own copy."""
from __future__ import annotations

from ..schedules import Schedule
from .timesteps import check_spacing

__all__ = ["SAMPLER_OPTIONS", "VARIANCE_TYPES", "LAB_DEFAULT", "LAB_SPACINGS", "options_for", "spacing_options",
           "check_options", "model_calls", "default_num_steps"]

VARIANCE_TYPES = ("fixed_small", "fixed_large")

# The options each sampler takes, with its default. timestep_spacing defaults follow diffusers' scheduler
# defaults (DDPM/DDIM: leading; Euler/Heun/DPM-Solver: linspace) so that defaults match defaults.
SAMPLER_OPTIONS = {
    "ddpm": {"timestep_spacing": "leading", "variance_type": "fixed_small"},
    "ddim": {"timestep_spacing": "leading", "eta": 0.0},
    "euler": {"timestep_spacing": "linspace", "use_karras_sigmas": False},
    "heun": {"timestep_spacing": "linspace", "use_karras_sigmas": False},
    "dpmpp_2m": {"timestep_spacing": "linspace", "use_karras_sigmas": False},
    "euler_ancestral": {"timestep_spacing": "linspace"},
    "pc": {"timestep_spacing": "leading", "snr": 0.16, "corrector_steps": 1},
}
# What the lab offers first (the UI's choice, ToyModel.sample()'s default; sample()'s own defaults stay diffusers'):
# DPM-Solver++(2M) (Lu et al. 2022b) on Karras et al.'s sigmas (rho = 7), 20 calls. Chosen on the toy yardstick
# (k-NN precision/recall, bench/bench_toy.py): a thin stroke is decided at low noise, and Karras sigmas put the last
# calls there (sigma 0.06, 0.025, 0.01 for the linear schedule) where diffusers' spacings jump from t ~ 47
# (sigma ~ 0.17) straight to 0 -- which blurs a word's strokes into a band whatever the network (bench/README.md).
LAB_DEFAULT = {"sampler": "dpmpp_2m", "num_steps": 20, "use_karras_sigmas": True}
# The lab's one "spacing" control: diffusers' three timestep spacings, or "karras" (use_karras_sigmas).
LAB_SPACINGS = ("karras", "leading", "trailing", "linspace")

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


def spacing_options(sampler: str, spacing: str | None) -> dict:
    """The sampler options that the lab's spacing choice (one of :data:`LAB_SPACINGS`, None = default) means for
    ``sampler``: "karras" is ``use_karras_sigmas=True`` where the sampler takes it, else the sampler's own default
    spacing; the others are ``timestep_spacing``."""
    _check_sampler(sampler)
    if spacing is not None and spacing not in LAB_SPACINGS:
        raise ValueError(f"unknown spacing {spacing!r}; choose one of {list(LAB_SPACINGS)}")
    if spacing == "karras":
        return {"use_karras_sigmas": True} if "use_karras_sigmas" in SAMPLER_OPTIONS[sampler] else {}
    return options_for(sampler, timestep_spacing=spacing)


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
    if not isinstance(resolved.get("use_karras_sigmas", False), bool):
        raise ValueError(f"use_karras_sigmas must be True or False, got {resolved['use_karras_sigmas']!r}")
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
