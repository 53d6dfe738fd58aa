"""Shared helpers for the terrain tests (incidence, masks, flattening): synthetic DEMs on UTM
grids of the Rome sample geometry, and the Rome DEM made ellipsoidal on a tile-grid region."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyproj
import rasterio
from affine import Affine
from rasterio.windows import Window

from ben_sen1_assets.grid import tile_grid
from ben_sen1_assets.sar import geoid
from ben_sen1_assets.sar.dem import LocalDem
from ben_sen1_assets.sar.geocoding import GeometryModel, RasterGrid, geocode_grid
from ben_sen1_assets.sar.terrain import range_direction

from .geometry_fixtures import ROME_DEM

TILE = "33TTG"


def tile_window_near(lon: float, lat: float, size: int, tile: str = TILE) -> Window:
    """The size × size window of the tile's 10 m grid centred near (lon, lat)."""
    t = tile_grid(tile)
    x, y = pyproj.Transformer.from_crs(4326, t.epsg, always_xy=True).transform(lon, lat)
    return Window(int((x - t.ulx) / 10) - size // 2, int((t.uly - y) / 10) - size // 2, size, size)


def utm_grid(lon: float, lat: float, size: int, tile: str = TILE) -> RasterGrid:
    """The size × size region of the tile's 10 m grid centred near (lon, lat), as a grid."""
    return RasterGrid.of(tile_grid(tile)).window(tile_window_near(lon, lat, size, tile))


def ground_range_axis(geometry: GeometryModel, grid: RasterGrid) -> tuple[np.ndarray, tuple[float, float]]:
    """Unit horizontal vector (east, north) of increasing ground range on ``grid``, and the
    (d/drow, d/dcol) direction the chain uses."""
    line, pixel = geocode_grid(geometry, grid, np.zeros(grid.shape, np.float32), "ellipsoid")
    dr, dc = range_direction(pixel)
    g = np.array([dc, -dr])  # d pixel / d east, d pixel / d north (rows go south)
    return g / np.linalg.norm(g), (dr, dc)


def write_dem(path: Path, grid: RasterGrid, height_of_xy, margin: int = 200) -> LocalDem:
    """A GeoTIFF DEM (ellipsoidal heights) of ``height_of_xy(x, y)`` on ``grid`` grown by
    ``margin`` px (the halo reads there), as a LocalDem."""
    t = grid.transform @ Affine.translation(-margin, -margin)
    h, w = grid.shape[0] + 2 * margin, grid.shape[1] + 2 * margin
    rows, cols = np.mgrid[0:h, 0:w]
    x, y = t.c + t.a * (cols + 0.5), t.f + t.e * (rows + 0.5)
    with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=1, dtype="float32",
                       crs=grid.crs.to_wkt(), transform=t) as ds:
        ds.write(np.asarray(height_of_xy(x, y), np.float32), 1)
    return LocalDem(path, vertical_datum="ellipsoid", fill="nearest")


def rome_ellipsoidal_dem(path: Path, size: int = 512) -> tuple[RasterGrid, Path]:
    """The Rome SRTM DEM (EGM96) warped onto a size × size region of tile 33TTG's grid at the
    DEM's centre and made ellipsoidal with PROJ's explicit vgridshift pipeline (egm96_15.gtx):
    the same heights for the project and for sarsen, on the same grid."""
    with rasterio.open(ROME_DEM) as ds:
        b = ds.bounds
    grid = utm_grid((b.left + b.right) / 2, (b.top + b.bottom) / 2, size)
    egm96 = LocalDem(ROME_DEM, fill="nearest").read(grid).heights.astype(np.float64)
    x, y = grid.xy(*np.mgrid[0:size, 0:size])
    lon, lat = pyproj.Transformer.from_crs(grid.crs, 4326, always_xy=True).transform(x, y)
    geoid.register_system_grids()
    vgrid = pyproj.Transformer.from_pipeline(
        "+proj=pipeline +step +proj=unitconvert +xy_in=deg +xy_out=rad "
        "+step +proj=vgridshift +grids=egm96_15.gtx +multiplier=1 "
        "+step +proj=unitconvert +xy_in=rad +xy_out=deg"
    )
    h = np.asarray(vgrid.transform(lon.ravel(), lat.ravel(), egm96.ravel())[2]).reshape(egm96.shape)
    with rasterio.open(path, "w", driver="GTiff", width=size, height=size, count=1, dtype="float32",
                       crs=grid.crs.to_wkt(), transform=grid.transform) as ds:
        ds.write(h.astype(np.float32), 1)
    return grid, path
