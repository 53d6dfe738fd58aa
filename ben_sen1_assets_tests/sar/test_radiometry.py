"""Radiometry on windows of real LUTs with synthetic DN, against xarray-sentinel / xarray-safe-s1."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
import xarray_sentinel
from rasterio.windows import Window

from ben_sen1_assets.sar import open_safe
from ben_sen1_assets.sar.radiometry import (
    RadiometryParams,
    border_valid_mask,
    calibrate,
    calibration_window,
    noise_window,
    to_db,
)

from .conftest import PRODUCT_POLS, S1A_2015_OLD, S1A_2021_DESC, S1B_2021_ROME, safe_path, synthetic_dn

WINDOWS = [
    Window(col_off=0, row_off=0, width=300, height=200),  # first line / near range
    Window(col_off=8600, row_off=9000, width=400, height=300),  # across the IW1/IW2 boundary
    Window(col_off=25300, row_off=16400, width=250, height=250),  # far range, past the last vectors
]


def _clip(window: Window, shape) -> Window:
    row = min(int(window.row_off), shape[0] - int(window.height))
    col = min(int(window.col_off), shape[1] - int(window.width))
    return Window(col, row, window.width, window.height)


def _dn_array(dn: np.ndarray, window: Window) -> xr.DataArray:
    lines = np.arange(window.row_off, window.row_off + window.height)
    pixels = np.arange(window.col_off, window.col_off + window.width)
    return xr.DataArray(dn, dims=("line", "pixel"), coords={"line": lines, "pixel": pixels})


@pytest.mark.parametrize(("name", "pol"), [p for p in PRODUCT_POLS if p[0] in (S1A_2021_DESC, S1B_2021_ROME, S1A_2015_OLD)])
@pytest.mark.parametrize("quantity", ["sigma0", "beta0", "gamma0"])
def test_calibration_vs_xarray_sentinel(name, pol, quantity):
    product = open_safe(safe_path(name))
    ann, cal = product.annotation(pol), product.calibration(pol)
    ref = xr.open_dataset(str(safe_path(name)), engine="sentinel-1", group=f"IW/{pol}/calibration")
    lut_name = {"sigma0": "sigmaNought", "beta0": "betaNought", "gamma0": "gamma"}[quantity]
    rng = np.random.default_rng(1)
    for window in WINDOWS:
        window = _clip(window, ann.shape)
        dn = rng.integers(1, 2000, size=(int(window.height), int(window.width))).astype(np.uint16)
        expected = xarray_sentinel.calibrate_intensity(_dn_array(dn, window), ref[lut_name]).values
        params = RadiometryParams(quantity=quantity, thermal_noise=False, negative="nan")  # no floor
        ours = calibrate(dn, calibration_window(cal, window, quantity), None, params)
        assert ours.dtype == np.float32
        np.testing.assert_allclose(ours, expected, rtol=1e-5)


def _reference_noise(name: str, pol: str, window: Window) -> np.ndarray:
    """Noise from xarray-safe-s1's raw per-vector/per-block lists, interpolated with xarray/numpy."""
    import safe_s1

    reader = safe_s1.Sentinel1Reader(str(safe_path(name)))
    xml = next(f for f in reader.files["noise"] if f"-{pol.lower()}-" in f)
    get = lambda var: reader.xml_parser.get_var(xml, var)  # noqa: E731
    lines = np.arange(window.row_off, window.row_off + window.height)
    pixels = np.arange(window.col_off, window.col_off + window.width)
    vec_lines = np.asarray(get("noise.range.line"))
    # each vector on its own pixel grid (xarray interp, linear), then linear in line
    on_pixels = np.stack([
        xr.DataArray(v, dims="pixel", coords={"pixel": s}).interp(pixel=pixels, kwargs={"fill_value": (v[0], v[-1])}).values
        for s, v in zip(get("noise.range.sample"), get("noise.range.noiseLut"))
    ])
    rng_noise = xr.DataArray(on_pixels, dims=("line", "pixel"), coords={"line": vec_lines, "pixel": pixels}).interp(line=lines).values
    for k, bl in enumerate(get("noise.azi.line")):
        l0, l1 = get("noise.azi.line_start")[k], get("noise.azi.line_stop")[k]
        s0, s1 = get("noise.azi.sample_start")[k], get("noise.azi.sample_stop")[k]
        factor = xr.DataArray(get("noise.azi.noiseLut")[k], dims="line", coords={"line": bl}).interp(line=lines).values
        inside = ((lines >= l0) & (lines <= l1))[:, None] & ((pixels >= s0) & (pixels <= s1))[None, :]
        rng_noise = np.where(inside, rng_noise * factor[:, None], rng_noise)
    return rng_noise


