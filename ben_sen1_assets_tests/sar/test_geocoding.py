"""Range-Doppler geocoding: accuracy against sarsen and the annotation geolocation grids."""

from __future__ import annotations

import numpy as np
import pyproj
import pytest
import rasterio
from affine import Affine
from rasterio.windows import Window
from scipy import ndimage

from ben_sen1_assets.sar import geoid, seconds_since
from ben_sen1_assets.sar.geocoding import (
    GeocodingError,
    GeometryModel,
    RasterGrid,
    geocode_grid,
    geocode_points,
    grd_window_for,
    resample_grd,
)
from ben_sen1_assets.sar.orbit import OrbitError, OrbitInterpolator

from .geometry_fixtures import FRANCE_ASC, GREECE_2015, MOZAMBIQUE, ROME, ROME_DEM, annotation, safe_path


def _stats(d: np.ndarray) -> tuple[float, float]:
    a = np.abs(d[np.isfinite(d)])
    return float(a.mean()), float(a.max())


# ------------------------------------------------------------------------------------ orbit


@pytest.mark.parametrize("name", [ROME, FRANCE_ASC, MOZAMBIQUE])
def test_orbit_interpolators_reproduce_state_vectors(name):
    ann = annotation(name)
    t = seconds_since(ann.orbit.time, ann.first_line_time)
    hermite = OrbitInterpolator.from_state_vectors(ann.orbit, ann.first_line_time, "hermite")
    np.testing.assert_allclose(hermite.position(t), ann.orbit.position, atol=1e-6)
    np.testing.assert_allclose(hermite.velocity(t), ann.orbit.velocity, atol=1e-6)
    # sarsen's way: degree-5 fit of positions only; within 1 cm of the vectors, and its
    # derivative within 1 cm/s of the annotated velocities
    polyfit = OrbitInterpolator.from_state_vectors(ann.orbit, ann.first_line_time, "polyfit")
    assert np.abs(polyfit.position(t) - ann.orbit.position).max() < 0.01
    assert np.abs(polyfit.velocity(t) - ann.orbit.velocity).max() < 0.01
    # acceleration = d(velocity)/dt (central differences, mid-segment)
    tm = t[:-1] + 3.3
    fd = (hermite.velocity(tm + 1e-3) - hermite.velocity(tm - 1e-3)) / 2e-3
    np.testing.assert_allclose(hermite.acceleration(tm), fd, atol=1e-5)
    # gravity: |a| ≈ GM/r² ≈ 8.2 m/s² at ~700 km altitude (Earth-fixed frame adds a little)
    assert 7.5 < np.linalg.norm(hermite.acceleration(tm), axis=-1).min() < 9.5


def test_orbit_rejects_bad_input():
    ann = annotation(ROME)
    with pytest.raises(OrbitError, match="method"):
        OrbitInterpolator.from_state_vectors(ann.orbit, method="spline")  # type: ignore[arg-type]


# --------------------------------------------------------------- Rome: against sarsen 0.9.6


@pytest.fixture(scope="module")
def rome_sarsen():
    """sarsen's range-Doppler geocoding of every Rome DEM cell (ellipsoidal heights, both sides)."""
    sarsen_s1 = pytest.importorskip("sarsen.sentinel1")
    from sarsen import apps, orbit, scene

    product = sarsen_s1.Sentinel1SarProduct(str(safe_path(ROME)), "IW/VV")
    dem = scene.open_dem_raster(str(ROME_DEM))  # y ascending (flipped), EGM96 heights
    lon, lat = np.meshgrid(dem.x.values, dem.y.values)
    # the same ellipsoidal DEM for both: EGM96 → WGS84 with the explicit vgridshift pipeline
    geoid.register_system_grids()
    vgrid = pyproj.Transformer.from_pipeline(
        "+proj=pipeline +step +proj=unitconvert +xy_in=deg +xy_out=rad "
        "+step +proj=vgridshift +grids=egm96_15.gtx +multiplier=1 "
        "+step +proj=unitconvert +xy_in=rad +xy_out=deg"
    )
    h_ell = np.asarray(vgrid.transform(lon.ravel(), lat.ravel(), dem.values.astype(np.float64).ravel())[2])
    h_ell = h_ell.reshape(dem.shape)
    dem_ecef = scene.convert_to_dem_ecef(dem.copy(data=h_ell), source_crs="EPSG:4979")
    orbit_interpolator = orbit.OrbitPolyfitInterpolator.from_position(product.state_vectors())
    acq = apps.simulate_acquisition(dem_ecef, orbit_interpolator)
    ground_range = product.slant_range_time_to_ground_range(acq.azimuth_time, acq.slant_range_time)
    ann = annotation(ROME)
    # same image convention as ours: line = (t − first line time) / azimuthTimeInterval
    line = seconds_since(acq.azimuth_time.values, ann.first_line_time) / ann.azimuth_time_interval
    pixel = ground_range.values / ann.range_pixel_spacing
    # back to the file's row order (north up)
    return line[::-1], pixel[::-1], h_ell[::-1], dem.values[::-1].astype(np.float32)


