"""mosaics: per tile, VV and VH on the tile grid with a band naming each pixel's source product."""

from pathlib import Path

import dagster as dg

from ben_sen1_assets.executors import step_pool
import geopandas as gpd
from upath import UPath

from ben_sen1_assets.assets.metadata import png_markdown
from ben_sen1_assets.formats.cog import new_staging_dir
from ben_sen1_assets.outputs.mosaic import mosaic_tile, quicklook
from ben_sen1_assets.partitions import tile_partitions
from ben_sen1_assets.resources.outputs import MosaicRulesResource
from ben_sen1_assets.resources.tile_catalog import TileCatalogResource
from ben_sen1_assets.sar.chain import tile_window


def patch_choice(selection: gpd.GeoDataFrame) -> dict[tuple[int, int], str]:
    """(x, y) → product, as `s1_product_selection` chose it (the `patches` each product serves)."""
    choice: dict[tuple[int, int], str] = {}
    for _, row in selection.sort_values("delta_t_days", key=abs, ascending=False).iterrows():
        for patch in filter(None, str(row["patches"]).split(";")):
            x, y = patch.split("_")
            choice[(int(x), int(y))] = row["name"]  # closest in time written last: it wins
    return choice


@dg.asset(
    partitions_def=tile_partitions,
    io_manager_key="cog_io_manager",
    group_name="sentinel1",
    kinds={"cog"},
    pool=step_pool("sar_cpu"),
    code_version="1",
)
def mosaics(
    context: dg.AssetExecutionContext,
    preprocessed_s1: dict[str, UPath],
    s1_product_selection: gpd.GeoDataFrame,
    tile_catalog: TileCatalogResource,
    mosaic_rules: MosaicRulesResource,
) -> Path:
    """Per tile: VV and VH (dB) on the S2 tile grid and `source_index`, naming for each pixel
    the product it came from (the `source_products` tag lists them), with that product's
    `local_incidence_angle` and `mask`. Linear inputs are combined linearly, then converted to
    dB.

    Rule `closest_per_patch` (default) takes each patch from the product the selection chose
    for it, as BigEarthNet-S1 did; `closest_per_pixel` fills per pixel from the product closest
    in time; `mean_linear` averages all products in linear power. A quicklook (R = VV, G = VH,
    B = VV/VH) is shown with the materialization.
    """
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
    context.add_output_metadata(
        {
            "rule": result.rule,
            "valid_fraction": float(result.valid_fraction),
            "source_products": dg.MetadataValue.json(list(result.products)),
            "quicklook": png_markdown(quicklook(out, max_size=512), f"{entry.mgrs}: R VV, G VH, B VV/VH"),
        }
    )
    return out
