"""Benchmark: range-Doppler geocoding of a full S2 tile grid (10980 × 10980 px, 10 m) over the
Rome S1B sample, plus bilinear resampling of a synthetic float32 GRD window.

Chain per block of tile rows: DEM read onto the tile grid (Rome 30 m DEM, bilinear, EGM96;
outside the 11 km DEM a constant 50 m — a benchmark-only fill policy) → geoid + per-pixel
zero-Doppler solve (numba) → GRD window for the block → bilinear resampling of a synthetic
float32 GRD window of that size. Numba kernels are compiled/loaded before timing (warm-up).

Last line: one JSON object (wall_s, peak_rss_mb, mpix_per_s, and the parts).
"""

from __future__ import annotations

import argparse
import importlib.resources
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import mgrs
import numpy as np
import pyproj
import rasterio
from affine import Affine
from rasterio.windows import Window

from ben_sen1_assets.sar import open_safe
from ben_sen1_assets.sar.dem import LocalDem, grid_lonlat_bounds
from ben_sen1_assets.sar.geocoding import GeometryModel, RasterGrid, geocode_grid, grd_window_for, resample_grd

DATA = Path(str(importlib.resources.files("ben_sen1_assets") / "data"))
SAFE = DATA / "s1_samples" / "S1B_IW_GRDH_1SDV_20211223T051122_20211223T051147_030148_039993_5371.SAFE"
DEM = DATA / "dem" / "Rome-30m-DEM.tif"


def s2_tile_grid(tile: str) -> RasterGrid:
    """The S2 tile's 10 m grid: UL corner = 100 km square SW corner + 109 800 m north."""
    lat, lon = mgrs.MGRS().toLatLon(tile + "0000000000")
    zone = int(tile[:2])
    north = tile[2] >= "N"
    crs = pyproj.CRS.from_epsg((32600 if north else 32700) + zone)
    x, y = pyproj.Transformer.from_crs(4326, crs, always_xy=True).transform(lon, lat)
    x0, y0 = round(x / 100000) * 100000, round(y / 100000) * 100000
    return RasterGrid(crs, Affine(10, 0, x0, 0, -10, y0 + 109800), (10980, 10980))


def synthetic_dem(grid: RasterGrid, path: Path) -> Path:
    """A 1″ (SRTM-like) tiled GeoTIFF covering ``grid`` with smooth synthetic relief (0–1500 m)."""
    west, south, east, north = grid_lonlat_bounds(grid)
    res = 1 / 3600
    w, h = int((east - west) / res) + 20, int((north - south) / res) + 20
    transform = Affine(res, 0, west - 10 * res, 0, -res, north + 10 * res)
    with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=1, dtype="int16", crs="EPSG:4326",
                       transform=transform, nodata=-32768, tiled=True, blockxsize=512, blockysize=512) as ds:
        for r0 in range(0, h, 512):
            rows = np.arange(r0, min(r0 + 512, h))[:, None]
            cols = np.arange(w)[None, :]
            z = 750 + 400 * np.sin(rows / 900.0) * np.cos(cols / 700.0) + 300 * np.sin((rows + cols) / 170.0)
            ds.write(z.astype(np.int16), 1, window=Window(0, r0, w, rows.size))
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tile", default="33TTG")
    ap.add_argument("--block-rows", type=int, default=1024)
    ap.add_argument("--size", type=int, default=10980, help="use the tile's top-left size × size px")
    ap.add_argument("--dem", choices=["rome", "synthetic"], default="rome",
                    help="rome: the 11 km Rome DEM, 50 m outside; synthetic: a 1″ DEM covering the tile")
    args = ap.parse_args()

    with open_safe(SAFE) as product:
        ann = product.annotation("VV")
    geo = GeometryModel.from_annotation(ann, srgr="linear")
    grid = s2_tile_grid(args.tile)
    if args.size != grid.shape[0]:
        grid = RasterGrid(grid.crs, grid.transform, (args.size, args.size))
    tmp = tempfile.TemporaryDirectory()
    if args.dem == "rome":
        dem = LocalDem(DEM, fill="constant:50")  # benchmark only: 50 m (EGM96) outside the Rome DEM
    else:
        dem = LocalDem(synthetic_dem(grid, Path(tmp.name) / "dem.tif"), vertical_datum="EGM96")

    # warm-up: compile or load the cached numba kernels and PROJ grids
    w = grid.window(Window(0, 0, 64, 64))
    line, pixel = geocode_grid(geo, w, dem.read(w).heights, dem.vertical_datum)
    resample_grd(np.zeros((4, 4), np.float32), None, line, pixel)

    t_dem = t_geo = t_res = 0.0
    n_valid = 0
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for r0 in range(0, grid.shape[0], args.block_rows):
        win = Window(0, r0, grid.shape[1], min(args.block_rows, grid.shape[0] - r0))
        t = time.perf_counter()
        heights = dem.read(grid, win)
        t_dem += time.perf_counter() - t
        t = time.perf_counter()
        line, pixel = geocode_grid(geo, grid, heights.heights, heights.vertical_datum, window=win)
        t_geo += time.perf_counter() - t
        gw = grd_window_for(line, pixel, geo.shape)
        if gw is None:
            continue
        src = rng.random((int(gw.height), int(gw.width)), dtype=np.float32)  # synthetic, not timed
        t = time.perf_counter()
        out = resample_grd(src, gw, line, pixel, "bilinear")
        t_res += time.perf_counter() - t
        n_valid += int(np.isfinite(out).sum())
        del src, out, line, pixel
    wall = t_dem + t_geo + t_res
    npix = grid.shape[0] * grid.shape[1]
    figures = {
        "tile": args.tile,
        "dem": args.dem,
        "pixels": npix,
        "valid_pixels": n_valid,
        "block_rows": args.block_rows,
        "dem_s": round(t_dem, 2),
        "geocoding_s": round(t_geo, 2),
        "resample_s": round(t_res, 2),
        "elapsed_incl_synthetic_s": round(time.perf_counter() - t0, 2),
        "wall_s": round(wall, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "mpix_per_s": round(npix / 1e6 / wall, 2),
        "geocoding_mpix_per_s": round(npix / 1e6 / t_geo, 2),
    }
    tmp.cleanup()
    print(json.dumps(figures))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
