"""Per-tile patch stores: 120 x 120 px BigEarthNet-aligned patches cut from a mosaic COG.

Layout (one Zarr v3 store per tile / S2 product)::

    backscatter (patch, band, y, x) float32 dB, band = ["VV", "VH"], chunks (1, 2, 120, 120)
    local_incidence_angle (patch, y, x) float32 degrees  } when the mosaic carries them (the
    mask       (patch, y, x) uint8 bits (CF flag_masks)  } chain's analysis-ready layers)
    patch      (patch)    "x_y" index, e.g. "61_39"
    x          (patch, x) pixel-centre eastings of each patch  (2-D: every patch has its own)
    y          (patch, y) pixel-centre northings of each patch
    spatial_ref ()        CF grid mapping: crs_wkt, spatial_ref (WKT)
    + per-patch coordinates: patch_x, patch_y, patch_ulx, patch_uly, s1_name, s2v1_name,
      v2_patch_id, s1_name_bigearthnet, scene_source, scene_sources, acquisition_time,
      valid_fraction

``ds.isel(patch=i)`` has 1-D ``x``/``y`` coordinates, so rioxarray derives the patch's own
transform from them (``ds.isel(patch=i).backscatter.rio.transform()``). There is deliberately no
``GeoTransform`` attribute on ``spatial_ref``: rioxarray prefers it over the coordinates, and a
single transform cannot be right for every patch. The tile grid's transform is in the dataset
attribute ``tile_transform`` (GDAL order) instead.

Which product a patch is named after (``s1_name`` carries its start time and mission;
``scene_source`` is its full name; ``acquisition_time`` its start time):

* mosaics with a ``source_index`` band: the product of the patch's ``patch_choice`` entry
  (rule ``closest_per_patch``), else the product supplying most of its valid pixels (ties: the
  one closer in time to the S2 sensing);
* ``mean_linear`` mosaics (``source_mask``): the product closest in time to the S2 sensing among
  those averaged anywhere in the patch; ``scene_sources`` lists all of them (';'-joined).

Patches without any valid pixel get ``s1_name = scene_source = ""`` and a NaT time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime

import numpy as np
import pandas as pd
import rasterio
import xarray as xr
import zarr
from rasterio.windows import Window
from upath import UPath

from ben_sen1_assets.formats.atomic import atomic_directory
from ben_sen1_assets.formats.cog import open_raster
from ben_sen1_assets.grid.catalog import bigearthnet_patch_table, partition_key as make_partition_key
from ben_sen1_assets.grid.names import s1_patch_name
from ben_sen1_assets.grid.patches import N_PATCHES_PER_SIDE, PATCH_SIZE_PX, check_patch_index
from ben_sen1_assets.grid.tile import RESOLUTION_M, tile_grid

from .errors import OutputError
from .mosaic import LIA_BAND, MASK_BAND, gdal_env, read_mosaic_sources

__all__ = [
    "BANDS",
    "VARIABLE",
    "LIA_VARIABLE",
    "MASK_VARIABLE",
    "PATCH_CHUNKS",
    "patch_dataset",
    "write_patch_store",
    "patch_transform",
    "patch_frame",
]

BANDS = ("VV", "VH")
VARIABLE = "backscatter"
LIA_VARIABLE = "local_incidence_angle"
MASK_VARIABLE = "mask"
PATCH_CHUNKS = (1, len(BANDS), PATCH_SIZE_PX, PATCH_SIZE_PX)
# Zarr v3 shards of one patch row (91 patches, ~10 MB): one object per shard instead of one per
# patch (8,281 files and ~25k folders for a tile); a patch is still read alone (its inner chunk)
PATCHES_PER_SHARD = N_PATCHES_PER_SIDE
_STR_COORDS = ("s1_name", "s2v1_name", "v2_patch_id", "s1_name_bigearthnet", "scene_source", "scene_sources")


def _patches_in_window(win: Window) -> list[tuple[int, int]]:
    x0 = -(-win.col_off // PATCH_SIZE_PX)
    y0 = -(-win.row_off // PATCH_SIZE_PX)
    x1 = min((win.col_off + win.width) // PATCH_SIZE_PX, N_PATCHES_PER_SIDE)
    y1 = min((win.row_off + win.height) // PATCH_SIZE_PX, N_PATCHES_PER_SIDE)
    return [(x, y) for y in range(y0, y1) for x in range(x0, x1)]


class _Mosaic:
    """An open mosaic COG with its provenance lookup and window in the tile grid."""

    def __init__(self, path: UPath | str):
        self.path = UPath(path)
        self.src = open_raster(self.path)
        self.meta = read_mosaic_sources(self.src)
        self.tile = tile_grid(self.meta["mgrs"])
        tr = self.src.transform
        col = round((tr.c - self.tile.ulx) / RESOLUTION_M)
        row = round((self.tile.uly - tr.f) / RESOLUTION_M)
        self.window = Window(col, row, self.src.width, self.src.height)
        self._cached: tuple[int, np.ndarray] | None = None
        names = list(self.src.descriptions)
        try:
            self.band_index = [names.index(b) + 1 for b in (*BANDS, self.meta["source_band"])]
        except ValueError:
            raise OutputError(f"{self.path}: bands {names}; expected VV, VH and the source band") from None
        # the analysis-ready layers (local incidence angle, mask), when the mosaic has them
        self.layers = LIA_BAND in names and MASK_BAND in names
        if self.layers:
            self.band_index += [names.index(LIA_BAND) + 1, names.index(MASK_BAND) + 1]
        tags = self.src.tags()
        self.mask_bits = json.loads(tags["mask_bits"]) if tags.get("mask_bits") else {}

    def close(self) -> None:
        self.src.close()

    ROWS_PER_READ = 4  # patch rows read at once: ~1 COG tile row (512 px), 63 MB for a full width

    def strip(self, y: int) -> np.ndarray:
        """Bands (VV, VH, source[, local incidence angle, mask]) of patch row ``y`` over the
        mosaic's width: (3 or 5, 120, width).

        Reads ``ROWS_PER_READ`` patch rows at a time, so each 512 px COG tile is decoded about
        once instead of once per 120 px patch row.
        """
        first_y = -(-self.window.row_off // PATCH_SIZE_PX)
        last_y = (self.window.row_off + self.window.height) // PATCH_SIZE_PX  # exclusive
        y0 = first_y + (y - first_y) // self.ROWS_PER_READ * self.ROWS_PER_READ
        if self._cached is None or self._cached[0] != y0:
            y1 = min(y0 + self.ROWS_PER_READ, last_y)
            row = y0 * PATCH_SIZE_PX - self.window.row_off
            win = Window(0, row, self.window.width, (y1 - y0) * PATCH_SIZE_PX)
            self._cached = (y0, self.src.read(self.band_index, window=win))
        off = (y - y0) * PATCH_SIZE_PX
        return self._cached[1][:, off : off + PATCH_SIZE_PX]


def _naming_product(meta: dict, x: int, y: int, source: np.ndarray) -> tuple[int, list[int]]:
    """(index of the product the patch is named after or -1, indices of all contributors)."""
    ok = np.isfinite(source)
    if not ok.any():
        return -1, []
    vals = source[ok].astype(np.int64)
    if meta["source_band"] == "source_mask":
        bits = np.bitwise_or.reduce(np.unique(vals))
        contributors = [i for i in range(len(meta["products"])) if bits >> i & 1]
        return contributors[0], contributors  # products are sorted by time distance
    counts = np.bincount(vals, minlength=len(meta["products"]))
    contributors = [int(i) for i in np.flatnonzero(counts)]
    chosen = meta["patch_choice"].get(f"{x}_{y}")
    if chosen is not None:
        return meta["products"].index(chosen), contributors
    return int(np.argmax(counts)), contributors  # argmax: first maximum = closest in time


def _bigearthnet_lookup(key: str) -> dict[tuple[int, int], tuple[str, str, str]]:
    table = bigearthnet_patch_table(key)
    if table is None:
        return {}
    return {
        (int(x), int(y)): (s2 or "", v2 or "", s1 or "")
        for x, y, s2, v2, s1 in zip(table["x"], table["y"], table["s2v1_name"],
                                    table["v2_patch_id"], table["s1_name_official"])
    }


def _check_patches(mosaic: _Mosaic, patches: Sequence[tuple[int, int]] | None) -> list[tuple[int, int]]:
    inside = _patches_in_window(mosaic.window)
    if patches is None:
        return inside
    allowed = set(inside)
    out = []
    for x, y in patches:
        check_patch_index(x, y)
        if (x, y) not in allowed:
            raise OutputError(
                f"{mosaic.path}: patch {x}_{y} is not inside the mosaic window {mosaic.window}; "
                "expected patches within the mosaic"
            )
        out.append((int(x), int(y)))
    if len(set(out)) != len(out):
        raise OutputError(f"{mosaic.path}: duplicate patches requested")
    return sorted(out, key=lambda p: (p[1], p[0]))


def _batches(mosaic: _Mosaic, patches: list[tuple[int, int]], key: str, batch_size: int,
             patches_per_shard: int = PATCHES_PER_SHARD) -> Iterator[xr.Dataset]:
    """Datasets of consecutive groups of patches (each patch row read once)."""
    meta = mosaic.meta
    ben = _bigearthnet_lookup(key)
    tile = mosaic.tile
    crs_wkt = tile.crs.to_wkt()
    pix = (np.arange(PATCH_SIZE_PX) + 0.5) * RESOLUTION_M
    cache: tuple[int, np.ndarray] | None = None
    for start in range(0, len(patches), batch_size):
        group = patches[start : start + batch_size]
        n = len(group)
        data = np.empty((n, len(BANDS), PATCH_SIZE_PX, PATCH_SIZE_PX), dtype=np.float32)
        if mosaic.layers:
            lia = np.empty((n, PATCH_SIZE_PX, PATCH_SIZE_PX), dtype=np.float32)
            mask = np.empty((n, PATCH_SIZE_PX, PATCH_SIZE_PX), dtype=np.uint8)
        c: dict[str, list] = {k: [] for k in (*_STR_COORDS, "acquisition_time", "valid_fraction")}
        for i, (x, y) in enumerate(group):
            if cache is None or cache[0] != y:
                cache = (y, mosaic.strip(y))
            col = x * PATCH_SIZE_PX - mosaic.window.col_off
            block = cache[1][:, :, col : col + PATCH_SIZE_PX]
            data[i] = block[:2]
            if mosaic.layers:
                lia[i] = block[3]
                mask[i] = block[4].astype(np.uint8)
            idx, contributors = _naming_product(meta, x, y, block[2])
            s2v1, v2, s1_official = ben.get((x, y), ("", "", ""))
            if idx >= 0:
                start_time: datetime = meta["start_times"][idx]
                c["s1_name"].append(s1_patch_name(meta["missions"][idx], start_time, tile.mgrs, x, y))
                c["scene_source"].append(meta["products"][idx])
                c["acquisition_time"].append(np.datetime64(start_time.replace(tzinfo=None), "ns"))
            else:
                c["s1_name"].append("")
                c["scene_source"].append("")
                c["acquisition_time"].append(np.datetime64("NaT", "ns"))
            c["scene_sources"].append(";".join(meta["products"][j] for j in contributors))
            c["s2v1_name"].append(s2v1)
            c["v2_patch_id"].append(v2)
            c["s1_name_bigearthnet"].append(s1_official)
            c["valid_fraction"].append(np.isfinite(block[:2]).all(axis=0).mean())
        px = np.array([p[0] for p in group], dtype=np.int16)
        py = np.array([p[1] for p in group], dtype=np.int16)
        ulx = tile.ulx + PATCH_SIZE_PX * RESOLUTION_M * px.astype(np.float64)
        uly = tile.uly - PATCH_SIZE_PX * RESOLUTION_M * py.astype(np.float64)
        coords = {
            "patch": ("patch", np.array([f"{x}_{y}" for x, y in group], dtype=object)),
            "band": ("band", np.array(BANDS, dtype=object)),
            "x": (("patch", "x"), ulx[:, None] + pix[None, :]),
            "y": (("patch", "y"), uly[:, None] - pix[None, :]),
            "patch_x": ("patch", px),
            "patch_y": ("patch", py),
            "patch_ulx": ("patch", ulx),
            "patch_uly": ("patch", uly),
            "acquisition_time": ("patch", np.array(c["acquisition_time"], dtype="datetime64[ns]")),
            "valid_fraction": ("patch", np.array(c["valid_fraction"], dtype=np.float32)),
            "spatial_ref": ((), np.int32(0), {"crs_wkt": crs_wkt, "spatial_ref": crs_wkt,
                                              "epsg": tile.epsg}),
        }
        for k in _STR_COORDS:
            coords[k] = ("patch", np.array(c[k], dtype=object))
        ds = xr.Dataset(
            {
                VARIABLE: (
                    ("patch", "band", "y", "x"),
                    data,
                    {"units": "dB", "long_name": "radar backscatter coefficient",
                     "grid_mapping": "spatial_ref"},
                )
            },
            coords=coords,
        )
        ds[VARIABLE].encoding = {"chunks": PATCH_CHUNKS, "shards": (min(patches_per_shard, n), *PATCH_CHUNKS[1:])}
        if mosaic.layers:
            from ben_sen1_assets.sar.masks import cf_flag_attributes

            ds[LIA_VARIABLE] = (("patch", "y", "x"), lia, {
                "units": "degree", "long_name": "local incidence angle",
                "comment": "angle between the DEM terrain normal and the line of sight to the sensor",
                "grid_mapping": "spatial_ref"})
            ds[MASK_VARIABLE] = (("patch", "y", "x"), mask, {
                "long_name": "quality mask", **cf_flag_attributes(mosaic.mask_bits), "grid_mapping": "spatial_ref",
                "comment": "bits: see ben_sen1_assets.sar.masks (0 = clean)"})
            for name in (LIA_VARIABLE, MASK_VARIABLE):
                ds[name].encoding = {"chunks": (1, PATCH_SIZE_PX, PATCH_SIZE_PX),
                                     "shards": (min(patches_per_shard, n), PATCH_SIZE_PX, PATCH_SIZE_PX)}
        # fixed units: appended batches must encode times like the first one; start times
        # carry microseconds, which CF "seconds" in int64 would round away
        ds["acquisition_time"].encoding = {"units": "microseconds since 1970-01-01T00:00:00",
                                           "dtype": "int64"}
        ds["x"].attrs = {"standard_name": "projection_x_coordinate", "units": "m",
                         "long_name": "pixel-centre easting of each patch"}
        ds["y"].attrs = {"standard_name": "projection_y_coordinate", "units": "m",
                         "long_name": "pixel-centre northing of each patch"}
        tr = tile.transform
        ds.attrs = {
            "mgrs": tile.mgrs,
            "epsg": tile.epsg,
            "partition_key": key,
            "s2_sensing_time": meta["s2_sensing_time"].strftime("%Y-%m-%dT%H:%M:%SZ"),
            "mosaic_rule": meta["rule"],
            "source_products": json.dumps(meta["products"]),
            "tile_transform": " ".join(str(v) for v in (tr.c, tr.a, tr.b, tr.f, tr.d, tr.e)),
            "mosaic": mosaic.path.name,  # the file name: no machine path in the store's attributes
        }
        yield ds


def _key(mosaic: _Mosaic, partition_key: str | None) -> str:
    return partition_key or make_partition_key(mosaic.tile.mgrs, mosaic.meta["s2_sensing_time"])


def patch_dataset(
    mosaic: UPath | str,
    patches: Sequence[tuple[int, int]] | None = None,
    *,
    partition_key: str | None = None,
) -> xr.Dataset:
    """The patch Dataset of a mosaic COG, in memory (~115 kB per patch).

    ``patches``: ``(x, y)`` to cut (default: every whole patch inside the mosaic window),
    stored y-major. ``partition_key`` (default ``<MGRS>_<S2 date>``) selects the BigEarthNet
    names (``s2v1_name``, ``v2_patch_id``, ``s1_name_bigearthnet``; "" where the patch is not in
    BigEarthNet). For whole tiles use :func:`write_patch_store`, which streams.
    """
    with rasterio.Env(**gdal_env()):
        m = _Mosaic(mosaic)
        try:
            todo = _check_patches(m, patches)
            if not todo:
                raise OutputError(f"{m.path}: no whole patch inside the mosaic window {m.window}")
            return next(_batches(m, todo, _key(m, partition_key), batch_size=len(todo)))
        finally:
            m.close()


def write_patch_store(
    mosaic: UPath | str,
    out: UPath | str,
    patches: Sequence[tuple[int, int]] | None = None,
    *,
    partition_key: str | None = None,
    batch_size: int | None = None,
    patches_per_shard: int = PATCHES_PER_SHARD,
) -> int:
    """Cut the patches of a mosaic COG into the Zarr v3 store ``out`` (atomically); returns
    the number of patches. Memory ~ ``batch_size`` x 115 kB (default 10 patch rows, ~105 MB).

    ``backscatter`` is stored in Zarr v3 shards of ``patches_per_shard`` patches (default one
    patch row) with one inner chunk per patch; ``batch_size`` (default 10 shards) must be a
    multiple of it so that every append writes whole shards.
    """
    batch_size = 10 * patches_per_shard if batch_size is None else batch_size
    if patches_per_shard <= 0 or batch_size <= 0 or batch_size % patches_per_shard:
        raise OutputError(
            f"batch_size={batch_size}, patches_per_shard={patches_per_shard}; expected positive "
            "values, batch_size a multiple of patches_per_shard"
        )
    with rasterio.Env(**gdal_env()):
        return _write_patch_store(mosaic, UPath(out), patches, partition_key, batch_size, patches_per_shard)


def _write_patch_store(mosaic, out: UPath, patches, partition_key, batch_size: int,
                       patches_per_shard: int) -> int:
    m = _Mosaic(mosaic)
    n = 0
    try:
        todo = _check_patches(m, patches)
        if not todo:
            raise OutputError(f"{m.path}: no whole patch inside the mosaic window {m.window}")
        with atomic_directory(out, root_file="zarr.json") as stage:
            for i, ds in enumerate(_batches(m, todo, _key(m, partition_key), batch_size, patches_per_shard)):
                if i == 0:
                    ds.to_zarr(str(stage), mode="w", zarr_format=3, consolidated=False)
                else:
                    for name in (VARIABLE, LIA_VARIABLE, MASK_VARIABLE):
                        if name in ds:
                            ds[name].encoding = {}
                    ds.drop_vars(["band", "spatial_ref"]).to_zarr(
                        str(stage), append_dim="patch", zarr_format=3, consolidated=False
                    )
                n += ds.sizes["patch"]
            zarr.consolidate_metadata(str(stage), zarr_format=3)
    finally:
        m.close()
    return n


def patch_transform(ds: xr.Dataset, i: int):
    """The affine transform of patch ``i`` (its upper-left pixel corner at patch_ulx/uly)."""
    from affine import Affine

    return Affine(RESOLUTION_M, 0.0, float(ds["patch_ulx"][i]), 0.0, -RESOLUTION_M, float(ds["patch_uly"][i]))


def patch_frame(ds: xr.Dataset) -> pd.DataFrame:
    """The per-patch coordinates of a patch Dataset as a table (no pixel data)."""
    cols = ["patch_x", "patch_y", "patch_ulx", "patch_uly", *_STR_COORDS, "acquisition_time", "valid_fraction"]
    df = pd.DataFrame({c: ds[c].values for c in cols})
    df.insert(0, "patch", ds["patch"].values)
    for k in ("mgrs", "epsg", "partition_key"):
        df[k] = ds.attrs[k]
    return df
