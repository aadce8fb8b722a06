"""Benchmark: the bundled latent diffusion model (assets/mnist-ldm) against its targets. JSON on stdout and in
bench/out/bench_latent.json.

    python bench/bench_latent.py [--model assets/mnist-ldm] [--n 100] [--repeats 5] [--threads 1]
    python bench/bench_latent.py --autoencoder-only          # 1. alone

1. **Autoencoder**: the 500 held-out digits (never trained on) encoded (posterior mean) and decoded; RMS and L1
   error per pixel, and the share the test's digit judge (tests/digit_classifier.py, seed 0) calls confidently the
   right digit, beside its share on the originals (target: >= 95 %).
2. **Latent model**: ``--n`` samples, the lab's DDIM (50 steps, eta 0, no clipping: the latent scheduler's own
   setting), decoded; the judge's figures the pixel model is held to (targets: >= 90 % confident, all 10 digits,
   <= 5 % near-copies of the training digits).
3. **Speed**: 16 samples, DDIM 50, latent (decoding included) against the pixel model, one thread, interleaved,
   median of ``--repeats`` (targets: latent faster than pixel -- the ratio is printed -- and <= 1.5 s).
4. **Forward noising**: the six example digits noised in pixel space and in latent space (decoded), at a few t: each
   picture's RMS from the clean digit and its share of energy at high spatial frequencies (white static 0.80).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from diffusion import hub, sample  # noqa: E402
from diffusion.labs import latent_runs as LR  # noqa: E402

FORWARD_T = (0, 100, 250, 500, 750, 999)


def draw(model, n: int, seed: int, steps: int = 50, batch: int = 100) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    z_T = torch.randn(n, *model.shape, generator=g)
    out = []
    with torch.no_grad():
        for i in range(0, n, batch):
            z = sample(model, model.schedule, z_T[i:i + batch], "ddim", steps, g, record=False,
                       **model.sampler_options("ddim")).x0
            out.append(model.codec.decode(z))
    return torch.cat(out).clamp(-1, 1)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=str(hub.BUNDLED_LDM_DIR))
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--autoencoder-only", action="store_true", help="part 1 alone (before the latent DDPM exists)")
    p.add_argument("--out", default=None, help="default: bench/out/bench_latent.json (bench_latent_vae.json with "
                   "--autoencoder-only)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    from digit_classifier import load_data, sample_quality, train_classifier

    from diffusion.labs.edit_image import judged_fraction

    latent = hub.load_folder(args.model, model_id="mnist-ldm")
    pixel = hub.load_model(hub.BUNDLED_ID)
    data = load_data(latent.image_shape[1])
    judge = train_classifier(data, seed=0)
    out = {"model": args.model, "threads": args.threads, "latent_shape": list(latent.shape),
           "scaling_factor": latent.codec.scaling_factor, "unet_parameters": latent.num_parameters,
           "vae_parameters": latent.codec.num_parameters}

    x, labels = data["held_x"], data["held_y"]
    with torch.no_grad():
        recon = latent.codec.decode(latent.codec.encode(x)).clamp(-1, 1)
    out["autoencoder"] = dict(
        held_out=len(x), rms=round(float(((recon - x) ** 2).mean().sqrt()), 4),
        l1=round(float((recon - x).abs().mean()), 4),
        judged_right_reconstructions=round(judged_fraction(judge.judge(recon), labels), 4),
        judged_right_originals=round(judged_fraction(judge.judge(x), labels), 4))

    if args.autoencoder_only:
        return _write(out, args.out or ROOT / "bench" / "out" / "bench_latent_vae.json")
    t0 = time.perf_counter()
    samples = draw(latent, args.n, args.seed)
    out["latent_samples"] = dict(sampler="ddim", steps=50, seed=args.seed, seconds=round(time.perf_counter() - t0, 1),
                                 **sample_quality(samples, judge, data))

    times = {"pixel": [], "latent": []}
    for _ in range(args.repeats):
        for space, model in (("latent", latent), ("pixel", pixel)):
            t0 = time.perf_counter()
            if space == "latent":
                draw(latent, 16, 1)
            else:
                g = torch.Generator().manual_seed(1)
                with torch.no_grad():
                    sample(pixel, pixel.schedule, torch.randn(16, *pixel.shape, generator=g), "ddim", 50, g,
                           record=False, **pixel.sampler_options("ddim"))
            times[space].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    out["speed_16_ddim50"] = dict(pixel_s=round(med["pixel"], 3), latent_s=round(med["latent"], 3),
                                  pixel_over_latent=round(med["pixel"] / med["latent"], 2), repeats=args.repeats)

    from ui.widgets.pictures import example_digits   # the lab's own example digits
    digits = example_digits(latent.image_shape[1:])
    f = LR.latent_forward(latent, digits, seed=0, num_frames=1000)
    rows = {}
    for t in FORWARD_T:
        i = f["t"].index(t)
        rows[str(t)] = dict(alpha_bar=round(f["alpha_bar"][i], 5), pixel_rms=round(f["pixel_rms"][i], 3),
                            latent_rms=round(f["latent_rms"][i], 3), pixel_high_freq=round(f["pixel_hf"][i], 3),
                            latent_high_freq=round(f["latent_hf"][i], 3))
    out["forward"] = dict(digits="the six example digits", clean_high_freq=round(f["x0_hf"], 3),
                          reconstruction_high_freq=round(f["recon_hf"], 3), reconstruction_rms=round(f["recon_rms"], 3),
                          at_t=rows)
    _write(out, args.out or ROOT / "bench" / "out" / "bench_latent.json")


def _write(out: dict, path) -> None:
    text = json.dumps(out, indent=1)
    print(text)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text + "\n")


if __name__ == "__main__":
    main()
