"""Range-Doppler backward geocoding of an IW GRD product onto any target grid.

For each target pixel (x, y in the target CRS, h above the WGS84 ellipsoid):
(x, y) → (lon, lat) → ECEF X → zero-Doppler azimuth time t with (P(t) − X)·V(t) = 0 (Newton) →
slant range R = |X − P(t)| → ground range from the annotation's ``coordinateConversion`` srgr
polynomials → GRD ``line = t / azimuthTimeInterval`` (t in s since ``productFirstLineUtcTime``)
and ``pixel = ground_range / rangePixelSpacing``. Lines and pixels are 0-based at pixel centres,
as in the annotation.

Conventions (they move the answer by sub-pixels, see DOMAIN.md §5):

- ``srgr="linear"`` (default, as sarsen/xarray-sentinel and SNAP): ``sr0`` and the coefficients
  are interpolated linearly in azimuth time between the two neighbouring sets (clamped to the
  first/last set outside). ``srgr="nearest"``: the set nearest in azimuth time is used, which is
  what the annotation's geolocation grid follows.
- The line is the pure zero-Doppler time of the target; the annotation's geolocation grid
  lines carry an extra range-dependent shift that we do not reproduce.

Typical use (one block of an S2 tile)::

    geo = GeometryModel.from_annotation(product.annotation("VV"))          # srgr="linear"
    line, pixel = geocode_with_dem(geo, tile_grid, dem_source, window)     # float32, NaN: no DEM
    grd_win = grd_window_for(line, pixel, geo.shape)                       # None: off the image
    values = resample_grd(sigma0_of(grd_win), grd_win, line, pixel)        # float32, NaN outside

Speed: one numba pass per target window does the whole chain per pixel (full Newton solve with
the pixel's own height). Only the smooth, height-independent geodesy — the ECEF position of the
ellipsoid point under each pixel, its normal, and the geoid undulation — is computed exactly
with pyproj on a sub-grid every ``geodesy_step`` pixels and interpolated bilinearly (error
< 1 mm for 16 px of 10 m: the sagitta (160 m)²/8R), then X = X₀ + (H + N)·n.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numba
import numpy as np
import pyproj
from affine import Affine
from rasterio.windows import Window

from . import geoid as geoid_mod
from .annotation import CoordinateConversion, ProductAnnotation, seconds_since
from .errors import SafeError
from .orbit import OrbitInterpolator, OrbitMethod, eval_pva

SPEED_OF_LIGHT = 299_792_458.0
SrgrConvention = Literal["linear", "nearest"]
ResamplingMethod = Literal["bilinear", "nearest"]


class GeocodingError(SafeError):
    """Geocoding cannot be done as asked (bad grid, window, convention, heights)."""


@dataclass(frozen=True)
class RasterGrid:
    """A target raster grid: ``crs``, affine ``transform`` (pixel corner → CRS), ``shape`` (rows, cols).

    Anything with ``.crs``, ``.transform`` and ``.shape`` (e.g. the S2 ``TileGrid``) can be
    converted with :meth:`of`.
    """

    crs: pyproj.CRS
    transform: Affine
    shape: tuple[int, int]

    @classmethod
    def of(cls, grid) -> "RasterGrid":
        """A RasterGrid from any object with ``crs``, ``transform``, ``shape``."""
        if isinstance(grid, RasterGrid):
            return grid
        crs = pyproj.CRS.from_user_input(grid.crs.to_wkt() if hasattr(grid.crs, "to_wkt") else grid.crs)
        return cls(crs, Affine(*tuple(grid.transform)[:6]), (int(grid.shape[0]), int(grid.shape[1])))

    def window(self, window: Window) -> "RasterGrid":
        """The sub-grid of ``window`` (integer offsets and sizes inside the grid)."""
        r0, c0 = int(window.row_off), int(window.col_off)
        h, w = int(window.height), int(window.width)
        if r0 < 0 or c0 < 0 or h <= 0 or w <= 0 or r0 + h > self.shape[0] or c0 + w > self.shape[1]:
            raise GeocodingError(f"window {window} is not inside the target grid of shape {self.shape}")
        return RasterGrid(self.crs, self.transform @ Affine.translation(c0, r0), (h, w))

    def xy(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """CRS coordinates of (fractional) pixel centres."""
        t = self.transform
        c = np.asarray(cols, dtype=np.float64) + 0.5
        r = np.asarray(rows, dtype=np.float64) + 0.5
        return t.a * c + t.b * r + t.c, t.d * c + t.e * r + t.f


@dataclass(frozen=True)
class GeometryModel:
    """Everything the per-pixel solver needs from one product annotation, as plain arrays.

    Times are float64 seconds since ``first_line_time``.
    """

    source: str
    first_line_time: np.datetime64
    azimuth_time_interval: float
    range_pixel_spacing: float
    shape: tuple[int, int]  # (lines, samples) of the GRD image
    orbit: OrbitInterpolator
    cc_time: np.ndarray  # (m,) coordinateConversion azimuth times
    cc_sr0: np.ndarray  # (m,)
    cc_srgr: np.ndarray  # (m, k)
    srgr: str

    @classmethod
    def from_annotation(
        cls,
        annotation: ProductAnnotation,
        srgr: SrgrConvention = "linear",
        orbit_method: OrbitMethod = "hermite",
    ) -> "GeometryModel":
        """Geometry of ``annotation`` with the given srgr convention and orbit interpolation."""
        if srgr not in ("linear", "nearest"):
            raise GeocodingError(f"srgr convention {srgr!r}: expected 'linear' or 'nearest'")
        cc: CoordinateConversion = annotation.coordinate_conversion
        t0 = annotation.first_line_time
        cc_time = seconds_since(cc.azimuth_time, t0)
        order = np.argsort(cc_time)
        return cls(
            source=annotation.source,
            first_line_time=t0,
            azimuth_time_interval=float(annotation.azimuth_time_interval),
            range_pixel_spacing=float(annotation.range_pixel_spacing),
            shape=annotation.shape,
            orbit=OrbitInterpolator.from_state_vectors(annotation.orbit, t0, method=orbit_method),
            cc_time=np.ascontiguousarray(cc_time[order]),
            cc_sr0=np.ascontiguousarray(np.asarray(cc.sr0, dtype=np.float64)[order]),
            cc_srgr=np.ascontiguousarray(np.asarray(cc.srgr_coefficients, dtype=np.float64)[order]),
            srgr=srgr,
        )

    @property
    def _args(self):
        o = self.orbit
        return (
            o.breaks, o.origins, o.coefficients,
            self.cc_time, self.cc_sr0, self.cc_srgr, self.srgr == "nearest",
            self.azimuth_time_interval, self.range_pixel_spacing,
            0.5 * (self.shape[0] - 1) * self.azimuth_time_interval,
        )


# --------------------------------------------------------------------------------- numba kernels

_MAXITER = 12
# Newton step (s) below which the zero-Doppler time is converged: the iterate after such a step
# is within ~(step)²·|f''/f'| ≪ 1 ns (Newton converges quadratically); 1 µs ≈ 7.5 mm along track.
_TOL_S = 1e-6


@numba.njit(cache=True, inline="always")
def _zero_doppler(breaks, origins, coefs, x, y, z, t, pva):
    """Newton on f(t) = (P(t) − X)·V(t); returns (t, slant range) or (nan, nan).

    The slant range is taken at the last evaluated time: at zero Doppler the range is
    stationary in t, so the last (tiny) step changes it by ~V²·step²/2R, i.e. nothing.
    """
    for _ in range(_MAXITER):
        eval_pva(breaks, origins, coefs, t, pva)
        dx = pva[0, 0] - x
        dy = pva[0, 1] - y
        dz = pva[0, 2] - z
        f = dx * pva[1, 0] + dy * pva[1, 1] + dz * pva[1, 2]
        fp = (pva[1, 0] ** 2 + pva[1, 1] ** 2 + pva[1, 2] ** 2
              + dx * pva[2, 0] + dy * pva[2, 1] + dz * pva[2, 2])
        step = f / fp
        t -= step
        if abs(step) < _TOL_S:
            return t, np.sqrt(dx * dx + dy * dy + dz * dz)
    return np.nan, np.nan


@numba.njit(cache=True, inline="always")
def _ground_range(cc_time, cc_sr0, cc_srgr, nearest, t, r):
    """Ground range (m) of slant range ``r`` at azimuth time ``t`` with the srgr polynomials."""
    m = cc_time.size
    k = cc_srgr.shape[1]
    j = np.searchsorted(cc_time, t, side="right") - 1  # cc_time[j] <= t < cc_time[j+1]
    if j < 0:
        j0, j1, w = 0, 0, 0.0
    elif j >= m - 1:
        j0, j1, w = m - 1, m - 1, 0.0
    else:
        j0, j1 = j, j + 1
        w = (t - cc_time[j0]) / (cc_time[j1] - cc_time[j0])
    if nearest:
        if w > 0.5:
            j0 = j1
        w = 0.0
    sr0 = cc_sr0[j0] + w * (cc_sr0[j1] - cc_sr0[j0])
    d = r - sr0
    g = 0.0
    for i in range(k - 1, -1, -1):
        c = cc_srgr[j0, i] + w * (cc_srgr[j1, i] - cc_srgr[j0, i])
        g = g * d + c
    return g


@numba.njit(cache=True, parallel=True, nogil=True)
def _solve_points(x, y, z, breaks, origins, coefs, cc_time, cc_sr0, cc_srgr, nearest,
                  dt_line, spacing, t_guess, out_t, out_r, out_gr):
    n = x.size
    nchunks = max(1, min(n, 64))
    for c in numba.prange(nchunks):
        pva = np.empty((3, 3))
        t = t_guess
        for i in range(c * n // nchunks, (c + 1) * n // nchunks):
            if not (np.isfinite(x[i]) and np.isfinite(y[i]) and np.isfinite(z[i])):
                out_t[i] = np.nan
                out_r[i] = np.nan
                out_gr[i] = np.nan
                continue
            ts, r = _zero_doppler(breaks, origins, coefs, x[i], y[i], z[i], t, pva)
            if not np.isfinite(ts):  # diverged from the previous point's seed: restart mid-scene
                ts, r = _zero_doppler(breaks, origins, coefs, x[i], y[i], z[i], t_guess, pva)
            out_t[i] = ts
            out_r[i] = r
            out_gr[i] = _ground_range(cc_time, cc_sr0, cc_srgr, nearest, ts, r)
            if np.isfinite(ts):
                t = ts


@numba.njit(cache=True, parallel=True, nogil=True)
def _solve_grid(heights, und, p0, nrm, step, breaks, origins, coefs, cc_time, cc_sr0, cc_srgr,
                nearest, dt_line, spacing, t_guess, out_line, out_pixel):
    """Per target pixel: X = X₀ + (H + N)·n (X₀, n, N bilinear on the sub-grid) → line, pixel."""
    h, w = heights.shape
    inv = 1.0 / step
    for i in numba.prange(h):
        pva = np.empty((3, 3))
        t = t_guess
        ci = i // step
        fi = (i - ci * step) * inv
        for j in range(w):
            hh = heights[i, j]
            if not np.isfinite(hh):
                out_line[i, j] = np.nan
                out_pixel[i, j] = np.nan
                continue
            cj = j // step
            fj = (j - cj * step) * inv
            w00 = (1.0 - fi) * (1.0 - fj)
            w01 = (1.0 - fi) * fj
            w10 = fi * (1.0 - fj)
            w11 = fi * fj
            hell = hh + (w00 * und[ci, cj] + w01 * und[ci, cj + 1]
                         + w10 * und[ci + 1, cj] + w11 * und[ci + 1, cj + 1])
            x = 0.0
            y = 0.0
            z = 0.0
            for a in range(3):
                pa = (w00 * p0[ci, cj, a] + w01 * p0[ci, cj + 1, a]
                      + w10 * p0[ci + 1, cj, a] + w11 * p0[ci + 1, cj + 1, a])
                na = (w00 * nrm[ci, cj, a] + w01 * nrm[ci, cj + 1, a]
                      + w10 * nrm[ci + 1, cj, a] + w11 * nrm[ci + 1, cj + 1, a])
                v = pa + hell * na
                if a == 0:
                    x = v
                elif a == 1:
                    y = v
                else:
                    z = v
            ts, r = _zero_doppler(breaks, origins, coefs, x, y, z, t, pva)
            if not np.isfinite(ts):
                ts, r = _zero_doppler(breaks, origins, coefs, x, y, z, t_guess, pva)
            if not np.isfinite(ts):
                out_line[i, j] = np.nan
                out_pixel[i, j] = np.nan
                continue
            t = ts
            out_line[i, j] = ts / dt_line
            out_pixel[i, j] = _ground_range(cc_time, cc_sr0, cc_srgr, nearest, ts, r) / spacing


# --------------------------------------------------------------------------------- public API

_ECEF = pyproj.Transformer.from_crs("EPSG:4979", "EPSG:4978", always_xy=True)


def lonlath_to_ecef(lon: np.ndarray, lat: np.ndarray, h: np.ndarray) -> np.ndarray:
    """WGS84 ECEF (…, 3) m of (lon, lat) degrees and ellipsoidal height h (m), via pyproj."""
    lon, lat, h = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in (lon, lat, h)))
    x, y, z = _ECEF.transform(lon.ravel(), lat.ravel(), h.ravel())
    return np.stack([x, y, z], axis=-1).reshape(lon.shape + (3,))


def zero_doppler(geometry: GeometryModel, ecef: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Zero-Doppler solve for ECEF points (…, 3).

    Returns float64 ``(azimuth_time, slant_range, ground_range)``: azimuth time in s since the
    first line, slant range (m, one-way), ground range (m) with ``geometry.srgr``; NaN where the
    point is NaN or Newton did not converge.
    """
    ecef = np.asarray(ecef, dtype=np.float64)
    shape = ecef.shape[:-1]
    x, y, z = (np.ascontiguousarray(ecef[..., a].ravel()) for a in range(3))
    out = [np.empty(x.size) for _ in range(3)]
    _solve_points(x, y, z, *geometry._args, *out)
    return tuple(o.reshape(shape) for o in out)  # type: ignore[return-value]


