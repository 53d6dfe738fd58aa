"""preprocessed_s1: each chosen product, processed onto the tile grid (one COG per product)."""

import json
from pathlib import Path

import dagster as dg

from ben_sen1_assets.assets.metadata import OWNERS, picture, table
from ben_sen1_assets.executors import step_pool
from ben_sen1_assets.automation import tile_stage_condition
from ben_sen1_assets.failures import classified
from ben_sen1_assets.jobs import tag_tile_run
from ben_sen1_assets.partitions import TILE_BACKFILL_POLICY, tile_partitions
from ben_sen1_assets.resources.archives import ProductStoreResource
from ben_sen1_assets.resources.processing import SarProcessingResource
from ben_sen1_assets.resources.tile_catalog import TileCatalogResource
from ben_sen1_assets.types import GeoDataFrame, TileRasterCollection

STEP_COLUMNS = ("geocoding", "radiometry", "speckle", "total")


def short_name(product: str) -> str:
    """``S1B 2021-12-23T05:11:22 5371`` for a full product name (mission, start, unique id)."""
    parts = product.split("_")
    start = parts[4] if len(parts) > 4 else product
    stamp = f"{start[:4]}-{start[4:6]}-{start[6:8]}T{start[9:11]}:{start[11:13]}:{start[13:15]}" if len(start) == 15 else start
    return f"{parts[0]} {stamp} {parts[-1]}" if len(parts) > 4 else product


@dg.asset(
    partitions_def=tile_partitions,
    backfill_policy=TILE_BACKFILL_POLICY,
    automation_condition=tile_stage_condition,
    io_manager_key="cog_io_manager",
    group_name="sentinel1",
    kinds={"cog", "geotiff"},
    owners=OWNERS,
    tags={"stage": "preprocessing"},
    pool=step_pool("sar_cpu"),
    code_version="1",
)
def preprocessed_s1(
    context: dg.AssetExecutionContext,
    raw_s1_safe: GeoDataFrame,
    tile_catalog: TileCatalogResource,
    sar_processing: SarProcessingResource,
    product_store: ProductStoreResource,
) -> TileRasterCollection:
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
    from ben_sen1_assets.formats.cog import new_staging_dir
    from ben_sen1_assets.previews.thumbnails import raster_quicklook
    from ben_sen1_assets.sar.chain import tile_window

    tag_tile_run(context)
    entry = tile_catalog.entry(context.partition_key)
    window = tile_window(entry)
    config = sar_processing.config()
    process = sar_processing.processor_fn()
    staging = new_staging_dir()
    outputs: dict[str, Path] = {}
    rows = []
    quicklooks = {}
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
                "valid_percent": round(100.0 * result.valid_fraction, 2),
                **{f"{step}_s": round(result.timings.get(step, 0.0), 2) for step in STEP_COLUMNS},
            }
        )
        quicklooks[name] = raster_quicklook(result.output, max_size=96)
        context.log.info(f"{name}: valid fraction {result.valid_fraction:.3f} in {result.timings.get('total', 0):.1f} s")
    if not outputs:
        raise dg.Failure(f"{context.partition_key}: no chosen product touches the patches in scope")
    fingerprint = config.fingerprint()
    context.add_output_metadata(
        {
            "n_products": len(outputs),
            "window (px)": f"col {window.col_off}, row {window.row_off}, {window.width} × {window.height}",
            "processing": dg.MetadataValue.json(json.loads(json.dumps(config.to_dict()))),
            "processing_fingerprint": fingerprint,
            "processor": sar_processing.processor,
            "mean_valid_percent": round(sum(r["valid_percent"] for r in rows) / len(rows), 2),
            "products": table(
                rows,
                [("product", "string", "S1 product name"),
                 ("valid_percent", "float", "pixels of the window with VV and VH (%)"),
                 *[(f"{step}_s", "float", f"seconds: {step}") for step in STEP_COLUMNS]],
            ),
            **{
                f"quicklook {short_name(name)} (R VV, G VH, B VV−VH)": picture(image, short_name(name), lossy=True)
                for name, image in quicklooks.items()
            },
        }
    )
    return outputs
