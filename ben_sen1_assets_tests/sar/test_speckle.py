"""Speckle filters on synthetic gamma speckle (L = 1): ENL gain, edge sharpness, NaN, tiling."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from rasterio.windows import Window
from scipy import ndimage

from ben_sen1_assets.sar.speckle import KINDS, SpeckleFilter, filter_window, sigma_range


def _speckle(shape, mean=1.0, looks=1.0, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (np.asarray(mean) * rng.gamma(looks, 1.0 / looks, size=shape)).astype(np.float32)


def _enl(x: np.ndarray) -> float:
    return float(x.mean() ** 2 / x.var())


# ENL measured as mean²/var over the interior (8 px from the edges) of a 400×400 homogeneous
# single-look scene (input ENL ≈ 1). Minimum gains asserted (observed: ≈17, ≈18, ≈48).
ENL_GAIN = {"refined_lee": 10.0, "lee_sigma": 8.0, "boxcar": 40.0}


@pytest.mark.parametrize("kind", ["refined_lee", "lee_sigma", "boxcar"])
def test_enl_gain_and_mean_on_homogeneous_area(kind):
    img = _speckle((400, 400))
    out = SpeckleFilter(kind=kind, window=7, looks=1.0).apply(img)[8:-8, 8:-8]
    enl_in = _enl(img[8:-8, 8:-8])
    assert 0.9 < enl_in < 1.1
    assert _enl(out) >= ENL_GAIN[kind] * enl_in
    assert out.mean() == pytest.approx(img[8:-8, 8:-8].mean(), rel=0.03)  # radiometry preserved


def _transition_width(profile: np.ndarray) -> float:
    lo, hi = profile[:20].mean(), profile[-20:].mean()
    x = np.arange(profile.size, dtype=float)
    f = (profile - lo) / (hi - lo)
    x10 = np.interp(0.1, f, x)  # profile is increasing across the edge
    x90 = np.interp(0.9, f, x)
    return float(x90 - x10)


@pytest.mark.parametrize(("kind", "max_width"), [("refined_lee", 3.0), ("lee_sigma", 3.0)])
def test_step_edge_stays_sharp(kind, max_width):
    """A 10 dB step (σ 1 → 10) in L=1 speckle: the 10–90 % width of the row-averaged profile."""
    mean = np.where(np.arange(120) < 60, 1.0, 10.0)[None, :].repeat(2000, axis=0)
    img = _speckle(mean.shape, mean=mean, seed=4)
    out = SpeckleFilter(kind=kind, window=7, looks=1.0).apply(img)
    width = _transition_width(out[10:-10, 30:90].mean(axis=0))  # observed: RL ≈ 2.0, Lee sigma ≈ 2.8
    assert width <= max_width
    # the boxcar of the same size blurs it: the test can tell the difference
    box = SpeckleFilter(kind="boxcar", window=7).apply(img)
    assert _transition_width(box[10:-10, 30:90].mean(axis=0)) >= 5.0


def test_boxcar_equals_scipy_nanmean_and_nan_stays_nan():
    img = _speckle((40, 50), seed=5)
    img[10:13, 20:24] = np.nan
    img[0, 0] = np.nan
    out = SpeckleFilter(kind="boxcar", window=5).apply(img)
    ref = ndimage.generic_filter(img.astype(np.float64), np.nanmean, size=5, mode="constant", cval=np.nan)
    ref[np.isnan(img)] = np.nan
    np.testing.assert_allclose(out, ref, rtol=1e-5)
    for kind in KINDS:
        res = SpeckleFilter(kind=kind, looks=1.0).apply(img)
        assert np.array_equal(np.isnan(res), np.isnan(img)), kind


def test_refined_lee_ignores_nan_neighbours():
    img = _speckle((60, 60), seed=6)
    with_nan = img.copy()
    with_nan[30, 33] = np.nan  # inside the 7×7 box of (30, 30)
    a = SpeckleFilter(looks=1.0).apply(img)
    b = SpeckleFilter(looks=1.0).apply(with_nan)
    assert np.isfinite(b[30, 30]) and np.isnan(b[30, 33])
    assert abs(b[30, 30] - a[30, 30]) < 0.5 * a[30, 30] + 1e-3
    assert np.array_equal(a[:20], b[:20])  # far pixels unaffected


@pytest.mark.parametrize("kind", KINDS)
def test_tiles_with_halo_equal_whole_scene(kind):
    scene = _speckle((230, 310), mean=np.linspace(0.5, 5, 310)[None, :], seed=7)
    scene[50:60, 100:140] = np.nan
    speckle = SpeckleFilter(kind=kind, window=7, looks=1.0)
    whole = speckle.apply(scene)

    def read(w: Window) -> np.ndarray:
        return scene[w.toslices()]

    for r in range(0, 230, 64):
        for c in range(0, 310, 100):
            tile = Window(c, r, min(100, 310 - c), min(64, 230 - r))
            got = filter_window(speckle, read, tile, scene.shape)
            np.testing.assert_array_equal(got, whole[tile.toslices()])


def test_params_serialise_and_validate():
    f = SpeckleFilter(kind="lee_sigma", window=9, looks=4.4, sigma=0.8)
    assert SpeckleFilter.from_dict(f.to_dict()) == f
    assert f.to_dict() == {"kind": "lee_sigma", "window": 9, "looks": 4.4, "sigma": 0.8}
    assert f.halo == 4 and SpeckleFilter(kind="none").halo == 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.window = 5  # type: ignore[misc]
    for bad in [dict(kind="median"), dict(window=6), dict(window=3), dict(looks=0), dict(sigma=1.5)]:
        with pytest.raises(ValueError):
            SpeckleFilter(**bad)


def test_sigma_range_properties():
    # the defining conditions (Lee et al. 2009 §III), checked by Monte Carlo for any L: the interval holds `sigma` of the speckle and keeps its mean at 1 (Monte Carlo check)
    rng = np.random.default_rng(8)
    for looks in (1.0, 4.4):
        i1, i2, eta2 = sigma_range(looks, 0.9)
        x = rng.gamma(looks, 1.0 / looks, size=2_000_000)
        sel = x[(x >= i1) & (x <= i2)]
        assert sel.size / x.size == pytest.approx(0.9, abs=0.002)
        assert sel.mean() == pytest.approx(1.0, abs=0.003)
        assert sel.var() / sel.mean() ** 2 == pytest.approx(eta2, rel=0.02)


@pytest.mark.parametrize("kind", ["refined_lee", "lee_sigma", "boxcar"])
def test_filter_into_a_window_equals_apply(kind):
    """filter_into (the chain's path: image already padded with NaN, a window of the result written
    into a view) gives bit for bit the same pixels as apply on the whole image."""
    f = SpeckleFilter(kind)
    img = _speckle((90, 130), seed=8)
    img[40:44, 60:70] = np.nan
    whole = f.apply(img)
    h = f.halo
    padded = np.full((90 + 2 * h, 130 + 2 * h), np.nan, np.float32)
    padded[h : h + 90, h : h + 130] = img
    target = np.zeros((100, 150), np.float32)
    f.filter_into(padded, target[5:65, 7:107], 17, 23)  # a strided view, an inner window
    assert np.array_equal(target[5:65, 7:107], whole[17:77, 23:123], equal_nan=True)
    assert not target[:5].any() and not target[:, :7].any()  # nothing written outside the view
    with pytest.raises(ValueError, match="outside"):
        f.filter_into(padded, target[:80, :10], 17, 0)
