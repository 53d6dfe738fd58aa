"""Inline images: under the UI's inline limit, and decoding back to the picture they encode."""

from __future__ import annotations

import base64
import io
import re
from urllib.parse import unquote

import numpy as np
import pytest
from PIL import Image

from ben_sen1_assets.previews.inline import INLINE_MARKDOWN_LIMIT, full_markdown, inline_markdown


def _embedded(md: str) -> Image.Image:
    """The raster inside the markdown's SVG data URI, decoded."""
    svg = unquote(re.fullmatch(r"!\[[^\]]*\]\(data:image/svg\+xml,(.*)\)", md, re.S).group(1))
    assert svg.startswith("<svg xmlns='http://www.w3.org/2000/svg'")
    mime, payload = re.search(r"href='data:(image/\w+);base64,([^']+)'", svg).groups()
    image = Image.open(io.BytesIO(base64.b64decode(payload)))
    assert image.format.lower() == mime.split("/")[1]
    return image


def _map(size: int = 91) -> Image.Image:
    yy, xx = np.mgrid[0:size, 0:size]
    codes = np.where(xx + 0.3 * yy > 30, np.where(yy < 40, 1, 2), 0).astype(np.uint8)
    image = Image.fromarray(codes, mode="P")
    image.putpalette([255, 255, 255, 31, 119, 180, 255, 127, 14])
    return image


def test_map_fits_and_decodes_losslessly():
    image = _map()
    md = inline_markdown(image, "map", 273, lossy=False)
    assert len(md) < INLINE_MARKDOWN_LIMIT
    decoded = _embedded(md)
    assert decoded.size == image.size
    assert np.array_equal(np.asarray(decoded.convert("RGB")), np.asarray(image.convert("RGB")))
    assert "width='273' height='273'" in unquote(md) and "pixelated" in unquote(md)


def test_first_rendering_that_fits_wins():
    small, large = _map(91), _map(91).resize((273, 273), Image.Resampling.NEAREST)
    md = inline_markdown([large, small], "map", 273, lossy=False)
    assert len(md) < INLINE_MARKDOWN_LIMIT
    assert _embedded(md).size in {(273, 273), (91, 91)}


def test_noisy_quicklook_is_lossy_and_fits():
    rng = np.random.default_rng(1)
    rgb = (rng.random((96, 96, 3)) * 255).astype(np.uint8)  # incompressible: forces size steps
    md = inline_markdown(Image.fromarray(rgb), "quicklook", 288, lossy=True)
    assert len(md) < INLINE_MARKDOWN_LIMIT
    decoded = _embedded(md)
    assert decoded.format == "AVIF" and decoded.width <= 96


def test_smooth_quicklook_keeps_its_colours():
    ramp = np.zeros((64, 64, 3), np.uint8)
    ramp[..., 0] = np.linspace(0, 255, 64)[None, :]
    ramp[..., 2] = 200
    md = inline_markdown(Image.fromarray(ramp), "ramp", 256, lossy=True)
    decoded = np.asarray(_embedded(md).convert("RGB").resize((64, 64)), dtype=float)
    # lossy: the mean colour within a few levels, the ramp's left-right order kept
    assert np.abs(decoded.mean(axis=(0, 1)) - ramp.mean(axis=(0, 1))).max() < 6
    assert decoded[:, -8:, 0].mean() - decoded[:, :8, 0].mean() > 180


def test_too_long_a_title_is_refused():
    with pytest.raises(ValueError, match="no encoding"):
        inline_markdown(_map(), "x" * 1000, 273, lossy=False)


def test_full_markdown_is_a_png_data_uri():
    md = full_markdown(_map(), "map")
    payload = re.search(r"data:image/png;base64,([^)]+)\)", md).group(1)
    assert Image.open(io.BytesIO(base64.b64decode(payload))).size == (91, 91)
