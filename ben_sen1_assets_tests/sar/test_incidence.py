"""Local incidence angle: against sarsen's facet normals and look vectors on the Rome DEM, the
annotation's incidence angles on flat terrain, and planes of known slope."""

from __future__ import annotations

import numpy as np
import pyproj
import pytest
from affine import Affine
from rasterio.windows import Window

from ben_sen1_assets.sar.dem import ConstantDem, LocalDem
from ben_sen1_assets.sar.geocoding import GeometryModel, RasterGrid, lonlath_to_ecef, zero_doppler
from ben_sen1_assets.sar.incidence import incidence_angles
from ben_sen1_assets.sar.terrain import Halo, read_terrain_block

from .geometry_fixtures import FRANCE_ASC, GREECE_2015, MOZAMBIQUE, ROME, annotation, safe_path
from .terrain_fixtures import ground_range_axis, rome_ellipsoidal_dem, utm_grid, write_dem


@pytest.fixture(scope="module")
def rome_dem(tmp_path_factory):
    return rome_ellipsoidal_dem(tmp_path_factory.mktemp("dem") / "rome_ellipsoidal.tif")


def test_lia_agrees_with_sarsen_on_rome_dem(rome_dem):
    """sarsen 0.9.6's building blocks on the same ellipsoidal DEM on the same 10 m grid: the
    facet normal of ``scene.compute_dem_oriented_area`` and the look vector ``dem_distance`` of
    ``apps.simulate_acquisition``. The normals differ by construction (sarsen's comes from cell
    corners interpolated between 4 pixels, i.e. a 3 × 3 weighted neighbourhood; ours from
    central differences), which on the bilinear-warped 30 m SRTM moves single pixels by up to
    ~2° where the slope turns within 20 m; the look vectors agree to < 0.001°. Tolerances: no
    bias (|mean| < 0.02°), median |Δ| < 0.1°, 99th percentile < 1°."""
    sarsen_s1 = pytest.importorskip("sarsen.sentinel1")
    from sarsen import apps, orbit, scene

    grid, path = rome_dem
    geometry = GeometryModel.from_annotation(annotation(ROME), orbit_method="polyfit")
    block = read_terrain_block(geometry, LocalDem(path, vertical_datum="ellipsoid"), grid,
                               Window(0, 0, *grid.shape[::-1]), Halo(16, 16))
    lia, ellipsoid = incidence_angles(block)

    product = sarsen_s1.Sentinel1SarProduct(str(safe_path(ROME)), "IW/VV")
    dem_ecef = scene.convert_to_dem_ecef(scene.open_dem_raster(str(path)))
    acq = apps.simulate_acquisition(dem_ecef, orbit.OrbitPolyfitInterpolator.from_position(product.state_vectors()))
    to_sensor = -acq.dem_distance / np.sqrt((acq.dem_distance**2).sum("axis"))
    normal = scene.compute_dem_oriented_area(dem_ecef)
    cos = (normal * to_sensor).sum("axis") / np.sqrt((normal**2).sum("axis"))
    sarsen_lia = np.degrees(np.arccos(cos.values))[::-1]  # sarsen's y runs south → north

    d = (lia - sarsen_lia)[2:-2, 2:-2]  # sarsen extrapolates its corners at the edges
    assert np.isfinite(d).all()
    assert abs(d.mean()) < 0.02 and np.median(np.abs(d)) < 0.1 and np.percentile(np.abs(d), 99) < 1.0, (
        d.mean(), np.median(np.abs(d)), np.percentile(np.abs(d), 99))
    assert 25 < np.percentile(lia, 1) and np.percentile(lia, 99) < 65  # the Alban Hills' slopes
    assert np.ptp(ellipsoid) < 0.5  # 5 km across range: θ_e changes little


@pytest.mark.parametrize("name", [FRANCE_ASC, ROME, MOZAMBIQUE, GREECE_2015])
def test_flat_terrain_lia_is_ellipsoid_incidence_of_the_annotation(name):
    """On flat terrain LIA = θ_e. Against the annotation's ``incidenceAngle`` of its 210
    geolocation points (each at its own height): ESA measures it from the *geocentric* radial
    (X/|X| reproduces it to 1e-6°, checked here too), we from the geodetic ellipsoid normal, the
    true vertical of flat ground: they differ by the geocentric/geodetic tilt (0.19° at 45°
    latitude) projected on the look direction, ≈ ±0.03° (its sign flips between hemispheres)."""
    ann = annotation(name)
    g = ann.geolocation_grid
    geometry = GeometryModel.from_annotation(ann, srgr="nearest")
    got = []
    for lon, lat, h in zip(g.longitude.ravel()[::7], g.latitude.ravel()[::7], g.height.ravel()[::7]):
        grid = RasterGrid(pyproj.CRS.from_epsg(4326), Affine(1e-4, 0, lon - 1.5e-4, 0, -1e-4, lat + 1.5e-4), (3, 3))
        block = read_terrain_block(geometry, ConstantDem(float(h)), grid, Window(0, 0, 3, 3), Halo(1, 1), geodesy_step=1)
        lia, ell = incidence_angles(block)
        assert abs(lia[1, 1] - ell[1, 1]) < 1e-3
        got.append(ell[1, 1])
    d = np.array(got) - g.incidence_angle.ravel()[::7]
    assert np.abs(d).max() < 0.04 and np.abs(d).min() > 0.015, d
    assert np.all(np.sign(d) == (-1 if name == MOZAMBIQUE else 1))
    # ESA's convention: the geocentric radial instead of the ellipsoid normal, exactly
    x = lonlath_to_ecef(g.longitude, g.latitude, g.height)
    t, _, _ = zero_doppler(geometry, x)
    s = geometry.orbit.position(t) - x
    cos = np.einsum("...a,...a", s, x) / (np.linalg.norm(s, axis=-1) * np.linalg.norm(x, axis=-1))
    np.testing.assert_allclose(np.degrees(np.arccos(cos)), g.incidence_angle, atol=1e-6)


