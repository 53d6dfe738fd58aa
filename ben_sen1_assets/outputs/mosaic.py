"""Per-tile mosaics of the per-product backscatter COGs, with a per-pixel provenance band.

Inputs are the SAR chain's COGs, one per (S1 product, tile): on the tile's 10 m UTM grid
(possibly a window of it), bands ``VV`` and ``VH`` float32 (NaN = no data) and tags
``source_product``, ``start_time``, ``mission`` (+ processing parameters). Their ``units`` tag
says ``linear`` (the flow's default: unclipped, negative where the noise exceeds the signal) or
``dB`` (absent: dB). Linear values are combined in the linear domain and converted to dB only
when written, with the ``negative``/``negative_floor`` policy of the source's ``processing``
tag (closest product's for averages), so averaging sees the unbiased values of dark areas.

The mosaic is a COG with three (five) float32 bands on the same grid:

* ``VV``, ``VH`` in dB (NaN where no product has data);
* ``source_index`` (rules ``closest_per_patch``, ``closest_per_pixel``): the index of the
  product the pixel comes from in the ``source_products`` tag (JSON list of full product
  names), NaN where none; or ``source_mask`` (rule ``mean_linear``): the bit mask
  ``sum(2**i)`` of the products averaged at that pixel (exact in float32 for <= 24 products).

* ``local_incidence_angle`` (degrees) and ``mask`` (the uint8 bits of
  :mod:`ben_sen1_assets.sar.masks`), when every source carries them: per pixel from the product
  the backscatter comes from (``mean_linear``: the mask bits of all averaged products OR-ed, the
  angle of the closest one); where no product has data, from the closest product covering the
  pixel (its mask says why: no data, shadow, ...), else mask ``no_data`` and NaN.

A GeoTIFF has one data type for all bands; small integers are exact in float32, so the
provenance and mask bands share the file instead of living in a second one.

Rules (:class:`MosaicConfig`):

* ``closest_per_patch`` (default): each 120 px patch is taken from the one product the
  selection chose for it (``patch_choice``: ``(x, y) -> product name``). Pixels where that
  product is NaN stay NaN unless ``fill_gaps=True`` (then filled from the other products, closest
  in time first). Default off: BigEarthNet-S1 cuts every patch from exactly one product and the
  patch's name carries that product's start time, so mixing products inside a patch would make
  the name lie. Pixels of patches with no choice (outside the scope but inside the window, and
  the 60 px strip past patch 90) are filled per pixel, closest product first.
* ``closest_per_pixel``: per pixel, the valid product closest in time to the S2 sensing.
* ``mean_linear``: the mean in linear power of all valid products, then dB.

A product is *valid* at a pixel when both its VV and VH are finite. Ties in time distance are
broken by product name, so results do not depend on input order.

Work is done in blocks of whole patch rows (``block_rows``), each source read only over the
block, and the result handed block by block to the COG writer (``formats.cog_writer``), which
encodes its tiles and overviews while the next block is combined: the COG is written once,
band-interleaved, not converted from an intermediate GeoTIFF by GDAL's COG driver. A whole 32TQM
from one full-size product (`mean_linear`, two runs each): 9.3–9.4 s, 13.7–14.3 s CPU, 985–991 MB
peak RSS, a 505 MB COG, against 23.8–25.9 s, 37.9–39.9 s CPU, 1075–1152 MB and 707 MB with the
conversion (10.6 s of it); the same full-resolution pixels, the same VV, VH and angle overviews.
The overviews of the source band and the mask now pick a pixel of each 2 × 2 cell (codes and
bits) where the conversion averaged them. Memory: the sources' and the output's block
(``(n_products + 2) * 2 * block_rows * width * 4`` bytes and 5 bands of the output), the block
the writer encodes, and a row of 512-px tiles per level.
"""

from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np
import rasterio
from PIL import Image
from rasterio.enums import Resampling
from rasterio.windows import Window
from upath import UPath

from ben_sen1_assets.formats.cog import open_raster
from ben_sen1_assets.formats.cog_writer import CogWriter
from ben_sen1_assets.grid.patches import N_PATCHES_PER_SIDE, PATCH_SIZE_PX
from ben_sen1_assets.grid.tile import RESOLUTION_M, TILE_SIZE_PX, TileGrid, tile_grid

from .errors import OutputError

#: per-product (and mosaic) band names of the analysis-ready layers (as the SAR chain writes them)
LIA_BAND = "local_incidence_angle"
MASK_BAND = "mask"

