"""Quality figures of the bundled MNIST DDPM (or any folder train_mnist.py wrote), printed as JSON.

    python scripts/eval_mnist.py [--model assets/mnist-ddpm] [--n 100] [--steps 50] [--seed 0] [--grid out.png]

Samples --n digits with the project's DDIM sampler (diffusion.sample, eta = 0, --steps steps, x0 clipped to
[-1, 1] as the checkpoint's scheduler_config asks), trains the test's digit classifier (tests/digit_classifier.py)
and reports: the fraction of confident digits, which digits appear, the near-copy fraction, and the classifier's
own held-out figures. The same code path, seeds and thread count (1) as tests/test_bundled_model.py.
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
from digit_classifier import load_data, sample_quality, train_classifier  # noqa: E402


def load_bundled(folder):
    """(unet, schedule, scheduler_config) from a diffusers folder; the UNet in eval mode on the CPU."""
    from diffusers import UNet2DModel

    from diffusion import Schedule

    folder = Path(folder)
    cfg = json.loads((folder / "scheduler_config.json").read_text())
    if cfg["beta_schedule"] != "linear" or cfg["prediction_type"] != "epsilon":
        raise ValueError(f"{folder}: expected linear betas and epsilon prediction, got {cfg['beta_schedule']!r}, "
                         f"{cfg['prediction_type']!r}")
    betas = torch.linspace(cfg["beta_start"], cfg["beta_end"], cfg["num_train_timesteps"], dtype=torch.float64)
    schedule = Schedule.from_betas(betas, name="linear")
    unet = UNet2DModel.from_pretrained(folder).eval()
    return unet, schedule, cfg


@torch.no_grad()
def sample_digits(unet, schedule, cfg, n=100, steps=50, seed=0, batch=100):
    """n samples in [-1, 1] with the project's DDIM (eta 0), seeded; one generator for the whole draw."""
    from diffusion import sample

    res = unet.config.sample_size
    g = torch.Generator().manual_seed(seed)
    x_T = torch.randn(n, unet.config.in_channels, res, res, generator=g)
    model = lambda x_t, t: unet(x_t, t).sample  # noqa: E731  (the network knows nothing of the noise process)
    out = []
    for i in range(0, n, batch):
        traj = sample(model, schedule, x_T[i:i + batch], sampler="ddim", num_steps=steps, generator=g,
                      prediction_type=cfg["prediction_type"], clip_sample=cfg["clip_sample"],
                      clip_sample_range=cfg.get("clip_sample_range", 1.0), record=False)
        out.append(traj.x0)
    return torch.cat(out).clamp(-1, 1)


def save_grid(samples, path, ncol=10):
    from PIL import Image

    n, _, h, w = samples.shape
    rows = (n + ncol - 1) // ncol
    grid = torch.ones(rows * (h + 2), ncol * (w + 2))
    for k in range(n):
        r, c = divmod(k, ncol)
        grid[r * (h + 2) + 1:r * (h + 2) + 1 + h, c * (w + 2) + 1:c * (w + 2) + 1 + w] = (1 - samples[k, 0]) / 2
    Image.fromarray((grid.clamp(0, 1) * 255).round().byte().numpy()).resize((grid.shape[1] * 3, grid.shape[0] * 3),
                                                                             Image.NEAREST).save(path)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=str(ROOT / "assets" / "mnist-ddpm"))
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--classifier-seed", type=int, default=0)
    p.add_argument("--grid", default=None, help="also save the samples as a PNG grid (dark digits on white)")
    args = p.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(1)   # as the test: one summation order, so the classifier trains the same everywhere
    t0 = time.perf_counter()
    unet, schedule, cfg = load_bundled(args.model)
    samples = sample_digits(unet, schedule, cfg, args.n, args.steps, args.seed)
    t_sample = time.perf_counter() - t0
    data = load_data(unet.config.sample_size)
    judge = train_classifier(data, seed=args.classifier_seed)
    t_judge = time.perf_counter() - t0 - t_sample
    figures = sample_quality(samples, judge, data)
    if args.grid:
        save_grid(samples, args.grid)
    print(json.dumps({"model": str(args.model), "sampler": "ddim", "steps": args.steps, "seed": args.seed,
                      **figures, "sampling_s": round(t_sample, 1), "classifier_s": round(t_judge, 1)}, indent=1))


if __name__ == "__main__":
    main()