@pytest.mark.parametrize("alpha", [20.0, -20.0, 60.0])
def test_plane_sloping_in_range(tmp_path, alpha):
    """A plane rising by ``alpha`` towards far range (facing the sensor for alpha > 0):
    LIA = |θ_e − alpha| (alpha = 60° > θ_e: past the vertical, active layover)."""
    geometry = GeometryModel.from_annotation(annotation(ROME))
    grid = utm_grid(12.6, 41.9, 64)
    axis, _ = ground_range_axis(geometry, grid)
    x0, y0 = grid.xy(32, 32)
    slope = np.tan(np.radians(alpha))
    dem = write_dem(tmp_path / "plane.tif", grid, lambda x, y: 500.0 + slope * ((x - x0) * axis[0] + (y - y0) * axis[1]),
                    margin=40)
    block = read_terrain_block(geometry, dem, grid, Window(0, 0, 64, 64), Halo(16, 16), geodesy_step=4)
    lia, ell = incidence_angles(block)
    np.testing.assert_allclose(lia, np.abs(ell - alpha), atol=0.02)


@pytest.mark.parametrize("step, width", [(16, 1000), (10, 997), (7, 7), (16, 1)])
def test_row_helpers_equal_the_per_pixel_interpolation(step, width):
    """The kernels build a row's ECEF positions and sensor positions cell by cell of the sub-grid
    (:func:`.terrain.ecef_row_cells`, :func:`.terrain.node_row_cells`): the same values, bit for
    bit, as the per-pixel definitions (:func:`.terrain.ecef_row`, :func:`.terrain.node_interp3`),
    NaN where there is no height; also for steps whose reciprocal is inexact, and at the facet
    centres half a pixel on (terrain flattening's sensor positions)."""
    from ben_sen1_assets.sar.terrain import ecef_row, ecef_row_cells, node_interp3, node_row_cells, subgrid_columns

    rng = np.random.default_rng(step + width)
    rows = 3 * step + 1
    ny, nx = (rows - 1) // step + 2, (width - 1) // step + 2
    heights = rng.uniform(-50.0, 4000.0, (rows, width)).astype(np.float32)
    heights[rng.random(heights.shape) < 0.05] = np.nan
    und = rng.uniform(-40.0, 60.0, (ny, nx))
    p0 = rng.uniform(-6.4e6, 6.4e6, (ny, nx, 3))
    nrm = rng.normal(size=(ny, nx, 3))
    sensor = rng.uniform(-7.1e6, 7.1e6, (ny, nx, 3))
    frac, starts = subgrid_columns(width, step)
    assert starts[0] == 0 and starts[-1] == width and np.all(np.diff(starts) > 0)
    centre_frac, centre_starts = subgrid_columns(width - 1, step, 0.5)
    assert centre_starts[0] == 0 and centre_starts[-1] == width - 1
    per_pixel = np.empty((width, 3))
    cells = np.empty((3, width))
    centres = np.empty((3, width - 1))
    p = np.empty(3)
    for i in range(rows):
        ecef_row(i, heights, und, p0, nrm, step, per_pixel)
        ecef_row_cells(i, heights, und, p0, nrm, step, frac, starts, cells, 0, width)
        np.testing.assert_array_equal(cells.T, per_pixel)
        # a range of columns (cut inside sub-grid cells, or empty): those columns, no others
        jlo, jhi = sorted(rng.integers(0, width + 1, 2))
        part = np.full((3, width), -1.0)
        ecef_row_cells(i, heights, und, p0, nrm, step, frac, starts, part, jlo, jhi)
        np.testing.assert_array_equal(part[:, jlo:jhi], cells[:, jlo:jhi])
        assert (part[:, :jlo] == -1.0).all() and (part[:, jhi:] == -1.0).all()
        node_row_cells(i, sensor, step, frac, starts, cells, 0, width)
        for j in range(width):
            node_interp3(float(i), float(j), sensor, step, p)
            np.testing.assert_array_equal(cells[:, j], p)
        part[:] = -1.0
        node_row_cells(i, sensor, step, frac, starts, part, jlo, jhi)
        np.testing.assert_array_equal(part[:, jlo:jhi], cells[:, jlo:jhi])
        assert (part[:, :jlo] == -1.0).all() and (part[:, jhi:] == -1.0).all()
        if i + 1 < rows:
            node_row_cells(i + 0.5, sensor, step, centre_frac, centre_starts, centres, 0, width - 1)
            for j in range(width - 1):
                node_interp3(i + 0.5, j + 0.5, sensor, step, p)
                np.testing.assert_array_equal(centres[:, j], p)