__all__ = [
    "RULES",
    "MosaicConfig",
    "SourceProduct",
    "MosaicResult",
    "read_source_product",
    "mosaic_tile",
    "read_mosaic_sources",
    "quicklook_image",
    "quicklook",
    "quicklook_png",
    "QUICKLOOK_STRETCH_DB",
    "gdal_env",
]

RULES = ("closest_per_patch", "closest_per_pixel", "mean_linear")
BANDS = ("VV", "VH")
MAX_MASK_PRODUCTS = 24  # float32 represents integers exactly up to 2**24

# quicklook stretches (dB -> 0..255): R = VV, G = VH, B = VV - VH (the VV/VH ratio in dB)
QUICKLOOK_STRETCH_DB = {"VV": (-25.0, 0.0), "VH": (-30.0, -5.0), "VV/VH": (0.0, 15.0)}


@dataclass(frozen=True)
class MosaicConfig:
    """How per-product COGs are combined (see the module docstring for the rules)."""

    rule: str = "closest_per_patch"
    fill_gaps: bool = False  # closest_per_patch only: fill NaN of the chosen product from others
    block_rows: int = 360  # rows per processing block; a multiple of 120 (whole patch rows)

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise OutputError(f"MosaicConfig.rule={self.rule!r} unknown; expected one of {RULES}")
        if self.block_rows <= 0 or self.block_rows % PATCH_SIZE_PX:
            raise OutputError(
                f"MosaicConfig.block_rows={self.block_rows}; expected a positive multiple of "
                f"{PATCH_SIZE_PX}"
            )


@dataclass(frozen=True)
class SourceProduct:
    """One per-product COG: its S1 product name, acquisition and window in the tile grid."""

    name: str
    mission: str
    start_time: datetime  # UTC
    path: UPath
    window: Window  # pixel window of the COG in the tile's 10 m grid
    band_index: tuple[int, int]  # 1-based band numbers of VV, VH
    tags: dict[str, str] = field(default_factory=dict, compare=False)
    units: str = "dB"  # "dB" or "linear" (the COG's ``units`` tag)
    layer_index: tuple[int, int] | None = None  # 1-based bands local_incidence_angle, mask (if any)
    negative: tuple[str, float] = ("nan", 1e-5)  # dB conversion policy (processing tag)


@dataclass(frozen=True)
class MosaicResult:
    """What :func:`mosaic_tile` wrote."""

    path: UPath
    window: Window  # in the tile grid
    products: tuple[str, ...]  # index -> full product name (the provenance band's lookup)
    rule: str
    valid_fraction: float  # share of window pixels with data


def _parse_time(text: str, where: str) -> datetime:
    t = text.strip()
    if t.endswith(("Z", "z")):
        t = t[:-1] + "+00:00"
    try:
        d = datetime.fromisoformat(t)
    except ValueError:
        raise OutputError(f"{where}: cannot parse {text!r}; expected an ISO 8601 time") from None
    return d.replace(tzinfo=timezone.utc) if d.tzinfo is None else d.astimezone(timezone.utc)


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)


