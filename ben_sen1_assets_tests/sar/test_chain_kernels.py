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


@pytest.mark.parametrize("method", ["bilinear", "nearest"])
@pytest.mark.parametrize("scale", ["db_floor", "db_nan", "linear"])
def test_fused_block_equals_resample_then_db(method, scale):
    """The chain's one-pass resampling of all bands (+ dB, + valid counts) gives bit for bit what
    resample_grd then to_db give band by band."""
    from ben_sen1_assets.sar.chain_kernels import resample_block
    from ben_sen1_assets.sar.geocoding import resample_grd
    from ben_sen1_assets.sar.radiometry import to_db

    rng = np.random.default_rng(11)
    grd = [rng.gamma(4.4, 0.05 / 4.4, (300, 400)).astype(np.float32) for _ in range(2)]
    grd[0][rng.random(grd[0].shape) < 0.01] = np.nan
    grd[1][:, :20] = np.nan
    grd[1][100:120] -= 0.06  # unclipped negatives after noise removal
    window = Window(1000, 2000, 400, 300)
    line = rng.uniform(1990, 2310, (150, 220)).astype(np.float32)
    pixel = rng.uniform(990, 1410, (150, 220)).astype(np.float32)
    line[rng.random(line.shape) < 0.05] = np.nan
    negative = "nan" if scale == "db_nan" else "floor"
    out = np.empty((2, 150, 220), np.float32)
    counts = np.empty((150, 3), np.int64)
    resample_block(tuple(grd), 2000.0, 1000.0, line, pixel, method == "bilinear", scale != "linear",
                   negative == "floor", 1e-5, out, counts)
    expected = [resample_grd(g, window, line, pixel, method) for g in grd]
    if scale != "linear":
        expected = [to_db(e, negative, 1e-5) for e in expected]
    for b in range(2):
        assert np.array_equal(out[b], expected[b], equal_nan=True)
        assert counts[:, b].sum() == np.isfinite(expected[b]).sum()
    assert counts[:, 2].sum() == (np.isfinite(expected[0]) & np.isfinite(expected[1])).sum()
    assert 0 < counts[:, 2].sum() < out[0].size


@pytest.mark.parametrize("rtc", [False, True])
def test_finish_mask_applies_the_mask_rules(rtc):
    """The chain's one pass over a block's mask: DEM_FILLED where the DEM was filled, NO_DATA where
    a polarisation has no finite value (not where terrain flattening masked the pixel), the float
    band equal to the bits, and the counts per bit."""
    from ben_sen1_assets.sar.chain_kernels import finish_mask
    from ben_sen1_assets.sar.masks import DEM_FILLED, LAYOVER, NO_DATA, RTC_AREA_LOW, SHADOW

    rng = np.random.default_rng(3)
    block = rng.normal(size=(4, 60, 70)).astype(np.float32)
    block[0][rng.random((60, 70)) < 0.2] = np.nan
    block[1][:, :9] = np.inf
    mask = rng.choice(np.array([0, SHADOW, LAYOVER, RTC_AREA_LOW, SHADOW | RTC_AREA_LOW], np.uint8), size=(60, 70))
    filled = rng.random((60, 70)) < 0.3
    expected = mask | np.where(filled, DEM_FILLED, 0).astype(np.uint8)
    nodata = ~np.isfinite(block[:2]).all(axis=0)
    if rtc:
        nodata &= (expected & RTC_AREA_LOW) == 0
    expected[nodata] |= NO_DATA
    counts = np.empty((60, 8), np.int64)
    finish_mask(block, 2, mask, filled, DEM_FILLED, rtc, block[3], counts)
    assert np.array_equal(mask, expected) and np.array_equal(block[3], expected.astype(np.float32))
    for k in range(8):
        assert counts[:, k].sum() == np.count_nonzero(expected & (1 << k))
    assert 0 < counts[:, 2].sum() < mask.size  # NO_DATA set on some pixels, not all
    empty = np.zeros((0, 0), np.bool_)  # no DEM-filled information
    mask2 = np.zeros((60, 70), np.uint8)
    finish_mask(block, 2, mask2, empty, DEM_FILLED, rtc, block[3], counts)
    assert not (mask2 & DEM_FILLED).any()


