"""Quality figures of a class-conditional MNIST DDPM (assets/mnist-ddpm-cond, or any folder train_mnist.py wrote
with --num-class-embeds 11), printed as JSON.

    python scripts/eval_mnist_cond.py [--model assets/mnist-ddpm-cond] [--per-digit 100] [--scales 0,1,3,7]

For every guidance scale w and every digit d, ``--per-digit`` samples with the project's DDIM (diffusion.sample,
eta 0, ``--steps`` steps, the checkpoint's clipping) and classifier-free guidance toward d (w = 0: the model's
"no label" class, i.e. unconditional sampling), judged by the test's digit classifier (tests/digit_classifier.py,
seed 0, one thread): the share judged confidently *as the digit asked for*, and the diversity of each digit's
samples (mean pairwise distance in the classifier's feature space, averaged over digits). At w = 0 it also prints
the unconditional bar's figures (confident share, digits present, near-copies), as scripts/eval_mnist.py does.
The model is loaded with the lab's own loader (diffusion.hub.load_folder), so this is the code path the lab runs.
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

from diffusion.digit_judge import mean_pairwise  # noqa: E402  (the one diversity formula)


@torch.no_grad()
def guided_digits(model, digit: int, w: float, n: int, steps: int, seed: int, clip: bool | None = None) -> torch.Tensor:
    """n samples of ``digit`` at guidance scale w (w = 0: unconditional), seeded, in [-1, 1]; ``clip`` None: the
    checkpoint's x0 clipping, else on/off."""
    from diffusion import sample
    from diffusion.labs.image_runs import initial_noise

    x_T, generator = initial_noise(model, n, seed)
    options = model.sampler_options("ddim")
    if clip is not None:
        options["clip_sample"] = clip
    traj = sample(model, model.schedule, x_T, "ddim", steps, generator, y=digit, guidance_scale=w, record=False,
                  **options)
    return traj.x0.clamp(-1, 1)


def main(argv=None):
    from diffusion import hub

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=str(ROOT / "assets" / "mnist-ddpm-cond"))
    p.add_argument("--per-digit", type=int, default=100)
    p.add_argument("--scales", default="0,1,3,7")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--clip", choices=["checkpoint", "on", "off"], default="checkpoint",
                   help="x0 clipping in DDIM (checkpoint: its scheduler_config's; with guidance, clipping x0 while "
                        "keeping the guided eps throws DDIM off: see TRAINING.md)")
    args = p.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(1)
    model = hub.load_folder(args.model, measure=False)
    if model.num_classes != 10:
        raise ValueError(f"{args.model}: expected a model of the 10 digits and a no-label class, got "
                         f"{model.describe()}")
    t0 = time.perf_counter()
    data = load_data(model.sample_size[0])
    judge = train_classifier(data, seed=0)
    t_judge = time.perf_counter() - t0
    out = {"model": str(args.model), "sampler": "ddim", "steps": args.steps, "per_digit": args.per_digit,
           "clip": args.clip,
           "classifier_s": round(t_judge, 1), "scales": {}}
    for w in (float(s) for s in args.scales.split(",")):
        t1 = time.perf_counter()
        hits, spread, everything = [], [], []
        for d in range(10):
            x = guided_digits(model, d, w, args.per_digit, args.steps, args.seed + d,
                              None if args.clip == "checkpoint" else args.clip == "on")
            verdict = judge.judge(x)
            hits.append(float((verdict["confident"] & (verdict["label"] == d)).float().mean()))
            spread.append(mean_pairwise(judge.features_and_probs(x)[0]))
            everything.append(x)
        row = {"judged_as_asked": round(sum(hits) / 10, 3), "judged_as_asked_per_digit": [round(h, 2) for h in hits],
               "diversity": round(sum(spread) / 10, 3), "seconds": round(time.perf_counter() - t1, 1)}
        if w == 0:
            q = sample_quality(torch.cat(everything), judge, data)
            row.update({k: q[k] for k in ("confident_fraction", "digits_present", "digit_counts",
                                          "near_copy_fraction")})
        out["scales"][f"{w:g}"] = row
        print(json.dumps({f"w={w:g}": row}), flush=True)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