def read_source_product(path: UPath | str, tile: TileGrid | str) -> SourceProduct:
    """Open a per-product COG's header and check it lies on ``tile``'s grid.

    Raises :class:`OutputError` naming the file and the field (CRS, resolution, alignment,
    bands, tags) that does not match.
    """
    t = tile if isinstance(tile, TileGrid) else tile_grid(tile)
    path = UPath(path)
    with open_raster(path) as src:
        tags = src.tags()
        tr = src.transform
        if src.crs is None or src.crs.to_epsg() != t.epsg:
            raise OutputError(f"{path}: CRS {src.crs}; expected EPSG:{t.epsg} of tile {t.mgrs}")
        if not (math.isclose(tr.a, RESOLUTION_M) and math.isclose(tr.e, -RESOLUTION_M)
                and tr.b == 0 and tr.d == 0):
            raise OutputError(f"{path}: transform {tuple(tr)[:6]}; expected 10 m north-up pixels")
        col = (tr.c - t.ulx) / RESOLUTION_M
        row = (t.uly - tr.f) / RESOLUTION_M
        if not (col.is_integer() and row.is_integer()):
            raise OutputError(
                f"{path}: origin ({tr.c}, {tr.f}) not on tile {t.mgrs}'s 10 m grid "
                f"(UL {t.ulx}, {t.uly}); expected a whole-pixel offset"
            )
        window = Window(int(col), int(row), src.width, src.height)
        if (window.col_off < 0 or window.row_off < 0 or window.col_off + window.width > TILE_SIZE_PX
                or window.row_off + window.height > TILE_SIZE_PX):
            raise OutputError(f"{path}: window {window} reaches outside tile {t.mgrs}")
        names = list(src.descriptions)
        try:
            band_index = (names.index("VV") + 1, names.index("VH") + 1)
        except ValueError:
            raise OutputError(f"{path}: band descriptions {names}; expected bands 'VV' and 'VH'") from None
        if src.dtypes[band_index[0] - 1] != "float32" or src.dtypes[band_index[1] - 1] != "float32":
            raise OutputError(f"{path}: band dtypes {src.dtypes}; expected float32")
        layer_index = None
        if LIA_BAND in names and MASK_BAND in names:
            layer_index = (names.index(LIA_BAND) + 1, names.index(MASK_BAND) + 1)
    for key in ("source_product", "start_time", "mission"):
        if not tags.get(key):
            raise OutputError(f"{path}: tag {key!r} missing; expected it on every per-product COG")
    units = tags.get("units", "dB")
    if units not in ("dB", "linear"):
        raise OutputError(f"{path}: tag 'units' = {units!r}; expected 'dB' or 'linear'")
    negative = ("nan", 1e-5)
    if tags.get("processing"):
        try:
            processing = json.loads(tags["processing"])
        except json.JSONDecodeError:
            raise OutputError(f"{path}: tag 'processing' is not JSON") from None
        negative = (str(processing.get("negative", "nan")), float(processing.get("negative_floor", 1e-5)))
    return SourceProduct(
        name=tags["source_product"].removesuffix(".SAFE"),
        mission=tags["mission"],
        start_time=_parse_time(tags["start_time"], f"{path}: tag 'start_time'"),
        path=path,
        window=window,
        band_index=band_index,
        tags=tags,
        units=units,
        negative=negative,
        layer_index=layer_index,
    )


GDAL_CACHE_BYTES = 256 * 2**20


def gdal_env() -> dict:
    """``rasterio.Env`` options for the output builders: compress/decompress on all cores and a
    bounded block cache (GDAL's default is 5 % of RAM, ~1.2 GB on a 24 GB worker), unless the
    user set ``GDAL_NUM_THREADS`` / ``GDAL_CACHEMAX`` in the environment."""
    env: dict = {"GDAL_NUM_THREADS": os.environ.get("GDAL_NUM_THREADS", "ALL_CPUS")}
    if "GDAL_CACHEMAX" not in os.environ:
        env["GDAL_CACHEMAX"] = GDAL_CACHE_BYTES  # an int: rasterio calls GDALSetCacheMax64 (bytes)
    return env


def _union(windows: Sequence[Window]) -> Window:
    c0 = min(w.col_off for w in windows)
    r0 = min(w.row_off for w in windows)
    c1 = max(w.col_off + w.width for w in windows)
    r1 = max(w.row_off + w.height for w in windows)
    return Window(c0, r0, c1 - c0, r1 - r0)


def _read_block(src: SourceProduct, ds, r0: int, r1: int, c0: int, c1: int, layers: bool) -> np.ndarray | None:
    """VV, VH (and local incidence angle, mask if ``layers``) of ``src`` over tile rows r0:r1,
    cols c0:c1 (NaN outside its window)."""
    w = src.window
    rr0, rr1 = max(r0, w.row_off), min(r1, w.row_off + w.height)
    cc0, cc1 = max(c0, w.col_off), min(c1, w.col_off + w.width)
    if rr0 >= rr1 or cc0 >= cc1:
        return None
    bands = [*src.band_index, *(src.layer_index if layers else ())]
    out = np.full((len(bands), r1 - r0, c1 - c0), np.nan, dtype=np.float32)
    win = Window(cc0 - w.col_off, rr0 - w.row_off, cc1 - cc0, rr1 - rr0)
    out[:, rr0 - r0 : rr1 - r0, cc0 - c0 : cc1 - c0] = ds.read(bands, window=win)
    return out


