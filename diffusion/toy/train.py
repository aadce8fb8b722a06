"""Training a toy model: ``fit(data, seed=0, **settings) -> ToyModel``.

Diffusion objectives (DDPM, Ho et al. 2020, Algorithm 1): draw x_0 from the data, t in {0..T-1}, eps ~ N(0, I),
x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps, and regress the network onto eps ("epsilon", DDPM eq. 14),
x_0 ("sample") or v = sqrt(alpha_bar) eps - sqrt(1 - alpha_bar) x_0 ("v_prediction", Salimans & Ho 2022) by mean
squared error. Flow matching: t in [0, 1], x_t = (1 - t) x_0 + t eps, target eps - x_0 (see ``flow.py``).
t is drawn as T u^p (flow: u^p), u uniform: ``t_power`` p = 1 is DDPM's uniform t; the default p = 3 gives low
noise (t < 50 of 1000) 37 % of the batch instead of 5 %. That is importance sampling of the same loss over t
(the per-t weighting changes, as min-SNR or EDM weightings change it), and it is where a word's strokes are
learned: on ``text:DIFFUSION`` precision rose from 0.51 to 0.87 at equal steps (bench/README.md).
Adam (Kingma & Ba 2015) with a short linear warm-up and a cosine learning-rate decay to 0 (Loshchilov & Hutter
2017); optionally the sampled model is an exponential moving average of the weights (``ema_decay``; Polyak
averaging, as in DDPM §4).

Defaults (see :data:`DEFAULTS`) were chosen on the k-NN precision/recall yardstick (:mod:`diffusion.fidelity`) of
``bench/bench_toy.py``, which measures every data set's figures and seconds; ``bench/README.md`` keeps the sweeps
behind each choice. Why "linear" and not "cosine": the cosine schedule's last step is clipped at beta = 0.999, so
sigma_{T-1} ~ 2e4, and every sampler that starts at t = T-1 (euler, heun, dpmpp_2m with diffusers' default
"linspace" spacing) multiplies the epsilon-network's error there by sigma; linear's sigma_{T-1} is ~157. Cosine is
fine with ddpm/ddim, v-prediction, or "leading" spacing.
"""
from __future__ import annotations

import copy
import math

import numpy as np
import torch

from ..forward import q_sample
from ..parameterization import v_from_x0_eps
from ..samplers.flow import flow_path, flow_velocity_target
from ..schedules import make_schedule
from .data import MAX_POINTS, dataset_dim, make_dataset
from .model import MLP, ToyModel

__all__ = ["fit", "OBJECTIVES", "DEFAULTS", "TrainingDiverged"]

OBJECTIVES = ("epsilon", "sample", "v_prediction", "flow_matching")

DEFAULTS = dict(
    objective="v_prediction",   # v = sqrt(ab) eps - sqrt(1 - ab) x0: well scaled at every noise level (see below)
    schedule="linear",       # DDPM's; alpha_bar_{T-1} = 4e-5 leaves no signal in x_T (see the note below)
    num_timesteps=1000,
    hidden=128,
    depth=2,                 # residual blocks
    steps=1000,
    batch_size=1024,
    lr=1e-2,                 # high, but warmed up and decayed to 0 on a cosine (the sweep: bench/README.md)
    warmup=50,               # steps of linear learning-rate warm-up
    t_power=3.0,             # t = T u^p, u ~ U(0, 1): p > 1 spends training on low noise, where strokes are decided
    ema_decay=0.0,           # weight averaging; 0 = off (with the decay to 0 it did not help the toy models)
    n_data=8000,             # points drawn when ``data`` is a name
    time_embedding=True,
    fourier_octaves=7,       # Fourier features of x (NeRF-style), wavelengths 2 down to 1/32; 0 = none
    p_uncond=0.15,           # label dropout of a conditional model (labels given): its share of null labels
)


class TrainingDiverged(ValueError):
    """The loss became NaN/inf or exploded. ``.model`` holds the model as it was (its loss history included)."""

    def __init__(self, message: str, model: ToyModel):
        super().__init__(message)
        self.model = model


def _check_data(data) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(data) if not isinstance(data, torch.Tensor) else data).detach()
    if x.ndim != 2 or x.shape[1] not in (1, 2):
        hint = " (for 1-D data pass x[:, None])" if x.ndim == 1 else ""
        raise ValueError(f"data must have shape [n, d] with d in (1, 2), got {tuple(x.shape)}{hint}")
    if not (x.is_floating_point() or x.dtype in (torch.int32, torch.int64)):
        raise ValueError(f"data must be numeric, got dtype {x.dtype}")
    x = x.to(torch.float32)
    if not 2 <= len(x) <= MAX_POINTS:
        raise ValueError(f"data must have between 2 and {MAX_POINTS} points, got {len(x)}")
    if not torch.isfinite(x).all():
        raise ValueError("data contains NaN or inf; remove those points first")
    if (x.std(0) == 0).any():
        raise ValueError("data has zero spread along an axis (all points equal there); nothing to learn")
    return x