def geocode_points(
    geometry: GeometryModel, lon: np.ndarray, lat: np.ndarray, height: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """GRD (line, pixel) float64 of points (lon, lat degrees, height above the WGS84 ellipsoid)."""
    t, _, gr = zero_doppler(geometry, lonlath_to_ecef(lon, lat, height))
    return t / geometry.azimuth_time_interval, gr / geometry.range_pixel_spacing


def _subgrid_geodesy(grid: RasterGrid, step: int, vertical_datum: str):
    """Exact X₀ (ellipsoid point), normal n and geoid N on the sub-grid nodes every ``step`` px."""
    h, w = grid.shape
    rows = np.arange(0, (h - 1) // step + 2) * step
    cols = np.arange(0, (w - 1) // step + 2) * step
    cc, rr = np.meshgrid(cols, rows)
    x, y = grid.xy(rr, cc)
    to_lonlat = pyproj.Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True)
    lon, lat = to_lonlat.transform(x, y)
    lon = np.asarray(lon)
    lat = np.asarray(lat)
    if not (np.all(np.isfinite(lon)) and np.all(np.isfinite(lat))):
        raise GeocodingError(f"target grid {grid.crs.name!r} has points without a lon/lat")
    p0 = lonlath_to_ecef(lon, lat, np.zeros_like(lon))
    rlon, rlat = np.radians(lon), np.radians(lat)
    nrm = np.stack([np.cos(rlat) * np.cos(rlon), np.cos(rlat) * np.sin(rlon), np.sin(rlat)], axis=-1)
    und = geoid_mod.geoid_undulation(lon, lat, vertical_datum)
    return np.ascontiguousarray(p0), np.ascontiguousarray(nrm), np.ascontiguousarray(und)


def geocode_grid(
    geometry: GeometryModel,
    grid,
    heights: np.ndarray,
    vertical_datum: str,
    window: Window | None = None,
    geodesy_step: int = 16,
) -> tuple[np.ndarray, np.ndarray]:
    """GRD (line, pixel) float32 arrays for every pixel of ``grid`` (or of ``window`` of it).

    ``grid``: a :class:`RasterGrid` or anything with ``crs``, ``transform``, ``shape`` (e.g. an S2
    tile grid). ``heights``: float array of the window's shape, heights above ``vertical_datum``
    (``"EGM96"``, ``"EGM2008"`` or ``"ellipsoid"``; the geoid is applied here, per pixel);
    NaN heights give NaN. Points outside the image get line/pixel outside ``[0, shape)``; the
    caller decides validity (see :func:`resample_grd`).
    """
    grid = RasterGrid.of(grid)
    if window is not None:
        grid = grid.window(window)
    heights = np.asarray(heights)
    if heights.shape != grid.shape:
        raise GeocodingError(f"heights shape {heights.shape} != target window shape {grid.shape}")
    if heights.dtype not in (np.float32, np.float64):
        heights = heights.astype(np.float32)
    if not isinstance(geodesy_step, int | np.integer) or geodesy_step < 1:
        raise GeocodingError(f"geodesy_step must be a positive integer, got {geodesy_step!r}")
    p0, nrm, und = _subgrid_geodesy(grid, int(geodesy_step), vertical_datum)
    line = np.empty(grid.shape, np.float32)
    pixel = np.empty(grid.shape, np.float32)
    _solve_grid(np.ascontiguousarray(heights), und, p0, nrm, int(geodesy_step), *geometry._args, line, pixel)
    return line, pixel


@numba.njit(inline="always", nogil=True)
def on_grd_image(line, pixel, lines, samples):
    """Whether GRD coordinate (``line``, ``pixel``) falls on an image of ``lines`` × ``samples``
    (within a pixel of its edge; False for NaN): the one test of what the product sees, in every
    kernel that asks it (:func:`.chain_kernels.extent_rows`, :func:`.terrain.imaged_columns`, the
    incidence kernel) and, on arrays, in :func:`grd_window_for`."""
    return line > -1.0 and line < lines and pixel > -1.0 and pixel < samples


def grd_window_for(
    line: np.ndarray, pixel: np.ndarray, image_shape: tuple[int, int], margin: int = 2
) -> Window | None:
    """Smallest GRD window (inside the image) holding all finite (line, pixel) plus ``margin``.

    None when no point falls on the image (:func:`on_grd_image`, on arrays).
    """
    ok = np.isfinite(line) & np.isfinite(pixel)
    ok &= (line > -1) & (line < image_shape[0]) & (pixel > -1) & (pixel < image_shape[1])
    if not ok.any():
        return None
    l0 = max(int(np.floor(line[ok].min())) - margin, 0)
    l1 = min(int(np.ceil(line[ok].max())) + margin + 1, image_shape[0])
    p0 = max(int(np.floor(pixel[ok].min())) - margin, 0)
    p1 = min(int(np.ceil(pixel[ok].max())) + margin + 1, image_shape[1])
    return Window(p0, l0, p1 - p0, l1 - l0)


@numba.njit(inline="always", nogil=True)
def grd_cell(r, c, h, w, bilinear):
    """Where the fractional (row ``r``, column ``c``) of an ``h`` × ``w`` GRD window samples it:
    (inside, r0, c0, r1, c1, fr, fc). Bilinear: the four pixel centres around it and its weights
    (inside the pixel-centre hull only); nearest: the pixel (r0, c0) it falls on. The one rule of
    every resampling kernel (:func:`_resample`, :func:`.chain_kernels.resample_block`)."""
    if bilinear:
        if r >= 0.0 and c >= 0.0 and r <= h - 1 and c <= w - 1:
            r0 = min(int(r), h - 2) if h > 1 else 0
            c0 = min(int(c), w - 2) if w > 1 else 0
            return True, r0, c0, min(r0 + 1, h - 1), min(c0 + 1, w - 1), r - r0, c - c0
    elif r > -0.5 and c > -0.5 and r < h - 0.5 and c < w - 0.5:
        return True, int(np.floor(r + 0.5)), int(np.floor(c + 0.5)), 0, 0, 0.0, 0.0
    return False, 0, 0, 0, 0, 0.0, 0.0


@numba.njit(inline="always", nogil=True)
def grd_sample(src, bilinear, r0, c0, r1, c1, fr, fc):
    """The value of ``src`` at a cell from :func:`grd_cell` (bilinear: NaN if a neighbour is)."""
    if bilinear:
        return ((1.0 - fr) * ((1.0 - fc) * src[r0, c0] + fc * src[r0, c1])
                + fr * ((1.0 - fc) * src[r1, c0] + fc * src[r1, c1]))
    return src[r0, c0]


@numba.njit(cache=True, parallel=True, nogil=True)
def _resample(src, row_off, col_off, line, pixel, bilinear, out):
    h, w = src.shape
    for i in numba.prange(line.shape[0]):
        for j in range(line.shape[1]):
            inside, r0, c0, r1, c1, fr, fc = grd_cell(line[i, j] - row_off, pixel[i, j] - col_off, h, w, bilinear)
            out[i, j] = grd_sample(src, bilinear, r0, c0, r1, c1, fr, fc) if inside else np.nan


def resample_grd(
    grd: np.ndarray,
    window: Window | None,
    line: np.ndarray,
    pixel: np.ndarray,
    method: ResamplingMethod = "bilinear",
) -> np.ndarray:
    """Sample a GRD window at (line, pixel) of the full image → float32 target array.

    ``grd``: 2-D array read from ``window`` of the GRD image (None: the whole image from (0, 0)).
    ``method``: ``"bilinear"`` (default; NaN if any of the 4 neighbours is NaN) or ``"nearest"``.
    NaN where (line, pixel) is NaN, outside the window (bilinear: outside the pixel-centre hull),
    or the source value is NaN.
    """
    if method not in ("bilinear", "nearest"):
        raise GeocodingError(f"resampling method {method!r}: expected 'bilinear' or 'nearest'")
    grd = np.asarray(grd)
    if grd.ndim != 2 or grd.size == 0:
        raise GeocodingError(f"GRD window must be a non-empty 2-D array, got shape {grd.shape}")
    if line.shape != pixel.shape:
        raise GeocodingError(f"line {line.shape} and pixel {pixel.shape} shapes differ")
    if grd.dtype not in (np.float32, np.float64):
        grd = grd.astype(np.float32)
    row_off = float(window.row_off) if window is not None else 0.0
    col_off = float(window.col_off) if window is not None else 0.0
    out = np.empty(line.shape, np.float32)
    _resample(grd, row_off, col_off, np.asarray(line), np.asarray(pixel), method == "bilinear", out)
    return out


def geocode_with_dem(
    geometry: GeometryModel, grid, dem, window: Window | None = None, geodesy_step: int = 16
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`geocode_grid` with heights read from ``dem`` (a :class:`.dem.DemSource`) on the fly."""
    heights = dem.read(grid, window)
    return geocode_grid(geometry, grid, heights.heights, heights.vertical_datum, window, geodesy_step)


def footprint_window(annotation: ProductAnnotation, grid, margin_m: float = 5000.0) -> Window | None:
    """Window of ``grid`` that can hold image pixels: the bounding box of the annotation's
    geolocation grid points in the grid's CRS, grown by ``margin_m`` (terrain displaces points
    by ≈ h / tan(incidence): 1.7 km for 1000 m at 30°). None if it misses the grid.

    Use it to skip target blocks the scene cannot reach; it is not an exact validity mask.
    """
    grid = RasterGrid.of(grid)
    g = annotation.geolocation_grid
    x, y = pyproj.Transformer.from_crs("EPSG:4326", grid.crs, always_xy=True).transform(g.longitude, g.latitude)
    inv = ~grid.transform
    cols, rows = inv @ (np.asarray(x), np.asarray(y))
    px = margin_m / max(abs(grid.transform.a), abs(grid.transform.e))
    r0 = max(int(np.floor(np.min(rows) - px)), 0)
    r1 = min(int(np.ceil(np.max(rows) + px)), grid.shape[0])
    c0 = max(int(np.floor(np.min(cols) - px)), 0)
    c1 = min(int(np.ceil(np.max(cols) + px)), grid.shape[1])
    if r1 <= r0 or c1 <= c0:
        return None
    return Window(c0, r0, c1 - c0, r1 - r0)