@pytest.mark.parametrize(("name", "pol"), [(S1A_2021_DESC, "VV"), (S1A_2021_DESC, "VH"), (S1A_2015_OLD, "VV"), (S1A_2015_OLD, "VH")])
def test_noise_window_vs_raw_lists(name, pol):
    product = open_safe(safe_path(name))
    noise = product.noise(pol)
    for window in WINDOWS:
        window = _clip(window, product.annotation(pol).shape)
        expected = _reference_noise(name, pol, window)
        ours = noise_window(noise, window)
        assert ours.dtype == np.float32
        np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-3)


def test_sigma0_round_trip_with_noise():
    product = open_safe(safe_path(S1A_2021_DESC))
    window = Window(col_off=8500, row_off=4000, width=512, height=256)
    a = calibration_window(product.calibration("VH"), window, "sigma0")
    n = noise_window(product.noise("VH"), window)
    rng = np.random.default_rng(2)
    sigma0 = rng.gamma(4.4, 0.05 / 4.4, size=a.shape)  # mean 0.05 (≈ −13 dB)
    dn = synthetic_dn(sigma0, a, n)
    out = calibrate(dn, a, n, RadiometryParams(negative="nan"))
    expected = (dn.astype(np.float64) ** 2 - n.astype(np.float64)) / a.astype(np.float64) ** 2
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-9)  # negative ones included
    assert np.isfinite(out).all()
    assert np.mean(out) == pytest.approx(sigma0.mean(), rel=0.01)


@pytest.mark.parametrize("negative", ["floor", "nan", "zero"])
def test_linear_values_unclipped_and_zero_dn(negative):
    a = np.full((2, 3), 600.0, np.float32)
    n = np.full((2, 3), 500.0, np.float32)
    dn = np.array([[0, 10, 30], [22, 23, 100]], np.uint16)  # 10² < 500, 22² < 500 < 23²
    out = calibrate(dn, a, n, RadiometryParams(negative=negative))
    assert np.isnan(out[0, 0])  # DN == 0 is no data
    # DN² < N: negative, whatever the policy (the policy applies at the dB conversion)
    assert out[0, 1] == pytest.approx((100 - 500) / 600**2, rel=1e-6)
    assert out[1, 0] == pytest.approx((484 - 500) / 600**2, rel=1e-6)
    assert out[1, 1] == pytest.approx(29 / 600**2, rel=1e-6)
    assert out[1, 2] == pytest.approx((100**2 - 500) / 600**2, rel=1e-6)


def test_noise_dominated_mean_is_unbiased():
    """σ0 far below the noise (SNR −10 dB): the mean of the unclipped values recovers σ0; the
    mean of values floored at 1e-5 (the former behaviour) is biased upwards by dB."""
    rng = np.random.default_rng(5)
    a = np.full((400, 400), 500.0, np.float32)
    n = np.full(a.shape, 2.5e4, np.float32)  # noise-equivalent σ0 = 0.1
    sigma0 = 0.01
    intensity = (sigma0 * a.astype(np.float64) ** 2 + n) * rng.gamma(4.4, 1 / 4.4, size=a.shape)
    dn = np.clip(np.rint(np.sqrt(intensity)), 1, 65535).astype(np.uint16)
    out = calibrate(dn, a, n)
    assert (out < 0).mean() > 0.3
    assert 10 * np.log10(out.mean() / sigma0) == pytest.approx(0.0, abs=0.2)
    floored = np.maximum(out, 1e-5)
    assert 10 * np.log10(floored.mean() / sigma0) > 1.0


