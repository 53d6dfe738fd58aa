"""The annotation's geolocation grid (for cropping a product's metadata) and terrain rasters.

:class:`GcpGrid` interpolates the annotation's geolocation grid points (line, pixel ↔ latitude,
longitude, height, angles, times) bilinearly: ``metadata_edit`` uses it to write the grid of a
cropped product. It does not place the simulated scene: that is the chain's own range-Doppler
model, inverted (``placement``); the grid is off by up to 5 GRD px near the slant → ground-range
polynomial changes. :class:`TerrainRaster` holds the scene's heights and water on a lon/lat
grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np




@dataclass(frozen=True)
class GcpGrid:
    """A rectilinear geolocation grid: ``lines`` (R,), ``pixels`` (C,) and (R, C) fields.

    ``height`` is ellipsoidal (m), angles in degrees, ``azimuth_time`` float seconds since an epoch,
    ``slant_range_time`` two-way seconds.
    """

    lines: np.ndarray
    pixels: np.ndarray
    latitude: np.ndarray
    longitude: np.ndarray
    height: np.ndarray
    incidence_angle: np.ndarray
    elevation_angle: np.ndarray
    azimuth_time: np.ndarray
    slant_range_time: np.ndarray

    FIELDS = (
        "latitude",
        "longitude",
        "height",
        "incidence_angle",
        "elevation_angle",
        "azimuth_time",
        "slant_range_time",
    )

    @classmethod
    def from_annotation(cls, geolocation_grid, epoch: np.datetime64) -> "GcpGrid":
        """From the reader's ``GeolocationGrid`` (must be a complete rectilinear grid)."""
        g = geolocation_grid
        lines2d = g.as_2d("line")
        pixels2d = g.as_2d("pixel")
        if not ((lines2d == lines2d[:, :1]).all() and (pixels2d == pixels2d[:1, :]).all()):
            raise ValueError("geolocation grid is not rectilinear in (line, pixel)")
        az = g.as_2d("azimuth_time")
        az_s = (az.astype("datetime64[ns]") - np.datetime64(epoch, "ns")).astype(np.int64) / 1e9
        return cls(
            lines=lines2d[:, 0].astype(np.float64),
            pixels=pixels2d[0].astype(np.float64),
            latitude=g.as_2d("latitude").astype(np.float64),
            longitude=g.as_2d("longitude").astype(np.float64),
            height=g.as_2d("height").astype(np.float64),
            incidence_angle=g.as_2d("incidence_angle").astype(np.float64),
            elevation_angle=g.as_2d("elevation_angle").astype(np.float64),
            azimuth_time=az_s,
            slant_range_time=g.as_2d("slant_range_time").astype(np.float64),
        )

    def interpolate(self, name: str, line: np.ndarray, pixel: np.ndarray) -> np.ndarray:
        """Bilinear interpolation of field ``name`` at (line, pixel) (broadcast; linear extrapolation)."""
        line, pixel = np.broadcast_arrays(np.asarray(line, float), np.asarray(pixel, float))
        out = np.empty(line.shape, dtype=np.float64)
        _bilinear_many(self.lines, self.pixels, getattr(self, name), line.ravel(), pixel.ravel(), out.reshape(-1))
        return out


@dataclass(frozen=True)
class TerrainRaster:
    """Heights and a water mask on a north-up lat/lon grid, for the scene model.

    ``height`` (H, W) float32, metres above the *geoid* as in the source DEM (NaN = no data);
    ``undulation`` (m) is added to get ellipsoidal heights (a stated constant per scene: the
    geoid varies by < 1 m over a demo window); ``water`` (H, W) bool; ``lon0``/``lat0`` are the
    outer edges of the top-left cell, ``dlon`` > 0, ``dlat`` < 0 the cell size in degrees.
    ``fallback_height`` (m, geoid) is used outside the raster and at no-data cells (flat terrain).
    """

    height: np.ndarray
    water: np.ndarray
    lon0: float
    lat0: float
    dlon: float
    dlat: float
    undulation: float
    fallback_height: float


@numba.njit(cache=True)
def _locate(nodes: np.ndarray, x: float) -> tuple[int, float]:
    """Cell index i (0..n-2) and fraction t with x = nodes[i] + t (nodes[i+1]-nodes[i]); extrapolates."""
    n = nodes.shape[0]
    lo = 0
    hi = n - 2
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if nodes[mid] <= x:
            lo = mid
        else:
            hi = mid - 1
    return lo, (x - nodes[lo]) / (nodes[lo + 1] - nodes[lo])


@numba.njit(cache=True)
def _bl(f: np.ndarray, i: int, t: float, j: int, u: float) -> float:
    return (1.0 - t) * ((1.0 - u) * f[i, j] + u * f[i, j + 1]) + t * ((1.0 - u) * f[i + 1, j] + u * f[i + 1, j + 1])


@numba.njit(cache=True)
def _bilinear_many(lines, pixels, f, line, pixel, out):
    for k in range(line.shape[0]):
        i, t = _locate(lines, line[k])
        j, u = _locate(pixels, pixel[k])
        out[k] = _bl(f, i, t, j, u)
