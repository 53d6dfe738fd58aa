"""Which product each pixel of a mosaic came from, summed per patch: read from the mosaic's
provenance band (``source_index``, the index into its ``source_products`` tag; or ``source_mask``,
the bit mask of the products averaged, for ``mean_linear``).

Read one patch row at a time (120 rows × the window width), whatever the tile size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ben_sen1_assets.grid.patches import PATCH_SIZE_PX

from .errors import OutputError


@dataclass(frozen=True)
class PatchProvenance:
    """Per patch ``(x, y)``: pixels from each product (by name), and pixels with no product."""

    products: tuple[str, ...]
    rule: str
    band: str
    pixels: dict[tuple[int, int], dict[str, int]]
    no_data: dict[tuple[int, int], int]

    def shares(self) -> dict[str, float]:
        """Share of all patch pixels with data that each product supplied."""
        totals: dict[str, int] = {}
        for counts in self.pixels.values():
            for name, n in counts.items():
                totals[name] = totals.get(name, 0) + n
        whole = sum(totals.values())
        return {name: (n / whole if whole else 0.0) for name, n in sorted(totals.items())}


def _codes_to_products(codes: np.ndarray, band: str, products: Sequence[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    values, n = np.unique(codes, return_counts=True)
    for value, count in zip(values.tolist(), n.tolist()):
        if band == "source_index":
            names = [products[int(value)]] if 0 <= int(value) < len(products) else [f"<index {int(value)}>"]
        else:  # bit mask of the products averaged
            names = [products[i] for i in range(len(products)) if int(value) >> i & 1] or [f"<mask {int(value)}>"]
        for name in names:
            counts[name] = counts.get(name, 0) + count
    return counts


def patch_provenance(mosaic, patches: Sequence[tuple[int, int]]) -> PatchProvenance:
    """The provenance of ``patches`` (``(x, y)`` patch indices of the tile grid) in the mosaic
    COG ``mosaic`` (a path or UPath); :class:`OutputError` naming the file if it has no
    provenance band or a patch lies outside the mosaic."""
    import rasterio
    from rasterio.windows import Window
    from upath import UPath

    from ben_sen1_assets.formats.cog import open_raster

    from ben_sen1_assets.grid.tile import tile_grid

    from .mosaic import gdal_env, read_mosaic_sources

    with rasterio.Env(**gdal_env()), open_raster(UPath(mosaic)) as src:
        sources = read_mosaic_sources(src)
        band = sources["source_band"]
        names = list(src.descriptions)
        if band not in names:
            raise OutputError(f"{mosaic}: provenance band {band!r} missing; bands {names}")
        index = names.index(band) + 1
        # the mosaic may cover a window of the tile: its transform says where
        tile = tile_grid(sources["mgrs"])
        col0 = round((src.transform.c - tile.ulx) / src.transform.a)
        row0 = round((tile.uly - src.transform.f) / -src.transform.e)
        pixels: dict[tuple[int, int], dict[str, int]] = {}
        no_data: dict[tuple[int, int], int] = {}
        nodata = src.nodatavals[index - 1]
        by_row: dict[int, list[int]] = {}
        for x, y in patches:
            by_row.setdefault(y, []).append(x)
        for y, xs in sorted(by_row.items()):
            top = y * PATCH_SIZE_PX - row0
            if top < 0 or top + PATCH_SIZE_PX > src.height:
                raise OutputError(f"{mosaic}: patch row {y} lies outside the mosaic ({src.height} rows from tile row {row0})")
            row = src.read(index, window=Window(0, top, src.width, PATCH_SIZE_PX))
            for x in xs:
                left = x * PATCH_SIZE_PX - col0
                if left < 0 or left + PATCH_SIZE_PX > src.width:
                    raise OutputError(f"{mosaic}: patch {x}_{y} lies outside the mosaic columns")
                block = row[:, left : left + PATCH_SIZE_PX]
                missing = ~np.isfinite(block) if block.dtype.kind == "f" else np.zeros(block.shape, bool)
                if nodata is not None and np.isfinite(nodata):
                    missing |= block == nodata
                no_data[(x, y)] = int(missing.sum())
                pixels[(x, y)] = _codes_to_products(block[~missing].astype(np.int64), band, sources["products"])
    return PatchProvenance(tuple(sources["products"]), sources["rule"], band, pixels, no_data)
