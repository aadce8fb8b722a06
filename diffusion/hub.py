"""Pretrained image diffusion models: the bundled MNIST DDPM, or a diffusers ``UNet2DModel`` checkpoint from the Hub.

``load_model(name)`` returns an :class:`ImageModel`: the network wrapped once as ``model(x_t, t) -> prediction``
(it knows nothing else of the noise process, see ``diffusion.__doc__``), the ``Schedule`` built from the
checkpoint's own ``scheduler_config.json``, and what the samplers need to reproduce the checkpoint's scheduler
(prediction type, variance type, clipping, timestep spacing).

Safety, because a stranger types the name:
* only the bundled name maps to a local folder; anything else must be a Hub id ``owner/name``;
* weights are read from ``.safetensors`` only (never unpickled); a repo with only ``.bin``/``.pt`` is refused;
* no remote code is ever run (``UNet2DModel`` is the only class built, from its config);
* the download size is checked against ``MAX_DOWNLOAD_BYTES`` from the Hub's file metadata *before* downloading;
* the server's own Hugging Face token is never sent (``token=False``): only public models load.
Every refusal is a :class:`HubError` whose message names the id and the reason, written for the student.
"""
from __future__ import annotations

import json
import os
import re
import threading
import time
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import torch

from .schedules import Schedule, make_schedule, zero_terminal_snr_betas

__all__ = ["ImageModel", "HubError", "load_model", "peek", "clear_cache", "load_folder", "resolve_name", "validate_repo_id",
           "BUNDLED_ID", "BUNDLED_DIR", "SUGGESTED_IDS", "MAX_DOWNLOAD_BYTES", "HUB_TIMEOUT_S",
           "VARIANCE_TYPES", "PREDICTION_TYPES"]

BUNDLED_ID = "mnist-ddpm (bundled)"
BUNDLED_DIR = Path(__file__).resolve().parent.parent / "assets" / "mnist-ddpm"
# Public diffusers UNet2DModel DDPM checkpoints with safetensors weights (checked on the Hub):
SUGGESTED_IDS = (
    "google/ddpm-cifar10-32",                        # Ho et al. 2020, CIFAR-10 32x32 RGB, 143 MB, ~0.27 s/image-step
    "1aurent/ddpm-mnist",                            # MNIST 28x28 grey, 4 MB
    "lukasz-staniszewski/sd-class-butterflies-32",   # Hugging Face diffusion course, butterflies 32x32, 74 MB
)
MAX_DOWNLOAD_BYTES = 400 * 2**20  # checked from the Hub's metadata before any download, and again on disk
HUB_TIMEOUT_S = 5.0               # for the metadata call: an unreachable Hub is reported within seconds
CACHE_SIZE = 2                    # loaded models kept per server process, shared read-only by all sessions

PREDICTION_TYPES = ("epsilon", "sample", "v_prediction")
VARIANCE_TYPES = ("fixed_small", "fixed_large")  # DDPM §3.2: sigma_t^2 = beta_tilde_t or beta_t
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
_MAX_CONFIG_BYTES = 1 * 2**20


class HubError(ValueError):
    """A model that cannot be loaded; the message names the model and the reason, for the student."""


