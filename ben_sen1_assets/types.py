"""Dagster types of the flow's values, named for the UI without importing their libraries.

Asset and check functions are annotated with these (a documented Dagster pattern: a
``DagsterType`` instance as the annotation), so loading the code location does not import
geopandas, xarray or rasterio; the type check runs when a value exists, by which time its
library is loaded anyway.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import PurePath

import dagster as dg


def _instance_of(module: str, qualname: str):
    """Type check: the value is a ``module.qualname`` (checked without importing ``module``:
    a value of that class can only exist once its module is loaded)."""

    def check(_context, value) -> bool:
        cls = getattr(sys.modules.get(module), qualname, None)
        return cls is not None and isinstance(value, cls)

    return check


def _is_path(value) -> bool:
    return isinstance(value, PurePath) or type(value).__module__.startswith("upath")


GeoDataFrame = dg.DagsterType(
    name="GeoDataFrame",
    type_check_fn=_instance_of("geopandas", "GeoDataFrame"),
    description="A geopandas GeoDataFrame, stored as GeoParquet (WKB geometry, CRS in the file's metadata).",
)

PatchStore = dg.DagsterType(
    name="PatchStore",
    type_check_fn=lambda _c, v: _instance_of("xarray", "Dataset")(_c, v) or _is_path(v),
    description="An xarray Dataset of 120 × 120 px patches, stored as a Zarr v3 store "
    "(`xarray.open_zarr` opens it; a producer may hand over the path of a finished store).",
)

TileRaster = dg.DagsterType(
    name="TileRaster",
    type_check_fn=lambda _c, v: _is_path(v),
    description="The path of a Cloud-Optimized GeoTIFF on the S2 tile grid (read in windows, never whole).",
)

TileRasterCollection = dg.DagsterType(
    name="TileRasterCollection",
    type_check_fn=lambda _c, v: isinstance(v, Mapping) and all(_is_path(p) for p in v.values()),
    description="Cloud-Optimized GeoTIFFs on the S2 tile grid, one per S1 product, by product name.",
)

PatchStores = dg.DagsterType(
    name="PatchStores",
    type_check_fn=lambda _c, v: isinstance(v, Mapping),
    description="Every materialized tile's patch store (xarray Datasets over Zarr), by partition key.",
)