def _rome_grid() -> RasterGrid:
    with rasterio.open(ROME_DEM) as ds:
        return RasterGrid(pyproj.CRS.from_epsg(4326), ds.transform, ds.shape)


@pytest.mark.parametrize("orbit_method", ["hermite", "polyfit"])
def test_rome_dem_cells_agree_with_sarsen(rome_sarsen, orbit_method):
    s_line, s_pixel, h_ell, _ = rome_sarsen
    geo = GeometryModel.from_annotation(annotation(ROME), srgr="linear", orbit_method=orbit_method)
    line, pixel = geocode_grid(geo, _rome_grid(), h_ell.astype(np.float32), "ellipsoid")
    dl, dp = _stats(line - s_line), _stats(pixel - s_pixel)
    assert dl[0] <= 0.1 and dl[1] <= 0.5, f"line mean/max |Δ| {dl}"
    assert dp[0] <= 0.1 and dp[1] <= 0.5, f"pixel mean/max |Δ| {dp}"
    # the window sits where the sample README says (lines ≈7470–8685, samples ≈21640–22630)
    assert 7460 < line.min() < line.max() < 8700 and 21630 < pixel.min() < pixel.max() < 22640
    # descending pass: NW corner near range-far (larger sample) than SE corner; north = earlier line
    assert pixel[0, 0] > pixel[-1, -1] and line[0, 0] < line[-1, -1]


def test_rome_geoid_applied_inside_geocode_grid(rome_sarsen):
    """Raw EGM96 DEM + vertical_datum='EGM96' equals the pre-converted ellipsoidal DEM; the geoid
    moves the answer by ≈ −5 samples (DOMAIN.md §5)."""
    s_line, s_pixel, h_ell, h_egm96 = rome_sarsen
    geo = GeometryModel.from_annotation(annotation(ROME))
    grid = _rome_grid()
    line, pixel = geocode_grid(geo, grid, h_egm96, "EGM96")
    line_e, pixel_e = geocode_grid(geo, grid, h_ell.astype(np.float32), "ellipsoid")
    assert _stats(line - line_e)[1] < 0.005 and _stats(pixel - pixel_e)[1] < 0.005
    _, pixel_nogeoid = geocode_grid(geo, grid, h_egm96, "ellipsoid")
    shift = float(np.mean(pixel - pixel_nogeoid))
    assert -5.5 < shift < -4.5


def test_subgrid_geodesy_matches_per_pixel_on_utm_window():
    geo = GeometryModel.from_annotation(annotation(ROME))
    x, y = pyproj.Transformer.from_crs(4326, 32633, always_xy=True).transform(12.5, 42.0)
    grid = RasterGrid(pyproj.CRS.from_epsg(32633), Affine(10, 0, round(x) - 1000, 0, -10, round(y) + 1000), (200, 200))
    rng = np.random.default_rng(0)
    heights = rng.uniform(0, 2000, grid.shape).astype(np.float32)  # rough terrain: per-pixel heights
    exact = geocode_grid(geo, grid, heights, "EGM96", geodesy_step=1)
    coarse = geocode_grid(geo, grid, heights, "EGM96", geodesy_step=16)
    assert _stats(exact[0] - coarse[0])[1] < 2e-3 and _stats(exact[1] - coarse[1])[1] < 2e-3
    # a window of the grid gives the same numbers as the same part of the whole grid
    win = Window(37, 51, 90, 70)
    part = geocode_grid(geo, grid, heights[51:121, 37:127], "EGM96", window=win, geodesy_step=16)
    assert _stats(part[0] - coarse[0][51:121, 37:127])[1] < 2e-3
    assert _stats(part[1] - coarse[1][51:121, 37:127])[1] < 2e-3
    assert np.all(np.isfinite(exact[0])) and np.all(np.isfinite(exact[1]))
    # on flat ground, 10 m target pixels are ≈ 1 GRD pixel (10 m) apart
    flat = geocode_grid(geo, grid, np.zeros(grid.shape, np.float32), "ellipsoid")
    step = np.hypot(np.diff(flat[0], axis=1), np.diff(flat[1], axis=1))
    assert 0.9 < np.median(step) < 1.1


