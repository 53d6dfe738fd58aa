"""Terrain flattening (γ0_T): flat-terrain and sloping-plane identities, and the chain's γ0_T,
normalised area and masked cells against sarsen's ``terrain_correction(correct_radiometry=
"gamma_bilinear")`` on the real Rome sample geometry and DEM with a constant-DN image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyproj
import pytest
import rasterio
from rasterio.windows import Window
from scipy import ndimage

from ben_sen1_assets.sar import masks
from ben_sen1_assets.sar.chain import grd_extent, process_scene_to_tile
from ben_sen1_assets.sar.config import DemConfig, ProcessingConfig
from ben_sen1_assets.sar.dem import ConstantDem
from ben_sen1_assets.sar.geocoding import GeometryModel, resample_grd
from ben_sen1_assets.sar.incidence import incidence_angles
from ben_sen1_assets.sar.speckle import SpeckleFilter
from ben_sen1_assets.sar.terrain import halo_for, read_terrain_block
from ben_sen1_assets.sar.terrain_flattening import MIN_AREA_FRACTION, flatten, normalised_area

from .geometry_fixtures import FRANCE_ASC, ROME, annotation, safe_path
from .terrain_fixtures import TILE, ground_range_axis, rome_ellipsoidal_dem, utm_grid, write_dem


def _area_on_grid(geometry, dem, grid, relief: float, direction):
    """(normalised area, ellipsoid incidence °, local incidence °) at the grid's pixels."""
    halo = halo_for(relief, direction, 10.0, 16)
    block = read_terrain_block(geometry, dem, grid, Window(0, 0, *grid.shape[::-1]), halo)
    line = np.ascontiguousarray(block.inner(block.line))
    pixel = np.ascontiguousarray(block.inner(block.pixel))
    need = grd_extent(line, pixel, geometry.shape, margin=1)
    area = resample_grd(normalised_area(block, need), need, line, pixel)
    lia, ellipsoid = incidence_angles(block)
    return area, ellipsoid, lia


@pytest.mark.parametrize(("name", "lon", "lat", "tile"), [(ROME, 12.6, 41.9, "33TTG"), (FRANCE_ASC, 3.35, 45.5, "31TEL")])
def test_flat_terrain_area_is_cot_ellipsoid_incidence(name, lon, lat, tile):
    """Flat terrain: the normalised area is cot θ_e, so γ0_T = β0·tan θ_e = σ0/cos θ_e. This
    checks the reference area Δaz·Δr (true azimuth footprint, slant extent of a GRD pixel)
    against the facets' own areas: the mean to 1e-4, every pixel to 0.8 % (sharing 1–4
    sub-facets per GRD pixel by bounding-box overlap leaves a small ripple)."""
    ann = annotation(name)
    geometry = GeometryModel.from_annotation(ann)
    grid = utm_grid(lon, lat, 400, tile)
    _, direction = ground_range_axis(geometry, grid)
    area, ellipsoid, lia = _area_on_grid(geometry, ConstantDem(float(np.median(ann.geolocation_grid.height))), grid,
                                         200.0, direction)
    ratio = (area * np.tan(np.radians(ellipsoid)))[8:-8, 8:-8]
    assert abs(ratio.mean() - 1) < 1e-4 and np.abs(ratio - 1).max() < 8e-3, (ratio.mean(), np.abs(ratio - 1).max())
    np.testing.assert_allclose(lia, ellipsoid, atol=0.01)


