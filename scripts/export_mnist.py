"""Write a diffusers folder from a train_mnist.py checkpoint: its EMA weights, or an EMA snapshot of an earlier step.

    python scripts/export_mnist.py --ckpt checkpoints/mnist/ckpt.pt --out assets/mnist-ddpm
    python scripts/export_mnist.py --ckpt checkpoints/mnist/ckpt.pt --snapshot 9000 --out /tmp/mnist-9000
"""
import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_mnist import build_unet, save_diffusers_folder  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ckpt", type=Path, required=True)
    p.add_argument("--snapshot", type=int, default=None, help="step of an EMA snapshot in snapshots.pt beside --ckpt")
    p.add_argument("--snapshots", type=Path, default=None, help="snapshots file (default: snapshots.pt beside --ckpt)")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    state = torch.load(args.ckpt, map_location="cpu", weights_only=False)
    a = state["args"]
    model = build_unet(a["resolution"], tuple(int(c) for c in a["channels"].split(",")), a["norm_groups"],
                       bool(a["mid_attention"]), a.get("num_class_embeds"))
    if args.snapshot is None:
        weights, step = state["ema"], state["step"]
    else:
        snaps = torch.load(args.snapshots or args.ckpt.with_name("snapshots.pt"), map_location="cpu", weights_only=False)
        if args.snapshot not in snaps:
            raise ValueError(f"unknown snapshot {args.snapshot!r}; choose one of {sorted(snaps)}")
        weights, step = snaps[args.snapshot], args.snapshot
    model.load_state_dict(weights)
    save_diffusers_folder(model, args.out)
    print(f"exported EMA weights at step {step} of {a['steps']} ({state['command']}) -> {args.out}")


if __name__ == "__main__":
    main()
