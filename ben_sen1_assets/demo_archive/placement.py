"""Where the simulated scene lands in the GRD image, and how bright it is there.

**Placement: the chain's own range-Doppler model, inverted.** The chain geocodes a ground point
(lon, lat, h) to GRD (line, pixel) with :func:`ben_sen1_assets.sar.geocoding.geocode_points`
(zero-Doppler time on the annotation orbit, slant range, the annotation's slant → ground-range
polynomials). The simulator needs the inverse: the terrain point each GRD pixel images. It is
solved exactly (Newton on that same forward model, to 1e-6 px) on tie points every
``TIE_STEP`` lines and pixels of the image at three ellipsoidal heights spanning the scene's
terrain, then per pixel: bilinear in (line, pixel) on each height layer, Lagrange in height
through the layers, and the height itself found by fixed-point iteration on the terrain raster
(h ← terrain(lon(h), lat(h)); converges where the terrain is not in layover). So the scene sits
where the chain will look for it, including near the slant → ground-range polynomial changes
where the annotation's geolocation grid (which the former placement interpolated) is off by up
to 5 px.

**Brightness: an area model (Small 2011).** The terrain is the bilinear surface through the
scene's height raster (what a bilinear DEM warp gives the chain), its normal the exact gradient
of that surface (ellipsoid radii of curvature for metres). Every surface element has a backscatter
γ0 = σ0 / cos θ_loc referenced to the plane perpendicular to the line of sight, from the model of
:mod:`.backscatter` (σ0 = k·cosⁿ θ_loc). A GRD pixel collects the power of all the surface that
falls into it: β0 = γ0 · A_γ / A_β, with A_β the pixel's area in the radar (slant) plane and A_γ
the illuminated area. Locally, a surface element of normal n̂ maps onto the radar plane (along
track V̂, line of sight ŝ) with the area factor |n̂ · (V̂ × ŝ)|, so

    A_γ / A_β = max(cos θ_loc, 0) / |n̂ · (V̂ × ŝ)|     (cot θ_e on flat ground)

which makes slopes facing the sensor brighter in β0 and σ0, and leaves γ0_T = β0 / (A_γ/A_β)
equal to the model's γ0. Terrain facing away beyond grazing (cos θ_loc ≤ 0) is radar shadow:
no power. The pointwise factor assumes no layover (one surface point per pixel); it is capped at
``MAX_AREA_FACTOR`` × flat ground. This is an independent, analytic derivation: the chain
computes the same quantity by accumulating DEM facets (:mod:`ben_sen1_assets.sar.terrain_flattening`).

:func:`render_model` evaluates the model on any target grid (the tile grid), from the ground:
what a perfect processor would output there, the reference of the round-trip tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from ..sar.geocoding import GeometryModel, geocode_points
from ..sar.tiepoints import lagrange_denominators, lagrange_weights
from .backscatter import BackscatterModel

TIE_STEP = 32  # GRD lines/pixels between exact inverse solutions
MAX_AREA_FACTOR = 20.0  # cap of A_γ/A_β relative to flat ground (pointwise model near layover)
_WGS84_A = 6378137.0
_WGS84_E2 = 6.69437999014e-3
_DEG = np.pi / 180.0


@dataclass(frozen=True)
class Placement:
    """Exact inverse geocoding on tie points: ``lon``/``lat`` (layers, rows, cols) in degrees of
    the ground point at height ``heights[k]`` (ellipsoidal) imaged by GRD (``lines[i]``,
    ``pixels[j]``)."""

    geometry: GeometryModel
    lines: np.ndarray
    pixels: np.ndarray
    heights: np.ndarray
    lon: np.ndarray
    lat: np.ndarray

    @classmethod
    def solve(cls, geometry: GeometryModel, annotation, h_min: float, h_max: float, step: int = TIE_STEP) -> "Placement":
        """Tie points over the whole image of ``annotation`` (its geolocation grid gives the
        first guess) at 3 heights spanning [h_min, h_max] (widened by 10 m)."""
        from scipy.interpolate import RegularGridInterpolator

        n_lines, n_samples = annotation.shape
        lines = np.unique(np.append(np.arange(0, n_lines, step), n_lines - 1)).astype(np.float64)
        pixels = np.unique(np.append(np.arange(0, n_samples, step), n_samples - 1)).astype(np.float64)
        lo, hi = float(h_min) - 10.0, float(h_max) + 10.0
        heights = np.array([lo, 0.5 * (lo + hi), hi])
        g = annotation.geolocation_grid
        gl, gp = np.unique(g.line).astype(float), np.unique(g.pixel).astype(float)
        guess_lon = RegularGridInterpolator((gl, gp), g.as_2d("longitude"), bounds_error=False, fill_value=None)
        guess_lat = RegularGridInterpolator((gl, gp), g.as_2d("latitude"), bounds_error=False, fill_value=None)
        ll, pp = np.meshgrid(lines, pixels, indexing="ij")
        lon = np.empty((3,) + ll.shape)
        lat = np.empty_like(lon)
        for k, h in enumerate(heights):
            lon[k], lat[k] = _invert(geometry, ll, pp, h, guess_lon((ll, pp)), guess_lat((ll, pp)))
        return cls(geometry, lines, pixels, heights, lon, lat)


    def ground_point(self, line: np.ndarray, pixel: np.ndarray, height: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(lon, lat) degrees imaged at GRD (line, pixel) at ellipsoidal ``height``: bilinear on each
        height layer, Lagrange through the layers (what :func:`scene_kernel` does per pixel)."""
        line, pixel, height = np.broadcast_arrays(*(np.asarray(a, np.float64) for a in (line, pixel, height)))
        i = np.clip(np.searchsorted(self.lines, line, side="right") - 1, 0, self.lines.size - 2)
        j = np.clip(np.searchsorted(self.pixels, pixel, side="right") - 1, 0, self.pixels.size - 2)
        t = (line - self.lines[i]) / (self.lines[i + 1] - self.lines[i])
        u = (pixel - self.pixels[j]) / (self.pixels[j + 1] - self.pixels[j])
        out = []
        for field in (self.lon, self.lat):
            layers = ((1 - t) * (1 - u) * field[:, i, j] + (1 - t) * u * field[:, i, j + 1]
                      + t * (1 - u) * field[:, i + 1, j] + t * u * field[:, i + 1, j + 1])
            total = np.zeros(line.shape)
            for a in range(self.heights.size):
                w = np.ones(line.shape)
                for b in range(self.heights.size):
                    if b != a:
                        w *= (height - self.heights[b]) / (self.heights[a] - self.heights[b])
                total += w * layers[a]
            out.append(total)
        return out[0], out[1]


