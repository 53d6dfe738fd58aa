"""The S1 <-> S2 patch mapping over many tiles, from the patch stores' coordinates.

Two forms:

* BigEarthNet-MM's ``s1s2_mapping.csv``: no header, one ``s2v1_name,s1_name`` row per patch that
  exists in BigEarthNet (rows sorted by partition key, then y, then x);
* a GeoDataFrame / GeoParquet: one row per patch with its polygon in WGS84 (EPSG:4326) and
  ``partition_key, mgrs, epsg, x, y, s2v1_name, v2_patch_id, s1_name, scene_source,
  acquisition_time, valid_fraction, s1_name_bigearthnet`` (missing names are null).

Only the coordinates of the stores are read, never the pixel data.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
import xarray as xr
from upath import UPath

from ben_sen1_assets.formats.atomic import atomic_file
from ben_sen1_assets.formats.zarr_store import open_zarr
from ben_sen1_assets.grid.patches import PATCH_SIZE_M

from .errors import OutputError

__all__ = ["MAPPING_COLUMNS", "mapping_frame", "write_s1s2_mapping_csv", "write_mapping_geoparquet"]

MAPPING_COLUMNS = (
    "partition_key", "mgrs", "epsg", "x", "y", "s2v1_name", "v2_patch_id", "s1_name",
    "scene_source", "acquisition_time", "valid_fraction", "s1_name_bigearthnet",
)
_NAMES = ("s2v1_name", "v2_patch_id", "s1_name", "scene_source", "s1_name_bigearthnet")


def _one(store: UPath | str | xr.Dataset) -> gpd.GeoDataFrame:
    ds = store if isinstance(store, xr.Dataset) else open_zarr(UPath(store))
    label = ds.attrs.get("partition_key", str(store))
    try:
        epsg = int(ds.attrs["epsg"])
        ulx = ds["patch_ulx"].values.astype(np.float64)
        uly = ds["patch_uly"].values.astype(np.float64)
        df = pd.DataFrame(
            {
                "partition_key": ds.attrs["partition_key"],
                "mgrs": ds.attrs["mgrs"],
                "epsg": epsg,
                "x": ds["patch_x"].values.astype(np.int16),
                "y": ds["patch_y"].values.astype(np.int16),
                **{k: [v or None for v in ds[k].values.tolist()] for k in _NAMES},
                "acquisition_time": ds["acquisition_time"].values,
                "valid_fraction": ds["valid_fraction"].values,
            }
        )
    except KeyError as exc:
        raise OutputError(f"patch store {label}: {exc.args[0]!r} missing; not a patch store") from None
    # 1200 m squares: 4 corners plus edge midpoints are plenty for a 1.2 km UTM patch in lon/lat
    t = np.array([0.0, 0.5, 1.0]) * PATCH_SIZE_M
    ex = np.concatenate([t, np.full(2, PATCH_SIZE_M), t[::-1][1:], np.zeros(1)])
    ny = np.concatenate([np.zeros(3), t[1:], np.full(2, PATCH_SIZE_M), t[1:2]])
    xs = ulx[:, None] + ex[None, :]
    ys = uly[:, None] - ny[None, :]
    lon, lat = pyproj.Transformer.from_crs(epsg, 4326, always_xy=True).transform(xs, ys)
    rings = np.stack([lon, lat], axis=-1)
    geoms = shapely.polygons(np.concatenate([rings, rings[:, :1]], axis=1))
    return gpd.GeoDataFrame(df, geometry=geoms, crs=4326)


def mapping_frame(stores: Iterable[UPath | str | xr.Dataset]) -> gpd.GeoDataFrame:
    """One row per patch of all ``stores`` (patch Zarr stores or Datasets), WGS84 polygons."""
    parts = [_one(s) for s in stores]
    if not parts:
        raise OutputError("mapping_frame: no patch stores given; expected at least one")
    gdf = pd.concat(parts, ignore_index=True)
    gdf = gpd.GeoDataFrame(gdf, geometry="geometry", crs=4326)
    return gdf.sort_values(["partition_key", "y", "x"], kind="stable").reset_index(drop=True)


def write_s1s2_mapping_csv(frame: pd.DataFrame, out: UPath | str) -> int:
    """Write BigEarthNet-MM's ``s1s2_mapping.csv`` (no header: ``s2v1_name,s1_name``) for the
    patches that exist in BigEarthNet and have an S1 patch; returns the number of rows."""
    rows = frame[frame["s2v1_name"].notna() & frame["s1_name"].notna()]
    with atomic_file(UPath(out), suffix=".csv") as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerows(zip(rows["s2v1_name"], rows["s1_name"]))
    return len(rows)


def write_mapping_geoparquet(frame: gpd.GeoDataFrame, out: UPath | str) -> None:
    """Write the mapping GeoDataFrame as GeoParquet (atomically)."""
    with atomic_file(UPath(out), suffix=".parquet") as tmp:
        frame.to_parquet(tmp, index=False)
