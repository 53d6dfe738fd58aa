"""GRD geometry of the simulated scene from the annotation's geolocation grid (no orbit, no range-Doppler).

This is deliberately independent of the project's geocoder (``sar/geocoding.py``): it uses only the
annotation's geolocation grid points (GCPs: line, pixel ↔ latitude, longitude, ellipsoidal height,
incidence angle) and a terrain raster.

Model, per GRD pixel (line ``l``, sample ``p``):

1. Bilinear interpolation of the GCP grid in (line, pixel) gives the point on the GCP surface
   (latitude, longitude, GCP height ``h_g``) and the ellipsoid incidence angle ``θ``.
2. Terrain displacement (foreshortening), flat-earth small-height approximation: a point at
   ellipsoidal height ``h`` appears shifted towards near range by ``Δgr = (h − h_g) / tan θ``
   relative to where it would appear at the GCP height. So the ground point imaged by sample
   ``p`` sits at ground-range sample ``x`` with ``x = p + (h(x) − h_g(x)) / (tan θ · Δr)``,
   solved by fixed-point iteration (4 steps; converges where the terrain slope along range is
   below the incidence angle, i.e. no layover; in layover the last iterate is used).
   The azimuth position is left unchanged (zero-Doppler: height does not move a point in azimuth
   to first order).
3. Local incidence angle: ``cos θ_loc = n · s`` with ``n`` the terrain normal from the raster's
   height gradient (east/north, metres) and ``s`` the unit vector from the ground to the sensor,
   ``s = (−sin θ · u_far, cos θ)`` where ``u_far`` is the horizontal ground direction of increasing
   sample (from the GCP grid's ∂(lat, lon)/∂pixel), i.e. the look direction.

Accuracy (demo, not a reference): the GCP grid is ~1300 samples × ~2000 lines; bilinear
interpolation between its nodes is within about a pixel of range-Doppler geocoding on average
(up to ~8 px locally over Rome, see the samples README); the flat-earth foreshortening term is
exact to first order in h/R (errors < 1 px for h < 2 km). Degrees ↔ metres use a sphere of radius
6 371 008.8 m (mean Earth radius), fine for slopes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from .backscatter import sigma0_vv

EARTH_RADIUS_M = 6_371_008.8
_DEG = np.pi / 180.0


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

    def gradients(self) -> tuple[np.ndarray, np.ndarray]:
        """∂h/∂east and ∂h/∂north (m/m) on the raster, float32; 0 where undefined (no data)."""
        h = self.height.astype(np.float64)
        lat_c = self.lat0 + (np.arange(h.shape[0]) + 0.5) * self.dlat
        dy = abs(self.dlat) * _DEG * EARTH_RADIUS_M
        dx = self.dlon * _DEG * EARTH_RADIUS_M * np.cos(lat_c * _DEG)
        gy, gx = np.gradient(h)
        dzde = gx / dx[:, None]
        dzdn = -gy / dy  # rows go south
        dzde = np.where(np.isfinite(dzde), dzde, 0.0).astype(np.float32)
        dzdn = np.where(np.isfinite(dzdn), dzdn, 0.0).astype(np.float32)
        return dzde, dzdn


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


@numba.njit(cache=True)
def _sample_bilinear(r: np.ndarray, lon0, lat0, dlon, dlat, lon, lat) -> float:
    """Bilinear sample of raster r at (lon, lat) (cell centres); NaN outside or next to no data."""
    fx = (lon - lon0) / dlon - 0.5
    fy = (lat - lat0) / dlat - 0.5
    h, w = r.shape
    if not (fx >= 0.0 and fy >= 0.0 and fx <= w - 1 and fy <= h - 1):
        return np.nan
    x0 = min(int(fx), w - 2)
    y0 = min(int(fy), h - 2)
    u = fx - x0
    t = fy - y0
    return (1 - t) * ((1 - u) * r[y0, x0] + u * r[y0, x0 + 1]) + t * ((1 - u) * r[y0 + 1, x0] + u * r[y0 + 1, x0 + 1])


@numba.njit(cache=True)
def _sample_nearest_bool(r: np.ndarray, lon0, lat0, dlon, dlat, lon, lat) -> bool:
    ix = int(np.floor((lon - lon0) / dlon))
    iy = int(np.floor((lat - lat0) / dlat))
    if ix < 0 or iy < 0 or iy >= r.shape[0] or ix >= r.shape[1]:
        return False
    return r[iy, ix]


@numba.njit(cache=True, parallel=True)
def scene_geometry_kernel(
    row0: int,
    col0: int,
    nrows: int,
    ncols: int,
    g_lines,
    g_pixels,
    g_lat,
    g_lon,
    g_hgt,
    g_inc,
    height,
    dzde,
    dzdn,
    water,
    lon0,
    lat0,
    dlon,
    dlat,
    undulation,
    fallback_height,
    range_spacing,
    model,
    cos_local,
    is_water,
    sigma0,
):
    """Fill ``cos_local`` (cos of the local incidence angle, float32), ``is_water`` (bool) and
    ``sigma0`` (σ0_VV of the model, float32; ``model`` = (k_land, n_land, k_water, n_water)) for a
    block of GRD pixels [row0, row0+nrows) × [col0, col0+ncols) in the product's coordinates."""
    k_land, n_land, k_water, n_water = model
    rlat_min = lat0 + height.shape[0] * dlat
    rlat_max = lat0
    rlon_min = lon0
    rlon_max = lon0 + height.shape[1] * dlon
    jcol = np.empty(ncols, np.int64)
    ucol = np.empty(ncols, np.float64)
    for c in range(ncols):
        jcol[c], ucol[c] = _locate(g_pixels, float(col0 + c))
    margin = 0.05
    for r in numba.prange(nrows):
        line = float(row0 + r)
        i, t = _locate(g_lines, line)
        # the grid interpolated to this line at its pixel nodes; bilinear = linear between them
        rlat = (1.0 - t) * g_lat[i] + t * g_lat[i + 1]
        rlon = (1.0 - t) * g_lon[i] + t * g_lon[i + 1]
        rinc = ((1.0 - t) * g_inc[i] + t * g_inc[i + 1]) * (np.pi / 180.0)
        near = not (rlat.max() < rlat_min - margin or rlat.min() > rlat_max + margin
                    or rlon.max() < rlon_min - margin or rlon.min() > rlon_max + margin)
        for c in range(ncols):
            p = float(col0 + c)
            j = jcol[c]
            u = ucol[c]
            inc = rinc[j] + u * (rinc[j + 1] - rinc[j])
            if near:
                lat = rlat[j] + u * (rlat[j + 1] - rlat[j])
                lon = rlon[j] + u * (rlon[j + 1] - rlon[j])
                near_px = not (lat < rlat_min - margin or lat > rlat_max + margin
                               or lon < rlon_min - margin or lon > rlon_max + margin)
            else:
                near_px = False
            if not near_px:
                # far from the terrain raster: flat terrain at the fallback height
                cl = np.cos(inc)
                cos_local[r, c] = cl
                is_water[r, c] = False
                sigma0[r, c] = sigma0_vv(cl, False, k_land, n_land, k_water, n_water)
                continue
            x = p
            tan_inc = np.tan(inc)
            for _ in range(4):
                jj, uu = _locate(g_pixels, x)
                lat = _bl(g_lat, i, t, jj, uu)
                lon = _bl(g_lon, i, t, jj, uu)
                hg = _bl(g_hgt, i, t, jj, uu)
                inc = _bl(g_inc, i, t, jj, uu) * (np.pi / 180.0)
                tan_inc = np.tan(inc)
                hd = _sample_bilinear(height, lon0, lat0, dlon, dlat, lon, lat)
                if np.isnan(hd):
                    hd = fallback_height
                x = p + (hd + undulation - hg) / (tan_inc * range_spacing)
            jj, uu = _locate(g_pixels, x)
            lat = _bl(g_lat, i, t, jj, uu)
            lon = _bl(g_lon, i, t, jj, uu)
            inc = _bl(g_inc, i, t, jj, uu) * (np.pi / 180.0)
            # look direction: ground direction of increasing sample, in local east/north metres
            dp = g_pixels[jj + 1] - g_pixels[jj]
            dlat_dp = ((1 - t) * (g_lat[i, jj + 1] - g_lat[i, jj]) + t * (g_lat[i + 1, jj + 1] - g_lat[i + 1, jj])) / dp
            dlon_dp = ((1 - t) * (g_lon[i, jj + 1] - g_lon[i, jj]) + t * (g_lon[i + 1, jj + 1] - g_lon[i + 1, jj])) / dp
            fe = dlon_dp * np.cos(lat * np.pi / 180.0)
            fn = dlat_dp
            norm = np.sqrt(fe * fe + fn * fn)
            fe /= norm
            fn /= norm
            ge = _sample_bilinear(dzde, lon0, lat0, dlon, dlat, lon, lat)
            gn = _sample_bilinear(dzdn, lon0, lat0, dlon, dlat, lon, lat)
            if np.isnan(ge) or np.isnan(gn):
                ge = 0.0
                gn = 0.0
            # n = (-ge, -gn, 1)/|.|, s = (-sin θ fe, -sin θ fn, cos θ)
            s_inc = np.sin(inc)
            dot = ge * s_inc * fe + gn * s_inc * fn + np.cos(inc)
            cos_local[r, c] = dot / np.sqrt(ge * ge + gn * gn + 1.0)
            is_water[r, c] = _sample_nearest_bool(water, lon0, lat0, dlon, dlat, lon, lat)
            sigma0[r, c] = sigma0_vv(cos_local[r, c], is_water[r, c], k_land, n_land, k_water, n_water)