def mosaic_tile(
    sources: Sequence[UPath | str],
    tile: TileGrid | str,
    sensing_time: datetime,
    out: UPath | str,
    *,
    config: MosaicConfig = MosaicConfig(),
    patch_choice: Mapping[tuple[int, int], str] | None = None,
    window: Window | None = None,
) -> MosaicResult:
    """Mosaic the per-product COGs ``sources`` of one tile into the COG ``out`` (atomically).

    ``sensing_time``: the S2 sensing time (time distances are taken to it). ``patch_choice``:
    ``(x, y) -> product name`` (with or without ``.SAFE``), required by ``closest_per_patch``
    and ignored by the other rules.
    ``window``: the tile-grid pixel window to write; default the union of the sources' windows.
    """
    t = tile if isinstance(tile, TileGrid) else tile_grid(tile)
    if not sources:
        raise OutputError(f"tile {t.mgrs}: no per-product COGs given; expected at least one")
    products = [read_source_product(p, t) for p in sources]
    names = [p.name for p in products]
    if len(set(names)) != len(names):
        raise OutputError(f"tile {t.mgrs}: duplicate source products {sorted(names)}")
    s2 = _utc(sensing_time)
    # lookup table order = closeness to the S2 sensing (ties by name): index 0 is the closest
    products.sort(key=lambda p: (abs((p.start_time - s2).total_seconds()), p.name))
    names = [p.name for p in products]
    index_of = {n: i for i, n in enumerate(names)}
    if config.rule == "mean_linear" and len(products) > MAX_MASK_PRODUCTS:
        raise OutputError(
            f"tile {t.mgrs}: {len(products)} products for mean_linear; at most "
            f"{MAX_MASK_PRODUCTS} fit the float32 source_mask band"
        )

    win = window if window is not None else _union([p.window for p in products])
    win = Window(int(win.col_off), int(win.row_off), int(win.width), int(win.height))
    if (win.col_off < 0 or win.row_off < 0 or win.width <= 0 or win.height <= 0
            or win.col_off + win.width > TILE_SIZE_PX or win.row_off + win.height > TILE_SIZE_PX):
        raise OutputError(f"tile {t.mgrs}: mosaic window {win} not inside the 10980 px tile")

    choice = np.full((N_PATCHES_PER_SIDE + 1, N_PATCHES_PER_SIDE + 1), -1, dtype=np.int16)
    if config.rule == "closest_per_patch":
        if patch_choice is None:
            raise OutputError(
                f"tile {t.mgrs}: rule closest_per_patch needs patch_choice ((x, y) -> product)"
            )
        for (x, y), name in patch_choice.items():
            key = str(name).removesuffix(".SAFE")
            if key not in index_of:
                raise OutputError(
                    f"tile {t.mgrs}: patch_choice[{x}, {y}] = {name!r} is not among the source "
                    f"products {names}"
                )
            if not (0 <= x < N_PATCHES_PER_SIDE and 0 <= y < N_PATCHES_PER_SIDE):
                raise OutputError(f"tile {t.mgrs}: patch_choice key ({x}, {y}) out of 0..90")
            choice[y, x] = index_of[key]

    transform = t.transform @ t.transform.translation(win.col_off, win.row_off)
    tags = {
        "mgrs": t.mgrs,
        "s2_sensing_time": s2.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "mosaic_rule": config.rule,
        "fill_gaps": json.dumps(config.fill_gaps),
        "source_band": "source_mask" if config.rule == "mean_linear" else "source_index",
        "source_products": json.dumps(names),
        "source_start_times": json.dumps([p.start_time.strftime("%Y-%m-%dT%H:%M:%S.%fZ") for p in products]),
        "source_missions": json.dumps([p.mission for p in products]),
        "source_tags": json.dumps({p.name: p.tags for p in products}, sort_keys=True),
        "window": json.dumps([win.col_off, win.row_off, win.width, win.height]),
    }
    layers = all(p.layer_index is not None for p in products)
    if layers:
        tags["mask_bits"] = products[0].tags.get("mask_bits", "")
        tags["local_incidence_angle_units"] = "degree"
    if config.rule == "closest_per_patch":
        tags["patch_choice"] = json.dumps(
            {f"{x}_{y}": names[int(choice[y, x])] for (x, y) in sorted(patch_choice or {})}
        )

    n_valid = 0
    names_out = ("VV", "VH", tags["source_band"]) + ((LIA_BAND, MASK_BAND) if layers else ())
    # the source band and the mask hold codes and bits: their overviews pick a pixel, not a mean
    categorical = (2, 4) if layers else (2,)
    with rasterio.Env(**gdal_env()):
        handles = [open_raster(p.path) for p in products]
        try:
            # the COG written once, its tiles encoded while the next block is combined
            with CogWriter(UPath(out), win.height, win.width, len(names_out), np.float32, t.crs, transform,
                           band_names=names_out, tags=tags, categorical=categorical) as writer:
                c0, c1 = win.col_off, win.col_off + win.width
                for r0 in range(win.row_off, win.row_off + win.height, config.block_rows):
                    r1 = min(r0 + config.block_rows, win.row_off + win.height)
                    blocks = [_read_block(p, h, r0, r1, c0, c1, layers) for p, h in zip(products, handles)]
                    backscatter = [None if b is None else b[:2] for b in blocks]
                    data, prov = _combine(backscatter, config, choice, r0, r1, c0, c1, products)
                    n_valid += int(np.count_nonzero(np.isfinite(prov)))
                    block = np.empty((len(names_out), r1 - r0, win.width), np.float32)
                    block[:2] = data
                    block[2] = prov
                    if layers:
                        block[3:] = _layers(blocks, prov, config.rule)
                    writer.write(block)
        finally:
            for h in handles:
                h.close()
    return MosaicResult(
        path=UPath(out), window=win, products=tuple(names), rule=config.rule,
        valid_fraction=n_valid / (win.width * win.height),
    )