def _invert(geometry: GeometryModel, line, pixel, h: float, lon, lat, iterations: int = 6):
    """Newton on the forward model: (lon, lat) at height ``h`` imaged at (line, pixel)."""
    hh = np.full(line.shape, h)
    eps = 1e-5  # degrees (~1 m): finite-difference step of the Jacobian
    for _ in range(iterations):
        l0, p0 = geocode_points(geometry, lon, lat, hh)
        l1, p1 = geocode_points(geometry, lon + eps, lat, hh)
        l2, p2 = geocode_points(geometry, lon, lat + eps, hh)
        a, b = (l1 - l0) / eps, (l2 - l0) / eps
        c, d = (p1 - p0) / eps, (p2 - p0) / eps
        rl, rp = line - l0, pixel - p0
        det = a * d - b * c
        dlon = (d * rl - b * rp) / det
        dlat = (a * rp - c * rl) / det
        lon = lon + dlon
        lat = lat + dlat
        if np.nanmax(np.abs(dlon)) < 1e-10 and np.nanmax(np.abs(dlat)) < 1e-10:
            break
    return lon, lat


# ------------------------------------------------------------------------------------ kernels


@numba.njit(cache=True, inline="always")
def _locate(nodes, x):
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


@numba.njit(cache=True, inline="always")
def _sample(r, lon0, lat0, dlon, dlat, lon, lat):
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