def test_nan_heights_give_nan_and_bad_input_is_refused():
    geo = GeometryModel.from_annotation(annotation(ROME))
    grid = _rome_grid().window(Window(0, 0, 20, 10))
    heights = np.full((10, 20), 50.0, np.float32)
    heights[3, 4] = np.nan
    line, pixel = geocode_grid(geo, grid, heights, "ellipsoid")
    assert np.isnan(line[3, 4]) and np.isnan(pixel[3, 4]) and np.isfinite(line).sum() == 199
    with pytest.raises(GeocodingError, match="shape"):
        geocode_grid(geo, grid, heights[:5], "ellipsoid")
    with pytest.raises(GeocodingError, match="srgr"):
        GeometryModel.from_annotation(annotation(ROME), srgr="cubic")  # type: ignore[arg-type]
    with pytest.raises(GeocodingError, match="not inside"):
        _rome_grid().window(Window(350, 0, 20, 10))


# -------------------------------------------------- geolocation grid points (annotation GCPs)

GCP_REPORT: dict[str, tuple] = {}


@pytest.mark.parametrize("name", [FRANCE_ASC, MOZAMBIQUE, ROME, GREECE_2015])
def test_geolocation_grid_points(name):
    """Our line/pixel of the 210 grid points (their own lat/lon/height) vs the annotation's.

    Like with like: the annotation's pixels follow the *nearest* coordinateConversion set, so
    srgr='nearest' here. Its lines carry a small range-dependent shift we do not model
    (≤ 0.25 line measured).
    """
    ann = annotation(name)
    g = ann.geolocation_grid
    geo = GeometryModel.from_annotation(ann, srgr="nearest")
    line, pixel = geocode_points(geo, g.longitude, g.latitude, g.height)
    dl, dp = _stats(line - g.line), _stats(pixel - g.pixel)
    GCP_REPORT[name] = (dl, dp)
    assert g.line.size == 210
    assert dl[1] <= 0.5 and dp[1] <= 0.5, f"{name}: line {dl}, pixel {dp}"
    # the zero-Doppler time agrees with the points' own azimuthTime within 0.1 line
    t = line * ann.azimuth_time_interval
    dt_lines = (t - seconds_since(g.azimuth_time, ann.first_line_time)) / ann.azimuth_time_interval
    assert np.abs(dt_lines).max() < 0.1
    # with linear srgr interpolation (sarsen/SNAP) the pixels differ more, up to about a pixel
    geo_lin = GeometryModel.from_annotation(ann, srgr="linear")
    _, pixel_lin = geocode_points(geo_lin, g.longitude, g.latitude, g.height)
    assert _stats(pixel_lin - g.pixel)[1] < 1.0


# ------------------------------------------------------------------------------ resampling


def test_resample_bilinear_and_nearest_match_scipy():
    rng = np.random.default_rng(1)
    grd = rng.normal(size=(60, 80)).astype(np.float32)
    win = Window(100, 200, 80, 60)  # col_off, row_off, width, height
    line = rng.uniform(199, 261, (40, 50)).astype(np.float32)
    pixel = rng.uniform(99, 181, (40, 50)).astype(np.float32)
    r, c = line.astype(np.float64) - 200, pixel.astype(np.float64) - 100
    out = resample_grd(grd, win, line, pixel)
    inside = (r >= 0) & (r <= 59) & (c >= 0) & (c <= 79)
    ref = ndimage.map_coordinates(grd.astype(np.float64), [r, c], order=1, mode="nearest")
    np.testing.assert_allclose(out[inside], ref[inside], atol=1e-5)
    assert np.all(np.isnan(out[~inside])) and inside.sum() > 1000 and (~inside).sum() > 50
    near = resample_grd(grd, win, line, pixel, method="nearest")
    inside_n = (r > -0.5) & (r < 59.5) & (c > -0.5) & (c < 79.5)
    ref_n = ndimage.map_coordinates(grd, [np.clip(r, 0, 59), np.clip(c, 0, 79)], order=0)
    np.testing.assert_array_equal(near[inside_n], ref_n[inside_n])
    assert np.all(np.isnan(near[~inside_n]))