def _layers(blocks, prov: np.ndarray, rule: str) -> np.ndarray:
    """(local incidence angle, mask) per pixel from the products the backscatter came from."""
    from ben_sen1_assets.sar.masks import NO_DATA

    h, w = prov.shape
    lia = np.full((h, w), np.nan, dtype=np.float32)
    mask = np.zeros((h, w), dtype=np.uint8)
    has = np.isfinite(prov)
    index = np.where(has, prov, 0).astype(np.int64)
    if rule == "mean_linear":
        for i in reversed(range(len(blocks))):  # the closest contributor's angle is written last
            b = blocks[i]
            if b is None:
                continue
            used = has & ((index >> i) & 1).astype(bool)
            lia[used] = b[2][used]
            mask[used] |= b[3][used].astype(np.uint8)
    else:
        for i, b in enumerate(blocks):
            if b is None:
                continue
            used = has & (index == i)
            lia[used] = b[2][used]
            mask[used] = b[3][used].astype(np.uint8)
    # no data anywhere: the closest product covering the pixel says why (no data, shadow, ...)
    todo = ~has
    for b in blocks:
        if b is None or not todo.any():
            continue
        covered = todo & np.isfinite(b[3])
        lia[covered] = b[2][covered]
        mask[covered] = b[3][covered].astype(np.uint8)
        todo &= ~covered
    mask[todo] = NO_DATA
    return np.stack([lia, mask.astype(np.float32)])


def _pick(out: np.ndarray, prov: np.ndarray, data: np.ndarray, take: np.ndarray, index: int) -> None:
    np.copyto(out, data, where=take[np.newaxis])
    np.copyto(prov, np.float32(index), where=take)


def _linear(block: np.ndarray, src: SourceProduct) -> np.ndarray:
    """A source block in linear power (dB sources converted; linear ones as they are)."""
    if src.units == "linear":
        return block
    return np.power(np.float32(10.0), block / np.float32(10.0))


def _decibels(block: np.ndarray, negative: tuple[str, float]) -> np.ndarray:
    from ben_sen1_assets.sar.radiometry import to_db

    return to_db(block, *negative)


