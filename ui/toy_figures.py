"""The toy lab's two static views: diffusion vs flow matching, and the 1-D density over time with paths on it.

The core package computes (samplers, exact densities, the quality figure); this module collects arrays and draws
them with :mod:`ui.toy_render`.
"""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from diffusion import sample as diffusion_sample
from diffusion.metrics import quality
from diffusion.toy.flow import flow_sample

from . import toy_render as R
from .toy_runs import ToyData, is_flow, level_of

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
    return diffusion_sample(model, model.schedule, x_T, sampler="ddim", num_steps=num_steps, generator=g,
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
    g = torch.Generator().manual_seed(int(seed))
    x_T = torch.randn(COMPARE_POINTS, data.dim, generator=g)
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


def draw_compare(result: dict, size: int = 340) -> Image.Image:
    """Two panels: diffusion's ODE paths (curved) and flow matching's (straight), from the same noise."""
    panels = []
    titles = {"diffusion": "Diffusion: DDIM (probability-flow ODE)", "flow": "Flow matching: Euler"}
    data = result["data"]
    if data.shape[1] == 2:
        ends = [result["paths"][k].reshape(-1, 2) for k in ("diffusion", "flow")]
        ax = R.Axes2D(R.bounds_2d(data, *ends, quantile=0.99), size, "")
        for kind in ("diffusion", "flow"):
            paths = result["paths"][kind]
            c = R.Axes2D(ax.bounds, size, titles[kind]).canvas()
            c.points(data, R.DATA, alpha=0.12)
            c.paths(paths, R.PATH, alpha=0.6)
            c.points(paths[:, 0], R.INK, alpha=0.8)
            c.points(paths[:, -1], R.SAMPLE, alpha=0.9, radius=2)
            s = result["straightness"][kind]
            c.text(f"straightness {s:.3f}  (1 = straight)")
            panels.append(c.image())
    else:  # 1-D: x against the sampling time, noise on the right
        lo, hi = np.quantile(np.concatenate([p.ravel() for p in result["paths"].values()]), [0.01, 0.99])
        for kind in ("diffusion", "flow"):
            paths = result["paths"][kind][..., 0]                                  # [PATHS, L]
            L = paths.shape[1]
            c = R.Axes2D((0.0, 1.0, lo - 0.2, hi + 0.2), size, titles[kind] + "  (x over time)").canvas()
            tt = np.linspace(1.0, 0.0, L)
            c.paths(np.stack([np.broadcast_to(tt, paths.shape), paths], -1), R.PATH, alpha=0.6)
            c.text("noise at the right, data at the left")
            panels.append(c.image())
    return R.side_by_side(panels)


def compare_table(result: dict) -> str:
    q = result["quality"]
    rows = ["| steps (NFE) | " + " | ".join(str(k) for k in result["nfe"]) + " |",
            "|---|" + "---|" * len(result["nfe"]),
            "| diffusion (DDIM) | " + " | ".join(f"{v:.2f}" for v in q["diffusion"]) + " |",
            "| flow matching (Euler) | " + " | ".join(f"{v:.2f}" for v in q["flow"]) + " |"]
    return "Quality by number of steps (1.0 = as close as a fresh draw of the data; lower is better):\n\n" + \
        "\n".join(rows)


# --- the 1-D view: p_t(x) over (t, x), with ODE and SDE paths on it -------------------------------------------------
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
    g = torch.Generator().manual_seed(int(seed))
    x_T = torch.randn(n_paths, 1, generator=g)
    out = {"logp": logp, "t": ts, "x": xs, "flow": flow,
           "T": 1.0 if flow else float(model.schedule.num_timesteps - 1), "paths": {}}
    if flow:
        traj = flow_sample(model, x_T, sampler="euler", num_steps=100, generator=g)
        out["paths"]["ODE"] = (traj.timesteps.numpy(), model.to_data(traj.xs).numpy()[..., 0])
    else:
        T = model.schedule.num_timesteps
        clip = clip_range(model, data)
        for name, sampler, steps, opts in (("ODE", "ddim", min(100, T), {"eta": 0.0}), ("SDE", "ddpm", T, {})):
            traj = diffusion_sample(model, model.schedule, x_T, sampler=sampler, num_steps=steps, generator=g,
                                    prediction_type=model.prediction_type, timestep_spacing="trailing",
                                    clip_sample=True, clip_sample_range=clip, **opts)
            out["paths"][name] = (traj.timesteps.numpy(), model.to_data(traj.xs).numpy()[..., 0])
    return out


def draw_density_paths(result: dict, size: int = 380) -> Image.Image:
    """Heat map of log p_t(x) (bright = likely) with the ODE paths (left) and SDE paths (right) drawn on it."""
    logp = result["logp"]
    top = np.nanmax(logp)
    heat = R.heatmap_rgb(np.clip(logp, top - 9.0, top), "magma")
    lo, hi = result["x"][-1], result["x"][0]
    T = result["T"]
    panels = []
    for name in ("ODE", "SDE"):
        title = {"ODE": "ODE paths (deterministic)", "SDE": "SDE paths (DDPM: fresh noise each step)"}[name]
        c = R.Axes2D((0.0, T, lo, hi), size, title).canvas()
        c.heatmap(heat)
        if name in result["paths"]:
            ts, xs = result["paths"][name]
            # xs[k] is the state before step k (at timesteps[k]); the last state is the sample, at t = 0
            times = np.concatenate([ts, [0.0]])
            c.paths(np.stack([np.broadcast_to(times[:, None], xs.shape), xs], -1).swapaxes(0, 1), (255, 255, 255),
                    alpha=0.75)
        else:
            c.text("flow matching has no SDE sampler here")
        panels.append(c.image())
    return R.side_by_side(panels)
