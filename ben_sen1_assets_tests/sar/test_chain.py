"""The whole chain on a demo-archive product (real Rome S1B metadata, simulated pixels) onto the
demo tile 33TTG (window of its patches in scope)."""

from __future__ import annotations

import importlib.resources
import json
import math
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.windows import Window
from scipy.interpolate import RegularGridInterpolator

from ben_sen1_assets.demo_archive import BackscatterModel, build_product, demo_products
from ben_sen1_assets.formats.cog import is_cog
from ben_sen1_assets.grid import tile_grid
from ben_sen1_assets.grid.catalog import load_demo_catalog
from ben_sen1_assets.sar import masks, open_safe
from ben_sen1_assets.sar.chain import ChainResult, patches_window, process_scene_to_tile, tile_window
from ben_sen1_assets.sar.config import DemConfig, ProcessingConfig
from ben_sen1_assets.sar.dem import LocalDem
from ben_sen1_assets.sar.errors import MissingFileError, SafeError
from ben_sen1_assets.sar.geocoding import GeometryModel, RasterGrid, geocode_grid
from ben_sen1_assets.sar.speckle import SpeckleFilter

DEM_PATH = str(importlib.resources.files("ben_sen1_assets") / "data" / "dem" / "Rome-30m-DEM.tif")
# the tile window reaches the DEM's edge, where bilinear warping has no neighbour: nearest fill
DEM = DemConfig.local(DEM_PATH, fill="nearest")
CONFIG = ProcessingConfig(dem=DEM)
ENTRY = load_demo_catalog().get("33TTG_20211223")
WINDOW = tile_window(ENTRY)
MIN_VALID_FRACTION = 0.99  # the demo crop "rome-a" covers the Rome DEM, hence the whole window


@pytest.fixture(scope="module")
def rome_a(tmp_path_factory):
    """The demo archive's small Rome product (VV+VH, simulated σ0 and speckle), built once."""
    product = next(p for p in demo_products() if p.label == "rome-a")
    return build_product(product, tmp_path_factory.mktemp("demo"), seed=20211223)


@pytest.fixture(scope="module")
def default_run(rome_a, tmp_path_factory) -> tuple[ChainResult, str]:
    out = tmp_path_factory.mktemp("chain") / "33TTG_rome_a.tif"
    messages = []
    result = process_scene_to_tile(rome_a, ENTRY.tile, out, window=WINDOW, config=CONFIG,
                                   progress=lambda f, m: messages.append((f, m)))
    assert messages and messages[-1][0] == 1.0
    return result, str(out)


def _read(path):
    with rasterio.open(path) as ds:
        return ds.read(), ds.profile, ds.tags(), ds.descriptions, ds.tags(ns="IMAGE_STRUCTURE"), ds.overviews(1)


def test_window_is_the_patches_bounding_box():
    xs = [x for x, _ in ENTRY.patches]
    ys = [y for _, y in ENTRY.patches]
    assert WINDOW == Window(min(xs) * 120, min(ys) * 120, (max(xs) - min(xs) + 1) * 120, (max(ys) - min(ys) + 1) * 120)
    assert patches_window([(0, 0), (90, 90)]) == Window(0, 0, 10920, 10920)