def test_to_db():
    out = to_db(np.array([1.0, 0.01, 0.0, -1.0, np.nan], np.float32))
    np.testing.assert_allclose(out[:2], [0.0, -20.0], atol=1e-6)
    assert np.isnan(out[2:]).all() and out.dtype == np.float32
    floored = to_db(np.array([[1.0, 1e-6], [0.0, -1.0]], np.float32), "floor", 1e-5)
    np.testing.assert_allclose(floored, [[0.0, -50.0], [-50.0, -50.0]], atol=1e-5)
    assert np.isnan(to_db(np.array([np.nan], np.float32), "floor")).all()
    assert np.isnan(to_db(np.array([0.0, -2.0], np.float32), "zero")).all()
    with pytest.raises(ValueError, match="negative"):
        to_db(np.ones(2), "clip")


def test_azimuth_noise_past_a_block_clamped_to_its_last_value():
    """Lines past a block's last line (a gap before the next block of the same samples, or the
    image end) take the block's last value, not the unscaled range noise."""
    from ben_sen1_assets.sar.luts import NoiseAzimuthBlock, NoiseLut, NoiseRangeVectors

    rv = NoiseRangeVectors(np.array(["2021-01-01"] * 2, "datetime64[ns]"), np.array([0, 100]),
                           (np.array([0, 99]),) * 2, (np.array([10.0, 10.0]),) * 2)

    def block(first, last, values, s0=0, s1=49):
        return NoiseAzimuthBlock("IW1", first, last, s0, s1, np.array([first, last]), np.array(values))

    noise = NoiseLut("test", rv, (block(10, 39, [2.0, 3.0]), block(50, 69, [5.0, 7.0]), block(0, 99, [4.0, 4.0], 50, 99)))
    out = noise_window(noise, Window(0, 0, 100, 100))
    np.testing.assert_allclose(out[:10, 0], 20.0)  # before the first block: its first value
    np.testing.assert_allclose(out[39:50, 0], 30.0)  # gap after block 1: its last value
    np.testing.assert_allclose(out[69:, 0], 70.0)  # past the last block: its last value
    np.testing.assert_allclose(out[:, 50:], 40.0)  # the other swath's block
    np.testing.assert_allclose(out[55, 0], 10 * (5 + 2 * 5 / 19), rtol=1e-6)


@pytest.mark.parametrize("name", [S1A_2021_DESC, S1A_2015_OLD])
def test_window_equals_whole(name):
    """LUT interpolation on tiles equals the same pixels of one bigger ("whole") window."""
    product = open_safe(safe_path(name))
    cal, noise = product.calibration("VV"), product.noise("VV")
    whole = Window(col_off=8200, row_off=16000, width=1200, height=704)  # crosses IW1/IW2, ends at last line
    a_whole = calibration_window(cal, whole)
    n_whole = noise_window(noise, whole)
    rng = np.random.default_rng(3)
    for _ in range(6):
        h, w = int(rng.integers(1, 300)), int(rng.integers(1, 400))
        r, c = int(rng.integers(0, 704 - h)), int(rng.integers(0, 1200 - w))
        tile = Window(8200 + c, 16000 + r, w, h)
        np.testing.assert_array_equal(calibration_window(cal, tile), a_whole[r : r + h, c : c + w])
        np.testing.assert_array_equal(noise_window(noise, tile), n_whole[r : r + h, c : c + w])