def _check_settings(s: dict) -> None:
    if s["objective"] not in OBJECTIVES:
        raise ValueError(f"unknown objective {s['objective']!r}; choose one of {list(OBJECTIVES)}")
    for key in ("hidden", "depth", "steps", "batch_size", "n_data", "num_timesteps"):
        v = s[key]
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{key} must be a positive int, got {v!r}")
    if s["steps"] > 200_000 or s["hidden"] > 4096 or s["depth"] > 16 or s["batch_size"] > 65_536:
        raise ValueError(f"settings too large for a toy model: steps <= 200000, hidden <= 4096, depth <= 16, "
                         f"batch_size <= 65536; got steps={s['steps']}, hidden={s['hidden']}, depth={s['depth']}, "
                         f"batch_size={s['batch_size']}")
    if not (isinstance(s["lr"], (int, float)) and math.isfinite(s["lr"]) and s["lr"] > 0):
        raise ValueError(f"lr must be a finite number > 0, got {s['lr']!r}")
    if not (isinstance(s["t_power"], (int, float)) and not isinstance(s["t_power"], bool)
            and 0.2 <= s["t_power"] <= 10):
        raise ValueError(f"t_power must be a number in [0.2, 10] (1 = uniform t), got {s['t_power']!r}")
    w = s["warmup"]
    if isinstance(w, bool) or not isinstance(w, int) or w < 0:
        raise ValueError(f"warmup must be an int >= 0 (steps), got {w!r}")
    if not (isinstance(s["ema_decay"], (int, float)) and 0 <= s["ema_decay"] < 1):
        raise ValueError(f"ema_decay must be in [0, 1), got {s['ema_decay']!r}")
    p = s["p_uncond"]
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p < 1:
        raise ValueError(f"p_uncond must be a number in [0, 1) (the share of training labels dropped), got {p!r}")
    v = s["fourier_octaves"]
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 12:
        raise ValueError(f"fourier_octaves must be an int in [0, 12], got {v!r}")


def _check_labels(labels, n: int) -> torch.Tensor:
    y = torch.as_tensor(np.asarray(labels) if not isinstance(labels, torch.Tensor) else labels)
    if y.shape != (n,) or y.is_floating_point() or y.dtype == torch.bool or n == 0 or (y < 0).any():
        raise ValueError(f"labels must be {n} non-negative integers (one class per point), got "
                         f"{tuple(y.shape)} of {y.dtype}")
    if int(y.max()) > 255:
        raise ValueError(f"at most 256 classes, got labels up to {int(y.max())}")
    return y.long()