@numba.njit(cache=True, inline="always")
def _nearest(r, lon0, lat0, dlon, dlat, lon, lat):
    ix = int(np.floor((lon - lon0) / dlon))
    iy = int(np.floor((lat - lat0) / dlat))
    if ix < 0 or iy < 0 or iy >= r.shape[0] or ix >= r.shape[1]:
        return False
    return r[iy, ix]


@numba.njit(cache=True, inline="always")
def _gradient(r, lon0, lat0, dlon, dlat, lon, lat):
    """(∂h/∂east, ∂h/∂north) in m/m of the bilinear surface through raster r at (lon, lat): the
    surface a bilinear DEM warp (the chain's) gives; (0, 0) outside or next to no data."""
    fx = (lon - lon0) / dlon - 0.5
    fy = (lat - lat0) / dlat - 0.5
    h, w = r.shape
    if not (fx >= 0.0 and fy >= 0.0 and fx <= w - 1 and fy <= h - 1):
        return 0.0, 0.0
    x0 = min(int(fx), w - 2)
    y0 = min(int(fy), h - 2)
    u = fx - x0
    t = fy - y0
    h00, h01, h10, h11 = r[y0, x0], r[y0, x0 + 1], r[y0 + 1, x0], r[y0 + 1, x0 + 1]
    if not (np.isfinite(h00) and np.isfinite(h01) and np.isfinite(h10) and np.isfinite(h11)):
        return 0.0, 0.0
    dh_du = (1.0 - t) * (h01 - h00) + t * (h11 - h10)
    dh_dt = (1.0 - u) * (h10 - h00) + u * (h11 - h01)
    sf = np.sin(lat * _DEG)
    w2 = 1.0 - _WGS84_E2 * sf * sf
    n_radius = _WGS84_A / np.sqrt(w2)  # prime vertical: east–west metres per radian of longitude / cos φ
    m_radius = _WGS84_A * (1.0 - _WGS84_E2) / (w2 * np.sqrt(w2))  # meridional
    return (dh_du / (dlon * _DEG * n_radius * np.cos(lat * _DEG)),
            dh_dt / (dlat * _DEG * m_radius))


@numba.njit(cache=True, inline="always")
def _terrain_height(height, lon0, lat0, dlon, dlat, undulation, fallback, lon, lat):
    hd = _sample(height, lon0, lat0, dlon, dlat, lon, lat)
    if not np.isfinite(hd):
        hd = fallback
    return hd + undulation


@numba.njit(cache=True, inline="always")
def _pow(c, n):
    if n == np.floor(n) and 0.0 <= n <= 16.0:
        out = 1.0
        for _ in range(int(n)):
            out *= c
        return out
    return c**n


