"""Tiny random diffusers checkpoints for the Image lab's tests (built in temp folders; no network)."""
from __future__ import annotations

import json
from pathlib import Path

import torch


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