def fit(data, seed: int = 0, *, callback=None, stop=None, labels=None, class_names=None, **settings) -> ToyModel:
    """Train a toy model on ``data`` (a data set name, see ``toy.DATASETS``, or an array [n, d], d in {1, 2}).

    settings (defaults in :data:`DEFAULTS`): objective ("epsilon" | "sample" | "v_prediction" | "flow_matching"),
    schedule, num_timesteps, hidden, depth, steps, batch_size, lr, warmup, t_power, ema_decay, n_data,
    time_embedding, fourier_octaves. ``callback(step, total, loss)`` after every optimiser step (step counts from 1); ``stop()``
    is asked before every step, and True ends training early (the model so far comes back, ``stopped=True``).
    ``labels`` makes the model conditional (``model(x_t, t, y)``, for classifier-free guidance): for an array,
    one class per point ([n] ints); for a labelled data set name (``toy.labels.LABELLED`` or "text:WORD"),
    ``labels=True`` draws the points with their classes. A ``p_uncond`` share of each batch's labels is replaced by
    the null label (label dropout, Ho & Salimans 2022), so the one network also predicts unconditionally.
    All randomness (weights, batches, t, noise) comes from ``seed``: the same seed gives the same model, bit for bit.
    A diverging run raises :class:`TrainingDiverged` (a ValueError) telling you to lower the learning rate.
    """
    unknown = sorted(set(settings) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown setting(s) {unknown}; fit takes {sorted(DEFAULTS)} plus seed, callback, stop")
    s = {**DEFAULTS, **settings}
    _check_settings(s)
    g = torch.Generator().manual_seed(int(seed))
    y_data = None
    if isinstance(data, str) and labels is not None:
        if labels is not True:
            raise ValueError("for a data set name pass labels=True (its points come with their classes); an array "
                             "of labels goes with an array of points")
        from .labels import labelled_dataset
        name = data
        x, y_data, class_names = labelled_dataset(data, s["n_data"], seed=int(seed))
        dim = x.shape[1]
    elif isinstance(data, str):
        name, dim = data, dataset_dim(data)
        x = make_dataset(name, s["n_data"], seed=int(seed))
    else:
        name, x = None, _check_data(data)
        dim = x.shape[1]
        if labels is not None:
            y_data = _check_labels(labels, len(x))
    num_classes = 0 if y_data is None else int(y_data.max()) + 1
    if class_names is not None and len(class_names) != num_classes:
        raise ValueError(f"class_names must name the {num_classes} classes, got {len(class_names)} names")
    mean, std = standardiser(x, named=name is not None)
    x_model = (x - mean) / std                                       # train in the standardised space
    flow = s["objective"] == "flow_matching"
    schedule = None if flow else make_schedule(s["schedule"], s["num_timesteps"])
    net = MLP(dim, s["hidden"], s["depth"], s["time_embedding"], s["fourier_octaves"], generator=g,
              num_classes=num_classes)
    ema = s["ema_decay"] > 0
    model = ToyModel(copy.deepcopy(net) if ema else net, schedule, s["objective"], mean, std, x, name, s,
                     labels=y_data, class_names=class_names)
    opt = torch.optim.Adam(net.parameters(), lr=s["lr"], fused=True)   # fused: one kernel per step, less overhead
    warm = s["warmup"]
    decay = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: min(1.0, (i + 1) / warm if warm else 1.0) * 0.5 * (1 + math.cos(math.pi * i / s["steps"])))
    ema_params = list(model.net.parameters())                       # the EMA weights live in the returned model
    T, n, batch = s["num_timesteps"], len(x_model), s["batch_size"]
    for step in range(1, s["steps"] + 1):
        if stop is not None and stop():
            model.stopped = True
            break
        index = torch.randint(0, n, (batch,), generator=g)
        x0 = x_model[index]
        eps = torch.randn(batch, dim, generator=g)
        u = torch.rand(batch, generator=g) ** s["t_power"]              # importance sampling toward low noise
        if flow:
            t = u                                                     # flow time: 0 = data, 1 = noise
            x_t, target = flow_path(x0, eps, t), flow_velocity_target(x0, eps)
        else:
            t = (u * T).long().clamp(max=T - 1)
            x_t = q_sample(schedule, x0, t, eps)                    # DDPM eq. 4
            target = _target(s["objective"], x0, eps, schedule.alphas_cumprod[t].float()[:, None])
        y = None
        if num_classes:                                               # label dropout: one net, cond and uncond
            y = torch.where(torch.rand(batch, generator=g) < s["p_uncond"], num_classes, y_data[index])
        loss = torch.nn.functional.mse_loss(net(x_t, model.time_input(t), y), target)   # DDPM Alg. 1 line 5
        value = loss.item()
        if not math.isfinite(value) or value > 1e6:
            hint = (f"the default is {DEFAULTS['lr']:g}" if s["lr"] / 10 >= DEFAULTS["lr"]
                    else f"e.g. to {s['lr'] / 10:g}; the default is {DEFAULTS['lr']:g}")
            raise TrainingDiverged(f"training diverged at step {step} of {s['steps']} (loss {value:.3g}) with "
                                   f"lr={s['lr']:g}; lower the learning rate ({hint})", model)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        decay.step()
        if ema:
            _ema_update(ema_params, net, s["ema_decay"] if step > 1 else 0.0)
        model.losses.append(value)
        if callback is not None:
            callback(step, s["steps"], value)
    return model


def standardiser(x: torch.Tensor, named: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean [d], std []) of the map x_model = (x - mean) / std: *one* factor for all axes, so the shape is kept and
    x_T ~ N(0, I) in the model's space is an isotropic Gaussian in the data's. A named data set is already on the
    standardised scale (``toy.data``): its map is the identity, so the model's space *is* the data's and
    ``diffusion.sample(model, ...)`` and ``model.sample()`` return the same points. An array gets its own mean and
    the root of its mean per-axis variance."""
    if named:
        return torch.zeros(x.shape[1]), torch.tensor(1.0)
    return x.mean(0), x.var(0).mean().sqrt()


def _target(objective, x0, eps, alpha_bar):
    if objective == "epsilon":
        return eps
    if objective == "sample":
        return x0
    return v_from_x0_eps(x0, eps, alpha_bar)                         # v, Salimans & Ho 2022 §4


@torch.no_grad()
def _ema_update(ema_params, net, decay):
    """ema <- decay * ema + (1 - decay) * current."""
    torch._foreach_lerp_(ema_params, list(net.parameters()), 1 - decay)
