"""patches: per tile, the 120 × 120 px BigEarthNet-aligned patches in one Zarr v3 store."""

from pathlib import Path

import dagster as dg
from upath import UPath

from ben_sen1_assets.formats.cog import new_staging_dir
from ben_sen1_assets.outputs.patches import write_patch_store
from ben_sen1_assets.partitions import tile_partitions
from ben_sen1_assets.resources.tile_catalog import TileCatalogResource

@dg.asset(
    partitions_def=tile_partitions,
    io_manager_key="zarr_io_manager",
    group_name="sentinel1",
    kinds={"zarr", "xarray"},
    code_version="1",
)
def patches(
    context: dg.AssetExecutionContext, mosaics: UPath, tile_catalog: TileCatalogResource
) -> Path:
    """The patches in scope as one Zarr v3 store per tile: `backscatter (patch, band, y, x)`
    float32 dB, 120 × 120 px, one chunk per patch, beside `local_incidence_angle (patch, y, x)`
    (degrees) and `mask (patch, y, x)` (uint8 bits, named in its CF `flag_meanings`).

    Coordinates per patch: the v1 S1 patch name (from its source product's start time), `x`/`y`
    grid indices and upper-left easting/northing, the v1 S2 name and v2 patch id where the patch
    exists in BigEarthNet, `scene_source`, `acquisition_time`; the CRS as a CF `spatial_ref`
    variable and per-patch `x`/`y` pixel-centre coordinates, so `xarray.open_zarr` plus rioxarray
    give each patch its georeferencing. Checked for shape and dtype (blocking), patch count,
    finite fraction and dB range.
    """
    entry = tile_catalog.entry(context.partition_key)
    out = new_staging_dir() / f"{context.partition_key}.zarr"
    n = write_patch_store(mosaics, out, list(entry.patches), partition_key=context.partition_key)
    context.add_output_metadata({"n_patches": n, "dagster/row_count": n})
    return out
