"""The demo places its scene with the chain's own range-Doppler model: the inverse on tie points
gives back the ground points the chain geocodes, and the DEM corners land where sarsen puts them.

Peer: sarsen 0.9.6 backward geocoding of the Rome DEM corners with the S1B annotation orbit and
EGM96 heights, recorded in the samples README (§4 "Geometry cross-check numbers"): NW corner →
(line 7601.7, sample 22627.9), SE corner → (8552.9, 21642.6), rounded to 0.1 px; the chain agrees
with sarsen to ≤ 0.1 px on average (``sar/test_geocoding.py``), hence 0.2 px here.
"""

from __future__ import annotations

import numpy as np
import pytest
import rasterio

from ben_sen1_assets.demo_archive.placement import Placement
from ben_sen1_assets.demo_archive.scenes import ROME_SOURCE, ROME_UNDULATION_M, data_path, sample_path
from ben_sen1_assets.sar import open_safe
from ben_sen1_assets.sar.geocoding import GeometryModel, geocode_points

SARSEN_CORNERS = {"NW": (7601.7, 22627.9), "SE": (8552.9, 21642.6)}


@pytest.fixture(scope="module")
def rome():
    with open_safe(sample_path(ROME_SOURCE)) as product:
        ann = product.annotation("VV")
    geometry = GeometryModel.from_annotation(ann)
    with rasterio.open(data_path("dem", "Rome-30m-DEM.tif")) as dem:
        z = dem.read(1).astype(np.float64)
        t = dem.transform
    return ann, geometry, Placement.solve(geometry, ann, 0.0, 1000.0), z, t


def test_inverse_gives_back_the_ground_points(rome):
    """Random DEM cells at their ellipsoidal heights: chain forward → (line, pixel) → the demo's
    inverse → the same point within 10 cm (0.01 px; mostly < 2 mm: bilinear tie-point
    interpolation across the 1 s steps of the slant → ground-range polynomials)."""
    ann, geometry, placement, z, t = rome
    rng = np.random.default_rng(3)
    rows, cols = rng.integers(0, z.shape[0], 2000), rng.integers(0, z.shape[1], 2000)
    lon, lat = rasterio.transform.xy(t, rows, cols)
    lon, lat = np.asarray(lon), np.asarray(lat)
    h = z[rows, cols] + ROME_UNDULATION_M
    line, pixel = geocode_points(geometry, lon, lat, h)
    lon2, lat2 = placement.ground_point(line, pixel, h)
    metres = np.hypot((lon2 - lon) * 111_320 * np.cos(np.radians(lat)), (lat2 - lat) * 110_950)
    assert metres.max() < 0.1 and np.median(metres) < 0.005, (metres.max(), np.median(metres))


@pytest.mark.parametrize("corner", ["NW", "SE"])
def test_dem_corners_where_sarsen_puts_them(rome, corner):
    ann, geometry, placement, z, t = rome
    row, col = (0, 0) if corner == "NW" else (z.shape[0] - 1, z.shape[1] - 1)
    lon, lat = rasterio.transform.xy(t, row, col)
    h = z[row, col] + ROME_UNDULATION_M
    line, sample = (float(v[0]) for v in geocode_points(geometry, np.array([lon]), np.array([lat]), np.array([h])))
    ref_line, ref_sample = SARSEN_CORNERS[corner]
    assert abs(line - ref_line) < 0.2 and abs(sample - ref_sample) < 0.2, (line, sample)
    lon2, lat2 = placement.ground_point(np.array([line]), np.array([sample]), np.array([h]))
    assert abs(lon2[0] - lon) < 1e-6 and abs(lat2[0] - lat) < 1e-6