@dataclass(frozen=True, eq=False)
class ImageModel:
    """A pretrained image denoiser ``model(x_t, t)``, its noise schedule, and its scheduler's settings.

    Shared read-only between sessions: nothing here changes after loading.
    """

    id: str
    unet: torch.nn.Module
    schedule: Schedule
    prediction_type: str           # what the network predicts: epsilon, sample or v_prediction
    variance_type: str             # DDPM reverse variance: fixed_small (beta_tilde) or fixed_large (beta)
    clip_sample: bool              # clip x0_pred to [-clip_sample_range, clip_sample_range] while sampling
    clip_sample_range: float
    timestep_spacing: str          # how a scheduler picks inference timesteps: leading, trailing, linspace
    steps_offset: int
    set_alpha_to_one: bool         # DDIM: alpha_bar at the end of the last step is 1 (else alpha_bar_0)
    sample_size: tuple[int, int]   # (height, width)
    in_channels: int
    num_parameters: int
    download_bytes: int
    scheduler_class: str
    call_cost_s: tuple[float, float] = (0.0, 0.0)  # one network call takes a + b * batch seconds (measured at
                                                   # load, then corrected by the runs' observed times: observe())

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The network's prediction for x_t at timesteps t (float tensor [batch] or scalar), in x_t's dtype.

        diffusers' pipelines pass t as an int64 scalar; UNet2DModel's sinusoidal embedding casts it to float32,
        so integer-valued float t gives identical results. A learned (nn.Embedding) time embedding takes the
        nearest integer timestep.
        """
        # the network may live on a GPU (ui.gpu moves it there inside a ZeroGPU call) while the samplers keep x_t,
        # their noise and their generator on the CPU: inputs go to the network's device, the output comes back
        # (the first parameter's device and dtype: diffusers' ``unet.device`` / ``unet.dtype`` walk every submodule,
        # 2.4 ms a call for the bundled UNet, 6 % of its sampling time)
        weight = next(self.unet.parameters())
        device, dtype = weight.device, weight.dtype
        t = torch.as_tensor(t, device=device)
        if t.ndim == 0:
            t = t.expand(x_t.shape[0])
        if getattr(self.unet.config, "time_embedding_type", "positional") == "learned":
            t = t.round().long().clamp(0, self.schedule.num_timesteps - 1)
        x = x_t.to(device=device, dtype=dtype).contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            out = self.unet(x, t).sample
        return out.to(device=x_t.device, dtype=x_t.dtype).contiguous()

    @property
    def shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of one image."""
        return (self.in_channels, *self.sample_size)

    def estimate_seconds(self, batch: int, model_calls: int) -> float:
        """Predicted wall time of ``model_calls`` network calls on ``batch`` images (from the measured cost)."""
        a, b = self.call_cost_s
        return model_calls * (a + b * batch)

    def observe(self, batch: int, model_calls: int, seconds: float) -> None:
        """Correct the cost estimate with a finished run's time (halfway, in log scale, towards what was seen).

        A machine busy at load time, or busy now, should not fix the estimates for good. Runs shorter than 0.2 s
        or than 5 calls are too noisy to learn from.
        """
        predicted = self.estimate_seconds(batch, model_calls)
        if model_calls < 5 or seconds < 0.2 or predicted <= 0:
            return
        factor = min(max((seconds / predicted) ** 0.5, 0.25), 4.0)
        a, b = self.call_cost_s
        object.__setattr__(self, "call_cost_s", (a * factor, b * factor))

    def describe(self) -> str:
        c, h, w = self.shape
        mp = self.num_parameters / 1e6
        text = (f"{self.id}: {w}x{h} {'grey' if c == 1 else 'RGB'}, {mp:.2g} M parameters, "
                f"{self.schedule.num_timesteps} training steps ({self.schedule.name} betas), "
                f"predicts {self.prediction_type}, variance {self.variance_type}, "
                f"clip x0 {'on' if self.clip_sample else 'off'}")
        if self.steps_offset:  # the core's timestep spacings follow diffusers with steps_offset = 0
            text += f" (its steps_offset {self.steps_offset} is not applied)"
        return text


# --------------------------------------------------------------------------------------------------------------
# names


def resolve_name(name) -> str:
    """The canonical name: the bundled model for None / '' / 'bundled' / BUNDLED_ID, else a checked Hub id."""
    if name is None:
        return BUNDLED_ID
    if not isinstance(name, str):
        raise HubError(f"a model name must be text, got {type(name).__name__}")
    name = name.strip()
    if name in ("", "bundled", BUNDLED_ID, "mnist-ddpm"):
        return BUNDLED_ID
    if name.startswith(("https://huggingface.co/", "huggingface.co/")):
        name = name.split("huggingface.co/", 1)[1].strip("/")
    return validate_repo_id(name)


def validate_repo_id(repo_id: str) -> str:
    """``owner/name`` with letters, digits, '-', '_', '.'; no '..' or '--'; at most 96 characters each side."""
    shown = repo_id if len(repo_id) <= 80 else repo_id[:77] + "..."
    if not _REPO_ID.match(repo_id) or ".." in repo_id or "--" in repo_id or repo_id.endswith(".git"):
        raise HubError(f"{shown!r} is not a Hub model id; expected owner/name, e.g. google/ddpm-cifar10-32")
    return repo_id


# --------------------------------------------------------------------------------------------------------------
# loading


_cache: OrderedDict[str, ImageModel] = OrderedDict()
_cache_lock = threading.Lock()
_load_locks: dict[str, threading.Lock] = {}