@pytest.mark.parametrize("alpha", [-30.0, -20.0, 20.0, 35.0])
def test_plane_sloping_in_range_is_flattened(tmp_path, alpha):
    """A plane rising by ``alpha`` towards far range (facing the sensor for alpha > 0) has the
    normalised area cot(θ_e − α) (Small 2011, eq. for a slope in range). A surface of constant
    γ0 there is seen as β0 = γ0·cot(θ_e − α): its σ0 = β0·sin θ_e carries the slope (+3.5 dB at
    α = 20°), its γ0_T = β0/area comes out flat: within 0.07 dB of γ0 at every pixel (the
    ripple of the facets' sharing among GRD pixels), its mean within 0.0005 dB."""
    geometry = GeometryModel.from_annotation(annotation(ROME))
    grid = utm_grid(12.6, 41.9, 300)
    axis, direction = ground_range_axis(geometry, grid)
    x0, y0 = grid.xy(150, 150)
    slope = np.tan(np.radians(alpha))
    dem = write_dem(tmp_path / "plane.tif", grid,
                    lambda x, y: 500.0 + slope * ((x - x0) * axis[0] + (y - y0) * axis[1]))
    area, ellipsoid, _ = _area_on_grid(geometry, dem, grid, abs(slope) * 3000 + 200, direction)
    expected = 1.0 / np.tan(np.radians(ellipsoid - alpha))
    ratio = (area / expected)[8:-8, 8:-8]
    assert abs(ratio.mean() - 1) < 1e-4 and np.abs(ratio - 1).max() < 0.015, (ratio.mean(), np.abs(ratio - 1).max())
    gamma0 = 0.1
    beta0 = (gamma0 * expected).astype(np.float32)
    gamma0_t, low = flatten(beta0, area, ellipsoid)
    assert not low.any()
    assert np.abs(10 * np.log10(gamma0_t[8:-8, 8:-8] / gamma0)).max() < 0.07
    sigma0_vs_flat = 10 * np.log10(np.median(beta0 * np.sin(np.radians(ellipsoid))) / (gamma0 * np.cos(np.radians(ellipsoid.mean()))))
    if alpha == 20.0:
        assert 3.0 < sigma0_vs_flat < 4.0


def test_splat_is_the_same_however_the_lines_are_shared(tmp_path):
    """The splat's 2 × 2 shortcut (a sub-facet under a pixel each way, inside its thread's band of
    lines) adds what the general loop adds, in the same order: on rough terrain (slopes up to 70°:
    layover, facets spanning many GRD pixels) the area with one band of lines per GRD line (no
    shortcut possible: a sub-facet's second line is always another band's) equals, bit for bit,
    the area with one band and with the default bands."""
    geometry = GeometryModel.from_annotation(annotation(ROME))
    grid = utm_grid(12.6, 41.9, 160)
    _, direction = ground_range_axis(geometry, grid)
    x0, y0 = grid.xy(80, 80)
    dem = write_dem(tmp_path / "rough.tif", grid,
                    lambda x, y: 900.0 + 700.0 * np.sin((x - x0) / 250.0) * np.cos((y - y0) / 310.0))
    block = read_terrain_block(geometry, dem, grid, Window(0, 0, *grid.shape[::-1]), halo_for(1500.0, direction, 10.0, 16))
    need = grd_extent(np.ascontiguousarray(block.inner(block.line)), np.ascontiguousarray(block.inner(block.pixel)),
                      geometry.shape, margin=1)
    shape = (int(need.height), int(need.width))
    # float64 accumulators (not the float32 area): a different rounding would show
    general = normalised_area(block, need, acc=np.zeros(shape), row_bands=shape[0])
    assert (general > 0).mean() > 0.5
    for bands in (1, None):
        np.testing.assert_array_equal(normalised_area(block, need, acc=np.zeros(shape), row_bands=bands), general)


