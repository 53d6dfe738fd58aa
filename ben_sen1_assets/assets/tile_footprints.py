"""tile_footprints: the S2 tile of each partition, its grid and the patches in scope.

(No `from __future__ import annotations` in asset modules: Dagster inspects the real types.)
"""


import dagster as dg

from ben_sen1_assets.assets.metadata import OWNERS, column_schema, picture, table, zoomed_map
from ben_sen1_assets.automation import tile_stage_condition
from ben_sen1_assets.jobs import tag_tile_run
from ben_sen1_assets.partitions import TILE_BACKFILL_POLICY, tile_partitions
from ben_sen1_assets.resources.tile_catalog import TileCatalogResource
from ben_sen1_assets.types import GeoDataFrame

FOOTPRINT_DENSIFY_M = 1000.0

COLUMNS = {
    "partition_key": "MGRS_YYYYMMDD of the S2 product",
    "mgrs": "MGRS tile id",
    "sensing_time": "S2 sensing time (UTC)",
    "epsg": "EPSG code of the tile's UTM CRS",
    "ulx": "upper-left easting (m)", "uly": "upper-left northing (m)",
    "lrx": "lower-right easting (m)", "lry": "lower-right northing (m)",
    "resolution_m": "pixel size (m)", "width_px": "tile width (px)", "height_px": "tile height (px)",
    "n_patches_in_scope": "patches to build", "patches_in_scope": "patches to build, x_y;x_y",
    "l1c_name": "BigEarthNet S2 L1C product (if any)", "catalog_source": "tile catalog",
    "geometry": "tile footprint, edges densified every 1 km",
}


def footprint_frame(entry, grid, patches: list[tuple[int, int]]):
    """One row per partition (a GeoDataFrame): the tile's WGS84 footprint and its grid, in
    GeoParquet-ready form, from its catalog entry and ``TileGrid``."""
    import geopandas as gpd
    import pandas as pd

    left, bottom, right, top = grid.bounds
    return gpd.GeoDataFrame(
        {
            "partition_key": [entry.partition_key],
            "mgrs": [entry.mgrs],
            "sensing_time": [pd.Timestamp(entry.sensing_time)],
            "epsg": [grid.epsg],
            "ulx": [left],
            "uly": [top],
            "lrx": [right],
            "lry": [bottom],
            "resolution_m": [10.0],
            "width_px": [grid.shape[1]],
            "height_px": [grid.shape[0]],
            "n_patches_in_scope": [len(patches)],
            "patches_in_scope": [";".join(f"{x}_{y}" for x, y in patches)],
            "l1c_name": [entry.l1c_name],
            "catalog_source": [entry.source],
        },
        geometry=[grid.footprint_wgs84(densify_m=FOOTPRINT_DENSIFY_M)],
        crs="EPSG:4326",
    )


@dg.asset(
    partitions_def=tile_partitions,
    backfill_policy=TILE_BACKFILL_POLICY,
    automation_condition=tile_stage_condition,
    io_manager_key="geoparquet_io_manager",
    group_name="sentinel1",
    kinds={"geopandas", "parquet"},
    owners=OWNERS,
    tags={"stage": "grid"},
    code_version="1",
)
def tile_footprints(context: dg.AssetExecutionContext, tile_catalog: TileCatalogResource) -> GeoDataFrame:
    """The Sentinel-2 tile of this partition: WGS84 footprint, UTM grid and patches in scope.

    One row per partition: MGRS tile, sensing time, EPSG, the tile's UTM bounds (10 m grid of
    10980 × 10980 px, upper-left origin), the WGS84 footprint polygon (edges densified every
    1 km so it follows the UTM square), and the BigEarthNet patches (`x_y`, 120 × 120 px) that
    later stages build. Checked by `tile_geometry` before anything downstream runs.
    """
    from ben_sen1_assets.grid.tile import tile_grid
    from ben_sen1_assets.previews.maps import scope_map, scope_window

    tag_tile_run(context)
    entry = tile_catalog.entry(context.partition_key)
    grid = tile_grid(entry.mgrs)
    patches = list(entry.patches)
    frame = footprint_frame(entry, grid, patches)
    left, bottom, right, top = grid.bounds
    context.add_output_metadata(
        {
            "mgrs": entry.mgrs,
            "epsg": grid.epsg,
            "sensing_time": entry.sensing_time.isoformat(),
            "bounds (UTM, m)": table(
                [{"ulx": left, "uly": top, "lrx": right, "lry": bottom, "epsg": grid.epsg}],
                [("ulx", "float", "upper-left easting"), ("uly", "float", "upper-left northing"),
                 ("lrx", "float", "lower-right easting"), ("lry", "float", "lower-right northing"),
                 ("epsg", "int", "UTM CRS")],
            ),
            "n_patches_in_scope": len(patches),
            "scope_map (blue = patches in scope)": picture([scope_map(patches, cell) for cell in (3, 2, 1)],
                                                           f"{entry.mgrs} scope"),
            **zoomed_map(lambda cell, window: scope_map(patches, cell, window), scope_window(patches),
                         "scope_map, zoomed on the scope", f"{entry.mgrs} scope"),
            "footprint_wkt": dg.MetadataValue.text(frame.geometry.iloc[0].simplify(1e-4).wkt),
            "dagster/column_schema": column_schema(frame, COLUMNS),
        }
    )
    return frame
