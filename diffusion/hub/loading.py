"""Loading an image model: the bundled MNIST DDPM, a local diffusers folder, or a Hub checkpoint, each checked
(``config.py``) and built once per server, in a small LRU cache shared read-only by every session."""
from __future__ import annotations

import os
import threading
import warnings
from collections import OrderedDict
from pathlib import Path

import torch

from .config import (MAX_CONFIG_BYTES, _PICKLE_SUFFIXES, _WEIGHTS, HubError, _no_safetensors, _read_json,
                     check_configs, check_vae_config, schedule_from_config, validate_repo_id)
from .model import ImageModel, measure_call_cost

BUNDLED_ID = "mnist-ddpm (bundled)"
BUNDLED_DIR = Path(__file__).resolve().parents[2] / "assets" / "mnist-ddpm"
# the class-conditional model: labels 0-9 the digits, label 10 "no label" (classifier-free guidance)
BUNDLED_COND_ID = "mnist-ddpm-cond (bundled)"
BUNDLED_COND_DIR = BUNDLED_DIR.parent / "mnist-ddpm-cond"
# the latent diffusion model: an autoencoder (vae/) and a DDPM on its 5 x 5 x 4 latents (unet/, scheduler/)
BUNDLED_LDM_ID = "mnist-ldm (bundled)"
BUNDLED_LDM_DIR = BUNDLED_DIR.parent / "mnist-ldm"
# Public diffusers UNet2DModel DDPM checkpoints with safetensors weights (checked on the Hub):
SUGGESTED_IDS = (
    "google/ddpm-cifar10-32",                        # Ho et al. 2020, CIFAR-10 32x32 RGB, 143 MB
    "1aurent/ddpm-mnist",                            # MNIST 28x28 grey, 4 MB
    "lukasz-staniszewski/sd-class-butterflies-32",   # Hugging Face diffusion course, butterflies 32x32, 74 MB
)
MAX_DOWNLOAD_BYTES = 400 * 2**20  # checked from the Hub's metadata before any download, and again on disk
HUB_TIMEOUT_S = 5.0               # for the metadata call: an unreachable Hub is reported within seconds
CACHE_SIZE = 4                    # loaded models kept per server process, shared read-only by all sessions
                                  # (the three bundled ones, a few MB each, and a Hub model)


def resolve_name(name) -> str:
    """The canonical name: the bundled model for None / '' / 'bundled' / BUNDLED_ID, the bundled conditional model
    for 'mnist-ddpm-cond' / BUNDLED_COND_ID, the bundled latent model for 'mnist-ldm' / BUNDLED_LDM_ID, else a
    checked Hub id."""
    if name is None:
        return BUNDLED_ID
    if not isinstance(name, str):
        raise HubError(f"a model name must be text, got {type(name).__name__}")
    name = name.strip()
    if name in ("", "bundled", BUNDLED_ID, "mnist-ddpm"):
        return BUNDLED_ID
    if name in (BUNDLED_COND_ID, "mnist-ddpm-cond"):
        return BUNDLED_COND_ID
    if name in (BUNDLED_LDM_ID, "mnist-ldm"):
        return BUNDLED_LDM_ID
    if name.startswith(("https://huggingface.co/", "huggingface.co/")):
        name = name.split("huggingface.co/", 1)[1].strip("/")
    return validate_repo_id(name)




_cache: OrderedDict[str, ImageModel] = OrderedDict()
# diffusers' lazy modules are not safe to import from two threads at once (the labs' start-up builds load models in
# parallel threads: one got "partially initialised module" and its build died); its classes are imported under this
_diffusers_lock = threading.Lock()
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
        bundled = {BUNDLED_ID: BUNDLED_DIR, BUNDLED_COND_ID: BUNDLED_COND_DIR, BUNDLED_LDM_ID: BUNDLED_LDM_DIR}
        if key in bundled:
            folder = bundled[key]
            if not (folder / "config.json").is_file() and not (folder / "unet" / "config.json").is_file():
                raise HubError(f"the bundled model is missing (no checkpoint in {folder.name}/); "
                               f"enter a Hub id instead")
            model = load_folder(folder, model_id=key, measure=measure)
        else:
            try:
                model = _load_from_hub(key, measure=measure)
            finally:
                with _cache_lock:                      # one lock per id only while it loads: the dict stays small
                    _load_locks.pop(key, None)
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
    (unet/, scheduler/, and vae/ for a latent diffusion model). For the bundled models, tests and benchmarks; never
    reachable from the UI."""
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
    vae_dir = folder / "vae" if unet_dir != folder and (folder / "vae" / "config.json").is_file() else None
    size = weights.stat().st_size
    if vae_dir is not None:
        if not (vae_dir / _WEIGHTS).is_file():
            pickles = [p.name for p in vae_dir.iterdir() if p.suffix in _PICKLE_SUFFIXES]
            raise HubError(_no_safetensors(model_id + " (vae/)", pickles))
        size += (vae_dir / _WEIGHTS).stat().st_size
    return _build(model_id, unet_dir, config, sched_config, size, measure, vae_dir)


def _load_vae(model_id: str, vae_dir: Path, unet_config: dict):
    """The latent pipeline's autoencoder, checked and wrapped as a :class:`~diffusion.latent.LatentCodec`."""
    check_vae_config(model_id, _read_json(vae_dir / "config.json", model_id), unet_config)
    with _diffusers_lock:
        from diffusers import AutoencoderKL

    from ..latent import LatentCodec

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            vae = AutoencoderKL.from_pretrained(str(vae_dir), use_safetensors=True, local_files_only=True,
                                                low_cpu_mem_usage=False)
    except Exception as err:
        raise HubError(f"{model_id}: the autoencoder's weights do not load into its AutoencoderKL config "
                       f"({type(err).__name__}: {str(err)[:200]})") from None
    return LatentCodec(vae.eval().requires_grad_(False))