def load_model(name=None, measure: bool = True) -> ImageModel:
    """The model called ``name`` (see :func:`resolve_name`), loaded once per server and kept in a small LRU cache.

    Raises :class:`HubError` with a readable reason for every failure.
    """
    key = resolve_name(name)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
        lock = _load_locks.setdefault(key, threading.Lock())
    with lock:  # two sessions asking for the same new model load it once
        with _cache_lock:
            if key in _cache:
                return _cache[key]
        if key == BUNDLED_ID:
            if not (BUNDLED_DIR / "config.json").is_file() and not (BUNDLED_DIR / "unet" / "config.json").is_file():
                raise HubError(f"the bundled model is missing (no checkpoint in {BUNDLED_DIR.name}/); "
                               f"enter a Hub id instead")
            model = load_folder(BUNDLED_DIR, model_id=BUNDLED_ID, measure=measure)
        else:
            model = _load_from_hub(key, measure=measure)
        with _cache_lock:
            _cache[key] = model
            _cache.move_to_end(key)
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
    return model


def peek(name=None) -> ImageModel | None:
    """The model if it is already loaded (no loading, no network), else None."""
    try:
        key = resolve_name(name)
    except HubError:
        return None
    with _cache_lock:
        return _cache.get(key)


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def load_folder(folder, model_id: str | None = None, measure: bool = True) -> ImageModel:
    """Load a diffusers-format folder: flat (config.json, scheduler_config.json, weights) or a pipeline folder
    (unet/, scheduler/). For the bundled model, tests and benchmarks; never reachable from the UI."""
    folder = Path(folder)
    model_id = model_id or folder.name
    unet_dir = folder / "unet" if (folder / "unet" / "config.json").is_file() else folder
    sched = next((p for p in (folder / "scheduler" / "scheduler_config.json", folder / "scheduler_config.json")
                  if p.is_file()), None)
    if not (unet_dir / "config.json").is_file():
        raise HubError(f"{model_id}: no config.json, so not a diffusers model folder")
    if sched is None:
        raise HubError(f"{model_id}: no scheduler_config.json, so the noise schedule is unknown")
    weights = unet_dir / _WEIGHTS
    if not weights.is_file():
        pickles = [p.name for p in unet_dir.iterdir() if p.suffix in _PICKLE_SUFFIXES]
        raise HubError(_no_safetensors(model_id, pickles))
    config, sched_config = _read_json(unet_dir / "config.json", model_id), _read_json(sched, model_id)
    return _build(model_id, unet_dir, config, sched_config, weights.stat().st_size, measure)


def _read_json(path: Path, model_id: str) -> dict:
    if path.stat().st_size > _MAX_CONFIG_BYTES:
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


def check_configs(model_id: str, config: dict, sched_config: dict) -> dict:
    """Check that the configs describe an unconditional DDPM-style UNet2DModel the lab can run.

    Returns the scheduler settings the lab uses; raises HubError naming the first problem.
    """
    cls = config.get("_class_name")
    if cls is None and ("cross_attention_dim" in config or "down_block_types" not in config):
        cls = "an unknown model class"
    if cls not in (None, "UNet2DModel"):
        raise HubError(f"{model_id} is a {cls}, not a UNet2DModel (the lab runs unconditional image DDPMs)")
    if config.get("num_class_embeds") is not None or config.get("class_embed_type") is not None:
        raise HubError(f"{model_id} is class-conditional; the lab runs unconditional models only")
    if config.get("time_embedding_type", "positional") not in ("positional", "learned"):
        raise HubError(f"{model_id} uses a {config.get('time_embedding_type')!r} time embedding (a score-SDE / "
                       f"sigma-conditioned model), not a DDPM timestep model")
    in_ch, out_ch = config.get("in_channels", 3), config.get("out_channels", 3)
    if in_ch not in (1, 3):
        raise HubError(f"{model_id} takes {in_ch}-channel inputs; the lab shows grey (1) or RGB (3) images")
    size = config.get("sample_size")
    if isinstance(size, int):
        size = (size, size)
    if not (isinstance(size, (list, tuple)) and len(size) == 2 and all(isinstance(s, int) and 8 <= s <= 1024
                                                                        for s in size)):
        raise HubError(f"{model_id}: sample_size {config.get('sample_size')!r} is not an image size")

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
    }


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


