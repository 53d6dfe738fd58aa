"""Histograms of backscatter (dB) as small palette images: VV and VH overlaid."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

#: the dB range drawn: BigEarthNet-S1 patches span about −37 … +7 dB
HISTOGRAM_RANGE_DB = (-40.0, 10.0)
VV_BLUE = (31, 119, 180)
VH_ORANGE = (255, 127, 14)
BOTH = (120, 110, 120)
AXIS = (150, 150, 150)


def db_histogram(vv: np.ndarray, vh: np.ndarray, bins: int = 100, height: int = 50,
                 db_range: tuple[float, float] = HISTOGRAM_RANGE_DB) -> Image.Image:
    """VV (blue) and VH (orange) histograms of finite dB values on one axis (grey ticks every
    10 dB, overlap grey-violet), each scaled to its own peak; 2 px per bin."""
    edges = np.linspace(db_range[0], db_range[1], bins + 1)
    counts = []
    for values in (vv, vh):
        finite = values[np.isfinite(values)]
        h, _ = np.histogram(np.clip(finite, db_range[0], db_range[1]), bins=edges)
        counts.append(h / h.max() if h.max() else h.astype(float))
    width = 2 * bins
    codes = np.zeros((height, width), np.uint8)
    rows = np.arange(height)[:, None]
    for k, c in enumerate(counts):
        bars = np.repeat(c, 2)
        tops = height - np.maximum(np.round(bars * height), np.where(bars > 0, 1, 0)).astype(int)
        codes |= np.where(rows >= tops[None, :], 1 << k, 0).astype(np.uint8)  # 1 VV, 2 VH, 3 both
    image = Image.fromarray(codes, mode="P")
    image.putpalette([v for rgb in ((255, 255, 255), VV_BLUE, VH_ORANGE, BOTH, AXIS) for v in rgb])
    draw = ImageDraw.Draw(image)
    for tick in np.arange(np.ceil(db_range[0] / 10) * 10, db_range[1] + 1e-9, 10.0):
        x = int(round((tick - db_range[0]) / (db_range[1] - db_range[0]) * (width - 1)))
        draw.line([(x, height - 4), (x, height - 1)], fill=4)
    draw.line([(0, height - 1), (width - 1, height - 1)], fill=4)
    return image
