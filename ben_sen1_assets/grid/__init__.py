"""Sentinel-2 tile and patch grid, BigEarthNet names, tile catalogs (no Dagster here)."""

from .catalog import (
    CatalogError,
    TileCatalog,
    TileEntry,
    bigearthnet_labels_v2,
    bigearthnet_patch_table,
    load_bigearthnet_catalog,
    load_catalog_file,
    load_demo_catalog,
    partition_key,
)
from .names import (
    PatchNameError,
    parse_s1_patch_name,
    parse_s2v1_patch_name,
    parse_s2v2_patch_id,
    s1_patch_name,
    s2v1_patch_name,
    s2v2_patch_id,
)
from .patches import (
    N_PATCHES_PER_SIDE,
    PATCH_SIZE_M,
    PATCH_SIZE_PX,
    patch_bounds,
    patch_grid,
    patch_ul,
    patch_window,
    patches_in_aoi,
)
from .tile import GridError, TileGrid, tile_grid

__all__ = [
    "GridError",
    "TileGrid",
    "tile_grid",
    "PATCH_SIZE_PX",
    "PATCH_SIZE_M",
    "N_PATCHES_PER_SIDE",
    "patch_ul",
    "patch_bounds",
    "patch_window",
    "patch_grid",
    "patches_in_aoi",
    "PatchNameError",
    "s1_patch_name",
    "s2v1_patch_name",
    "s2v2_patch_id",
    "parse_s1_patch_name",
    "parse_s2v1_patch_name",
    "parse_s2v2_patch_id",
    "CatalogError",
    "TileCatalog",
    "TileEntry",
    "partition_key",
    "load_bigearthnet_catalog",
    "load_catalog_file",
    "load_demo_catalog",
    "bigearthnet_patch_table",
    "bigearthnet_labels_v2",
]