def _build(model_id: str, unet_dir: Path, config: dict, sched_config: dict, download_bytes: int,
           measure: bool) -> ImageModel:
    settings = check_configs(model_id, config, sched_config)
    schedule = schedule_from_config(model_id, sched_config)
    if schedule.zero_terminal_snr and settings["prediction_type"] == "epsilon":
        raise HubError(f"{model_id}: a zero-terminal-SNR schedule needs v- or x0-prediction, not epsilon")
    from diffusers import UNet2DModel  # heavy import, only when a model is loaded

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # diffusers warns about unused legacy config keys
            unet = UNet2DModel.from_pretrained(str(unet_dir), use_safetensors=True, local_files_only=True,
                                               low_cpu_mem_usage=False)
    except Exception as err:  # a mismatched or corrupt checkpoint
        raise HubError(f"{model_id}: the weights do not load into its UNet2DModel config "
                       f"({type(err).__name__}: {str(err)[:200]})") from None
    unet.eval().requires_grad_(False)
    # NHWC weights: oneDNN's CPU convolutions ran ~3 % faster on the bundled UNet here (36.4 vs 37.5 ms a batch-16 call)
    unet.to(memory_format=torch.channels_last)
    model = ImageModel(id=model_id, unet=unet, schedule=schedule, download_bytes=int(download_bytes),
                       num_parameters=sum(p.numel() for p in unet.parameters()), **settings)
    if measure:
        object.__setattr__(model, "call_cost_s", measure_call_cost(model))
    return model