def test_cog_on_the_tile_grid_window(default_run):
    result, path = default_run
    data, profile, tags, descriptions, structure, overviews = _read(path)
    assert result.covered and result.output == path
    assert structure.get("INTERLEAVE") == "BAND" and is_cog(Path(path))  # each band's tiles apart
    from rio_cogeo.cogeo import cog_validate

    valid, errors, warnings = cog_validate(path, strict=True)
    assert valid and not errors and not warnings, (errors, warnings)
    # averaged overview levels down to ≤ 512 px, as GDAL's COG driver sizes them
    assert overviews and math.ceil(max(WINDOW.height, WINDOW.width) / overviews[-1]) <= 512
    assert profile["dtype"] == "float32" and profile["count"] == 4 and math.isnan(profile["nodata"])
    assert descriptions == ("VV", "VH", "local_incidence_angle", "mask")
    with rasterio.open(path) as ds:  # the mask's overviews keep whole bit values
        small = ds.read(4, out_shape=(ds.height // 4, ds.width // 4))
    assert np.array_equal(small, np.round(small))
    assert (profile["height"], profile["width"]) == (WINDOW.height, WINDOW.width)
    tile = ENTRY.tile
    assert profile["crs"].to_epsg() == tile.epsg == 32633
    # origin = tile UL + window offset × 10 m, exactly
    assert profile["transform"] == Affine(10.0, 0.0, tile.ulx + 10.0 * WINDOW.col_off,
                                          0.0, -10.0, tile.uly - 10.0 * WINDOW.row_off)
    for key in ("source_product", "mission", "start_time", "stop_time", "pass_direction", "relative_orbit",
                "processing", "processor", "dem", "geoid"):
        assert tags.get(key), key
    product_name = result.product
    assert tags["source_product"] == product_name and product_name.startswith("S1B_IW_GRDH_1SDV_20211223T0511")
    assert tags["mission"] == "S1B" and tags["pass_direction"] == "DESCENDING" and tags["relative_orbit"] == "22"
    # the whole configuration, the local DEM named by its file name (no machine path in outputs)
    expected = CONFIG.to_dict()
    expected["dem"] = {**expected["dem"], "path": expected["dem"]["path"].rsplit("/", 1)[-1]}
    assert expected["dem"]["path"] == "Rome-30m-DEM.tif"
    assert ProcessingConfig.from_json(tags["processing"]).to_dict() == expected
    assert tags["dem"] == "DEM Rome-30m-DEM.tif"
    assert tags["processor"].startswith("ben_sen1_assets ")
    assert "EGM96" in tags["geoid"] and "Rome-30m-DEM" in tags["dem"]
    assert tags["start_time"].startswith("2021-12-23T05:11")


def test_values_plausible_and_valid_fraction(default_run):
    result, path = default_run
    data = _read(path)[0][:2]
    finite = np.isfinite(data).all(axis=0)
    assert result.valid_fraction > MIN_VALID_FRACTION
    assert result.valid_fraction == pytest.approx(finite.mean(), abs=1e-12)
    vv, vh = data[0][finite], data[1][finite]
    # simulated σ0: land −10…−14 dB, water −18…−27 dB (VV), VH 7 dB lower; filtered speckle ± a few dB
    assert -40 < np.percentile(vv, 0.1) and np.percentile(vv, 99.9) < 0
    assert -12.9 < np.median(vv) < -11.0
    assert np.median(vv) - np.median(vh) == pytest.approx(7.0, abs=0.15)
    # the GRD window read is a small part of the scene around the Rome DEM
    sw = result.scene_window
    assert sw is not None and sw.width < 1400 and sw.height < 1600
    assert set(result.timings) >= {"geocoding", "radiometry", "speckle", "resample", "cog", "total"}


def test_two_blocks_equal_one_block(rome_a, default_run, tmp_path):
    _, path = default_run
    one, *_ = _read(path)  # block_rows=1024 → 2 blocks for 1080 rows
    out = tmp_path / "one_block.tif"
    r = process_scene_to_tile(rome_a, ENTRY.tile, out, window=WINDOW, config=CONFIG, block_rows=2048, strip_rows=300)
    whole, *_ = _read(out)
    assert np.array_equal(np.isnan(one), np.isnan(whole))
    np.testing.assert_allclose(one, whole, rtol=0, atol=1e-5, equal_nan=True)
    assert r.scene_window == default_run[0].scene_window


def test_any_blocking_gives_the_same_bits(rome_a, default_run, tmp_path):
    """Blocks of 304 or 208 rows (tie-point multiples, rounded up to 320 and 256: blocks start
    where the tie-point solve's geodesy sub-grid falls on the same pixels) give bit for bit the
    default run's output (two blocks of 1024 rows)."""
    _, path = default_run
    one, *_ = _read(path)
    for rows in (304, 208):
        out = tmp_path / f"{rows}.tif"
        process_scene_to_tile(rome_a, ENTRY.tile, out, window=WINDOW, config=CONFIG, block_rows=rows)
        other, *_ = _read(out)
        assert np.array_equal(one, other, equal_nan=True), rows


def test_gamma0_rtc_on_flat_ground_whatever_the_blocking(rome_a, tmp_path):
    """Terrain flattening on flat ground (a constant height): the normalised area of every GRD
    pixel is cot θ_e, so γ0_T = β0·tan θ_e = σ0 / cos θ_e at every pixel and nothing is masked as
    ``rtc_area_low`` — also with blocks and strips of 128 rows, whose GRD lines run obliquely
    across several blocks (a strip's area gathers the facets of every block projecting into it;
    a block's own facets left stripes of masked pixels along its oblique edges).

    Tolerances: per pixel 1 % (the facets' sharing among GRD pixels leaves ≤ 0.8 %, see
    test_terrain_flattening; the local incidence angle stands for θ_e to 0.01°), the mean 0.2 %
    (σ0's calibration LUT takes sin θ from the annotation, not at the DEM's height: 0.1 % here);
    the two blockings agree to 0.1 % per pixel (0.004 dB: the tie-point geocoding of other
    blocks moves a facet by ≤ 0.01 px)."""
    config = ProcessingConfig(dem=DemConfig.constant(98.6), thermal_noise_removal=False,
                              speckle_filter=SpeckleFilter("none"), resampling="nearest", output_scale="linear")
    runs = {}
    for name, calibration, kw in (("sigma0", "sigma0", {}), ("rtc", "gamma0_rtc", {}),
                                  ("rtc_small", "gamma0_rtc", {"block_rows": 128, "strip_rows": 128})):
        out = tmp_path / f"{name}.tif"
        result = process_scene_to_tile(rome_a, ENTRY.tile, out, window=WINDOW,
                                       config=config.replace(calibration=calibration), **kw)
        with rasterio.open(out) as ds:
            runs[name] = result, ds.read()
    _, sigma0 = runs["sigma0"]
    valid = np.isfinite(sigma0[0]) & (sigma0[0] > 0)
    assert valid.mean() > MIN_VALID_FRACTION
    for name in ("rtc", "rtc_small"):
        result, rtc = runs[name]
        assert result.mask_fractions["rtc_area_low"] == 0.0, name
        assert not (rtc[3].astype(np.uint8) & masks.RTC_AREA_LOW).any(), name
        assert np.array_equal(np.isnan(rtc[:2]), np.isnan(sigma0[:2])), name
        ratio = (rtc[0] * np.cos(np.radians(rtc[2])) / sigma0[0])[valid]
        assert np.abs(ratio - 1).max() < 0.01 and abs(ratio.mean() - 1) < 2e-3, (name, np.abs(ratio - 1).max(),
                                                                                 ratio.mean())
    small, default = runs["rtc_small"][1][:2], runs["rtc"][1][:2]
    both = np.isfinite(default)
    assert np.abs(small[both] / default[both] - 1).max() < 1e-3


def test_db_vs_linear(rome_a, default_run, tmp_path):
    _, path = default_run
    db = _read(path)[0][:2]
    out = tmp_path / "linear.tif"
    r = process_scene_to_tile(rome_a, ENTRY.tile, out, window=WINDOW, config=CONFIG.replace(output_scale="linear"))
    lin, _, tags, *_ = _read(out)
    lin = lin[:2]
    assert tags["units"] == "linear"
    # linear values are not clipped; the dB output applies the floor (−50 dB) where they are < 1e-5
    low = lin < 1e-5
    assert np.array_equal(db[low], np.full(low.sum(), -50.0, np.float32))
    np.testing.assert_allclose(10 * np.log10(lin[~low]), db[~low], atol=1e-4, equal_nan=True)
    assert r.fingerprint != default_run[0].fingerprint


def test_recovered_sigma0_matches_the_simulated_one(rome_a, tmp_path):
    """Linear σ0 (no speckle filter) over flat land equals the generator's model
    k_land·cos²θ (BackscatterModel) within 0.2 dB (speckle averages out over > 2·10⁴ pixels)."""
    model = BackscatterModel()
    config = CONFIG.replace(output_scale="linear", speckle_filter=SpeckleFilter("none"))
    out = tmp_path / "sigma0.tif"
    process_scene_to_tile(rome_a, ENTRY.tile, out, window=WINDOW, config=config)
    lin, *_ = _read(out)
    tile = ENTRY.tile
    dem = LocalDem(DEM_PATH, fill="nearest").read(tile, WINDOW)
    gy, gx = np.gradient(dem.heights.astype(np.float64), 10.0)
    slope = np.degrees(np.arctan(np.hypot(gx, gy)))
    # flat (< 1°) and well above the simulated water (DEM height ≤ 16 m)
    flat = (slope < 1.0) & (dem.heights > 25.0)
    # ellipsoid incidence angle at each target pixel from the product's geolocation grid
    with open_safe(rome_a) as product:
        ann = product.annotation("VV")
        geometry = GeometryModel.from_annotation(ann)
        line, pixel = geocode_grid(geometry, tile, dem.heights, dem.vertical_datum, window=WINDOW)
        g = ann.geolocation_grid
        inc = RegularGridInterpolator(
            (np.unique(g.line).astype(float), np.unique(g.pixel).astype(float)), g.as_2d("incidence_angle"),
            bounds_error=False, fill_value=np.nan,
        )((line, pixel))
    for band, pol in enumerate(("VV", "VH")):
        ok = flat & np.isfinite(lin[band]) & np.isfinite(inc)
        assert ok.sum() > 20_000
        expected = model.k_land * np.cos(np.radians(inc[ok])) ** model.n_land * model.pol_factor(pol)
        ratio_db = 10 * np.log10(lin[band][ok].mean() / expected.mean())
        assert abs(ratio_db) < 0.2, (pol, ratio_db)


def test_incidence_and_mask_bands(rome_a, tmp_path):
    """Every product carries the local incidence angle (degrees) and the mask (uint8 bits, in
    float32): with nearest resampling and no filter, the noise bits are exactly the negative
    (DN² < N) values, ``no_data`` exactly the NaN ones, ``dem_filled`` exactly the pixels the
    Rome DEM has no height for (its edge: the window reaches past it)."""
    config = CONFIG.replace(output_scale="linear", speckle_filter=SpeckleFilter("none"), resampling="nearest")
    out = tmp_path / "layers.tif"
    r = process_scene_to_tile(rome_a, ENTRY.tile, out, window=WINDOW, config=config)
    data, _, tags, descriptions, *_ = _read(out)
    vv, vh, lia, mask = data[0], data[1], data[2], data[3].astype(np.uint8)
    assert np.array_equal(data[3], mask)  # whole numbers
    assert json.loads(tags["mask_bits"]) == masks.mask_bits(("VV", "VH")) and tags["local_incidence_angle_units"] == "degree"
    with np.errstate(invalid="ignore"):
        for band, bit in ((vv, masks.NOISE_FIRST), (vh, masks.NOISE_SECOND)):
            assert np.array_equal((mask & bit) > 0, band < 0)
    assert (vh < 0).sum() > (vv < 0).sum() > 0  # VH is darker: more noise-dominated pixels
    assert np.array_equal((mask & masks.NO_DATA) > 0, ~(np.isfinite(vv) & np.isfinite(vh)))
    gap = ~np.isfinite(LocalDem(DEM_PATH)._read_raw(RasterGrid.of(ENTRY.tile).window(WINDOW)))
    # GDAL's bilinear warp decides the DEM's last edge pixels by the warped extent: the chain
    # reads the window with a halo, which may flip a few pixels on the DEM's edge
    assert gap.sum() > 10_000 and (((mask & masks.DEM_FILLED) > 0) != gap).sum() <= 10
    assert r.mask_fractions["dem_filled"] == pytest.approx(gap.mean(), abs=1e-5)
    # Rome: near-far range incidence ≈ 44° there; the Alban Hills' slopes spread it
    assert np.isfinite(lia).all() and 40 < np.median(lia) < 48 and lia.min() > 0 and lia.max() < 90
    assert not (mask & (masks.SHADOW | masks.RTC_AREA_LOW)).any()


def test_product_outside_the_tile_is_skipped_with_a_reason(rome_a, tmp_path):
    out = tmp_path / "france.tif"
    r = process_scene_to_tile(rome_a, tile_grid("31TEL"), out, window=Window(0, 0, 2048, 2048), config=CONFIG)
    assert not r.covered and r.output is None and r.valid_fraction == 0.0
    assert "touches no pixel" in r.reason and r.product in r.reason
    assert not out.exists()


def test_partly_covered_window(rome_a, tmp_path):
    """A window reaching past the small product's image: NaN there, valid inside."""
    w = Window(WINDOW.col_off - 500, WINDOW.row_off, 800, 400)
    out = tmp_path / "part.tif"
    config = CONFIG.replace(dem=DemConfig.constant(90.0), speckle_filter=SpeckleFilter("boxcar", 3))
    r = process_scene_to_tile(rome_a, ENTRY.tile, out, window=w, config=config)
    data, *_ = _read(out)
    assert r.covered and 0.05 < r.valid_fraction < 0.95
    fin = np.isfinite(data[0])
    assert fin[:, -1].all() and not fin[:, 0].any()  # the image ends inside the window
    assert json.loads(r.tags["tile_window"]) == [w.col_off, w.row_off, w.width, w.height]


def test_bad_requests_are_clear_errors(rome_a, tmp_path):
    with pytest.raises(SafeError, match="window"):
        process_scene_to_tile(rome_a, ENTRY.tile, tmp_path / "x.tif", window=Window(10900, 0, 200, 10), config=CONFIG)
    with pytest.raises(MissingFileError, match="HH"):
        process_scene_to_tile(rome_a, ENTRY.tile, tmp_path / "x.tif", window=WINDOW, config=CONFIG.replace(polarisations=("HH",)))
    assert not (tmp_path / "x.tif").exists()


def test_real_rome_sample_placeholder_pixels_give_all_nan(tmp_path):
    """The real S1B sample (VV only) has an all-zero placeholder measurement: DN 0 is no data,
    start_time as in its manifest.safe (safe:startTime 2021-12-23T05:11:22.594441),
    so the tile window is covered by the footprint but has no valid pixel."""
    from .conftest import S1B_2021_ROME, safe_path

    out = tmp_path / "rome_real.tif"
    w = Window(WINDOW.col_off, WINDOW.row_off, 240, 240)
    r = process_scene_to_tile(safe_path(S1B_2021_ROME), ENTRY.tile, out, window=w,
                              config=CONFIG.replace(polarisations=("VV",)))
    data, profile, tags, descriptions, *_ = _read(out)
    assert r.covered and r.valid_fraction == 0.0 and np.isnan(data[0]).all()
    assert (data[2].astype(np.uint8) & masks.NO_DATA).all() and np.isfinite(data[1]).all()  # geometry known, no data
    assert descriptions == ("VV", "local_incidence_angle", "mask") and tags["source_product"] == S1B_2021_ROME
    assert tags["relative_orbit"] == "22" and tags["start_time"] == "2021-12-23T05:11:22.594441Z"


# -- an ascending product (GRD lines run south → north: the rolling GRD cache moves backwards) ----

FRANCE = load_demo_catalog().get("31TEL_20210809")
FRANCE_WINDOW = tile_window(FRANCE)


@pytest.fixture(scope="module")
def france_a(tmp_path_factory):
    """The demo archive's small France product: flat terrain (median geolocation-grid height,
    ellipsoidal) with a synthetic elliptic lake; S1A ascending."""
    product = next(p for p in demo_products() if p.label == "france-a")
    path = build_product(product, tmp_path_factory.mktemp("demo_fr"), seed=20211223)
    with open_safe(path) as p:
        height = float(np.median(p.annotation("VV").geolocation_grid.height))
    return path, ProcessingConfig(dem=DemConfig.constant(height, "ellipsoid"))


def test_ascending_blocks_and_sigma0(france_a, tmp_path):
    path, config = france_a
    config = config.replace(output_scale="linear")
    a = process_scene_to_tile(path, FRANCE.tile, tmp_path / "a.tif", window=FRANCE_WINDOW, config=config, block_rows=128)
    b = process_scene_to_tile(path, FRANCE.tile, tmp_path / "b.tif", window=FRANCE_WINDOW, config=config, block_rows=2048)
    assert a.tags["pass_direction"] == "ASCENDING" and a.covered
    x, *_ = _read(tmp_path / "a.tif")
    y, *_ = _read(tmp_path / "b.tif")
    np.testing.assert_allclose(x, y, rtol=0, atol=1e-5, equal_nan=True)
    assert a.valid_fraction > 0.3
    # σ0 of the land (away from the lake) = k_land·cos²θ of the generator, within 0.2 dB
    model = BackscatterModel()
    lon_c, lat_c, a_lon, b_lat = 3.345, 45.515, 0.012, 0.008  # demo_archive.scenes.FRANCE_LAKE
    tile = FRANCE.tile
    rows, cols = np.mgrid[0:FRANCE_WINDOW.height, 0:FRANCE_WINDOW.width]
    grid = tile.transform @ Affine.translation(FRANCE_WINDOW.col_off, FRANCE_WINDOW.row_off)
    xs, ys = grid.c + grid.a * (cols + 0.5), grid.f + grid.e * (rows + 0.5)
    lon, lat = tile._to_wgs84.transform(xs, ys)
    land = ((lon - lon_c) / (1.5 * a_lon)) ** 2 + ((lat - lat_c) / (1.5 * b_lat)) ** 2 > 1.0
    with open_safe(path) as product:
        ann = product.annotation("VV")
        line, pixel = geocode_grid(GeometryModel.from_annotation(ann), tile,
                                   np.full(land.shape, config.dem.height, np.float32), "ellipsoid", window=FRANCE_WINDOW)
        g = ann.geolocation_grid
        inc = RegularGridInterpolator((np.unique(g.line).astype(float), np.unique(g.pixel).astype(float)),
                                      g.as_2d("incidence_angle"), bounds_error=False, fill_value=np.nan)((line, pixel))
    for band, pol in enumerate(("VV", "VH")):
        ok = land & np.isfinite(x[band]) & np.isfinite(inc)
        assert ok.sum() > 100_000
        expected = model.k_land * np.cos(np.radians(inc[ok])) ** model.n_land * model.pol_factor(pol)
        assert abs(10 * np.log10(x[band][ok].mean() / expected.mean())) < 0.2, pol
    # the lake is darker than the land by several dB (k_water·cos⁸ vs k_land·cos²)
    lake = (((lon - lon_c) / a_lon) ** 2 + ((lat - lat_c) / b_lat) ** 2 < 0.5) & np.isfinite(x[0])
    assert lake.sum() > 1000
    assert 10 * np.log10(x[0][lake].mean() / x[0][land & np.isfinite(x[0])].mean()) < -5
