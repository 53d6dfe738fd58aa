"""preprocessed_s1: each chosen product, processed onto the tile grid (one COG per product)."""

import json
from pathlib import Path

import dagster as dg

from ben_sen1_assets.executors import step_pool
import geopandas as gpd

from ben_sen1_assets.assets.metadata import markdown_table
from ben_sen1_assets.failures import classified
from ben_sen1_assets.formats.cog import new_staging_dir
from ben_sen1_assets.partitions import tile_partitions
from ben_sen1_assets.resources.archives import ProductStoreResource
from ben_sen1_assets.resources.processing import SarProcessingResource
from ben_sen1_assets.resources.tile_catalog import TileCatalogResource
from ben_sen1_assets.sar.chain import tile_window

STEPS = ("open", "dem", "geocoding", "read", "radiometry", "speckle", "resample", "scale", "write", "cog", "total")


@dg.asset(
    partitions_def=tile_partitions,
    io_manager_key="cog_io_manager",
    group_name="sentinel1",
    kinds={"cog", "numpy"},
    pool=step_pool("sar_cpu"),
    code_version="1",
)
def preprocessed_s1(
    context: dg.AssetExecutionContext,
    raw_s1_safe: gpd.GeoDataFrame,
    tile_catalog: TileCatalogResource,
    sar_processing: SarProcessingResource,
    product_store: ProductStoreResource,
) -> dict[str, Path]:
    """Each chosen product through the whole chain, straight onto the S2 tile grid.

    Border and thermal noise removal, radiometric calibration (σ0 by default), speckle filter
    (Refined Lee 7×7 by default), range-Doppler terrain correction with the DEM's heights made
    ellipsoidal through PROJ's geoid grids — in one resampling onto the tile's UTM 10 m grid, so
    pixels align with the BigEarthNet-S2 patches. Values stay linear and unclipped (negative
    where the thermal noise exceeds the signal) so that the mosaics average dark areas without
    bias; `mosaics` converts to dB. Only the window of the patches in
    scope is produced, and only the scene window it needs is read. One Cloud-Optimized GeoTIFF
    per product: bands VV, VH, `local_incidence_angle` (degrees, from the DEM) and `mask`
    (bits: shadow 1, layover 2, no data 4, DEM gap filled 8, DN² < noise 16 (VV) / 32 (VH),
    flattening area < 5 % 64), its tags naming the source product and every parameter. A
    product that touches no pixel in scope is skipped with the reason in the log.
    """
    entry = tile_catalog.entry(context.partition_key)
    window = tile_window(entry)
    config = sar_processing.config()
    process = sar_processing.processor_fn()
    staging = new_staging_dir()
    outputs: dict[str, Path] = {}
    rows = []
    for _, product in raw_s1_safe.iterrows():
        name = product["name"]
        context.log.info(f"{name}: processing onto {entry.mgrs} window {window}")
        with classified(context, name):  # invalid metadata (e.g. LUTs) fails at once, naming the file
            result = process(
                product["store_path"],
                entry.tile,
                staging / f"{name}.tif",
                window=window,
                config=config,
                progress=lambda fraction, message, name=name: context.log.debug(f"{name}: {fraction:.0%} {message}"),
                storage_options=product_store.storage_options,  # an s3:// store's endpoint (keys: AWS_*)
                dem_store=sar_processing.dem_store or None,
                block_rows=sar_processing.block_rows,
            )
        if not result.covered:
            context.log.info(f"{name}: skipped: {result.reason}")
            continue
        outputs[name] = Path(result.output)
        rows.append(
            {
                "product": name,
                "valid": f"{result.valid_fraction:.3f}",
                **{step: f"{result.timings.get(step, 0.0):.2f}" for step in ("geocoding", "radiometry", "speckle", "total")},
            }
        )
        context.log.info(f"{name}: valid fraction {result.valid_fraction:.3f} in {result.timings.get('total', 0):.1f} s")
    if not outputs:
        raise dg.Failure(f"{context.partition_key}: no chosen product touches the patches in scope")
    fingerprint = config.fingerprint()
    context.add_output_metadata(
        {
            "n_products": len(outputs),
            "window": f"col {window.col_off}, row {window.row_off}, {window.width} × {window.height} px",
            "processing": dg.MetadataValue.json(json.loads(json.dumps(config.to_dict()))),
            "processing_fingerprint": fingerprint,
            "processor": sar_processing.processor,
            "mean_valid_fraction": sum(float(r["valid"]) for r in rows) / len(rows),
            "products (valid fraction, seconds per step)": dg.MetadataValue.md(markdown_table(rows)),
        }
    )
    return outputs
