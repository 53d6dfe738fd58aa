"""Tie-point geocoding against the per-pixel range-Doppler solve it replaces in the chain."""

from __future__ import annotations

import importlib.resources

import numpy as np
import pytest
from rasterio.windows import Window

from ben_sen1_assets.grid import tile_grid
from ben_sen1_assets.sar import open_safe
from ben_sen1_assets.sar.dem import LocalDem
from ben_sen1_assets.sar.geocoding import GeometryModel, geocode_grid
from ben_sen1_assets.sar.tiepoints import geocode_grid_tiepoints

from .conftest import S1B_2021_ROME, safe_path

DEM_PATH = str(importlib.resources.files("ben_sen1_assets") / "data" / "dem" / "Rome-30m-DEM.tif")
WINDOW = Window(8880, 4200, 840, 1080)  # 33TTG, patches around the Rome DEM


@pytest.fixture(scope="module")
def geometry():
    with open_safe(safe_path(S1B_2021_ROME)) as p:
        return GeometryModel.from_annotation(p.annotation("VV"))


@pytest.mark.parametrize("heights", ["rome", "random_0_3000"])
def test_tiepoints_match_the_per_pixel_solve(geometry, heights):
    tile = tile_grid("33TTG")
    if heights == "rome":
        h = LocalDem(DEM_PATH, fill="nearest").read(tile, WINDOW).heights
    else:  # rough terrain: every pixel an independent height in 0..3000 m
        h = np.random.default_rng(1).uniform(0, 3000, (WINDOW.height, WINDOW.width)).astype(np.float32)
    h[:5, :7] = np.nan
    line0, pixel0 = geocode_grid(geometry, tile, h, "EGM96", window=WINDOW)
    line1, pixel1 = geocode_grid_tiepoints(geometry, tile, h, "EGM96", window=WINDOW, step=16, n_layers=3)
    assert np.array_equal(np.isnan(line0), np.isnan(line1))
    # 0.01 px; float32 outputs alone round to 0.002 px at ~25000 px
    assert np.nanmax(np.abs(line1 - line0)) < 0.01
    assert np.nanmax(np.abs(pixel1 - pixel0)) < 0.01


def test_tiepoints_flat_heights(geometry):
    tile = tile_grid("33TTG")
    h = np.full((300, 200), 120.0, np.float32)
    w = Window(WINDOW.col_off, WINDOW.row_off, 200, 300)
    line0, pixel0 = geocode_grid(geometry, tile, h, "ellipsoid", window=w)
    line1, pixel1 = geocode_grid_tiepoints(geometry, tile, h, "ellipsoid", window=w)
    assert np.nanmax(np.abs(line1 - line0)) < 0.01 and np.nanmax(np.abs(pixel1 - pixel0)) < 0.01


def test_tiepoint_cells_off_the_image_are_nan(geometry):
    tile = tile_grid("33TTG")
    h = LocalDem(DEM_PATH, fill="nearest").read(tile, WINDOW).heights
    shape = (8000, 22000)  # pretend the image ends inside the window (lines ≈7470–8685 there)
    line0, pixel0 = geocode_grid(geometry, tile, h, "EGM96", window=WINDOW)
    line1, pixel1 = geocode_grid_tiepoints(geometry, tile, h, "EGM96", window=WINDOW, image_shape=shape)
    nan = np.isnan(line1)
    assert 0.1 < nan.mean() < 0.9
    np.testing.assert_allclose(line1[~nan], line0[~nan], atol=0.01)
    np.testing.assert_allclose(pixel1[~nan], pixel0[~nan], atol=0.01)
    # everything within 8 px of the image is kept; only pixels off the image are dropped
    near = (line0 <= shape[0] - 1 + 8) & (pixel0 <= shape[1] - 1 + 8)
    assert not nan[near].any()
    assert ((line0[nan] > shape[0] - 1) | (pixel0[nan] > shape[1] - 1)).all()


def test_grd_extent_equals_grd_window_for():
    from ben_sen1_assets.sar.chain import grd_extent
    from ben_sen1_assets.sar.geocoding import grd_window_for

    rng = np.random.default_rng(5)
    line = rng.uniform(-50, 1050, (200, 300)).astype(np.float32)
    pixel = rng.uniform(-50, 2050, (200, 300)).astype(np.float32)
    line[rng.random(line.shape) < 0.1] = np.nan
    for shape in ((1000, 2000), (500, 700), (10, 10)):
        assert grd_extent(line, pixel, shape) == grd_window_for(line, pixel, shape, margin=1)
    assert grd_extent(line, pixel + 5000, (1000, 2000)) is None