def measure_call_cost(model: ImageModel, batches=(1, 4)) -> tuple[float, float]:
    """(a, b) with one network call on ``batch`` images taking about a + b * batch seconds.

    Timed once per model at load (best of a few calls at two batch sizes, after a warm-up call).
    """
    def best(batch: int, repeats: int) -> float:
        x = torch.zeros(batch, *model.shape)
        t = torch.full((batch,), model.schedule.num_timesteps // 2, dtype=torch.float64)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            model(x, t)
            times.append(time.perf_counter() - start)
        return min(times)

    best(batches[0], 1)  # warm-up
    small = best(batches[0], 3)
    cheap = small < 0.1
    if cheap:
        best(batches[1], 1)  # a new batch shape's first call builds its kernels: 3x a later call's time
    large = best(batches[1], 3 if cheap else 1)
    b = max((large - small) / (batches[1] - batches[0]), small / batches[0] * 0.25)
    a = max(small - b * batches[0], 0.0)
    return (a, b)


# --------------------------------------------------------------------------------------------------------------
# the Hub


def _offline() -> bool:
    from huggingface_hub import constants

    flag = os.environ.get("HF_HUB_OFFLINE", "").strip().lower()
    return constants.HF_HUB_OFFLINE or flag in ("1", "true", "yes", "on")


def _unreachable(model_id: str) -> HubError:
    return HubError(f"the Hugging Face Hub cannot be reached (offline?), so {model_id} cannot be downloaded")


def _network_errors() -> tuple:
    errors = [ConnectionError, TimeoutError]
    for module in ("httpx2", "httpx"):
        try:
            errors.append(__import__(module).TransportError)
        except (ImportError, AttributeError):
            pass
    try:
        import requests

        errors += [requests.ConnectionError, requests.Timeout]
    except ImportError:
        pass
    return tuple(errors)


def _explain(model_id: str, err: Exception) -> HubError:
    """A HubError for an exception raised by huggingface_hub."""
    from huggingface_hub import errors as hf_errors

    if isinstance(err, HubError):
        return err
    if isinstance(err, hf_errors.GatedRepoError):
        return HubError(f"{model_id} is gated (it asks users to accept terms while logged in); "
                        f"the lab loads public models only")
    if isinstance(err, hf_errors.RepositoryNotFoundError):
        return HubError(f"{model_id} was not found on the Hub (no such model, or it is private)")
    if isinstance(err, hf_errors.RevisionNotFoundError):
        return HubError(f"{model_id}: the requested revision does not exist")
    if isinstance(err, hf_errors.EntryNotFoundError):
        return HubError(f"{model_id}: a file the lab needs is missing from the repository ({err})")
    if isinstance(err, hf_errors.OfflineModeIsEnabled) or isinstance(err, _network_errors()):
        return _unreachable(model_id)
    if isinstance(err, hf_errors.HfHubHTTPError):
        status = getattr(getattr(err, "response", None), "status_code", None)
        if status in (401, 403):
            return HubError(f"{model_id} is private or gated (HTTP {status}); the lab loads public models only")
        return HubError(f"the Hub answered HTTP {status} for {model_id}; try again later")
    return HubError(f"{model_id} could not be loaded ({type(err).__name__}: {str(err)[:200]})")


def _plan(model_id: str, files: dict[str, int | None]) -> tuple[str, str, str]:
    """(config path, scheduler config path, weights path) inside the repo, from its file list, or HubError."""
    if "unet/config.json" in files:
        prefix = "unet/"
    elif "config.json" in files:
        prefix = ""
    else:
        raise HubError(f"{model_id} has no config.json (nor unet/config.json): not a diffusers UNet2DModel repo")
    sched = next((p for p in ("scheduler/scheduler_config.json", "scheduler_config.json") if p in files), None)
    if sched is None:
        raise HubError(f"{model_id} has no scheduler_config.json, so its noise schedule is unknown")
    weights = prefix + _WEIGHTS
    if weights not in files:
        if prefix + _WEIGHTS + ".index.json" in files:
            raise HubError(f"{model_id} stores its weights in shards; the lab loads single-file checkpoints only")
        pickles = [f for f in files if f.startswith(prefix) and "/" not in f[len(prefix):]
                   and f.endswith(_PICKLE_SUFFIXES)]
        raise HubError(_no_safetensors(model_id, pickles))
    return prefix + "config.json", sched, weights


def _check_size(model_id: str, nbytes) -> None:
    if nbytes is None:
        raise HubError(f"{model_id}: the Hub did not report the weights' size, so the lab will not download them")
    if nbytes > MAX_DOWNLOAD_BYTES:
        raise HubError(f"{model_id} is too large: {nbytes / 2**20:.0f} MB of weights, over the lab's "
                       f"{MAX_DOWNLOAD_BYTES / 2**20:.0f} MB limit")


def _load_from_hub(repo_id: str, measure: bool = True) -> ImageModel:
    """Check the repo's metadata, then download its configs, check them, then download and load the weights."""
    from huggingface_hub import HfApi, hf_hub_download

    if _offline():
        return _load_from_local_cache(repo_id, measure)
    try:
        info = HfApi().model_info(repo_id, files_metadata=True, timeout=HUB_TIMEOUT_S, token=False)
    except Exception as err:
        explained = _explain(repo_id, err)
        if "cannot be reached" in str(explained):
            return _load_from_local_cache(repo_id, measure)  # a model downloaded earlier still works
        raise explained from None
    if getattr(info, "gated", False):
        raise HubError(f"{repo_id} is gated (it asks users to accept terms while logged in); "
                       f"the lab loads public models only")
    files = {s.rfilename: (s.size if s.size is not None else getattr(s.lfs, "size", None))
             for s in (info.siblings or [])}
    config_path, sched_path, weights_path = _plan(repo_id, files)
    _check_size(repo_id, files[weights_path])
    for path in (config_path, sched_path):
        if (files[path] or 0) > _MAX_CONFIG_BYTES:
            raise HubError(f"{repo_id}: {path} is implausibly large for a config")
    try:
        def fetch(path):
            return Path(hf_hub_download(repo_id, path, revision=info.sha, token=False, etag_timeout=HUB_TIMEOUT_S))

        config_file, sched_file = fetch(config_path), fetch(sched_path)
        config, sched_config = _read_json(config_file, repo_id), _read_json(sched_file, repo_id)
        check_configs(repo_id, config, sched_config)  # before the (large) weights download
        schedule_from_config(repo_id, sched_config)
        weights_file = fetch(weights_path)
    except HubError:
        raise
    except Exception as err:
        raise _explain(repo_id, err) from None
    size = weights_file.stat().st_size
    _check_size(repo_id, size)
    return _build(repo_id, config_file.parent, config, sched_config, size, measure)


def _load_from_local_cache(repo_id: str, measure: bool) -> ImageModel:
    """Offline: a model downloaded earlier into the Hugging Face cache still loads; otherwise say we are offline."""
    from huggingface_hub import try_to_load_from_cache

    def cached(path):
        found = try_to_load_from_cache(repo_id, path)
        return Path(found) if isinstance(found, str) else None

    for config_path, weights_path in (("config.json", _WEIGHTS), ("unet/config.json", "unet/" + _WEIGHTS)):
        config_file, weights_file = cached(config_path), cached(weights_path)
        sched_file = cached("scheduler/scheduler_config.json") or cached("scheduler_config.json")
        if config_file and weights_file and sched_file and config_file.parent == weights_file.parent:
            _check_size(repo_id, weights_file.stat().st_size)
            config, sched_config = _read_json(config_file, repo_id), _read_json(sched_file, repo_id)
            return _build(repo_id, config_file.parent, config, sched_config, weights_file.stat().st_size, measure)
    raise _unreachable(repo_id)
