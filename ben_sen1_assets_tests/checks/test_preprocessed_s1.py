"""preprocessed_on_tile_grid finds a COG that is off the tile grid, by one pixel or by its CRS."""

from __future__ import annotations

import rasterio
from affine import Affine
from rasterio.crs import CRS

from ben_sen1_assets.checks.preprocessed_s1 import _grid_problems
from ben_sen1_assets.sar.chain import tile_window

KEY = "33TTG_20211223"


def _copy(src_path, dst_path, **changes):
    with rasterio.open(str(src_path)) as src:
        profile = {**src.profile, **changes}
        data, descriptions = src.read(), src.descriptions
    with rasterio.open(dst_path, "w", **profile) as dst:
        dst.write(data)
        for i, name in enumerate(descriptions, start=1):
            dst.set_band_description(i, name)


def test_demo_cogs_are_on_the_grid(e2e):
    entry = e2e.defs.resources["tile_catalog"].entry(KEY)
    for name, path in e2e.value(KEY, "preprocessed_s1").items():
        with rasterio.open(str(path)) as src:
            assert _grid_problems(name, src, entry.tile, tile_window(entry)) == []


def test_shifted_and_reprojected_cogs_are_named(e2e, tmp_path):
    entry = e2e.defs.resources["tile_catalog"].entry(KEY)
    window = tile_window(entry)
    name, path = next(iter(e2e.value(KEY, "preprocessed_s1").items()))
    with rasterio.open(str(path)) as src:
        t = src.transform
    shifted, wrong_crs = tmp_path / "shifted.tif", tmp_path / "crs.tif"
    _copy(path, shifted, transform=Affine(t.a, t.b, t.c + 10.0, t.d, t.e, t.f))
    _copy(path, wrong_crs, crs=CRS.from_epsg(32632 if entry.tile.epsg != 32632 else 32633))
    with rasterio.open(shifted) as src:
        (problem,) = _grid_problems(name, src, entry.tile, window)
    assert name in problem and f"col {window.col_off + 1}" in problem
    with rasterio.open(wrong_crs) as src:
        problems = _grid_problems(name, src, entry.tile, window)
    assert any(f"is not EPSG:{entry.tile.epsg}" in p for p in problems)
