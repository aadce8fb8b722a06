"""Tiny random diffusers checkpoints for the Image lab's tests (built in temp folders; no network)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import httpx2
import torch
from huggingface_hub import errors as hf_errors


def make_checkpoint(folder, channels: int = 1, size: int = 8, *, seed: int = 0, attention: bool = True,
                    output_scale: float = 0.03, layout: str = "flat", unet_overrides: dict | None = None,
                    **scheduler) -> Path:
    """Save a random ``UNet2DModel`` and a ``DDPMScheduler`` config in diffusers' format; return the folder.

    ``output_scale`` shrinks the last conv layer. Why: iterated by DDIM's deterministic update, a random network
    is chaotic (float32 rounding differences of 1e-7 grow ~25x every 5 steps once x0_pred is clipped), which no
    trained denoiser is. Shrinking its output keeps its predictions input- and t-dependent but the map
    contractive, so that two implementations can be compared to 1e-4 after 50+ steps.
    ``layout``: "flat" (config.json, weights, scheduler_config.json side by side) or "pipeline" (unet/, scheduler/).
    """
    from diffusers import DDPMScheduler, UNet2DModel

    folder = Path(folder)
    torch.manual_seed(seed)
    kwargs = dict(sample_size=size, in_channels=channels, out_channels=channels, layers_per_block=1,
                  norm_num_groups=4, attention_head_dim=4)
    if attention:
        kwargs.update(block_out_channels=(8, 16), down_block_types=("DownBlock2D", "AttnDownBlock2D"),
                      up_block_types=("AttnUpBlock2D", "UpBlock2D"))
    else:  # the fastest UNet2DModel there is: one level, no attention (~5 ms a call)
        kwargs.update(block_out_channels=(8,), down_block_types=("DownBlock2D",), up_block_types=("UpBlock2D",),
                      add_attention=False)
    kwargs.update(unet_overrides or {})
    unet = UNet2DModel(**kwargs)
    with torch.no_grad():
        unet.conv_out.weight.mul_(output_scale)
        unet.conv_out.bias.mul_(output_scale)
    unet_dir = folder / "unet" if layout == "pipeline" else folder
    sched_dir = folder / "scheduler" if layout == "pipeline" else folder
    unet.save_pretrained(unet_dir)
    DDPMScheduler(**{"num_train_timesteps": 1000, **scheduler}).save_pretrained(sched_dir)
    if layout == "pipeline":
        (folder / "model_index.json").write_text(json.dumps(
            {"_class_name": "DDPMPipeline", "scheduler": ["diffusers", "DDPMScheduler"],
             "unet": ["diffusers", "UNet2DModel"]}))
    return folder


def make_latent_pipeline(folder, *, image_size: int = 8, latent_channels: int = 2, scaling_factor: float = 0.7,
                         seed: int = 0) -> Path:
    """A tiny random latent diffusion pipeline in diffusers' layout: vae/ (an ``AutoencoderKL`` on grey
    ``image_size`` pictures, one down-sampling: latents ``latent_channels`` x image_size / 2), unet/ (a one-level
    UNet on those latents) and scheduler/. Return the folder."""
    from diffusers import AutoencoderKL

    folder = Path(folder)
    latent = image_size // 2
    make_checkpoint(folder, channels=latent_channels, size=latent, seed=seed, attention=False, layout="pipeline")
    torch.manual_seed(seed + 1)
    vae = AutoencoderKL(in_channels=1, out_channels=1, latent_channels=latent_channels, sample_size=image_size,
                        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                        block_out_channels=(8, 8), layers_per_block=1, norm_num_groups=4,
                        scaling_factor=scaling_factor)
    vae.save_pretrained(folder / "vae")
    return folder


def edit_json(path, **changes) -> None:
    """Change keys of a JSON config file in place (a value of None deletes the key)."""
    path = Path(path)
    data = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path.write_text(json.dumps(data))


class FakeHub:
    """Answers model_info / hf_hub_download for repos served from local folders; records what was downloaded."""

    def __init__(self, monkeypatch, tmp_path):
        self.repos, self.downloads, self.info_calls = {}, [], 0
        self.cache = tmp_path / "hf-cache"
        self.error = None          # an exception model_info raises instead
        self.gated = False
        self.size_override = {}
        import huggingface_hub
        monkeypatch.setattr(huggingface_hub.HfApi, "model_info",
                            lambda api, repo_id, **kwargs: self.model_info(repo_id, **kwargs))
        monkeypatch.setattr(huggingface_hub, "hf_hub_download", self.hf_hub_download)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        from huggingface_hub import constants
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)

    def add(self, repo_id, folder):
        self.repos[repo_id] = Path(folder)

    def model_info(self, repo_id, **kwargs):
        self.info_calls += 1
        assert kwargs.get("token") is False and kwargs.get("files_metadata") and kwargs.get("timeout")
        if self.error is not None:
            raise self.error
        if repo_id not in self.repos:
            raise hf_errors.RepositoryNotFoundError("404 Repository Not Found", response=response(404))
        root = self.repos[repo_id]
        siblings = [SimpleNamespace(rfilename=str(p.relative_to(root)), lfs=None,
                                    size=self.size_override.get(str(p.relative_to(root)), p.stat().st_size))
                    for p in sorted(root.rglob("*")) if p.is_file()]
        return SimpleNamespace(siblings=siblings, sha="0" * 40, gated=self.gated, private=False)

    def hf_hub_download(self, repo_id, filename, **kwargs):
        assert kwargs.get("token") is False
        self.downloads.append(filename)
        dst = self.cache / repo_id.replace("/", "--") / filename
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.repos[repo_id] / filename, dst)
        return str(dst)


def response(status):
    return httpx2.Response(status, request=httpx2.Request("GET", "https://huggingface.co/api/models/x/y"))