@numba.njit(cache=True, inline="always")
def surface_brightness(lon, lat, h, px, py, pz, vx, vy, vz, height, water, lon0, lat0, dlon, dlat, model):
    """(γ0_VV, A_γ/A_β, cos θ_loc, is water) of the ground point (lon°, lat°, h ellipsoidal)
    seen from sensor position P with velocity V (ECEF); see the module docstring."""
    k_land, n_land, k_water, n_water = model[0], model[1], model[2], model[3]
    rl = lon * _DEG
    rf = lat * _DEG
    sl, cl, sf, cf = np.sin(rl), np.cos(rl), np.sin(rf), np.cos(rf)
    nn = _WGS84_A / np.sqrt(1.0 - _WGS84_E2 * sf * sf)
    x = (nn + h) * cf * cl
    y = (nn + h) * cf * sl
    z = (nn * (1.0 - _WGS84_E2) + h) * sf
    sx, sy, sz = px - x, py - y, pz - z
    r = np.sqrt(sx * sx + sy * sy + sz * sz)
    sx /= r
    sy /= r
    sz /= r
    ge, gn = _gradient(height, lon0, lat0, dlon, dlat, lon, lat)
    # terrain normal (−∂h/∂e, −∂h/∂n, 1) in ENU → ECEF
    norm = np.sqrt(ge * ge + gn * gn + 1.0)
    ne, nnn, nu = -ge / norm, -gn / norm, 1.0 / norm
    nx = -sl * ne - sf * cl * nnn + cf * cl * nu
    ny = cl * ne - sf * sl * nnn + cf * sl * nu
    nz = cf * nnn + sf * nu
    cos_loc = nx * sx + ny * sy + nz * sz
    # n · (V̂ × ŝ): the area factor of the surface element onto the radar plane
    vn = np.sqrt(vx * vx + vy * vy + vz * vz)
    cx = (vy * sz - vz * sy) / vn
    cy = (vz * sx - vx * sz) / vn
    cz = (vx * sy - vy * sx) / vn
    proj = abs(nx * cx + ny * cy + nz * cz)
    # the ellipsoid's own factor: flat ground's area cot θ_e caps the pointwise model
    cos_e = (cf * cl * sx + cf * sl * sy + sf * sz)
    flat = cos_e / np.sqrt(max(1.0 - cos_e * cos_e, 1e-12))
    area = 0.0
    if cos_loc > 0.0:
        area = cos_loc / proj if proj > 0.0 else np.inf
        area = min(area, MAX_AREA_FACTOR * flat)
    is_water = _nearest(water, lon0, lat0, dlon, dlat, lon, lat)
    c = min(max(cos_loc, 0.0), 1.0)
    if is_water:
        gamma0 = k_water * _pow(c, n_water - 1.0)
    else:
        gamma0 = k_land * _pow(c, n_land - 1.0)
    if c <= 0.0:
        gamma0 = 0.0
    return gamma0, area, cos_loc, is_water


@numba.njit(cache=True, parallel=True)
def scene_kernel(row0, col0, nrows, ncols, t_lines, t_pixels, t_heights, t_lon, t_lat, sensor, velocity,
                 height, water, lon0, lat0, dlon, dlat, undulation, fallback, model,
                 out_beta0, out_cos, out_water):
    """β0_VV (float32), cos θ_loc, water flag of GRD pixels [row0, row0+nrows) × [col0, col0+ncols);
    ``sensor``/``velocity``: (nrows, 3) at each row's zero-Doppler time."""
    nl = t_heights.size
    jcol = np.empty(ncols, np.int64)
    ucol = np.empty(ncols, np.float64)
    for c in range(ncols):
        jcol[c], ucol[c] = _locate(t_pixels, float(col0 + c))
    inv_den = lagrange_denominators(t_heights)
    for r in numba.prange(nrows):
        i, t = _locate(t_lines, float(row0 + r))
        lw = np.empty(nl)
        lon_k = np.empty(nl)
        lat_k = np.empty(nl)
        for c in range(ncols):
            j = jcol[c]
            u = ucol[c]
            w00 = (1.0 - t) * (1.0 - u)
            w01 = (1.0 - t) * u
            w10 = t * (1.0 - u)
            w11 = t * u
            for a in range(nl):
                lon_k[a] = w00 * t_lon[a, i, j] + w01 * t_lon[a, i, j + 1] + w10 * t_lon[a, i + 1, j] + w11 * t_lon[a, i + 1, j + 1]
                lat_k[a] = w00 * t_lat[a, i, j] + w01 * t_lat[a, i, j + 1] + w10 * t_lat[a, i + 1, j] + w11 * t_lat[a, i + 1, j + 1]
            h = fallback + undulation
            lon = 0.0
            lat = 0.0
            for _ in range(12):
                lagrange_weights(h, t_heights, inv_den, lw)
                lon = 0.0
                lat = 0.0
                for a in range(nl):
                    lon += lw[a] * lon_k[a]
                    lat += lw[a] * lat_k[a]
                hn = _terrain_height(height, lon0, lat0, dlon, dlat, undulation, fallback, lon, lat)
                done = abs(hn - h) < 1e-3
                h = hn
                if done:
                    break
            lagrange_weights(h, t_heights, inv_den, lw)
            lon = 0.0
            lat = 0.0
            for a in range(nl):
                lon += lw[a] * lon_k[a]
                lat += lw[a] * lat_k[a]
            gamma0, area, cos_loc, is_w = surface_brightness(
                lon, lat, h, sensor[r, 0], sensor[r, 1], sensor[r, 2], velocity[r, 0], velocity[r, 1],
                velocity[r, 2], height, water, lon0, lat0, dlon, dlat, model)
            out_beta0[r, c] = gamma0 * area
            out_cos[r, c] = cos_loc
            out_water[r, c] = is_w


