"""Rows of small pictures (digits) with a title on the left, stacked into one captioned frame."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from .canvas import font, to_pil

TILE = 100       # pixels per picture
GAP = 4
TITLE_W = 150    # the titles' column


def row_width(count: int) -> int:
    return TITLE_W + count * (TILE + GAP)


def strip(tiles: list[np.ndarray], title: str, width: int | None = None) -> Image.Image:
    """One row of pictures (uint8 [H, W] or [H, W, 3] each), enlarged to TILE pixels, with ``title`` on the left.
    Each picture is centred in a cell of TILE pixels (or its own size if larger), so rows of pictures of different
    sizes (a 20 x 20 digit enlarged to 100, an 11 x 11 latent mosaic to 99) keep their columns aligned."""
    ims = [to_pil(t, TILE).convert("RGB") for t in tiles]
    side = max(TILE, *(max(im.size) for im in ims))
    width = row_width(len(ims)) if width is None else width
    out = Image.new("RGB", (width, side + 4), "white")
    ImageDraw.Draw(out).text((4, side // 2), title, fill=(20, 20, 20), font=font(15), anchor="lm")
    x = width - len(ims) * (side + GAP)
    for im in ims:
        out.paste(im, (x + (side - im.size[0]) // 2, 2 + (side - im.size[1]) // 2))
        x += side + GAP
    return out


def stack(rows: list[Image.Image], caption: str = "", header: list[str] | None = None) -> Image.Image:
    """Rows one above the other, with column ``header`` labels above (one per picture) and ``caption`` below."""
    head = 26 if header else 0
    h = sum(r.size[1] for r in rows) + (28 if caption else 0) + head
    out = Image.new("RGB", (rows[0].size[0], h), "white")
    d = ImageDraw.Draw(out)
    if header:
        x = rows[0].size[0] - len(header) * (TILE + GAP)
        for label in header:
            d.text((x + TILE // 2, head // 2), label, fill=(20, 20, 20), font=font(15), anchor="mm")
            x += TILE + GAP
    y = head
    for r in rows:
        out.paste(r, (0, y))
        y += r.size[1]
    if caption:
        d.text((4, y + 14), caption, fill=(20, 20, 20), font=font(15), anchor="lm")
    return out