def _combine(blocks, config: MosaicConfig, choice: np.ndarray, r0: int, r1: int, c0: int, c1: int,
             products: Sequence[SourceProduct]):
    """Combine the sources' block arrays (list, None = no overlap) by the configured rule → dB."""
    h, w = r1 - r0, c1 - c0
    out = np.full((2, h, w), np.nan, dtype=np.float32)
    prov = np.full((h, w), np.nan, dtype=np.float32)

    if config.rule == "mean_linear":
        # linear values as they are (unclipped): the mean of a dark area is not biased upwards
        valid = [None if b is None else np.isfinite(b).all(axis=0) for b in blocks]
        total = np.zeros((2, h, w), dtype=np.float64)
        count = np.zeros((h, w), dtype=np.uint8)
        mask = np.zeros((h, w), dtype=np.float32)
        for i, (b, v) in enumerate(zip(blocks, valid)):
            if b is None:
                continue
            total[:, v] += _linear(b, products[i])[:, v]
            count[v] += 1
            mask[v] += np.float32(2**i)
        has = count > 0
        mean = np.full((2, h, w), np.nan, dtype=np.float32)
        mean[:, has] = total[:, has] / count[has]
        out[:] = _decibels(mean, products[0].negative)
        out[:, ~has] = np.nan
        prov[has] = mask[has]  # also where a non-positive mean gives NaN dB (policy "nan")
        return out, prov

    # pick rules: each source in dB (its own conversion policy), then pick per patch / pixel
    blocks = [None if b is None else (b if p.units == "dB" else _decibels(b, p.negative))
              for b, p in zip(blocks, products)]
    valid = [None if b is None else np.isfinite(b).all(axis=0) for b in blocks]

    if config.rule == "closest_per_patch":
        # the patch each pixel belongs to (91 = the partial strip past the last whole patch)
        prow = np.minimum(np.arange(r0, r1) // PATCH_SIZE_PX, N_PATCHES_PER_SIDE)
        pcol = np.minimum(np.arange(c0, c1) // PATCH_SIZE_PX, N_PATCHES_PER_SIDE)
        chosen = choice[np.ix_(prow, pcol)]  # (h, w) product index or -1
        for i, (b, v) in enumerate(zip(blocks, valid)):
            if b is not None:
                _pick(out, prov, b, (chosen == i) & v, i)
        refill = chosen < 0
        if config.fill_gaps:
            refill = np.ones((h, w), dtype=bool)
    else:
        refill = np.ones((h, w), dtype=bool)
    # per pixel, closest product first (products are sorted by time distance)
    for i, (b, v) in enumerate(zip(blocks, valid)):
        if b is not None:
            _pick(out, prov, b, refill & v & np.isnan(prov), i)
    return out, prov


def read_mosaic_sources(src: rasterio.DatasetReader) -> dict:
    """The provenance lookup of an open mosaic COG: products, start times, missions, rule."""
    tags = src.tags()
    try:
        return {
            "products": json.loads(tags["source_products"]),
            "start_times": [_parse_time(s, "source_start_times") for s in json.loads(tags["source_start_times"])],
            "missions": json.loads(tags["source_missions"]),
            "rule": tags["mosaic_rule"],
            "source_band": tags["source_band"],
            "patch_choice": json.loads(tags.get("patch_choice", "{}")),
            "s2_sensing_time": _parse_time(tags["s2_sensing_time"], "s2_sensing_time"),
            "mgrs": tags["mgrs"],
        }
    except KeyError as exc:
        raise OutputError(f"{src.name}: tag {exc.args[0]!r} missing; not a mosaic COG") from None


def _stretch(a: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return (np.clip((a - lo) / (hi - lo), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def quicklook_image(vv: np.ndarray, vh: np.ndarray) -> Image.Image:
    """RGBA quicklook of dB arrays: R = VV, G = VH, B = VV - VH, stretched linearly by
    :data:`QUICKLOOK_STRETCH_DB`; alpha 0 where VV or VH is NaN."""
    valid = np.isfinite(vv) & np.isfinite(vh)
    rgba = np.zeros(vv.shape + (4,), dtype=np.uint8)
    for k, (band, a) in enumerate((("VV", vv), ("VH", vh), ("VV/VH", vv - vh))):
        rgba[..., k] = np.where(valid, _stretch(np.nan_to_num(a), *QUICKLOOK_STRETCH_DB[band]), 0)
    rgba[..., 3] = np.where(valid, 255, 0)
    return Image.fromarray(rgba, mode="RGBA")


def quicklook(mosaic: UPath | str, max_size: int = 1024) -> Image.Image:
    """Quicklook of a mosaic COG, downsampled (nearest, from its overviews) to <= ``max_size``
    px on the longer side."""
    with rasterio.Env(**gdal_env()), open_raster(UPath(mosaic)) as src:
        scale = max(src.width, src.height) / max_size
        shape = (src.height, src.width) if scale <= 1 else (
            max(1, round(src.height / scale)), max(1, round(src.width / scale)))
        names = list(src.descriptions)
        idx = [names.index("VV") + 1, names.index("VH") + 1]
        vv, vh = src.read(idx, out_shape=(2, *shape), resampling=Resampling.nearest)
    return quicklook_image(vv, vh)


def quicklook_png(mosaic: UPath | str, max_size: int = 1024) -> bytes:
    """:func:`quicklook` encoded as PNG bytes."""
    buf = io.BytesIO()
    quicklook(mosaic, max_size).save(buf, format="PNG", optimize=True)
    return buf.getvalue()
