"""What the lab checks in a checkpoint before it builds anything: a DDPM-style ``UNet2DModel`` (unconditional, or
class-conditional through an embedding table)
config, a discrete-beta scheduler config, and the noise schedule that config describes. Every refusal is a
:class:`HubError` whose message names the model and the reason, written for the student."""
from __future__ import annotations

import json
import re
from pathlib import Path

import torch

from ..parameterization import PREDICTION_TYPES
from ..samplers import VARIANCE_TYPES
from ..schedules import Schedule, make_schedule, zero_terminal_snr_betas

# schedulers that use a discrete variance-preserving beta schedule, as a DDPM-trained UNet2DModel expects
DDPM_LIKE_SCHEDULERS = frozenset({
    "DDPMScheduler", "DDIMScheduler", "PNDMScheduler", "DDPMParallelScheduler", "DDIMParallelScheduler",
    "DPMSolverMultistepScheduler", "DPMSolverSinglestepScheduler", "UniPCMultistepScheduler",
    "DEISMultistepScheduler", "EulerDiscreteScheduler", "EulerAncestralDiscreteScheduler",
    "HeunDiscreteScheduler", "LMSDiscreteScheduler", "KDPM2DiscreteScheduler"})
_CLIPPING_SCHEDULERS = {"DDPMScheduler", "DDIMScheduler", "DDPMParallelScheduler", "DDIMParallelScheduler"}
# diffusers' beta_schedule names -> our make_schedule names (squaredcos_cap_v2 is Nichol & Dhariwal's cosine)
_BETA_SCHEDULES = {"linear": "linear", "scaled_linear": "scaled_linear", "squaredcos_cap_v2": "cosine",
                   "sigmoid": "sigmoid"}
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")
_WEIGHTS = "diffusion_pytorch_model.safetensors"
_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
MAX_CONFIG_BYTES = 1 * 2**20
MAX_LATENT_CHANNELS = 16


class HubError(ValueError):
    """A model that cannot be loaded; the message names the model and the reason, for the student."""



def validate_repo_id(repo_id: str) -> str:
    """``owner/name`` with letters, digits, '-', '_', '.'; no '..' or '--', no part ending in '.' or '-'; at most
    96 characters each side (huggingface_hub's own rules, so its HFValidationError never reaches a visitor)."""
    shown = repo_id if len(repo_id) <= 80 else repo_id[:77] + "..."
    if (not _REPO_ID.match(repo_id) or ".." in repo_id or "--" in repo_id or repo_id.endswith(".git")
            or any(part[-1] in ".-" for part in repo_id.split("/"))):   # the Hub refuses a trailing '.' or '-'
        raise HubError(f"{shown!r} is not a Hub model id; expected owner/name, e.g. google/ddpm-cifar10-32")
    return repo_id


