"""The toy network (a residual MLP with Fourier features and a time embedding) and ToyModel, a trained network with
its noise process.

The network sees a point and a time in [0, 1] and nothing else of the noise process (EDM's principle): ToyModel maps
the model timestep t in [0, T-1] (diffusion) or the flow time t in [0, 1] to that input, and maps between the data's
own space and the standardised space the network is trained in.
"""
from __future__ import annotations

import functools
import math

import torch
from torch import nn

__all__ = ["MLP", "ToyModel", "sinusoidal_embedding", "fourier_features"]


@functools.lru_cache(maxsize=8)
def _frequencies(half: int, max_period: float) -> torch.Tensor:
    return 1000.0 * torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)


def sinusoidal_embedding(s: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Transformer position encoding of 1000 s (Vaswani et al. 2017, §3.5; DDPM's time embedding): [batch, dim]."""
    angles = s[:, None].float() * _frequencies(dim // 2, max_period)[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


def fourier_features(x: torch.Tensor, octaves: int) -> torch.Tensor:
    """[sin(2^k pi x), cos(2^k pi x)] for k < octaves, per coordinate (NeRF's positional encoding, Mildenhall et al.
    2020; Tancik et al. 2020 on why it helps an MLP fit fine detail): [batch, 2 * octaves * d]."""
    freqs = math.pi * 2.0 ** torch.arange(octaves, dtype=torch.float32)
    angles = (x[:, :, None] * freqs).flatten(1)
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class MLP(nn.Module):
    """x [batch, d], s [batch] in [0, 1] -> [batch, d]: a residual MLP. Inputs [x, Fourier(x), embed(s)] -> Linear
    -> depth x residual block h + Linear(SiLU(Linear(h))) -> SiLU -> Linear (the pre-activation residual MLP of
    tiny-diffusion-style toys; He et al. 2016 for the skip). The skips are what let a 3-block network learn a word's
    thin strokes in a thousand steps: the plain stack of the same size stayed at precision ~0.69 (bench/README.md).
    ``time_embedding=False`` drops s altogether: the "break it" lesson (one denoiser for every noise level cannot
    know how much noise to remove). Weights are initialised from ``generator`` (PyTorch's default
    uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) rule), so a seed fixes the network.

    ``num_classes`` > 0 makes it conditional: ``forward(x, s, y)`` with y [batch] class indices in
    [0, num_classes], where ``num_classes`` itself is the null class ("no label", what label dropout trains and
    ``y=None`` means); a learned class embedding joins the inputs, as the time embedding does."""

    def __init__(self, dim: int, hidden: int = 128, depth: int = 3, time_embedding: bool = True,
                 fourier_octaves: int = 0, embedding_dim: int = 32, generator: torch.Generator | None = None,
                 num_classes: int = 0):
        super().__init__()
        self.dim, self.time_embedding, self.fourier_octaves = dim, time_embedding, fourier_octaves
        self.embedding_dim = embedding_dim if time_embedding else 0
        self.num_classes = num_classes
        width_in = dim + 2 * fourier_octaves * dim + self.embedding_dim + (embedding_dim if num_classes else 0)
        self.inp = nn.Linear(width_in, hidden)
        self.blocks = nn.ModuleList(nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
                                    for _ in range(depth))
        self.out = nn.Sequential(nn.SiLU(), nn.Linear(hidden, dim))
        with torch.no_grad():
            for layer in self.modules():
                if isinstance(layer, nn.Linear):
                    bound = 1 / math.sqrt(layer.in_features)
                    layer.weight.uniform_(-bound, bound, generator=generator)
                    layer.bias.uniform_(-bound, bound, generator=generator)
        if num_classes:                                # after the linear layers: an unconditional net is unchanged
            self.class_embedding = nn.Embedding(num_classes + 1, embedding_dim)
            with torch.no_grad():
                self.class_embedding.weight.normal_(generator=generator)

    def forward(self, x: torch.Tensor, s: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        parts = [x]
        if self.fourier_octaves:
            parts.append(fourier_features(x, self.fourier_octaves))
        if self.time_embedding:
            parts.append(sinusoidal_embedding(s, self.embedding_dim))
        if self.num_classes:
            if y is None:
                y = torch.full((len(x),), self.num_classes, dtype=torch.long)
            parts.append(self.class_embedding(y))
        elif y is not None:
            raise ValueError("this network is unconditional (num_classes=0): it takes no class labels y")
        h = self.inp(torch.cat(parts, dim=1))
        for block in self.blocks:
            h = h + block(h)
        return self.out(h)


class ToyModel:
    """A trained toy model: ``model(x_t, t)`` -> its prediction, in the standardised space it was trained in.

    Diffusion (``objective`` "epsilon", "sample" or "v_prediction"): t in [0, T-1], x_t in the VP scale, the output
    is what ``prediction_type`` names, so it plugs straight into :func:`diffusion.sample`. Flow matching: t in
    [0, 1], x_t = (1 - t) x_0 + t eps, the output is the velocity eps - x_0 (``prediction_type`` "velocity",
    ``schedule`` None). ``to_model`` / ``to_data`` map between the data's space and the standardised one:
    x_model = (x_data - data_mean) / data_std, with one std for all axes (the shape is kept, and the noise is
    N(0, I) in both spaces up to that one scale). For a named data set the map is the identity: its points are
    already standardised, so :func:`diffusion.sample` on this model and :meth:`sample` give the same points. For an
    array, ``sample`` returns the data's space and ``diffusion.sample`` the standardised one (``to_data`` maps).
    """

    def __init__(self, net: MLP, schedule, objective: str, data_mean: torch.Tensor, data_std: torch.Tensor,
                 data: torch.Tensor, data_name: str | None, settings: dict, labels: torch.Tensor | None = None,
                 class_names: list[str] | None = None):
        self.net, self.schedule, self.objective = net, schedule, objective
        self.labels, self.class_names = labels, class_names        # a conditional model's training labels
        if net.num_classes:
            self.num_classes = net.num_classes
            self.null_label = net.num_classes     # "no label": Guided then batches cond and uncond in one call
        self.prediction_type = "velocity" if objective == "flow_matching" else objective
        self.dim = net.dim
        self.data_mean, self.data_std = data_mean, data_std
        self.data, self.data_name, self.settings = data, data_name, settings
        self.losses: list[float] = []
        self.stopped = False          # True when training was stopped early by ``stop``

    def __repr__(self):
        T = self.schedule.num_timesteps if self.schedule is not None else None
        return (f"ToyModel(objective={self.objective!r}, dim={self.dim}, T={T}, steps_trained={len(self.losses)}, "
                f"data={self.data_name!r})")

    def time_input(self, t) -> torch.Tensor:
        """The network's time input s in [0, 1]: t / (T - 1) for diffusion, t itself for flow matching."""
        t = torch.as_tensor(t, dtype=torch.float32)
        return t if self.schedule is None else t / (self.schedule.num_timesteps - 1)

    @property
    def conditional(self) -> bool:
        return bool(self.net.num_classes)

    def __call__(self, x_t: torch.Tensor, t, y: torch.Tensor | None = None) -> torch.Tensor:
        """The prediction at x_t, t; a conditional model also takes y [batch] (class indices; None or
        ``null_label``: unconditional)."""
        if x_t.ndim != 2 or x_t.shape[1] != self.dim:
            raise ValueError(f"x_t must have shape [batch, {self.dim}], got {tuple(x_t.shape)}")
        if y is not None:
            if not self.conditional:
                raise ValueError("this toy model is unconditional: train it with labels to condition on y")
            y = torch.as_tensor(y).long().reshape(-1).to(x_t.device)
            if len(y) != len(x_t) or (y < 0).any() or (y > self.net.num_classes).any():
                raise ValueError(f"y must hold {len(x_t)} class indices in [0, {self.net.num_classes}] "
                                 f"({self.net.num_classes} = no label), got {y.tolist()[:8]}")
        s = self.time_input(t).expand(len(x_t)) if torch.as_tensor(t).ndim == 0 else self.time_input(t)
        return self.net(x_t.float(), s, y).to(x_t.dtype)   # autograd as the caller has it (sample() turns it off)

    def to_data(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.data_std.to(x.dtype) + self.data_mean.to(x.dtype)

    def to_model(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.data_mean.to(x.dtype)) / self.data_std.to(x.dtype)

    def sample(self, n: int, sampler: str | None = None, num_steps: int | None = None, seed: int = 0, *,
               y=None, guidance_scale: float | None = None, **options):
        """n samples in the data's space, as a Trajectory (x0, timesteps, xs, x0_preds, nfe, stopped).

        Diffusion: any sampler of :data:`diffusion.SAMPLERS` with its options (eta, timestep_spacing, callback,
        record, ...); no sampler: the lab's default, :data:`diffusion.LAB_DEFAULT` (dpmpp_2m, 20 steps, Karras sigmas);
        a named sampler without num_steps: its own default (T for ddpm and pc, else 50). Flow matching: "euler"
        (default) or "heun" of :mod:`diffusion.samplers.flow` (num_steps default 50). A conditional model takes
        ``y`` (one class for all, or [n]) and ``guidance_scale`` (classifier-free guidance, as in
        :func:`diffusion.sample`). x_T ~ N(0, I) from ``seed``;
        xs and x0_preds are mapped to the data's space with the same affine map as the samples (a callback's step
        record is in the model's standardised space).
        """
        from ..samplers import LAB_DEFAULT, flow_sample, sample as diffusion_sample, seeded_noise
        from .data import MAX_POINTS
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_POINTS:
            raise ValueError(f"n must be an integer in [1, {MAX_POINTS}], got {n!r}")
        x_T, generator = seeded_noise((n, self.dim), seed)
        if self.objective == "flow_matching":
            unknown = sorted(set(options) - {"callback", "record"})
            if unknown:
                raise ValueError(f"option(s) {unknown} do not apply to a flow-matching model; its samplers "
                                 f"take num_steps, seed, callback and record")
            steps = 50 if num_steps is None else num_steps
            traj = flow_sample(self, x_T, sampler=sampler or "euler", num_steps=steps, generator=generator, y=y,
                               guidance_scale=guidance_scale, **options)
        else:
            if sampler is None:                      # the lab's default sampler, steps and spacing
                sampler = LAB_DEFAULT["sampler"]
                num_steps = LAB_DEFAULT["num_steps"] if num_steps is None else num_steps
                options = {**{k: v for k, v in LAB_DEFAULT.items() if k not in ("sampler", "num_steps")}, **options}
            traj = diffusion_sample(self, self.schedule, x_T, sampler=sampler, num_steps=num_steps,
                                    generator=generator, prediction_type=self.prediction_type, y=y,
                                    guidance_scale=guidance_scale, **options)
        traj.x0 = self.to_data(traj.x0)
        if traj.xs is not None:
            traj.xs = self.to_data(traj.xs)
        if traj.x0_preds is not None:
            traj.x0_preds = self.to_data(traj.x0_preds)
        return traj
