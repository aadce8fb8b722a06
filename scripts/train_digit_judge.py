"""Train and bundle the lab's digit judge (diffusion/digit_judge.py) as assets/digit-judge/.

    python scripts/train_digit_judge.py [--out assets/digit-judge] [--seed 0] [--threads 1]

The network is trained exactly as the tests and benchmarks train their judge (tests/digit_classifier.py
``train_classifier``: width 32, 25 epochs, 4,500 training digits plus 2,000 junk images, seed 0; about 150 s of one
core), so the lab's "as asked" figures come from the same classifier as the benchmarks'. Saved: the weights
(safetensors), the confidence threshold, and per digit the mean pairwise feature distance of its real training
digits (diversity's yardstick). Printed as JSON: what the judge reads on the 500 held-out digits and on fresh junk.
"""
import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
from digit_classifier import CONFIDENCE, load_data, make_junk, train_classifier  # noqa: E402

from diffusion.digit_judge import load_judge, mean_pairwise, save_judge  # noqa: E402

RESOLUTION, WIDTH = 20, 32


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=ROOT / "assets" / "digit-judge")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.time()
    data = load_data(RESOLUTION)
    judge = train_classifier(data, seed=args.seed)
    train_s = time.time() - t0
    net = judge.nets[0]
    with torch.no_grad():
        feats = net.eval().features(data["train_x"])
    real = [mean_pairwise(feats[data["train_y"] == d]) for d in range(10)]
    figures = {"seed": args.seed, "train_s": round(train_s, 1), "held_out_accuracy": round(judge.held_out_accuracy, 4),
               "junk_rejected": round(judge.junk_rejected, 4)}
    save_judge(args.out, net, RESOLUTION, WIDTH, CONFIDENCE, real, figures)

    # what the saved judge (loaded back, as the lab loads it) reads
    bundled = load_judge(args.out)
    as_labelled = torch.stack([bundled.as_asked(data["held_x"][i:i + 1], int(data["held_y"][i]))[0]
                               for i in range(len(data["held_x"]))]).float().mean()
    fresh_junk = make_junk(data["held_x"], 400, torch.Generator().manual_seed(args.seed + 1000))
    label, prob, _ = bundled.read(fresh_junk)
    junk_read_as_digit = float(((label != 10) & (prob >= bundled.confidence)).float().mean())
    held_diversity = [mean_pairwise(bundled.read(data["held_x"][data["held_y"] == d])[2]) / real[d] for d in range(10)]
    figures.update(held_out_read_as_labelled=round(float(as_labelled), 4),
                   fresh_junk_read_as_a_digit=round(junk_read_as_digit, 4),
                   held_out_diversity_min=round(min(held_diversity), 3),
                   held_out_diversity_max=round(max(held_diversity), 3))
    save_judge(args.out, net, RESOLUTION, WIDTH, CONFIDENCE, real, figures)
    print(json.dumps(figures, indent=2))
    return figures


if __name__ == "__main__":
    main()