@pytest.mark.parametrize("angle", [0.0, 12.0, 45.0, 80.0])
@pytest.mark.parametrize("scale", [0.3, 0.7, 1.0, 2.5])
def test_splat_shortcut_on_footprints_of_every_shape(angle, scale):
    """The same on synthetic footprints: lattices rotated by ``angle`` and scaled by ``scale``
    GRD pixels per facet, jittered (sub-facets under a pixel and over it, bounding boxes up to
    the shortcut's limit of ~1 pixel, quads across the window's edges): one band of lines
    against one band per line, bit for bit."""
    from ben_sen1_assets.sar.terrain_flattening import _splat

    rng = np.random.default_rng(int(angle * 10 + scale * 100))
    n = 48
    i, j = np.mgrid[0:n, 0:n].astype(np.float64)
    a = np.radians(angle)
    line = scale * (np.cos(a) * i - np.sin(a) * j) + rng.normal(0, 0.15 * scale, (n, n))
    pixel = scale * (np.sin(a) * i + np.cos(a) * j) + rng.normal(0, 0.15 * scale, (n, n))
    line = (line - line.min() - 1.5).astype(np.float32)  # across the window's first line and column
    pixel = (pixel - pixel.min() - 1.5).astype(np.float32)
    contrib = rng.uniform(0.1, 2.0, (n - 1, n - 1)).astype(np.float32)
    quad = np.stack([line[:-1, :-1], line[:-1, 1:], line[1:, :-1], line[1:, 1:]])
    row_lines = np.stack([quad.min(axis=(0, 2)), quad.max(axis=(0, 2))], axis=1).astype(np.float64)
    ah, aw = int(line.max()) - 1, int(pixel.max()) - 1  # and its last ones
    sums = []
    for bands in (np.array([0, ah]), np.arange(ah + 1), np.linspace(0, ah, 5).round()):
        acc = np.zeros((ah, aw))
        _splat(contrib, line, pixel, row_lines, 0.0, 0.0, bands.astype(np.int64), acc)
        sums.append(acc)
    assert sums[0].sum() > 0.3 * contrib.sum()
    np.testing.assert_array_equal(sums[0], sums[1])
    np.testing.assert_array_equal(sums[2], sums[1])


def test_flatten_masks_tiny_areas():
    beta0 = np.full(4, 0.2, np.float32)
    ellipsoid = np.full(4, 45.0, np.float32)  # flat area 1
    area = np.array([1.0, 0.06, 0.04, 0.0], np.float32)
    out, low = flatten(beta0, area, ellipsoid)
    np.testing.assert_allclose(out[:2], [0.2, 0.2 / 0.06], rtol=1e-6)
    assert np.isnan(out[2:]).all() and list(low) == [False, False, True, True] and MIN_AREA_FRACTION == 0.05


# ------------------------------------------------------------------ against sarsen 0.9.6

DN = 200  # constant digital number: β0 = DN²/A_β² follows the calibration LUT only


def _constant_dn_product(folder: Path, window: Window) -> Path:
    """The Rome sample's SAFE with a full-size measurement of DN 200 in ``window`` (GRD) and 0
    elsewhere (no data), zipped as a download is."""
    src = safe_path(ROME)
    tif_src = next((src / "measurement").glob("*.tiff"))
    with rasterio.open(tif_src) as ds:
        profile = ds.profile
    profile.update(compress="deflate", tiled=True, blockxsize=256, blockysize=256, nodata=None)
    tif = folder / "measurement.tiff"
    with rasterio.open(tif, "w", **profile) as ds:
        ds.write(np.full((int(window.height), int(window.width)), DN, np.uint16), 1, window=window)
    safe = folder / f"{ROME}.SAFE"
    for p in sorted(src.rglob("*")):
        if p.is_file():
            dst = safe / p.relative_to(src)
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(tif.read_bytes() if p == tif_src else p.read_bytes())
    return safe


def _true_azimuth_spacing(name: str) -> float:
    """Ground distance per GRD line (m) near the middle of the swath, from the annotation's own
    geolocation grid (geodesic distance between grid points of successive grid lines)."""
    g = annotation(name).geolocation_grid
    lines, lat, lon = g.as_2d("line"), g.as_2d("latitude"), g.as_2d("longitude")
    j = lines.shape[1] * 4 // 5  # far range, where the Rome DEM is
    _, _, dist = pyproj.Geod(ellps="WGS84").inv(lon[:-1, j], lat[:-1, j], lon[1:, j], lat[1:, j])
    return float(np.median(dist / np.diff(lines[:, j])))


