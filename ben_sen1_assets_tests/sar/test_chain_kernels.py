"""The chain's fast kernels against the reference implementations they replace."""

from __future__ import annotations

import importlib.resources

import numpy as np
import pytest
from rasterio.windows import Window

from ben_sen1_assets.grid import tile_grid
from ben_sen1_assets.sar import open_safe
from ben_sen1_assets.sar.dem import LocalDem
from ben_sen1_assets.sar.geocoding import GeometryModel, geocode_grid
from ben_sen1_assets.sar.speckle import SpeckleFilter
from ben_sen1_assets.sar.speckle_fast import apply_speckle
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


def test_fast_refined_lee_equals_speckle_module():
    rng = np.random.default_rng(3)
    x = rng.gamma(4.4, 0.1 / 4.4, (300, 400)).astype(np.float32)
    x[:, 250:] *= 8.0  # a vertical edge
    x[150:, :] *= 0.2  # a horizontal edge
    x[np.triu_indices(300, 100)[0], np.triu_indices(300, 100)[1]] *= 3.0  # a diagonal one
    x[:, :20] = np.nan
    x[rng.random(x.shape) < 0.02] = np.nan
    for f in (SpeckleFilter(), SpeckleFilter("refined_lee", 5, looks=1.0), SpeckleFilter("refined_lee", 11)):
        ref = f.apply(x)
        got = apply_speckle(x, f)
        assert np.array_equal(np.isnan(ref), np.isnan(got))
        np.testing.assert_allclose(got, ref, rtol=1e-6, equal_nan=True)
    f = SpeckleFilter("boxcar", 5)
    np.testing.assert_array_equal(apply_speckle(x, f), f.apply(x))
