"""The GCP-grid scene geometry puts the Rome DEM where sarsen's range-Doppler geocoding does.

Reference (peer): sarsen 0.9.6 backward geocoding of the Rome DEM corners with the S1B annotation
orbit and EGM96 heights, recorded in the samples README (§4 "Geometry cross-check numbers"):
NW corner → (line 7601.7, sample 22627.9), SE corner → (8552.9, 21642.6). The demo geometry is a
bilinear GCP-grid model with a flat-earth foreshortening term; its stated accuracy is ~1 px on
average and up to ~8 px locally, so the tolerance is 10 px.
"""

from __future__ import annotations

import numpy as np
import pytest
import rasterio

from ben_sen1_assets.demo_archive.geometry import GcpGrid
from ben_sen1_assets.demo_archive.scenes import ROME_SOURCE, ROME_UNDULATION_M, data_path, sample_path
from ben_sen1_assets.sar import open_safe

SARSEN_CORNERS = {"NW": (7601.7, 22627.9), "SE": (8552.9, 21642.6)}


def _forward(grid: GcpGrid, lat: float, lon: float, h_ell: float) -> tuple[float, float]:
    """(line, sample) where the demo model images the point (inverse of the per-pixel model)."""
    lp = np.array([8000.0, 22000.0])
    for _ in range(20):  # Newton on the bilinear lat/lon field
        f = np.array([grid.interpolate("latitude", *lp) - lat, grid.interpolate("longitude", *lp) - lon]).ravel()
        eps = 1.0
        jac = np.empty((2, 2))
        for k in range(2):
            d = lp.copy()
            d[k] += eps
            jac[:, k] = (np.array([grid.interpolate("latitude", *d), grid.interpolate("longitude", *d)]).ravel()
                         - f - [lat, lon]) / eps
        lp = lp - np.linalg.solve(jac, f)
    h_gcp = float(grid.interpolate("height", *lp))
    theta = np.deg2rad(float(grid.interpolate("incidence_angle", *lp)))
    return float(lp[0]), float(lp[1] - (h_ell - h_gcp) / (np.tan(theta) * 10.0))


@pytest.mark.parametrize("corner", ["NW", "SE"])
def test_dem_corners_where_sarsen_puts_them(corner):
    with open_safe(sample_path(ROME_SOURCE)) as product:
        ann = product.annotation("VV")
    grid = GcpGrid.from_annotation(ann.geolocation_grid, ann.first_line_time)
    with rasterio.open(data_path("dem", "Rome-30m-DEM.tif")) as dem:
        z = dem.read(1)
        t = dem.transform
        row, col = (0, 0) if corner == "NW" else (dem.height - 1, dem.width - 1)
        lon, lat = rasterio.transform.xy(t, row, col)
    line, sample = _forward(grid, lat, lon, float(z[row, col]) + ROME_UNDULATION_M)
    ref_line, ref_sample = SARSEN_CORNERS[corner]
    print(f"{corner}: demo model - sarsen = {line - ref_line:+.2f} lines, {sample - ref_sample:+.2f} samples")
    assert abs(line - ref_line) < 10 and abs(sample - ref_sample) < 10, (line, sample)