@numba.njit(cache=True, parallel=True)
def render_kernel(lon, lat, h, sensor, velocity, height, water, lon0, lat0, dlon, dlat, model,
                  out_gamma0, out_area, out_cos):
    """The model at ground points (flattened arrays): γ0_VV, A_γ/A_β, cos θ_loc."""
    for i in numba.prange(lon.size):
        if not np.isfinite(sensor[i, 0]):
            out_gamma0[i] = np.nan
            out_area[i] = np.nan
            out_cos[i] = np.nan
            continue
        gamma0, area, cos_loc, _ = surface_brightness(
            lon[i], lat[i], h[i], sensor[i, 0], sensor[i, 1], sensor[i, 2], velocity[i, 0], velocity[i, 1],
            velocity[i, 2], height, water, lon0, lat0, dlon, dlat, model)
        out_gamma0[i] = gamma0
        out_area[i] = area
        out_cos[i] = cos_loc


def model_params(model: BackscatterModel) -> np.ndarray:
    return np.array([model.k_land, model.n_land, model.k_water, model.n_water], np.float64)


def render_model(demo, product, grid, polarisation: str = "VV", quantity: str = "gamma0",
                 model: BackscatterModel = BackscatterModel()) -> dict[str, np.ndarray]:
    """The demo's backscatter model on a target ``grid`` (e.g. a window of an S2 tile grid), as a
    perfect processor would output it, from the ground: each pixel centre on the demo's own
    terrain (its raster and fallback height), its zero-Doppler geometry from the chain's model
    (``product``: the opened demo product; its annotation, orbit and calibration LUTs).

    Returns float32 arrays: ``gamma0`` (γ0_T = the surface's γ0), ``beta0`` (γ0·A_γ/A_β),
    ``sigma0`` (β0 calibrated to σ0 with the product's own β/σ LUT ratio at the pixel's GRD
    position, as the chain's σ0), ``local_incidence_angle`` (degrees), ``line``/``pixel`` (GRD
    position; NaN off the image) and ``water`` (bool)."""
    import pyproj
    from scipy.interpolate import RegularGridInterpolator

    from ..sar.geocoding import RasterGrid, lonlath_to_ecef, zero_doppler
    from .scenes import terrain_for

    grid = RasterGrid.of(grid)
    ann = product.annotation(polarisation)
    geometry = GeometryModel.from_annotation(ann)
    tr = terrain_for(demo, None).raster
    height = np.ascontiguousarray(tr.height, dtype=np.float32)
    rows, cols = np.mgrid[0 : grid.shape[0], 0 : grid.shape[1]]
    x, y = grid.xy(rows, cols)
    lon, lat = pyproj.Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True).transform(x, y)
    lon, lat = np.asarray(lon, np.float64).ravel(), np.asarray(lat, np.float64).ravel()
    h = _heights(tr, lon, lat)
    t, _, ground = zero_doppler(geometry, lonlath_to_ecef(lon, lat, h))
    line = t / geometry.azimuth_time_interval
    pixel = ground / geometry.range_pixel_spacing
    on = (line >= 0) & (line <= ann.shape[0] - 1) & (pixel >= 0) & (pixel <= ann.shape[1] - 1)
    sensor = np.full((lon.size, 3), np.nan)
    velocity = np.full((lon.size, 3), np.nan)
    sensor[on] = geometry.orbit.position(t[on])
    velocity[on] = geometry.orbit.velocity(t[on])
    gamma0 = np.empty(lon.size)
    area = np.empty(lon.size)
    cos = np.empty(lon.size)
    render_kernel(lon, lat, h, sensor, velocity, height, tr.water, tr.lon0, tr.lat0, tr.dlon, tr.dlat,
                  model_params(model), gamma0, area, cos)
    gamma0 *= model.pol_factor(polarisation)
    cal = product.calibration(polarisation)
    nodes = (cal.line.astype(float), cal.pixel[0].astype(float))
    ratio = np.full(lon.size, np.nan)
    pts = (line[on], pixel[on])
    ratio[on] = (RegularGridInterpolator(nodes, cal.values("beta0"))(pts)
                 / RegularGridInterpolator(nodes, cal.values("sigma0"))(pts)) ** 2
    beta0 = gamma0 * area
    iy = np.floor((lat - tr.lat0) / tr.dlat).astype(np.int64)
    ix = np.floor((lon - tr.lon0) / tr.dlon).astype(np.int64)
    inside = (iy >= 0) & (iy < tr.water.shape[0]) & (ix >= 0) & (ix < tr.water.shape[1])
    water = np.zeros(lon.size, bool)
    water[inside] = tr.water[iy[inside], ix[inside]]
    shape = grid.shape
    out = {
        "gamma0": gamma0, "beta0": beta0, "sigma0": beta0 * ratio,
        "local_incidence_angle": np.degrees(np.arccos(np.clip(cos, -1, 1))),
        "line": np.where(on, line, np.nan), "pixel": np.where(on, pixel, np.nan),
    }
    res = {k: np.where(on, v, np.nan).astype(np.float32).reshape(shape) for k, v in out.items()}
    res["water"] = water.reshape(shape)
    return res


