"""s1_product_selection: which Sentinel-1 products build each tile, and which product each patch."""

import dagster as dg

from ben_sen1_assets.assets.metadata import OWNERS, column_schema, picture, table, zoomed_map
from ben_sen1_assets.automation import tile_stage_condition
from ben_sen1_assets.failures import classified
from ben_sen1_assets.jobs import tag_tile_run
from ben_sen1_assets.partitions import TILE_BACKFILL_POLICY, tile_partitions
from ben_sen1_assets.resources.archives import S1CatalogResource
from ben_sen1_assets.resources.selection import SelectionRulesResource
from ben_sen1_assets.resources.tile_catalog import TileCatalogResource
from ben_sen1_assets.types import GeoDataFrame

COLUMNS = {
    "partition_key": "MGRS_YYYYMMDD of the S2 product",
    "name": "S1 product name (without .SAFE)",
    "provider_id": "the catalogue's id of the product",
    "start": "acquisition start (UTC)", "stop": "acquisition stop (UTC)",
    "mission": "S1A, S1B or S1C", "absolute_orbit": "absolute orbit", "relative_orbit": "relative orbit",
    "pass_direction": "ASCENDING or DESCENDING", "delta_t_days": "S1 start − S2 sensing (days)",
    "polarisations": "e.g. VV&VH", "size": "product size (bytes), if the catalogue gives it",
    "checksums": "catalogue checksums (JSON: algorithm → hex)", "download_url": "where it is fetched from",
    "source": "catalogue", "rule": "selection rule", "n_patches": "patches this product serves",
    "patches": "patches this product serves, x_y;x_y", "geometry": "catalogue footprint",
}


@dg.asset(
    partitions_def=tile_partitions,
    backfill_policy=TILE_BACKFILL_POLICY,
    automation_condition=tile_stage_condition,
    io_manager_key="geoparquet_io_manager",
    group_name="sentinel1",
    kinds={"geopandas", "parquet"},
    owners=OWNERS,
    tags={"stage": "selection"},
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
) -> GeoDataFrame:
    """The Sentinel-1 IW GRDH products chosen for this S2 product, one row per product.

    The catalog in force (local folder by default; CDSE, ASF or a DHuS mirror by configuration)
    is searched with the tile footprint within ± `max_days` of the S2 sensing time. Rule
    `closest_per_patch` (default, BigEarthNet v1.0): per patch in scope, the product closest in
    time whose footprint (shrunk by `footprint_margin_m`) contains the whole patch; `per_orbit`:
    one pass per relative orbit, consecutive slices together. Coverage is computed in the tile's
    UTM CRS. Each row lists the patches (`x_y`) that product serves; the blocking check
    `patch_coverage` demands that the patches in scope are covered.
    """
    from ben_sen1_assets.archive.selection import search_and_select
    from ben_sen1_assets.previews.maps import coverage_map, product_colour, scope_window

    tag_tile_run(context)
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
    choice = {}
    for k, patches in enumerate(frame["patches"]):
        for patch in filter(None, str(patches).split(";")):
            x, y = patch.split("_")
            choice[(int(x), int(y))] = k
    window_start, window_end = config.search_window(entry.sensing_time)
    scope, footprints = list(entry.patches), list(frame.geometry)
    maps = [coverage_map(entry.tile, scope, choice, footprints, cell, outlines)
            for cell, outlines in ((3, True), (2, True), (1, True), (1, False))]
    context.add_output_metadata(
        {
            "rule": config.rule,
            "search_window (UTC)": f"{window_start:%Y-%m-%d %H:%M} … {window_end:%Y-%m-%d %H:%M}",
            "catalog": repr(catalog),
            "n_candidates": result.n_candidates,
            "n_products": len(frame),
            "coverage_percent": round(100.0 * float(result.coverage_fraction), 2),
            "n_patches_uncovered": len(uncovered),
            "coverage_map (patch colour = its product, red = uncovered, grey = footprints)": picture(
                maps, f"{entry.mgrs} coverage"),
            **zoomed_map(lambda cell, window: coverage_map(entry.tile, scope, choice, footprints, cell, True, window),
                         scope_window(scope), "coverage_map, zoomed on the scope", f"{entry.mgrs} coverage"),
            "products": table(
                [
                    {
                        "product": r["name"],
                        "map_colour": product_colour(k)[0],
                        "delta_t_days": round(float(r["delta_t_days"]), 2),
                        "relative_orbit": int(r["relative_orbit"]),
                        "pass": str(r["pass_direction"]).lower(),
                        "n_patches": int(r["n_patches"]),
                    }
                    for k, (_, r) in enumerate(frame.iterrows())
                ],
                [
                    ("product", "string", "S1 product name"),
                    ("map_colour", "string", "its colour on the coverage map"),
                    ("delta_t_days", "float", "S1 start − S2 sensing (days)"),
                    ("relative_orbit", "int", "relative orbit"),
                    ("pass", "string", "ascending or descending"),
                    ("n_patches", "int", "patches it serves"),
                ],
            ),
            "dagster/column_schema": column_schema(frame, COLUMNS),
        }
    )
    return frame
