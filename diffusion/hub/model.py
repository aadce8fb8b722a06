"""The pretrained image model as the samplers see it: ``model(x_t, t)``, its schedule, its scheduler's settings,
and the cost model that predicts how long a run takes."""
from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from ..samplers import options_for
from ..schedules import Schedule

__all__ = ["ImageModel", "measure_call_cost"]


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
    num_class_embeds: int | None = None  # class-conditional: the classes plus the last, "no label" class
    codec: object | None = None    # a latent diffusion model's autoencoder (diffusion.latent.LatentCodec): the
                                   # UNet and the samplers work on its latents; decode gives the image
    call_cost_s: tuple[float, float] = (0.0, 0.0)  # one network call takes a + b * batch seconds (measured at
                                                   # load, and only then: visitors' runs never change it)

    @property
    def null_label(self) -> int | None:
        """The class index that means "no label" (classifier-free guidance's unconditional input), or None for an
        unconditional model."""
        return None if self.num_class_embeds is None else self.num_class_embeds - 1

    @property
    def num_classes(self) -> int:
        """How many real classes a conditional model knows (0 for an unconditional one)."""
        return 0 if self.num_class_embeds is None else self.num_class_embeds - 1

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The network's prediction for x_t at timesteps t (float tensor [batch] or scalar), in x_t's dtype.

        diffusers' pipelines pass t as an int64 scalar; UNet2DModel's sinusoidal embedding casts it to float32,
        so integer-valued float t gives identical results. A learned (nn.Embedding) time embedding takes the
        nearest integer timestep. ``y``: class labels [batch] of a class-conditional model (None: its "no label"
        class, the unconditional prediction); an unconditional model refuses labels.
        """
        # the network may live on a GPU (ui.gpu moves it there inside a ZeroGPU call) while the samplers keep x_t,
        # their noise and their generator on the CPU: inputs go to the network's device, the output comes back
        # (the first parameter's device and dtype: diffusers' ``unet.device`` / ``unet.dtype`` walk every submodule,
        # a measurable share of a small UNet's call; bench/README.md)
        weight = next(self.unet.parameters())
        device, dtype = weight.device, weight.dtype
        t = torch.as_tensor(t, device=device)
        if t.ndim == 0:
            t = t.expand(x_t.shape[0])
        if getattr(self.unet.config, "time_embedding_type", "positional") == "learned":
            t = t.round().long().clamp(0, self.schedule.num_timesteps - 1)
        x = x_t.to(device=device, dtype=dtype).contiguous(memory_format=torch.channels_last)
        labels = self._labels(y, x_t.shape[0], device)
        out = self.unet(x, t, class_labels=labels).sample   # autograd as the caller has it (samplers turn it off)
        return out.to(device=x_t.device, dtype=x_t.dtype).contiguous()

    def _labels(self, y, batch: int, device) -> torch.Tensor | None:
        if self.num_class_embeds is None:
            if y is not None:
                raise ValueError(f"{self.id} is unconditional: it takes no class labels")
            return None
        if y is None:
            return torch.full((batch,), self.null_label, dtype=torch.long, device=device)
        y = torch.as_tensor(y, device=device).long()
        if y.shape != (batch,) or (y < 0).any() or (y > self.null_label).any():
            raise ValueError(f"class labels for {self.id} must be [{batch}] integers in [0, {self.null_label}] "
                             f"({self.null_label} = no label), got {y.tolist()}")
        return y

    @property
    def shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of one x the network and the samplers work on: an image, or a latent."""
        return (self.in_channels, *self.sample_size)

    @property
    def latent(self) -> bool:
        return self.codec is not None

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of one image: ``shape``, or for a latent model its autoencoder's images."""
        return self.codec.image_shape if self.codec is not None else self.shape

    def estimate_seconds(self, batch: int, model_calls: int) -> float:
        """Predicted wall time of ``model_calls`` network calls on ``batch`` images, from the cost measured when
        the model was loaded -- never from visitors' runs, so one visitor's slow or fast run cannot change
        another's estimate or refusal (a mode once estimated at 0.3 s took 3.7 s and then poisoned them all)."""
        a, b = self.call_cost_s
        return model_calls * (a + b * batch)

    def sampler_options(self, sampler: str, eta: float = 0.0, timestep_spacing: str | None = None) -> dict:
        """What to pass to ``diffusion.sample`` with ``sampler`` to reproduce this checkpoint's scheduler: for ddpm
        and ddim its own spacing, variance and clipping (as diffusers' DDPM/DDIM pipelines use them); the other
        samplers their diffusers defaults and no clipping, as diffusers' schedulers do. ``timestep_spacing``
        overrides the spacing for every sampler that takes one."""
        own = sampler in ("ddpm", "ddim")
        options = options_for(sampler, eta=float(eta), variance_type=self.variance_type,
                              timestep_spacing=timestep_spacing or (self.timestep_spacing if own else None))
        clip = self.clip_sample if sampler in ("ddpm", "ddim", "pc") else False
        return dict(options, prediction_type=self.prediction_type, clip_sample=clip,
                    clip_sample_range=self.clip_sample_range)

    def describe(self) -> str:
        c, h, w = self.image_shape
        mp = self.num_parameters / 1e6
        space = ""
        if self.codec is not None:
            lc, lh, lw = self.shape
            space = (f" through a {lw}x{lh}x{lc} latent (autoencoder {self.codec.num_parameters / 1e6:.2g} M "
                     f"parameters, scaling factor {self.codec.scaling_factor:.4g})")
        text = (f"{self.id}: {w}x{h} {'grey' if c == 1 else 'RGB'}{space}, {mp:.2g} M parameters, "
                f"{self.schedule.num_timesteps} training steps ({self.schedule.name} betas), "
                f"predicts {self.prediction_type}, variance {self.variance_type}, "
                f"clip x0 {'on' if self.clip_sample else 'off'}")
        if self.num_class_embeds is not None:
            text += f", class-conditional ({self.num_classes} classes, label {self.null_label} = no label)"
        if self.steps_offset:  # the core's timestep spacings follow diffusers with steps_offset = 0
            text += f" (its steps_offset {self.steps_offset} is not applied)"
        return text


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

    with torch.no_grad():
        return _fit(best, batches)


def _fit(best, batches) -> tuple[float, float]:
    best(batches[0], 1)  # warm-up
    small = best(batches[0], 3)
    cheap = small < 0.1
    if cheap:
        best(batches[1], 1)  # a new batch shape's first call builds its kernels: 3x a later call's time
    large = best(batches[1], 3 if cheap else 1)
    b = max((large - small) / (batches[1] - batches[0]), small / batches[0] * 0.25)
    a = max(small - b * batches[0], 0.0)
    return (a, b)