def _hash01(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    x = np.sin(rows[:, None] * 12.9898 + cols[None, :] * 78.233) * 43758.5453
    return x - np.floor(x)


class _SyntheticOldScene:
    """DN for any window of the 2015 scene: σ0 = 0.05 speckled, with low-value borders of known
    width on the left (40 + row % 50 px) and top (30 + col % 20 rows), and a zero right border."""

    def __init__(self, product, pol="VV"):
        self.shape = product.annotation(pol).shape
        self.cal, self.noise = product.calibration(pol), product.noise(pol)

    def left(self, rows):
        return 40 + rows % 50

    def top(self, cols):
        return 30 + cols % 20

    def read(self, window: Window) -> np.ndarray:
        rows = np.arange(window.row_off, window.row_off + window.height)
        cols = np.arange(window.col_off, window.col_off + window.width)
        u = np.clip(_hash01(rows, cols), 1e-6, 1 - 1e-6)
        sigma0 = -0.05 * np.log(u)  # 1-look speckle
        dn = synthetic_dn(sigma0, calibration_window(self.cal, window), noise_window(self.noise, window))
        border = (cols[None, :] < self.left(rows)[:, None]) | (rows[:, None] < self.top(cols)[None, :])
        dn[border] = 1 + (u[border] * 3).astype(np.uint16)
        dn[:, cols >= self.shape[1] - 20] = 0
        return dn


def test_border_noise_edge_trim():
    product = open_safe(safe_path(S1A_2015_OLD))
    scene = _SyntheticOldScene(product)
    params = RadiometryParams()  # auto: IPF 2.70 < 2.90 → edge trim
    window = Window(col_off=0, row_off=0, width=700, height=600)
    valid = border_valid_mask(scene.read, scene.noise, scene.shape, window, params)
    rows, cols = np.arange(600), np.arange(700)
    border = (cols[None, :] < scene.left(rows)[:, None]) | (rows[:, None] < scene.top(cols)[None, :])
    assert not valid[border].any()  # every border pixel removed
    # data kept: the first valid column of each line is at most a few pixels inside the border
    first = valid.argmax(axis=1)[100:]
    excess = first - scene.left(rows[100:])
    assert (excess >= 0).all() and np.percentile(excess, 95) <= 3
    assert valid[100:, 100:].mean() > 0.999
    # a sub-window gives the same mask as the big one
    sub = Window(col_off=20, row_off=10, width=100, height=90)
    np.testing.assert_array_equal(border_valid_mask(scene.read, scene.noise, scene.shape, sub, params), valid[10:100, 20:120])
    # and the full chain on the window: border → NaN, zero DN → NaN
    dn = scene.read(window)
    out = calibrate(dn, calibration_window(scene.cal, window), noise_window(scene.noise, window), params, valid)
    assert np.isnan(out[border]).all() and np.isfinite(out[100:, 100:]).mean() > 0.999
    right = Window(col_off=scene.shape[1] - 100, row_off=5000, width=100, height=50)
    dn_r = scene.read(right)
    out_r = calibrate(dn_r, calibration_window(scene.cal, right), noise_window(scene.noise, right), params,
                      border_valid_mask(scene.read, scene.noise, scene.shape, right, params))
    assert np.isnan(out_r[:, -20:]).all() and np.isfinite(out_r[:, :60]).all()


def test_chain_tiles_with_halo_equal_whole_crop():
    """σ0 + Refined Lee 7×7 on tiles (LUTs per tile, speckle halo) == the same on one crop."""
    from ben_sen1_assets.sar.speckle import SpeckleFilter, filter_window

    product = open_safe(safe_path(S1A_2021_DESC))
    cal, noise = product.calibration("VV"), product.noise("VV")
    crop = Window(col_off=8400, row_off=3000, width=700, height=500)  # crosses IW1/IW2
    rng = np.random.default_rng(9)
    sigma0 = rng.gamma(1.0, 0.05, size=(500, 700))
    dn = synthetic_dn(sigma0, calibration_window(cal, crop), noise_window(noise, crop))
    dn[200:220, 300:330] = 0  # a no-data hole

    def sigma0_of(w: Window) -> np.ndarray:  # w relative to the crop
        absolute = Window(crop.col_off + w.col_off, crop.row_off + w.row_off, w.width, w.height)
        return calibrate(dn[w.toslices()], calibration_window(cal, absolute), noise_window(noise, absolute))

    speckle = SpeckleFilter(kind="refined_lee", window=7, looks=1.0)
    whole = speckle.apply(sigma0_of(Window(0, 0, 700, 500)))
    assert np.isnan(whole[200:220, 300:330]).all() and np.isfinite(whole[:190]).all()
    for r in range(0, 500, 128):
        for c in range(0, 700, 256):
            tile = Window(c, r, min(256, 700 - c), min(128, 500 - r))
            np.testing.assert_array_equal(filter_window(speckle, sigma0_of, tile, (500, 700)), whole[tile.toslices()])