def _read_json(path: Path, model_id: str) -> dict:
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise HubError(f"{model_id}: {path.name} is implausibly large for a config")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise HubError(f"{model_id}: {path.name} is not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise HubError(f"{model_id}: {path.name} is not a JSON object")
    return data


def _no_safetensors(model_id: str, pickles) -> str:
    if pickles:
        return (f"{model_id} has only pickle weights ({', '.join(sorted(pickles)[:3])}); for safety the lab loads "
                f"safetensors only ({_WEIGHTS})")
    return f"{model_id} has no {_WEIGHTS} weights file"


def check_configs(model_id: str, config: dict, sched_config: dict, latent: bool = False) -> dict:
    """Check that the configs describe a DDPM-style UNet2DModel the lab can run: unconditional, or class-conditional
    with ``num_class_embeds`` classes in diffusers' embedding table (``class_embed_type`` None), whose last class
    is taken as the "no label" class of classifier-free guidance (as the lab's own conditional model is trained).

    ``latent``: the UNet works on an autoencoder's latents (a latent diffusion pipeline, :func:`check_vae_config`),
    so any channel count up to 16 and sizes from 2 are fine.

    Returns the scheduler settings the lab uses; raises HubError naming the first problem.
    """
    cls = config.get("_class_name")
    if cls is None and ("cross_attention_dim" in config or "down_block_types" not in config):
        cls = "an unknown model class"
    if cls not in (None, "UNet2DModel"):
        raise HubError(f"{model_id} is a {cls}, not a UNet2DModel (the lab runs image DDPMs, unconditional or "
                       f"class-conditional)")
    if config.get("class_embed_type") is not None:
        raise HubError(f"{model_id} conditions on a {config.get('class_embed_type')!r} class embedding; the lab runs "
                       f"unconditional models and class labels through an embedding table (num_class_embeds)")
    classes = config.get("num_class_embeds")
    if classes is not None and (isinstance(classes, bool) or not isinstance(classes, int)
                                or not 2 <= classes <= 10_000):
        raise HubError(f"{model_id}: num_class_embeds {classes!r} must be a whole number in [2, 10000] (the classes "
                       f"and the no-label class)")
    if config.get("time_embedding_type", "positional") not in ("positional", "learned"):
        raise HubError(f"{model_id} uses a {config.get('time_embedding_type')!r} time embedding (a score-SDE / "
                       f"sigma-conditioned model), not a DDPM timestep model")
    in_ch, out_ch = config.get("in_channels", 3), config.get("out_channels", 3)
    if latent and not (isinstance(in_ch, int) and 1 <= in_ch <= MAX_LATENT_CHANNELS):
        raise HubError(f"{model_id}: its UNet takes {in_ch!r} latent channels; the lab runs 1 to "
                       f"{MAX_LATENT_CHANNELS}")
    if not latent and in_ch not in (1, 3):
        raise HubError(f"{model_id} takes {in_ch}-channel inputs; the lab shows grey (1) or RGB (3) images")
    size = _size(config.get("sample_size"), 2 if latent else 8)
    if size is None:
        raise HubError(f"{model_id}: sample_size {config.get('sample_size')!r} is not "
                       f"{'a latent' if latent else 'an image'} size")

    scls = sched_config.get("_class_name", "DDPMScheduler")
    if scls not in DDPM_LIKE_SCHEDULERS:
        raise HubError(f"{model_id} uses a {scls}, not a DDPM-style (discrete beta schedule) scheduler")
    variance_type = sched_config.get("variance_type") or "fixed_small"
    if variance_type not in VARIANCE_TYPES:
        raise HubError(f"{model_id} uses variance_type {variance_type!r}, which the lab's samplers do not "
                       f"implement (they support {', '.join(VARIANCE_TYPES)})")
    if out_ch == 2 * in_ch:
        raise HubError(f"{model_id} predicts a learned variance (out_channels {out_ch} = 2 x {in_ch}); the lab's "
                       f"samplers support the fixed variances {', '.join(VARIANCE_TYPES)}")
    if out_ch != in_ch:
        raise HubError(f"{model_id} maps {in_ch} input channels to {out_ch} outputs; expected equal counts")
    prediction_type = sched_config.get("prediction_type") or "epsilon"
    if prediction_type not in PREDICTION_TYPES:
        raise HubError(f"{model_id} predicts {prediction_type!r}; the lab supports {', '.join(PREDICTION_TYPES)}")
    if sched_config.get("thresholding"):
        raise HubError(f"{model_id} uses dynamic thresholding, which the lab's samplers do not implement")
    spacing = sched_config.get("timestep_spacing") or "leading"
    if spacing not in ("leading", "trailing", "linspace"):
        raise HubError(f"{model_id}: unknown timestep_spacing {spacing!r}")
    clip_range = sched_config.get("clip_sample_range", 1.0)
    if not isinstance(clip_range, (int, float)) or not clip_range > 0:
        raise HubError(f"{model_id}: clip_sample_range {clip_range!r} must be a positive number")
    return {
        "prediction_type": prediction_type, "variance_type": variance_type,
        "clip_sample": bool(sched_config.get("clip_sample", scls in _CLIPPING_SCHEDULERS)),
        "clip_sample_range": float(clip_range), "timestep_spacing": spacing,
        "steps_offset": int(sched_config.get("steps_offset") or 0),
        "set_alpha_to_one": bool(sched_config.get("set_alpha_to_one", True)),
        "sample_size": (int(size[0]), int(size[1])), "in_channels": int(in_ch), "scheduler_class": scls,
        "num_class_embeds": classes,
    }


def _size(size, smallest: int) -> tuple[int, int] | None:
    if isinstance(size, int) and not isinstance(size, bool):
        size = (size, size)
    if (isinstance(size, (list, tuple)) and len(size) == 2
            and all(isinstance(s, int) and not isinstance(s, bool) and smallest <= s <= 1024 for s in size)):
        return (int(size[0]), int(size[1]))
    return None


def check_vae_config(model_id: str, vae_config: dict, unet_config: dict) -> None:
    """Check a latent diffusion pipeline's ``vae/config.json``: a diffusers ``AutoencoderKL`` on grey or RGB
    images whose latents are what the UNet takes, with a positive ``scaling_factor``. Raises HubError."""
    cls = vae_config.get("_class_name")
    if cls != "AutoencoderKL":
        raise HubError(f"{model_id}: its vae/ is a {cls or 'model of unknown class'}, not an AutoencoderKL (the "
                       f"lab decodes latents with diffusers' KL autoencoder)")
    if vae_config.get("in_channels", 3) not in (1, 3) or vae_config.get("out_channels", 3) != vae_config.get(
            "in_channels", 3):
        raise HubError(f"{model_id}: its autoencoder maps {vae_config.get('in_channels', 3)!r} channels to "
                       f"{vae_config.get('out_channels', 3)!r}; the lab shows grey (1) or RGB (3) images")
    if vae_config.get("latent_channels", 4) != unet_config.get("in_channels", 3):
        raise HubError(f"{model_id}: its autoencoder makes {vae_config.get('latent_channels', 4)!r}-channel "
                       f"latents but its UNet takes {unet_config.get('in_channels', 3)!r} channels")
    image = _size(vae_config.get("sample_size"), 8)
    blocks = vae_config.get("block_out_channels") or [64]
    if image is None or not isinstance(blocks, list) or not 1 <= len(blocks) <= 6:
        raise HubError(f"{model_id}: its autoencoder's sample_size {vae_config.get('sample_size')!r} or "
                       f"block_out_channels is not an image autoencoder's")
    down = 2 ** (len(blocks) - 1)
    latent = _size(unet_config.get("sample_size"), 2)
    if image[0] % down or image[1] % down or latent != (image[0] // down, image[1] // down):
        raise HubError(f"{model_id}: {image[0]} x {image[1]} images down-sampled {down} x do not give the UNet's "
                       f"{unet_config.get('sample_size')!r} latents")
    factor = vae_config.get("scaling_factor")
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not 0 < factor < 1e4:
        raise HubError(f"{model_id}: the autoencoder's scaling_factor {factor!r} must be a positive number")


def schedule_from_config(model_id: str, sched_config: dict) -> Schedule:
    """The checkpoint's noise schedule: ``trained_betas`` if given, else ``beta_schedule`` with its range."""
    T = sched_config.get("num_train_timesteps", sched_config.get("timesteps", 1000))
    if isinstance(T, bool) or not isinstance(T, int) or not 2 <= T <= 100_000:
        raise HubError(f"{model_id}: num_train_timesteps {T!r} is not a sensible step count")
    trained = sched_config.get("trained_betas")
    try:
        if trained is not None:
            betas = torch.tensor(trained, dtype=torch.float64)
            if betas.ndim != 1 or len(betas) != T:
                raise ValueError(f"trained_betas has {tuple(betas.shape)} values for {T} timesteps")
            name = "trained"
        else:
            beta_schedule = sched_config.get("beta_schedule", "linear")
            if beta_schedule not in _BETA_SCHEDULES:
                raise HubError(f"{model_id} uses beta_schedule {beta_schedule!r}; the lab knows "
                               f"{', '.join(_BETA_SCHEDULES)}")
            name = _BETA_SCHEDULES[beta_schedule]
            options = {}
            if name != "cosine":
                options = {"beta_start": float(sched_config.get("beta_start", 1e-4)),
                           "beta_end": float(sched_config.get("beta_end", 0.02))}
            betas = make_schedule(name, T, **options).betas
        if sched_config.get("rescale_betas_zero_snr"):
            betas, name = zero_terminal_snr_betas(betas), name + "+zero_snr"
        return Schedule.from_betas(betas, name=name)
    except (ValueError, TypeError) as err:
        if isinstance(err, HubError):
            raise
        raise HubError(f"{model_id}: its scheduler_config does not give a valid schedule ({err})") from None