def _build(model_id: str, unet_dir: Path, config: dict, sched_config: dict, download_bytes: int,
           measure: bool, vae_dir: Path | None = None) -> ImageModel:
    settings = check_configs(model_id, config, sched_config, latent=vae_dir is not None)
    codec = None if vae_dir is None else _load_vae(model_id, vae_dir, config)
    schedule = schedule_from_config(model_id, sched_config)
    if schedule.zero_terminal_snr and settings["prediction_type"] == "epsilon":
        raise HubError(f"{model_id}: a zero-terminal-SNR schedule needs v- or x0-prediction, not epsilon")
    with _diffusers_lock:
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
    # NHWC weights: oneDNN's CPU convolutions run a little faster on the bundled UNet (bench/README.md)
    unet.to(memory_format=torch.channels_last)
    model = ImageModel(id=model_id, unet=unet, schedule=schedule, download_bytes=int(download_bytes),
                       num_parameters=sum(p.numel() for p in unet.parameters()), codec=codec, **settings)
    if measure:
        object.__setattr__(model, "call_cost_s", measure_call_cost(model))
    return model


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


def _plan(model_id: str, files: dict[str, int | None]) -> tuple[str, str, str, str | None]:
    """(config path, scheduler config path, weights path, vae folder or None) inside the repo, from its file list,
    or HubError. A pipeline repo with ``vae/`` is a latent diffusion model: its autoencoder loads too."""
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
    vae = "vae/" if prefix == "unet/" and "vae/config.json" in files else None
    if vae and vae + _WEIGHTS not in files:
        raise HubError(_no_safetensors(model_id + " (vae/)", [f for f in files if f.startswith(vae)
                                                              and f.endswith(_PICKLE_SUFFIXES)]))
    return prefix + "config.json", sched, weights, vae


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
    config_path, sched_path, weights_path, vae = _plan(repo_id, files)
    sizes = [files[weights_path]] + ([files[vae + _WEIGHTS]] if vae else [])
    _check_size(repo_id, None if None in sizes else sum(sizes))      # the UNet's and the autoencoder's together
    for path in (config_path, sched_path) + ((vae + "config.json",) if vae else ()):
        if (files[path] or 0) > MAX_CONFIG_BYTES:
            raise HubError(f"{repo_id}: {path} is implausibly large for a config")
    try:
        def fetch(path):
            return Path(hf_hub_download(repo_id, path, revision=info.sha, token=False, etag_timeout=HUB_TIMEOUT_S))

        config_file, sched_file = fetch(config_path), fetch(sched_path)
        config, sched_config = _read_json(config_file, repo_id), _read_json(sched_file, repo_id)
        check_configs(repo_id, config, sched_config, latent=vae is not None)  # before the (large) weights download
        schedule_from_config(repo_id, sched_config)
        vae_dir = None
        if vae is not None:
            vae_config_file = fetch(vae + "config.json")
            check_vae_config(repo_id, _read_json(vae_config_file, repo_id), config)
            vae_dir = fetch(vae + _WEIGHTS).parent
        weights_file = fetch(weights_path)
    except HubError:
        raise
    except Exception as err:
        raise _explain(repo_id, err) from None
    size = weights_file.stat().st_size + (0 if vae_dir is None else (vae_dir / _WEIGHTS).stat().st_size)
    _check_size(repo_id, size)
    return _build(repo_id, config_file.parent, config, sched_config, size, measure, vae_dir)


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
            vae_config, vae_weights = cached("vae/config.json"), cached("vae/" + _WEIGHTS)
            pipeline = config_path.startswith("unet/")
            if pipeline and vae_config and not vae_weights:
                continue                                   # a latent pipeline whose autoencoder is not cached
            vae_dir = vae_weights.parent if pipeline and vae_config and vae_weights else None
            size = weights_file.stat().st_size + (0 if vae_dir is None else vae_weights.stat().st_size)
            _check_size(repo_id, size)
            config, sched_config = _read_json(config_file, repo_id), _read_json(sched_file, repo_id)
            return _build(repo_id, config_file.parent, config, sched_config, size, measure, vae_dir)
    raise _unreachable(repo_id)
