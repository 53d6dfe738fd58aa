"""s1_product_selection: which Sentinel-1 products build each tile, and which product each patch."""

import dagster as dg
import geopandas as gpd

from ben_sen1_assets.archive.selection import search_and_select
from ben_sen1_assets.assets.metadata import markdown_table
from ben_sen1_assets.failures import classified
from ben_sen1_assets.partitions import tile_partitions
from ben_sen1_assets.resources.archives import S1CatalogResource
from ben_sen1_assets.resources.selection import SelectionRulesResource
from ben_sen1_assets.resources.tile_catalog import TileCatalogResource


@dg.asset(
    partitions_def=tile_partitions,
    io_manager_key="geoparquet_io_manager",
    group_name="sentinel1",
    kinds={"geopandas", "parquet"},
    deps=["tile_footprints"],
    code_version="1",
    # only for unforeseen errors: known ones are classified (ben_sen1_assets.failures)
    retry_policy=dg.RetryPolicy(max_retries=2, delay=15, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS),
)
def s1_product_selection(
    context: dg.AssetExecutionContext,
    tile_catalog: TileCatalogResource,
    s1_catalog: S1CatalogResource,
    selection_rules: SelectionRulesResource,
) -> gpd.GeoDataFrame:
    """The Sentinel-1 IW GRDH products chosen for this S2 product, one row per product.

    The catalog in force (local folder by default; CDSE, ASF or a DHuS mirror by configuration)
    is searched with the tile footprint within ± `max_days` of the S2 sensing time. Rule
    `closest_per_patch` (default, BigEarthNet v1.0): per patch in scope, the product closest in
    time whose footprint (shrunk by `footprint_margin_m`) contains the whole patch; `per_orbit`:
    one pass per relative orbit, consecutive slices together. Coverage is computed in the tile's
    UTM CRS. Each row lists the patches (`x_y`) that product serves; the blocking check
    `patch_coverage` demands that the patches in scope are covered.
    """
    entry = tile_catalog.entry(context.partition_key)
    config = selection_rules.config()
    with classified(context, f"{s1_catalog.provider} catalog"):
        catalog = s1_catalog.catalog()
        result = search_and_select(catalog, entry, config)
    for problem in getattr(catalog, "problems", ()):
        context.log.warning(f"archive: {problem.path}: {problem.reason}")
    frame = result.to_geodataframe()
    for rejection in result.rejected:
        context.log.info(f"not used: {rejection.name} ({rejection.source}): {rejection.reason}")
    uncovered = [f"{x}_{y}" for x, y in result.uncovered]
    if uncovered:
        context.log.warning(f"{len(uncovered)} patches in scope are not covered: {', '.join(uncovered[:20])}")
    context.add_output_metadata(
        {
            "rule": config.rule,
            "search_window": f"{config.search_window(entry.sensing_time)[0]:%Y-%m-%dT%H:%M}Z … "
            f"{config.search_window(entry.sensing_time)[1]:%Y-%m-%dT%H:%M}Z",
            "catalog": repr(catalog),
            "n_candidates": result.n_candidates,
            "n_products": len(frame),
            "coverage_fraction": float(result.coverage_fraction),
            "n_patches_uncovered": len(uncovered),
            "products": dg.MetadataValue.md(
                markdown_table(
                    [
                        {
                            "product": r["name"],
                            "Δt (days)": f"{r['delta_t_days']:+.2f}",
                            "orbit": f"{r['relative_orbit']} {r['pass_direction'][:3]}",
                            "patches": r["n_patches"],
                        }
                        for _, r in frame.iterrows()
                    ]
                )
            ),
        }
    )
    return frame