def _sarsen(product: Path, dem: Path, out: Path) -> tuple[np.ndarray, np.ndarray]:
    """sarsen's γ0_T and simulated normalised area on the DEM's grid (rows north → south)."""
    from sarsen import apps, sentinel1

    apps.terrain_correction(sentinel1.Sentinel1SarProduct(str(product), "IW/VV"), str(dem),
                            output_urlpath=str(out / "sarsen_rtc.tif"), simulated_urlpath=str(out / "sarsen_area.tif"),
                            correct_radiometry="gamma_bilinear")
    arrays = []
    for name in ("sarsen_rtc.tif", "sarsen_area.tif"):
        with rasterio.open(out / name) as ds:
            a = ds.read(1)
            arrays.append(a[::-1] if ds.transform.e > 0 else a)
    return arrays[0], arrays[1]


@pytest.fixture(scope="module")
def rome_rtc(tmp_path_factory):
    """The chain (gamma0_rtc: β0, no noise removal, no filter, nearest resampling, linear) and
    sarsen on the same 512 × 512 region of tile 33TTG over the Rome DEM (ellipsoidal heights)."""
    pytest.importorskip("sarsen")
    from ben_sen1_assets.grid import tile_grid

    tmp = tmp_path_factory.mktemp("rome_rtc")
    grid, dem_path = rome_ellipsoidal_dem(tmp / "rome_ellipsoidal.tif")
    product = _constant_dn_product(tmp, Window(21300, 7300, 1500, 1500))
    t = tile_grid(TILE)
    window = Window(round((grid.transform.c - t.ulx) / 10), round((t.uly - grid.transform.f) / 10), *grid.shape[::-1])
    config = ProcessingConfig(
        calibration="gamma0_rtc", thermal_noise_removal=False, speckle_filter=SpeckleFilter("none"),
        resampling="nearest", output_scale="linear", orbit_interpolation="polyfit", polarisations=("VV",),
        dem=DemConfig.local(dem_path, "ellipsoid", fill="nearest"))
    result = process_scene_to_tile(product, t, tmp / "ours.tif", window=window, config=config)
    with rasterio.open(tmp / "ours.tif") as ds:
        ours, lia, mask = ds.read(1), ds.read(2), ds.read(3).astype(np.uint8)
    beta0 = process_scene_to_tile(product, t, tmp / "beta0.tif", window=window,
                                  config=config.replace(calibration="beta0"))
    with rasterio.open(tmp / "beta0.tif") as ds:
        beta = ds.read(1)
    sarsen_rtc, sarsen_area = _sarsen(product, dem_path, tmp)
    return result, ours, lia, mask, beta, sarsen_rtc, sarsen_area