@pytest.mark.parametrize("n", [2, 3, 5])
def test_lagrange_weights_match_scipy(n):
    """The height interpolation's Lagrange weights (tie-point geocoding, the demo archive's scene
    placement) applied to values at the nodes give scipy's interpolating polynomial (peer)."""
    import numba
    from scipy.interpolate import BarycentricInterpolator

    from ben_sen1_assets.sar.tiepoints import lagrange_denominators, lagrange_weights

    @numba.njit
    def weights(x, nodes, inv_den):
        out = np.empty(nodes.size)
        lagrange_weights(x, nodes, inv_den, out)
        return out

    rng = np.random.default_rng(n)
    nodes = np.sort(rng.uniform(-400.0, 4000.0, n))  # layer heights, m
    values = rng.uniform(-5000.0, 25000.0, (7, n))  # GRD lines / pixels of a node on each layer
    inv_den = lagrange_denominators(nodes)
    peer = BarycentricInterpolator(nodes, values, axis=1)
    for x in [*nodes, *rng.uniform(-500.0, 4500.0, 20)]:
        w = weights(x, nodes, inv_den)
        np.testing.assert_allclose(w.sum(), 1.0, rtol=0, atol=1e-12)
        np.testing.assert_allclose(values @ w, peer(x), rtol=1e-11, atol=1e-8)


@pytest.mark.parametrize(("n_layers", "step"), [(3, 16), (2, 16), (5, 7)])
def test_tiepoint_interpolation_is_its_per_pixel_definition(n_layers, step):
    """The interpolation kernel (layer after layer over a cell's columns) gives, bit for bit, the
    per-pixel definition written out in numpy: bilinear weights of the pixel in its tie-point
    cell, the node values of each layer combined with them, the Lagrange weights' products in
    node order, the layers summed in order; NaN where the height is not finite or the cell is
    off the image."""
    from ben_sen1_assets.sar.tiepoints import _interp_tiepoints, lagrange_denominators

    rng = np.random.default_rng(n_layers)
    h, w = 101, 250  # the last cells partial
    heights = rng.uniform(-50.0, 3000.0, (h, w)).astype(np.float32)
    heights[7, 9], heights[40, 200] = np.nan, np.inf
    layers = np.linspace(-100.0, 3200.0, n_layers)
    inv_den = lagrange_denominators(layers)
    nodes_shape = (n_layers, (h - 1) // step + 2, (w - 1) // step + 2)
    node_line, node_pixel = rng.uniform(0, 16000, nodes_shape), rng.uniform(0, 26000, nodes_shape)
    off = np.zeros((nodes_shape[1] - 1, nodes_shape[2] - 1), np.bool_)
    off[2, 3:5] = True
    line, pixel = np.empty((h, w), np.float32), np.empty((h, w), np.float32)
    _interp_tiepoints(heights, layers, inv_den, node_line, node_pixel, step, off, line, pixel)

    i, j = np.mgrid[:h, :w]
    ci, cj = i // step, j // step
    fi, fj = (i - ci * step) * (1.0 / step), (j - cj * step) * (1.0 / step)
    w00, w01, w10, w11 = (1.0 - fi) * (1.0 - fj), (1.0 - fi) * fj, fi * (1.0 - fj), fi * fj
    hh = heights.astype(np.float64)
    expected = []
    for nodes in (node_line, node_pixel):
        total = np.zeros((h, w))
        for a in range(n_layers):
            weight = np.full((h, w), inv_den[a])
            for b in range(n_layers):
                if b != a:
                    weight = weight * (hh - layers[b])
            value = (w00 * nodes[a, ci, cj] + w01 * nodes[a, ci, cj + 1] + w10 * nodes[a, ci + 1, cj]
                     + w11 * nodes[a, ci + 1, cj + 1])
            total = total + weight * value
        total[~np.isfinite(hh) | off[ci, cj]] = np.nan
        expected.append(total.astype(np.float32))
    assert np.isnan(line).sum() == 2 + off.sum() * step * step
    assert np.array_equal(line, expected[0], equal_nan=True) and np.array_equal(pixel, expected[1], equal_nan=True)
