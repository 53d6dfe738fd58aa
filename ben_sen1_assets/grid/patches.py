"""BigEarthNet patch grid: 1200 m (120 px) squares aligned to a Sentinel-2 tile's upper-left.

Index ``x`` = column (easting), ``y`` = row counted down from the top, both 0..90: only whole
patches inside the 10980 px tile, 91 x 91 = 8,281 (DOMAIN.md §2).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyproj
import shapely

if TYPE_CHECKING:
    import geopandas as gpd
    from rasterio.windows import Window

from .tile import RESOLUTION_M, GridError, TileGrid, tile_grid

__all__ = [
    "PATCH_SIZE_PX",
    "PATCH_SIZE_M",
    "N_PATCHES_PER_SIDE",
    "check_patch_index",
    "patch_ul",
    "patch_bounds",
    "patch_window",
    "patch_grid",
    "patches_in_aoi",
]

PATCH_SIZE_PX = 120
PATCH_SIZE_M = PATCH_SIZE_PX * RESOLUTION_M  # 1200 m
N_PATCHES_PER_SIDE = 91  # floor(10980 / 120)


def _as_tile(tile: TileGrid | str) -> TileGrid:
    return tile if isinstance(tile, TileGrid) else tile_grid(tile)


def check_patch_index(x: int, y: int) -> None:
    """Raise :class:`GridError` unless ``0 <= x, y <= 90`` (integers)."""
    for name, v in (("x", x), ("y", y)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise GridError(f"patch index {name}={v!r} must be an integer in 0..90")
        if not 0 <= v < N_PATCHES_PER_SIDE:
            raise GridError(f"patch index {name}={v} out of range; expected 0..90")


def patch_ul(tile: TileGrid | str, x: int, y: int) -> tuple[float, float]:
    """Upper-left corner (easting, northing) of patch ``x_y`` in the tile's UTM CRS."""
    check_patch_index(x, y)
    t = _as_tile(tile)
    return (t.ulx + PATCH_SIZE_M * int(x), t.uly - PATCH_SIZE_M * int(y))


def patch_bounds(tile: TileGrid | str, x: int, y: int) -> tuple[float, float, float, float]:
    """(left, bottom, right, top) of patch ``x_y`` in the tile's UTM CRS."""
    ulx, uly = patch_ul(tile, x, y)
    return (ulx, uly - PATCH_SIZE_M, ulx + PATCH_SIZE_M, uly)


def patch_window(x: int, y: int) -> Window:
    """Pixel window of patch ``x_y`` in the tile's 10 m grid."""
    check_patch_index(x, y)
    from rasterio.windows import Window

    return Window(int(x) * PATCH_SIZE_PX, int(y) * PATCH_SIZE_PX, PATCH_SIZE_PX, PATCH_SIZE_PX)


def patch_grid(tile: TileGrid | str, wgs84: bool = False) -> gpd.GeoDataFrame:
    """All 91 x 91 whole patches of a tile: columns ``x``, ``y`` (int8), ``geometry``.

    Geometries are squares in the tile's UTM CRS; with ``wgs84=True`` the frame is reprojected
    to EPSG:4326 (patches are small, so the 4 corners suffice; not split at the antimeridian).
    Rows are ordered y-major (row by row from the top), x increasing.
    """
    t = _as_tile(tile)
    yy, xx = np.meshgrid(np.arange(N_PATCHES_PER_SIDE), np.arange(N_PATCHES_PER_SIDE), indexing="ij")
    xx, yy = xx.ravel(), yy.ravel()
    left = t.ulx + PATCH_SIZE_M * xx
    top = t.uly - PATCH_SIZE_M * yy
    import geopandas as gpd

    geoms = shapely.box(left, top - PATCH_SIZE_M, left + PATCH_SIZE_M, top)
    gdf = gpd.GeoDataFrame(
        {"x": xx.astype(np.int8), "y": yy.astype(np.int8)}, geometry=geoms, crs=t.crs
    )
    return gdf.to_crs(4326) if wgs84 else gdf


def patches_in_aoi(
    tile: TileGrid | str, aoi_wgs84: shapely.Geometry, predicate: str = "within"
) -> list[tuple[int, int]]:
    """Patches ``(x, y)`` of the tile selected by an AOI given in lon/lat (EPSG:4326).

    ``predicate="within"`` (default) keeps patches lying fully inside the AOI;
    ``"intersects"`` keeps patches sharing any area or boundary with it. The AOI is transformed
    to the tile's UTM CRS (edges densified every ~0.01° so long lon/lat edges follow the
    projection), and the test is done there, exactly on the patch squares.
    """
    if predicate not in ("within", "intersects"):
        raise GridError(f"predicate {predicate!r} not supported; expected 'within' or 'intersects'")
    t = _as_tile(tile)
    to_utm = pyproj.Transformer.from_crs(4326, t.epsg, always_xy=True)
    aoi_utm = shapely.transform(
        shapely.segmentize(aoi_wgs84, 0.01), to_utm.transform, interleaved=False
    )
    gdf = patch_grid(t)
    mask = gdf.within(aoi_utm) if predicate == "within" else gdf.intersects(aoi_utm)
    sel = gdf[mask.to_numpy()]
    return [(int(x), int(y)) for x, y in zip(sel["x"], sel["y"])]