def test_resample_is_exact_on_a_bilinear_field_and_propagates_nan():
    rows, cols = np.mgrid[0:30, 0:40].astype(np.float64)
    field = (3.0 * rows - 2.0 * cols + 0.01 * rows * cols).astype(np.float32)
    line = np.array([[0.0, 12.25, 29.0, np.nan]], np.float32)
    pixel = np.array([[0.0, 17.75, 39.0, 5.0]], np.float32)
    out = resample_grd(field, None, line, pixel)
    expect = 3.0 * line - 2.0 * pixel + 0.01 * line * pixel
    np.testing.assert_allclose(out[0, :3], expect[0, :3], rtol=1e-6)
    assert np.isnan(out[0, 3])
    field[12, 17] = np.nan
    assert np.isnan(resample_grd(field, None, line, pixel)[0, 1])
    assert np.isfinite(resample_grd(field, None, line, pixel)[0, 0])
    with pytest.raises(GeocodingError, match="resampling method"):
        resample_grd(field, None, line, pixel, method="cubic")  # type: ignore[arg-type]


def test_grd_window_for():
    line = np.array([[10.2, np.nan], [-40.0, 55.9]])
    pixel = np.array([[100.5, 3.0], [7.0, 130.1]])
    w = grd_window_for(line, pixel, (1000, 2000), margin=2)
    assert (w.row_off, w.col_off, w.height, w.width) == (8, 98, 56 + 3 - 8, 131 + 3 - 98)
    assert grd_window_for(np.array([-5.0]), np.array([1.0]), (10, 10)) is None


def test_on_grd_image_is_the_window_predicate():
    # the kernels' test of "on the image" and grd_window_for's agree on edges, NaN and ±inf: a
    # single point is on the image exactly when grd_window_for finds a window for it
    from ben_sen1_assets.sar.geocoding import on_grd_image

    edges = [-np.inf, -1.0001, -1.0, -0.9999, 0.0, 9.0, 9.9999, 10.0, 10.0001, np.inf, np.nan]
    for a in edges:
        for b in edges:
            expected = grd_window_for(np.array([a]), np.array([b]), (10, 10)) is not None
            assert on_grd_image(a, b, 10.0, 10.0) == expected, (a, b)
            assert on_grd_image(np.float32(a), np.float32(b), 10.0, 10.0) == expected, (a, b)


def test_footprint_window_and_dem_wrapper():
    from ben_sen1_assets.sar.dem import ConstantDem
    from ben_sen1_assets.sar.geocoding import footprint_window, geocode_with_dem

    ann = annotation(ROME)
    geo = GeometryModel.from_annotation(ann)
    # S2 tile 33TTG (UL 200000 E, 4700040 N) at 100 m: the scene covers its eastern part only
    grid = RasterGrid(pyproj.CRS.from_epsg(32633), Affine(100, 0, 200000, 0, -100, 4700040), (1098, 1098))
    win = footprint_window(ann, grid)
    assert win is not None and 0 < win.width < 1098
    for h in (0.0, 1500.0):
        line, pixel = geocode_with_dem(geo, grid, ConstantDem(h))
        on_image = (line >= 0) & (line <= ann.number_of_lines - 1) & (pixel >= 0) & (pixel <= ann.number_of_samples - 1)
        rows, cols = np.nonzero(on_image)
        assert on_image.sum() > 1000
        assert rows.min() >= win.row_off and rows.max() < win.row_off + win.height
        assert cols.min() >= win.col_off and cols.max() < win.col_off + win.width
    far = RasterGrid(pyproj.CRS.from_epsg(32633), Affine(100, 0, 700000, 0, -100, 4700040), (100, 100))
    assert footprint_window(ann, far) is None


def test_any_grid_like_object_is_accepted():
    """E.g. the S2 TileGrid: rasterio CRS, affine transform, shape."""
    from types import SimpleNamespace

    from rasterio.crs import CRS

    like = SimpleNamespace(crs=CRS.from_epsg(32633), transform=Affine(10, 0, 290000, 0, -10, 4652000), shape=(8, 9))
    grid = RasterGrid.of(like)
    assert grid.crs.to_epsg() == 32633 and grid.shape == (8, 9) and grid.transform == like.transform
    x, y = grid.xy(np.array([0, 7]), np.array([0, 8]))
    np.testing.assert_allclose(x, [290005, 290085])
    np.testing.assert_allclose(y, [4651995, 4651925])
    geo = GeometryModel.from_annotation(annotation(ROME))
    a = geocode_grid(geo, like, np.zeros((8, 9), np.float32), "ellipsoid")
    b = geocode_grid(geo, grid, np.zeros((8, 9), np.float32), "ellipsoid")
    np.testing.assert_array_equal(a[0], b[0])
