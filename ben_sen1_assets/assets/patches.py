"""patches: per tile, the 120 × 120 px BigEarthNet-aligned patches in one Zarr v3 store."""

import dagster as dg

from ben_sen1_assets.assets.metadata import OWNERS, picture, table
from ben_sen1_assets.automation import tile_stage_condition
from ben_sen1_assets.jobs import tag_tile_run
from ben_sen1_assets.partitions import TILE_BACKFILL_POLICY, tile_partitions
from ben_sen1_assets.resources.tile_catalog import TileCatalogResource
from ben_sen1_assets.types import PatchStore, TileRaster


@dg.asset(
    partitions_def=tile_partitions,
    backfill_policy=TILE_BACKFILL_POLICY,
    automation_condition=tile_stage_condition,
    io_manager_key="zarr_io_manager",
    group_name="sentinel1",
    kinds={"zarr", "xarray"},
    owners=OWNERS,
    tags={"stage": "patches"},
    code_version="1",
)
def patches(
    context: dg.AssetExecutionContext, mosaics: TileRaster, tile_catalog: TileCatalogResource
) -> PatchStore:
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
    from ben_sen1_assets.formats.cog import new_staging_dir
    from ben_sen1_assets.outputs.patches import write_patch_store

    tag_tile_run(context)
    entry = tile_catalog.entry(context.partition_key)
    out = new_staging_dir() / f"{context.partition_key}.zarr"
    n = write_patch_store(mosaics, out, list(entry.patches), partition_key=context.partition_key)
    context.add_output_metadata({"n_patches": n, "dagster/row_count": n, **patch_store_summary(out)})
    return out


SAMPLE_PATCHES = 500  # patches read for the histograms and statistics (evenly spread)
THUMBNAILS = 8


def patch_store_summary(store) -> dict:
    """Metadata of a written patch store: thumbnails of sample patches, VV/VH dB histograms and
    per-band statistics over up to ``SAMPLE_PATCHES`` patches spread over the tile."""
    import numpy as np
    import xarray as xr

    from ben_sen1_assets.previews.histograms import HISTOGRAM_RANGE_DB, db_histogram
    from ben_sen1_assets.previews.thumbnails import patch_thumbnails, sample_indices

    with xr.open_zarr(store) as ds:
        n = ds.sizes["patch"]
        sample = sample_indices(n, SAMPLE_PATCHES)
        values = ds["backscatter"].isel(patch=sample).values  # (k, band, y, x) dB
        names = [str(v) for v in ds["patch"].isel(patch=sample).values]  # "x_y"
    shown = sample_indices(len(sample), THUMBNAILS)
    stats = []
    for b, band in enumerate(("VV", "VH")):
        finite = values[:, b][np.isfinite(values[:, b])]
        stats.append({
            "band": band,
            "mean_db": round(float(finite.mean()), 2) if finite.size else None,
            "std_db": round(float(finite.std()), 2) if finite.size else None,
            "p1_db": round(float(np.percentile(finite, 1)), 2) if finite.size else None,
            "p99_db": round(float(np.percentile(finite, 99)), 2) if finite.size else None,
            "finite_percent": round(100.0 * finite.size / values[:, b].size, 2),
        })
    lo, hi = HISTOGRAM_RANGE_DB
    return {
        f"sample patches (R VV, G VH, B VV−VH; {', '.join(names[i] for i in shown)})":
            picture(patch_thumbnails(values[shown], columns=4, size=60), "sample patches", width=288, lossy=True),
        f"histogram (dB, {lo:+.0f} … {hi:+.0f}; VV blue, VH orange; {len(sample)} patches)":
            picture(db_histogram(values[:, 0], values[:, 1]), "VV and VH histograms", width=300),
        f"statistics over {len(sample)} patches (dB)": table(
            stats,
            [("band", "string", "polarisation"), ("mean_db", "float", "mean (dB)"),
             ("std_db", "float", "standard deviation (dB)"), ("p1_db", "float", "1st percentile (dB)"),
             ("p99_db", "float", "99th percentile (dB)"), ("finite_percent", "float", "finite pixels (%)")],
        ),
    }
