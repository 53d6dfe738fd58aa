"""Mosaic rules on synthetic per-product COGs with known values (expected values from the
formulas, not from the code)."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
import rasterio
from PIL import Image
from upath import UPath

from ben_sen1_assets.formats.cog import Raster, write_cog
from ben_sen1_assets.grid.tile import tile_grid
from ben_sen1_assets.outputs import OutputError
from ben_sen1_assets.outputs.mosaic import (
    MosaicConfig,
    mosaic_tile,
    quicklook,
    quicklook_png,
    read_source_product,
)

from .conftest import MGRS, PRODUCT_A, PRODUCT_B, S2_SENSING, WINDOW

SCOPE = [(x, y) for y in (38, 39, 40) for x in (60, 61, 62)]
# as the official BigEarthNet-S1 did on this tile: 60_40 from the S1B scene, the rest from S1A
CHOICE = {p: (PRODUCT_B if p == (60, 40) else PRODUCT_A) for p in SCOPE}


def _read(path):
    with rasterio.open(UPath(path).path) as src:
        return src.read(), src.tags(), list(src.descriptions), src.transform, src.crs


def _expected_per_patch_source(valid_a, fill_gaps):
    """Product index per pixel (0 = A, 1 = B) for CHOICE, NaN where no data."""
    src = np.zeros(valid_a.shape, dtype=np.float32)
    src[240:360, 0:120] = 1  # patch 60_40 (row 2, col 0 of the 3 x 3 window) -> B
    chosen_a = src == 0
    if fill_gaps:
        src[chosen_a & ~valid_a] = 1
    else:
        src[chosen_a & ~valid_a] = np.nan
    return src


@pytest.mark.parametrize("fill_gaps", [False, True])
def test_closest_per_patch(tmp_path, two_products, fill_gaps):
    paths, valid_a = two_products
    out = UPath(tmp_path / "mosaic.tif")
    res = mosaic_tile(paths, MGRS, S2_SENSING, out, patch_choice=CHOICE,
                      config=MosaicConfig(fill_gaps=fill_gaps))
    data, tags, names, transform, crs = _read(out)
    assert names == ["VV", "VH", "source_index"]
    assert res.products == (PRODUCT_A, PRODUCT_B)  # sorted by distance to the S2 sensing
    assert json.loads(tags["source_products"]) == [PRODUCT_A, PRODUCT_B]
    assert tags["mosaic_rule"] == "closest_per_patch"
    tile = tile_grid(MGRS)
    assert crs.to_epsg() == tile.epsg
    assert transform.c == tile.ulx + 10 * WINDOW.col_off and transform.f == tile.uly - 10 * WINDOW.row_off

    src = _expected_per_patch_source(valid_a, fill_gaps)
    np.testing.assert_array_equal(data[2], src)
    vv = np.where(src == 0, -10.0, np.where(src == 1, -20.0, np.nan))
    vh = np.where(src == 0, -16.0, np.where(src == 1, -26.0, np.nan))
    np.testing.assert_array_equal(data[0], vv.astype(np.float32))
    np.testing.assert_array_equal(data[1], vh.astype(np.float32))
    # without gap filling no patch mixes two products
    if not fill_gaps:
        for py in range(3):
            for px in range(3):
                s = data[2, py * 120:(py + 1) * 120, px * 120:(px + 1) * 120]
                assert len(np.unique(s[np.isfinite(s)])) == 1
    assert math.isclose(res.valid_fraction, np.isfinite(src).mean())


def test_closest_per_patch_unchosen_patches_filled_per_pixel(tmp_path, two_products):
    paths, valid_a = two_products
    choice = {(60, 40): PRODUCT_B}  # the other 8 patches: closest valid product per pixel
    out = UPath(tmp_path / "m.tif")
    mosaic_tile(paths, MGRS, S2_SENSING, out, patch_choice=choice)
    data = _read(out)[0]
    expected = np.where(valid_a, 0.0, 1.0)
    expected[240:360, 0:120] = 1
    np.testing.assert_array_equal(data[2], expected.astype(np.float32))


def test_closest_per_pixel_fills_holes_from_next_closest(tmp_path, two_products):
    paths, valid_a = two_products
    out = UPath(tmp_path / "m.tif")
    mosaic_tile(paths, MGRS, S2_SENSING, out, config=MosaicConfig(rule="closest_per_pixel"))
    data = _read(out)[0]
    np.testing.assert_array_equal(data[0], np.where(valid_a, -10.0, -20.0).astype(np.float32))
    np.testing.assert_array_equal(data[1], np.where(valid_a, -16.0, -26.0).astype(np.float32))
    np.testing.assert_array_equal(data[2], np.where(valid_a, 0.0, 1.0).astype(np.float32))


def test_mean_linear(tmp_path, two_products):
    paths, valid_a = two_products
    out = UPath(tmp_path / "m.tif")
    mosaic_tile(paths, MGRS, S2_SENSING, out, config=MosaicConfig(rule="mean_linear", block_rows=120))
    data, tags, names, *_ = _read(out)
    assert names == ["VV", "VH", "source_mask"]
    vv_both = 10 * math.log10((0.1 + 0.01) / 2)  # -12.596 dB
    vh_both = 10 * math.log10((10 ** -1.6 + 10 ** -2.6) / 2)
    np.testing.assert_allclose(data[0][valid_a], vv_both, atol=1e-5)
    np.testing.assert_allclose(data[1][valid_a], vh_both, atol=1e-5)
    np.testing.assert_allclose(data[0][~valid_a], -20.0, atol=1e-5)
    np.testing.assert_allclose(data[1][~valid_a], -26.0, atol=1e-5)
    # bit 0 = A, bit 1 = B
    np.testing.assert_array_equal(data[2], np.where(valid_a, 3.0, 2.0).astype(np.float32))


@pytest.mark.parametrize("negative", ["floor", "nan"])
def test_linear_sources_dark_areas_unbiased(tmp_path, negative):
    """Linear, unclipped sources (the chain's default): ``mean_linear`` averages the negative
    noise-dominated values as they are and converts the mean to dB; the pick rules convert each
    source with its ``negative`` policy (floor at −50 dB, or NaN)."""
    from .conftest import START_A, START_B, product_cog

    h, w = WINDOW.height, WINDOW.width
    vv = np.full((h, w), 0.1)
    a = product_cog(UPath(tmp_path / "a.tif"), PRODUCT_A, START_A, vv, np.full((h, w), -0.001), units="linear",
                    negative=negative)
    b = product_cog(UPath(tmp_path / "b.tif"), PRODUCT_B, START_B, vv, np.full((h, w), 0.003), units="linear",
                    negative=negative)
    out = UPath(tmp_path / "mean.tif")
    mosaic_tile([a, b], MGRS, S2_SENSING, out, config=MosaicConfig(rule="mean_linear", block_rows=120))
    data = _read(out)[0]
    np.testing.assert_allclose(data[0], -10.0, atol=1e-5)
    np.testing.assert_allclose(data[1], 10 * math.log10(0.001), atol=1e-4)  # (−0.001 + 0.003) / 2
    np.testing.assert_array_equal(data[2], 3.0)
    out = UPath(tmp_path / "pixel.tif")
    mosaic_tile([a, b], MGRS, S2_SENSING, out, config=MosaicConfig(rule="closest_per_pixel"))
    data = _read(out)[0]
    if negative == "floor":  # A (closest) at the floor
        np.testing.assert_allclose(data[1], -50.0, atol=1e-5)
        np.testing.assert_array_equal(data[2], 0.0)
    else:  # A is NaN in dB there: B fills
        np.testing.assert_allclose(data[1], 10 * math.log10(0.003), atol=1e-4)
        np.testing.assert_array_equal(data[2], 1.0)


@pytest.fixture
def two_products_with_layers(tmp_path):
    """As ``two_products``, plus local incidence angle (A 30°, B 40°) and mask bands (A: shadow
    in its hole, no_data past its swath; B: layover everywhere)."""
    from .conftest import START_A, START_B, product_cog

    h, w = WINDOW.height, WINDOW.width
    valid_a = np.ones((h, w), dtype=bool)
    valid_a[130:150, 130:150] = False
    valid_a[:, -20:] = False
    mask_a = np.zeros((h, w))
    mask_a[130:150, 130:150] = 1  # shadow: A has no value there
    mask_a[:, -20:] = 4
    a = product_cog(UPath(tmp_path / "a.tif"), PRODUCT_A, START_A, np.where(valid_a, -10.0, np.nan),
                    np.where(valid_a, -16.0, np.nan), lia=np.full((h, w), 30.0), mask=mask_a)
    b = product_cog(UPath(tmp_path / "b.tif"), PRODUCT_B, START_B, np.full((h, w), -20.0), np.full((h, w), -26.0),
                    lia=np.full((h, w), 40.0), mask=np.full((h, w), 2.0))
    return [a, b], valid_a


@pytest.mark.parametrize("rule", ["closest_per_patch", "closest_per_pixel", "mean_linear"])
def test_incidence_and_mask_follow_the_provenance(tmp_path, two_products_with_layers, rule):
    paths, valid_a = two_products_with_layers
    out = UPath(tmp_path / "m.tif")
    mosaic_tile(paths, MGRS, S2_SENSING, out, config=MosaicConfig(rule=rule), patch_choice=CHOICE)
    data, tags, names, *_ = _read(out)
    assert names[3:] == ["local_incidence_angle", "mask"] and json.loads(tags["mask_bits"])["shadow"] == 1
    lia, mask = data[3], data[4]
    if rule == "closest_per_patch":  # per patch choice, A's hole and far columns left without data
        source = _expected_per_patch_source(valid_a, fill_gaps=False)
        from_a, from_b = source == 0, source == 1
        np.testing.assert_array_equal(lia[from_a], 30.0)
        np.testing.assert_array_equal(mask[from_a], 0.0)
        np.testing.assert_array_equal(lia[from_b], 40.0)
        np.testing.assert_array_equal(mask[from_b], 2.0)
        # no product gave a value: the closest covering product (A) says why
        hole = np.isnan(source)
        assert hole.any()
        np.testing.assert_array_equal(mask[130:150, 130:150], 1.0)
        np.testing.assert_array_equal(mask[:240, -20:], 4.0)
    elif rule == "closest_per_pixel":
        np.testing.assert_array_equal(lia, np.where(valid_a, 30.0, 40.0))
        np.testing.assert_array_equal(mask, np.where(valid_a, 0.0, 2.0))
    else:  # masks of all averaged products OR-ed; angle of the closest averaged one
        np.testing.assert_array_equal(mask, 2.0)
        np.testing.assert_array_equal(lia, np.where(valid_a, 30.0, 40.0))


def test_mosaic_window_larger_than_sources_is_nan(tmp_path, two_products):
    paths, _ = two_products
    from rasterio.windows import Window

    win = Window(WINDOW.col_off - 120, WINDOW.row_off, WINDOW.width + 120, WINDOW.height)
    out = UPath(tmp_path / "m.tif")
    res = mosaic_tile(paths, MGRS, S2_SENSING, out, window=win,
                      config=MosaicConfig(rule="closest_per_pixel"))
    data = _read(out)[0]
    assert data.shape == (3, 360, 480)
    assert np.isnan(data[:, :, :120]).all()
    assert math.isclose(res.valid_fraction, 360 * 360 / (360 * 480))


def test_bad_inputs_are_named(tmp_path, two_products):
    paths, _ = two_products
    with pytest.raises(OutputError, match="not among the source products"):
        mosaic_tile(paths, MGRS, S2_SENSING, UPath(tmp_path / "m.tif"),
                    patch_choice={(61, 39): "S1A_IW_GRDH_1SDV_20990101T000000_X"})
    with pytest.raises(OutputError, match="needs patch_choice"):
        mosaic_tile(paths, MGRS, S2_SENSING, UPath(tmp_path / "m.tif"))
    with pytest.raises(OutputError, match="rule"):
        MosaicConfig(rule="median")
    # a COG on another UTM zone's grid
    wrong = UPath(tmp_path / "wrong.tif")
    tile = tile_grid(MGRS)
    write_cog(Raster(np.zeros((2, 8, 8), np.float32), tile.transform, 32632, ("VV", "VH"),
                     tags={"source_product": PRODUCT_A, "start_time": "2017-06-13T16:50:43Z",
                           "mission": "S1A"}), wrong)
    with pytest.raises(OutputError, match=r"wrong\.tif: CRS"):
        read_source_product(wrong, MGRS)
    assert not (tmp_path / "m.tif").exists()


def test_quicklook(tmp_path, two_products):
    paths, valid_a = two_products
    out = UPath(tmp_path / "m.tif")
    mosaic_tile(paths, MGRS, S2_SENSING, out, patch_choice=CHOICE)
    img = quicklook(out, max_size=90)
    assert img.size == (90, 90) and img.mode == "RGBA"
    rgba = np.asarray(img)
    # a pixel from A (VV -10, VH -16, ratio 6 dB) with the stated stretches
    expected = [round((-10 + 25) / 25 * 255), round((-16 + 30) / 25 * 255), round(6 / 15 * 255), 255]
    np.testing.assert_array_equal(rgba[5, 5], expected)
    # NaN (the hole at rows/cols 130..150 -> 32..37 at 1/4 scale) is transparent
    assert rgba[35, 35, 3] == 0
    png = quicklook_png(out)
    full = Image.open(io.BytesIO(png))
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and full.size == (360, 360) and full.mode == "RGBA"


def test_overviews_average_backscatter_and_pick_codes(tmp_path):
    """A mosaic wider than a COG tile has overviews: VV, VH and the angle are GDAL's AVERAGE of
    the full resolution (the peer: GDAL builds them from our full resolution), the source band and
    the mask hold codes that exist at full resolution (a pixel of each 2 × 2 cell), never means
    of codes; the file is a valid COG, written once."""
    from rasterio.enums import Resampling
    from rasterio.windows import Window
    from rio_cogeo.cogeo import cog_validate

    from ben_sen1_assets.formats.cog import is_cog

    from .conftest import START_A, START_B, product_cog

    window = Window(60 * 120, 38 * 120, 1200, 1080)  # 10 × 9 patches
    h, w = window.height, window.width
    rng = np.random.default_rng(5)
    valid_a = rng.random((h, w)) > 0.3  # A has holes everywhere: the source alternates
    mask_a = np.where(valid_a, 0.0, 1.0)
    a = product_cog(UPath(tmp_path / "a.tif"), PRODUCT_A, START_A,
                    np.where(valid_a, rng.normal(-10, 2, (h, w)), np.nan), np.where(valid_a, -16.0, np.nan),
                    window=window, lia=np.full((h, w), 30.0), mask=mask_a)
    b = product_cog(UPath(tmp_path / "b.tif"), PRODUCT_B, START_B, rng.normal(-20, 2, (h, w)),
                    np.full((h, w), -26.0), window=window, lia=np.full((h, w), 40.0), mask=np.full((h, w), 2.0))
    out = UPath(tmp_path / "m.tif")
    mosaic_tile([a, b], MGRS, S2_SENSING, out, config=MosaicConfig(rule="closest_per_pixel"))
    valid, errors, warnings = cog_validate(str(out), strict=True)
    assert valid and not errors and not warnings, (errors, warnings)
    assert is_cog(tmp_path / "m.tif")
    with rasterio.open(out) as src:
        full = src.read()
        names = list(src.descriptions)
        assert src.overviews(1) == [2, 4]
        profile = {**src.profile, "driver": "GTiff", "tiled": True, "compress": None, "interleave": "band"}
    gdal = tmp_path / "gdal.tif"  # GDAL's AVERAGE overviews of the same full resolution
    with rasterio.open(gdal, "w", **profile) as dst:
        dst.write(full)
        dst.build_overviews([2, 4], Resampling.average)
    source, mask = names.index("source_index"), names.index("mask")
    for level in range(2):
        with rasterio.open(out, overview_level=level) as o, rasterio.open(gdal, overview_level=level) as g:
            ours, peer = o.read(), g.read()
        for band in (0, 1, names.index("local_incidence_angle")):
            np.testing.assert_allclose(ours[band], peer[band], rtol=2e-7, atol=0, equal_nan=True)
        assert set(np.unique(ours[source][np.isfinite(ours[source])])) == {0.0, 1.0}
        assert set(np.unique(ours[mask])) <= {0.0, 2.0}  # A valid (0) or B's layover (2): no means
        assert not np.isin(np.unique(peer[mask]), [0.0, 2.0]).all()  # averaging would mix them
