"""A bundled digit judge: reads what digit a generated 20 x 20 sample shows, and how varied a batch of them is.

The network is the project's digit classifier (``DigitNet``: conv-pool-conv-pool-conv, 128 features, 11 logits:
the 10 digits and a **junk** class, "not a digit", so a scribble has somewhere to go), trained by
``scripts/train_digit_judge.py`` exactly as the tests and benchmarks train theirs (``tests/digit_classifier.py``,
seed 0) and saved as safetensors with a config beside it. The lab uses it to put numbers on generated digits:

* **as asked**: the share of samples whose top class is the digit asked for with probability >= ``confidence``
  (0.9); the junk class is never a digit;
* **diversity**: the mean distance between two samples in the classifier's 128 features, over the same figure for
  the real training digits of that class (stored in the config): 1 = as varied as the real digits, 0 = all alike.

The benchmarks' judge adds a feature-space distance to the nearest training digit (it needs the training set, which
the lab does not bundle); the lab's figures are the classifier's own, and the text says so.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["DigitNet", "DigitJudge", "load_judge", "save_judge", "mean_pairwise", "JUNK", "BUNDLED_DIR", "CONFIG_NAME",
           "WEIGHTS_NAME"]

JUNK = 10
CONFIG_NAME, WEIGHTS_NAME = "config.json", "model.safetensors"
BUNDLED_DIR = Path(__file__).resolve().parents[1] / "assets" / "digit-judge"


class DigitNet(nn.Module):
    """conv(w)-pool-conv(2w)-pool-conv(4w), batch-normed -> 128 features -> 11 logits (10 digits + junk)."""

    def __init__(self, resolution: int, width: int = 32):
        super().__init__()
        self.conv1 = nn.Conv2d(1, width, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(2 * width)
        self.conv3 = nn.Conv2d(2 * width, 4 * width, 3, padding=1)
        self.bn3 = nn.BatchNorm2d(4 * width)
        side = resolution // 4
        self.fc = nn.Linear(4 * width * side * side, 128)
        self.out = nn.Linear(128, 11)

    def features(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        x = F.relu(self.bn3(self.conv3(x)))
        return F.relu(self.fc(x.flatten(1)))

    def forward(self, x):
        return self.out(self.features(x))


def mean_pairwise(features: torch.Tensor) -> float:
    """Mean Euclidean distance between two different rows of ``features`` [n, d] (n >= 2)."""
    n = len(features)
    if n < 2:
        raise ValueError(f"diversity needs at least 2 samples, got {n}")
    d = torch.cdist(features.double(), features.double())
    return float(d.sum() / (n * (n - 1)))


@dataclass
class DigitJudge:
    net: DigitNet
    resolution: int
    confidence: float                 # a sample reads as digit d when p(d) >= this and d is its top class
    real_diversity: list[float]       # mean_pairwise of the real training digits' features, per digit
    figures: dict                     # what the training script measured (held-out accuracy, junk rejected ...)

    def _check(self, x: torch.Tensor) -> torch.Tensor:
        r = self.resolution
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or tuple(x.shape[1:]) != (1, r, r):
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"the digit judge reads images [N, 1, {r}, {r}] in [-1, 1], got {shape}")
        return torch.nan_to_num(x.detach().float(), nan=-1.0).clamp(-1, 1)

    @torch.no_grad()
    def read(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Images [N, 1, R, R] in [-1, 1] -> (top class [N] (10 = junk), its probability [N], features [N, 128])."""
        feats = self.net.eval().features(self._check(x))
        prob, label = self.net.out(feats).softmax(-1).max(-1)
        return label, prob, feats

    def as_asked(self, x: torch.Tensor, digit: int) -> torch.Tensor:
        """Per image: read confidently as ``digit`` (bool [N])."""
        digit = _digit(digit)
        label, prob, _ = self.read(x)
        return (label == digit) & (prob >= self.confidence)

    def diversity(self, x: torch.Tensor, digit: int) -> float:
        """Mean pairwise feature distance of the images over that of the real digits ``digit``."""
        return mean_pairwise(self.read(x)[2]) / self.real_diversity[_digit(digit)]


def _digit(digit) -> int:
    if isinstance(digit, bool) or not isinstance(digit, int) or not 0 <= digit <= 9:
        raise ValueError(f"digit must be an integer 0-9, got {digit!r}")
    return digit


def save_judge(folder: Path, net: DigitNet, resolution: int, width: int, confidence: float,
               real_diversity: list[float], figures: dict) -> None:
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(folder / WEIGHTS_NAME))
    config = dict(resolution=resolution, width=width, confidence=confidence,
                  real_diversity=[round(float(d), 6) for d in real_diversity], figures=figures)
    (folder / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")


def load_judge(folder: Path) -> DigitJudge:
    """The judge saved in ``folder`` (safetensors weights, config.json); ValueError if anything is missing or off."""
    from safetensors.torch import load_file

    folder = Path(folder)
    try:
        config = json.loads((folder / CONFIG_NAME).read_text())
        weights = load_file(str(folder / WEIGHTS_NAME))
    except (OSError, ValueError) as exc:
        raise ValueError(f"no digit judge in {folder}: {exc}") from None
    diversity = config.get("real_diversity")
    if not (isinstance(diversity, list) and len(diversity) == 10 and all(d > 0 for d in diversity)):
        raise ValueError(f"the digit judge's config needs 10 positive real_diversity figures, got {diversity!r}")
    try:
        net = DigitNet(int(config["resolution"]), int(config["width"]))
        net.load_state_dict(weights)        # strict: every tensor present and of the right shape
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"the digit judge's weights in {folder} do not fit its config "
                         f"({str(exc).splitlines()[0][:200]})") from None
    return DigitJudge(net.eval(), int(config["resolution"]), float(config["confidence"]),
                      [float(d) for d in diversity], dict(config.get("figures", {})))