@numba.njit(cache=True, parallel=True)
def _heights_kernel(height, lon0, lat0, dlon, dlat, undulation, fallback, lon, lat, out):
    for i in numba.prange(lon.size):
        out[i] = _terrain_height(height, lon0, lat0, dlon, dlat, undulation, fallback, lon[i], lat[i])


def _heights(tr, lon, lat) -> np.ndarray:
    out = np.empty(lon.size)
    _heights_kernel(np.ascontiguousarray(tr.height, dtype=np.float32), tr.lon0, tr.lat0, tr.dlon, tr.dlat,
                    tr.undulation, tr.fallback_height, lon, lat, out)
    return out


class SceneRenderer:
    """The simulated scene of one product in GRD geometry, block by block: β0_VV (linear), cos θ_loc
    and the water flag of any window of its image (the placement solved once per product)."""

    def __init__(self, annotation, terrain_raster, model: BackscatterModel = BackscatterModel()):
        self.annotation = annotation
        self.geometry = GeometryModel.from_annotation(annotation)
        tr = terrain_raster
        self.terrain = tr
        self.height = np.ascontiguousarray(tr.height, dtype=np.float32)
        finite = self.height[np.isfinite(self.height)]
        lo = min(float(finite.min()) if finite.size else tr.fallback_height, tr.fallback_height) + tr.undulation
        hi = max(float(finite.max()) if finite.size else tr.fallback_height, tr.fallback_height) + tr.undulation
        self.placement = Placement.solve(self.geometry, annotation, lo, hi)
        self.model = model_params(model)

    def render(self, row0: int, col0: int, nrows: int, ncols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(β0_VV float32, cos θ_loc float32, water bool) of GRD rows/cols [row0, +nrows) × [col0, +ncols)."""
        t = (row0 + np.arange(nrows, dtype=np.float64)) * self.geometry.azimuth_time_interval
        sensor = np.ascontiguousarray(self.geometry.orbit.position(t))
        velocity = np.ascontiguousarray(self.geometry.orbit.velocity(t))
        beta0 = np.empty((nrows, ncols), np.float32)
        cos = np.empty((nrows, ncols), np.float32)
        water = np.empty((nrows, ncols), np.bool_)
        pl, tr = self.placement, self.terrain
        scene_kernel(int(row0), int(col0), int(nrows), int(ncols), pl.lines, pl.pixels, pl.heights, pl.lon, pl.lat,
                     sensor, velocity, self.height, tr.water, tr.lon0, tr.lat0, tr.dlon,
                     tr.dlat, tr.undulation, tr.fallback_height, self.model, beta0, cos, water)
        return beta0, cos, water
