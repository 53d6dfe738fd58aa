"""mosaics: per tile, VV and VH on the tile grid with a band naming each pixel's source product."""

import dagster as dg

from ben_sen1_assets.assets.metadata import OWNERS, picture, picture_full, table
from ben_sen1_assets.executors import step_pool
from ben_sen1_assets.automation import tile_stage_condition
from ben_sen1_assets.jobs import tag_tile_run
from ben_sen1_assets.partitions import TILE_BACKFILL_POLICY, tile_partitions
from ben_sen1_assets.resources.outputs import MosaicRulesResource
from ben_sen1_assets.resources.tile_catalog import TileCatalogResource
from ben_sen1_assets.types import GeoDataFrame, TileRaster, TileRasterCollection


def patch_choice(selection) -> dict[tuple[int, int], str]:
    """(x, y) → product, as `s1_product_selection` chose it (the `patches` each product serves)."""
    choice: dict[tuple[int, int], str] = {}
    for _, row in selection.sort_values("delta_t_days", key=abs, ascending=False).iterrows():
        for patch in filter(None, str(row["patches"]).split(";")):
            x, y = patch.split("_")
            choice[(int(x), int(y))] = row["name"]  # closest in time written last: it wins
    return choice


@dg.asset(
    partitions_def=tile_partitions,
    backfill_policy=TILE_BACKFILL_POLICY,
    automation_condition=tile_stage_condition,
    io_manager_key="cog_io_manager",
    group_name="sentinel1",
    kinds={"cog", "geotiff"},
    owners=OWNERS,
    tags={"stage": "mosaic"},
    pool=step_pool("sar_cpu"),
    code_version="1",
)
def mosaics(
    context: dg.AssetExecutionContext,
    preprocessed_s1: TileRasterCollection,
    s1_product_selection: GeoDataFrame,
    tile_catalog: TileCatalogResource,
    mosaic_rules: MosaicRulesResource,
) -> TileRaster:
    """Per tile: VV and VH (dB) on the S2 tile grid and `source_index`, naming for each pixel
    the product it came from (the `source_products` tag lists them), with that product's
    `local_incidence_angle` and `mask`. Linear inputs are combined linearly, then converted to
    dB.

    Rule `closest_per_patch` (default) takes each patch from the product the selection chose
    for it, as BigEarthNet-S1 did; `closest_per_pixel` fills per pixel from the product closest
    in time; `mean_linear` averages all products in linear power. A quicklook (R = VV, G = VH,
    B = VV/VH) is shown with the materialization.
    """
    from ben_sen1_assets.formats.cog import new_staging_dir
    from ben_sen1_assets.outputs.mosaic import mosaic_tile
    from ben_sen1_assets.outputs.provenance import patch_provenance
    from ben_sen1_assets.previews.thumbnails import raster_quicklook
    from ben_sen1_assets.sar.chain import tile_window

    tag_tile_run(context)
    entry = tile_catalog.entry(context.partition_key)
    out = new_staging_dir() / f"{context.partition_key}.tif"
    result = mosaic_tile(
        list(preprocessed_s1.values()),
        entry.tile,
        entry.sensing_time,
        out,
        config=mosaic_rules.config(),
        patch_choice=patch_choice(s1_product_selection),
        window=tile_window(entry),
    )
    shares = patch_provenance(out, list(entry.patches)).shares()
    context.add_output_metadata(
        {
            "rule": result.rule,
            "valid_percent": round(100.0 * float(result.valid_fraction), 2),
            "quicklook (R VV, G VH, B VV−VH)": picture(
                raster_quicklook(out, max_size=96), f"{entry.mgrs} mosaic", lossy=True),
            "quicklook, 512 px": picture_full(raster_quicklook(out, max_size=512),
                                              f"{entry.mgrs} mosaic, R VV, G VH, B VV−VH"),
            "sources": table(
                [{"index": k, "product": name, "patch_pixels_percent": round(100.0 * shares.get(name, 0.0), 2)}
                 for k, name in enumerate(result.products)],
                [("index", "int", "value in the provenance band"), ("product", "string", "S1 product name"),
                 ("patch_pixels_percent", "float", "share of the patches' valid pixels it supplied (%)")],
            ),
        }
    )
    return out
