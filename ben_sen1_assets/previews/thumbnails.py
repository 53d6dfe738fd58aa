"""Quicklooks of tile rasters and thumbnail grids of patches (R = VV, G = VH, B = VV − VH in dB,
the stretch of :data:`ben_sen1_assets.outputs.mosaic.QUICKLOOK_STRETCH_DB`; no data white)."""

from __future__ import annotations

import warnings

import numpy as np
from PIL import Image

from ben_sen1_assets.outputs.mosaic import quicklook_image


def _on_white(rgba: Image.Image) -> Image.Image:
    background = Image.new("RGB", rgba.size, (255, 255, 255))
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background


def raster_quicklook(path, window=None, max_size: int = 96) -> Image.Image:
    """Quicklook of the VV and VH bands of a tile raster (a COG path or UPath; dB, or linear
    when its ``units`` tag says so), read from its overviews at most ``max_size`` px on the longer
    side, within ``window`` (a rasterio Window on the raster) if given."""
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.windows import Window
    from upath import UPath

    from ben_sen1_assets.formats.cog import open_raster
    from ben_sen1_assets.outputs.mosaic import gdal_env

    with rasterio.Env(**gdal_env()), open_raster(UPath(path)) as src:
        window = window or Window(0, 0, src.width, src.height)
        scale = max(window.width, window.height) / max_size
        shape = (max(1, round(window.height / scale)), max(1, round(window.width / scale)))
        names = list(src.descriptions)
        bands = [names.index("VV") + 1, names.index("VH") + 1]
        linear = src.tags().get("units", "dB") == "linear"  # the chain's COGs say their scale
        vv, vh = src.read(bands, window=window, out_shape=(2, *shape), resampling=Resampling.average,
                          boundless=False)
    if linear:  # averaged in power (as overviews of linear values are), shown in dB
        with np.errstate(divide="ignore", invalid="ignore"):
            vv, vh = 10.0 * np.log10(vv), 10.0 * np.log10(vh)
    return _on_white(quicklook_image(vv, vh))


def patch_thumbnails(backscatter: np.ndarray, columns: int = 4, size: int = 40) -> Image.Image:
    """A grid of patches (``backscatter``: (n, [VV, VH], y, x) dB), ``columns`` wide, each
    averaged down to ``size`` px, separated by 2 px of white."""
    n = backscatter.shape[0]
    rows = max(1, -(-n // columns))
    gap = 2
    sheet = Image.new("RGB", (columns * (size + gap) - gap, rows * (size + gap) - gap), (255, 255, 255))
    for i in range(n):
        vv, vh = backscatter[i, 0], backscatter[i, 1]
        factor = max(1, vv.shape[0] // size)
        if factor > 1:
            vv, vh = _block_mean_db(vv, factor), _block_mean_db(vh, factor)
        tile = _on_white(quicklook_image(vv, vh)).resize((size, size), Image.Resampling.BOX)
        sheet.paste(tile, ((i % columns) * (size + gap), (i // columns) * (size + gap)))
    return sheet


def _block_mean_db(db: np.ndarray, factor: int) -> np.ndarray:
    """Mean of ``factor`` × ``factor`` blocks in linear power, back in dB; NaN where a block has
    no data."""
    h, w = (db.shape[0] // factor) * factor, (db.shape[1] // factor) * factor
    linear = np.power(10.0, db[:h, :w].astype(np.float64) / 10.0)
    with warnings.catch_warnings():  # all-NaN blocks stay NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(linear.reshape(h // factor, factor, w // factor, factor), axis=(1, 3))
        return 10.0 * np.log10(mean)


def sample_indices(n: int, k: int) -> list[int]:
    """``k`` indices spread evenly over ``range(n)`` (all of them when n <= k)."""
    if n <= k:
        return list(range(n))
    return sorted({int(round(i)) for i in np.linspace(0, n - 1, k)})
