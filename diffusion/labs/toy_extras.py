"""The Toy lab's two extra views, as numbers: diffusion vs flow matching from the same noise, and the exact 1-D
density over time with sampled paths on it. The UI draws them (``ui/toy/figures.py``)."""
from __future__ import annotations

import numpy as np
import torch

from ..metrics import quality
from ..samplers import flow_sample, sample, seeded_noise
from .toy_runs import ToyData, is_flow, level_of

__all__ = ["compare_flow", "straightness", "density_paths", "clip_range", "FEW_STEPS", "COMPARE_POINTS", "PATHS",
           "PATH_STEPS"]

FEW_STEPS = (1, 2, 4, 8, 16)    # NFE at which the two kinds of model are compared
COMPARE_POINTS = 1000           # samples per quality figure
PATHS = 60                      # paths drawn per panel
PATH_STEPS = 40                 # ODE steps of the drawn paths


# --- diffusion vs flow matching ------------------------------------------------------------------------------
def clip_range(model, data: ToyData) -> float:
    """|x̂₀| bound for diffusion runs that start at t = T-1: the data's extent in model space, plus 20 %.

    At the last step of a cosine schedule sqrt(alpha_bar) ~ 3e-5, so an epsilon model's x̂₀ = (x - s eps_hat) / a
    multiplies its error by ~3e4; image pipelines clip x̂₀ to [-1, 1] for the same reason (DDPM's clip_sample)."""
    return 1.2 * float(model.to_model(data.points).abs().max())


def _ode(model, x_T: torch.Tensor, num_steps: int, clip: float):
    """The model's deterministic sampler from x_T (model space): DDIM (eta = 0) for diffusion, Euler for flow."""
    g = torch.Generator().manual_seed(0)
    if is_flow(model):
        return flow_sample(model, x_T, sampler="euler", num_steps=num_steps, generator=g)
    # trailing spacing starts at t = T-1, so even one step goes from pure noise to data
    return sample(model, model.schedule, x_T, sampler="ddim", num_steps=num_steps, generator=g,
                            prediction_type=model.prediction_type, timestep_spacing="trailing",
                            clip_sample=True, clip_sample_range=clip)


def straightness(paths: np.ndarray) -> float:
    """Mean over paths of |end - start| / length: 1.0 for straight lines, smaller for curved ones."""
    steps = np.linalg.norm(np.diff(paths, axis=1), axis=-1).sum(axis=1)
    chord = np.linalg.norm(paths[:, -1] - paths[:, 0], axis=-1)
    return float(np.mean(chord / np.maximum(steps, 1e-12)))


def compare_flow(diffusion_model, flow_model, data: ToyData, seed: int = 0) -> dict:
    """Both models from the same noise: their ODE paths, and the quality each reaches in FEW_STEPS steps."""
    if is_flow(diffusion_model) or not is_flow(flow_model):
        raise ValueError("compare_flow takes a diffusion model and a flow-matching model, in that order")
    x_T, _ = seeded_noise((COMPARE_POINTS, data.dim), seed)
    out = {"nfe": list(FEW_STEPS), "quality": {}, "paths": {}, "straightness": {}}
    clip = clip_range(diffusion_model, data)
    for kind, model in (("diffusion", diffusion_model), ("flow", flow_model)):
        out["quality"][kind] = [quality(model.to_data(_ode(model, x_T, k, clip).x0), data.reference)
                                for k in FEW_STEPS]
        traj = _ode(model, x_T[:PATHS], PATH_STEPS, clip)
        paths = np.swapaxes(model.to_data(traj.xs).float().numpy(), 0, 1)         # [PATHS, steps + 1, d]
        out["paths"][kind] = paths
        out["straightness"][kind] = straightness(paths) if data.dim == 2 else None
    out["data"] = data.points.numpy()
    return out


# --- the 1-D view: p_t(x) over (t, x), with ODE and SDE paths on it ----------------------------------------------
def density_paths(model, data: ToyData, n_paths: int = 24, seed: int = 0, columns: int = 160, rows: int = 160):
    """Exact log p_t(x) on a (t, x) grid, and sampled paths of a 1-D model: deterministic (ODE) and stochastic (SDE).

    Columns run from t = 0 (data) to the last step (noise); x in data space. Diffusion: ODE = DDIM with eta = 0,
    SDE = DDPM (every step). Flow matching has only its ODE (Euler); its SDE panel is left empty.
    """
    if data.dim != 1 or model.dim != 1:
        raise ValueError("the 1-D view needs 1-D data and a 1-D model; pick gmm1d, bimodal, uniform or exponential")
    exact = data.exact(model)
    flow = is_flow(model)
    if flow:
        ts = np.linspace(0.0, 1.0, columns)
    else:
        ts = np.linspace(0.0, model.schedule.num_timesteps - 1, columns)
    pts = data.points.numpy()[:, 0]
    lo, hi = np.quantile(pts, [0.001, 0.999])
    lo, hi = min(lo, -3.2), max(hi, 3.2)                     # room for the N(0, 1) end
    xs = np.linspace(hi, lo, rows)                           # top row = largest x
    xm = model.to_model(torch.as_tensor(xs, dtype=torch.float32)[:, None]).double()
    logp = np.empty((rows, columns))
    for j, t in enumerate(ts):
        a, s = level_of(model, t) if t > 0 else (1.0, 0.0)
        s = max(s, 1e-3)                                     # t = 0: the data's own density, slightly smoothed
        logp[:, j] = exact.log_prob_noised(xm, torch.tensor(a), torch.tensor(s)).numpy()
    x_T, g = seeded_noise((n_paths, 1), seed)
    out = {"logp": logp, "t": ts, "x": xs, "flow": flow,
           "T": 1.0 if flow else float(model.schedule.num_timesteps - 1), "paths": {}}
    if flow:
        traj = flow_sample(model, x_T, sampler="euler", num_steps=100, generator=g)
        out["paths"]["ODE"] = (traj.timesteps.numpy(), model.to_data(traj.xs).numpy()[..., 0])
    else:
        T = model.schedule.num_timesteps
        clip = clip_range(model, data)
        for name, sampler, steps, opts in (("ODE", "ddim", min(100, T), {"eta": 0.0}), ("SDE", "ddpm", T, {})):
            traj = sample(model, model.schedule, x_T, sampler=sampler, num_steps=steps, generator=g,
                                    prediction_type=model.prediction_type, timestep_spacing="trailing",
                                    clip_sample=True, clip_sample_range=clip, **opts)
            out["paths"][name] = (traj.timesteps.numpy(), model.to_data(traj.xs).numpy()[..., 0])
    return out


