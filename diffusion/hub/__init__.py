"""Pretrained image diffusion models: the bundled MNIST DDPMs (pixel, class-conditional, latent), or a diffusers
``UNet2DModel`` checkpoint from the Hub (with its ``AutoencoderKL`` for a latent pipeline)
(``config`` checks a checkpoint, ``model`` is the wrapper and its cost model, ``loading`` loads and caches).

``load_model(name)`` returns an :class:`ImageModel`: the network wrapped once as ``model(x_t, t) -> prediction``
(it knows nothing else of the noise process, see ``diffusion.__doc__``), the ``Schedule`` built from the
checkpoint's own ``scheduler_config.json``, and what the samplers need to reproduce the checkpoint's scheduler
(prediction type, variance type, clipping, timestep spacing).

Safety, because a stranger types the name:
* only the bundled name maps to a local folder; anything else must be a Hub id ``owner/name``;
* weights are read from ``.safetensors`` only (never unpickled); a repo with only ``.bin``/``.pt`` is refused;
* no remote code is ever run (``UNet2DModel``, and ``AutoencoderKL`` for a latent model, are the only classes built,
  from their configs);
* the download size is checked against ``MAX_DOWNLOAD_BYTES`` from the Hub's file metadata *before* downloading;
* the server's own Hugging Face token is never sent (``token=False``): only public models load.
Every refusal is a :class:`HubError` whose message names the id and the reason, written for the student.
"""
from .config import (DDPM_LIKE_SCHEDULERS, MAX_CONFIG_BYTES, HubError, check_configs, schedule_from_config,
                     validate_repo_id)
from .loading import (BUNDLED_COND_DIR, BUNDLED_COND_ID, BUNDLED_LDM_DIR, BUNDLED_LDM_ID, BUNDLED_DIR, BUNDLED_ID, CACHE_SIZE, HUB_TIMEOUT_S, MAX_DOWNLOAD_BYTES, SUGGESTED_IDS,
                      clear_cache, load_folder, load_model, peek, resolve_name)
from .model import ImageModel, measure_call_cost

__all__ = ["ImageModel", "HubError", "load_model", "peek", "clear_cache", "load_folder", "resolve_name",
           "validate_repo_id", "check_configs", "schedule_from_config", "measure_call_cost", "BUNDLED_ID", "BUNDLED_COND_ID", "BUNDLED_COND_DIR",
           "BUNDLED_LDM_ID", "BUNDLED_LDM_DIR",
           "BUNDLED_DIR", "SUGGESTED_IDS", "MAX_DOWNLOAD_BYTES", "HUB_TIMEOUT_S", "CACHE_SIZE", "DDPM_LIKE_SCHEDULERS",
           "MAX_CONFIG_BYTES"]