def test_gamma0_t_agrees_with_sarsen_on_rome(rome_rtc):
    """γ0_T of a constant-DN image on the Rome DEM, chain vs sarsen:

    - one constant between them: sarsen normalises by the nominal azimuth spacing
      (azimuthPixelSpacing, 10 m), we by the true ground distance per line (10.11 m here,
      measured from the annotation's geolocation grid, not from our orbit code): the ratio of
      the mean areas must be that (±0.5 %: sarsen's estimator on 10 m facets);
    - after removing it, pixel by pixel: sarsen sums facets into 3 × 3-grouped slant-range bins
      (30 m × 3 lines, its default: it needs a DEM much finer than its bins) where we use GRD
      pixels with sub-facets, so single pixels differ (median 0.24 dB); at 90 m (9 × 9 mean of
      both, about sarsen's bin) the median |Δ| is < 0.06 dB and the 99th percentile < 0.35 dB.
    Pixels within 40 px of the region's edge are left out (the DEM ends there: sarsen has no
    facets beyond it, the chain's halo takes the nearest heights)."""
    result, ours, lia, mask, beta, sarsen_rtc, sarsen_area = rome_rtc
    assert result.covered and result.tags["quantity"] == "gamma0_rtc"
    inner = (slice(40, -40), slice(40, -40))
    ratio_expected = _true_azimuth_spacing(ROME) / annotation(ROME).azimuth_pixel_spacing
    assert 1.005 < ratio_expected < 1.02
    area = beta / ours  # our normalised area at each pixel
    ratio = sarsen_area[inner].mean() / area[inner].mean()
    assert abs(ratio / ratio_expected - 1) < 0.005, (ratio, ratio_expected)
    d = 10 * np.log10(ndimage.uniform_filter(ours.astype(np.float64), 9) / ndimage.uniform_filter(sarsen_rtc.astype(np.float64), 9))
    d = d[inner] - 10 * np.log10(ratio)
    assert np.median(np.abs(d)) < 0.06 and np.percentile(np.abs(d), 99) < 0.35, (
        np.median(np.abs(d)), np.percentile(np.abs(d), 99))
    # γ0_T of flat ground: β0·tan θ_e (the region's hills spread it; the median stays close)
    assert np.isfinite(ours).all() and not (mask & masks.RTC_AREA_LOW).any()
    assert result.mask_fractions["rtc_area_low"] == 0.0


def test_masked_cells_agree_with_sarsen_on_a_ridge(tmp_path):
    """A ridge with 59° slopes (θ ≈ 43.6°): the slope facing away from the sensor is in active
    shadow, its GRD pixels gather no illuminated area; below 5 % of flat ground the chain masks
    them (NaN, ``rtc_area_low``). sarsen's simulated area on the same DEM and grid, below the
    same threshold: the same cells, but for sarsen's 3 × 3-bin grouping that blurs the edges
    (≥ 95 % of the union common)."""
    pytest.importorskip("sarsen")
    geometry = GeometryModel.from_annotation(annotation(ROME), orbit_method="polyfit")
    n = 400
    grid = utm_grid(12.6, 41.9, n)
    axis, direction = ground_range_axis(geometry, grid)
    xc, yc = grid.xy(n / 2 - 0.5, n / 2 - 0.5)

    def height(x, y):
        u = (x - xc) * axis[0] + (y - yc) * axis[1]
        return 100.0 + np.maximum(0.0, 500.0 * (1 - np.abs(u) / 300.0))

    dem = write_dem(tmp_path / "ridge_big.tif", grid, height)
    area, ellipsoid, _ = _area_on_grid(geometry, dem, grid, 700.0, direction)
    ours = area < MIN_AREA_FRACTION / np.tan(np.radians(ellipsoid))
    x, y = grid.xy(*np.mgrid[0:n, 0:n])
    with rasterio.open(tmp_path / "ridge.tif", "w", driver="GTiff", width=n, height=n, count=1, dtype="float32",
                       crs=grid.crs.to_wkt(), transform=grid.transform) as ds:
        ds.write(height(x, y).astype(np.float32), 1)
    from sarsen import apps, sentinel1

    apps.terrain_correction(sentinel1.Sentinel1SarProduct(str(safe_path(ROME)), "IW/VV"), str(tmp_path / "ridge.tif"),
                            output_urlpath=None, simulated_urlpath=str(tmp_path / "area.tif"),
                            correct_radiometry="gamma_bilinear")
    with rasterio.open(tmp_path / "area.tif") as ds:
        sarsen_area = ds.read(1)[::-1] if ds.transform.e > 0 else ds.read(1)
    theirs = sarsen_area < MIN_AREA_FRACTION / np.tan(np.radians(ellipsoid))
    assert ours.sum() > 5000
    assert (ours & theirs).sum() >= 0.95 * (ours | theirs).sum(), ((ours & theirs).sum(), ours.sum(), theirs.sum())
