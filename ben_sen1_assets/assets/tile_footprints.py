"""tile_footprints: the S2 tile of each partition, its grid and the patches in scope.

(No `from __future__ import annotations` in asset modules: Dagster inspects the real types.)
"""


import dagster as dg
import geopandas as gpd
import pandas as pd
from PIL import Image, ImageDraw

from ben_sen1_assets.assets.metadata import markdown_table, png_markdown
from ben_sen1_assets.grid.catalog import TileEntry
from ben_sen1_assets.grid.patches import N_PATCHES_PER_SIDE
from ben_sen1_assets.grid.tile import TileGrid, tile_grid
from ben_sen1_assets.partitions import tile_partitions
from ben_sen1_assets.resources.tile_catalog import TileCatalogResource

FOOTPRINT_DENSIFY_M = 1000.0


def footprint_frame(entry: TileEntry, grid: TileGrid, patches: list[tuple[int, int]]) -> gpd.GeoDataFrame:
    """One row per partition: the tile's WGS84 footprint and its grid, in GeoParquet-ready form."""
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


def scope_map(patches: list[tuple[int, int]], size: int = 273) -> Image.Image:
    """A small picture of the tile (north up) with the patches in scope filled."""
    cell = size // N_PATCHES_PER_SIDE
    image = Image.new("RGB", (cell * N_PATCHES_PER_SIDE + 2, cell * N_PATCHES_PER_SIDE + 2), "white")
    draw = ImageDraw.Draw(image)
    for x, y in patches:
        draw.rectangle([1 + x * cell, 1 + y * cell, x * cell + cell, y * cell + cell], fill=(31, 119, 180))
    draw.rectangle([0, 0, image.width - 1, image.height - 1], outline="black")
    return image


@dg.asset(
    partitions_def=tile_partitions,
    io_manager_key="geoparquet_io_manager",
    group_name="sentinel1",
    kinds={"geopandas", "parquet"},
    code_version="1",
)
def tile_footprints(context: dg.AssetExecutionContext, tile_catalog: TileCatalogResource) -> gpd.GeoDataFrame:
    """The Sentinel-2 tile of this partition: WGS84 footprint, UTM grid and patches in scope.

    One row per partition: MGRS tile, sensing time, EPSG, the tile's UTM bounds (10 m grid of
    10980 × 10980 px, upper-left origin), the WGS84 footprint polygon (edges densified every
    1 km so it follows the UTM square), and the BigEarthNet patches (`x_y`, 120 × 120 px) that
    later stages build. Checked by `tile_geometry` before anything downstream runs.
    """
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
            "bounds_utm": dg.MetadataValue.md(
                markdown_table([{"ulx": left, "uly": top, "lrx": right, "lry": bottom, "EPSG": grid.epsg}])
            ),
            "n_patches_in_scope": len(patches),
            "footprint_wkt": dg.MetadataValue.text(frame.geometry.iloc[0].simplify(1e-4).wkt),
            "scope_map": png_markdown(scope_map(patches), f"{entry.mgrs}: {len(patches)} patches in scope"),
        }
    )
    return frame
