"""A tile block and its halo as the radar sees it: heights, GRD coordinates, ECEF geometry.

The local incidence angle (:mod:`.incidence`), the layover/shadow mask (:mod:`.masks`) and terrain
flattening (:mod:`.terrain_flattening`) all need, for every target pixel of a block, the same
things: the DEM height (the same DEM, geoid and gap policy as the geocoding), the pixel's GRD
(line, pixel), its position on the Earth (ECEF) and the sensor position at its zero-Doppler
time. Layover, shadow and flattening also see terrain *outside* the block: a mountain 2 km away
in range can hide a pixel or fold onto it. :func:`read_terrain_block` reads all of it once, for
the block grown by a halo (:func:`halo_for`), so a block's results do not depend on where the
blocks are cut.

ECEF positions are not stored (three float64 per pixel would triple a block's memory): kernels
rebuild them row by row (:func:`ecef_row_cells`; per pixel :func:`ecef_row`) from the height and
the exact geodesy of a sub-grid every ``step`` pixels, ``X = X₀ + (H + N)·n`` (X₀ the ellipsoid
point, n its normal, N the geoid undulation; bilinear between sub-grid nodes, < 1 mm, as
:mod:`.geocoding` does). The sensor position at zero Doppler and the ground azimuth spacing are
solved exactly at the sub-grid nodes (at the node's DEM height) and interpolated bilinearly (the
orbit is straight to < 1 mm over a node cell; a height changes the zero-Doppler time by far less
than a line).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numba
import numpy as np
from affine import Affine
from rasterio.windows import Window

from .geocoding import GeometryModel, RasterGrid, _subgrid_geodesy, on_grd_image, zero_doppler

#: largest ground distance, in units of the local relief, between two points that can shade or
#: fold onto each other in IW (incidence 29°–46°): shadow reaches relief·tan θ ≤ 1.04·relief
#: towards the sensor, layover relief/tan θ ≤ 1.81·relief away from it
RELIEF_REACH = 2.0


@dataclass(frozen=True)
class Halo:
    """Rows and columns added on each side of a block (multiples of the tie-point step)."""

    rows: int
    cols: int


def range_direction(pixel: np.ndarray, row_px: float = 1.0, col_px: float = 1.0) -> tuple[float, float]:
    """The ground-range direction in a target grid: the gradient (d/drow, d/dcol) of the GRD
    pixel coordinate per target pixel (rows down), from that coordinate on a sub-sampled copy of
    the grid (``row_px``/``col_px`` target pixels per array step). (0, 1) where undefined."""
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows/columns
        dc = np.nanmedian(np.diff(pixel, axis=1)) / col_px if pixel.shape[1] > 1 else np.nan
        dr = np.nanmedian(np.diff(pixel, axis=0)) / row_px if pixel.shape[0] > 1 else np.nan
    dr = float(dr) if np.isfinite(dr) else 0.0
    dc = float(dc) if np.isfinite(dc) else 0.0
    if dr == 0.0 and dc == 0.0:
        return 0.0, 1.0
    return dr, dc


def halo_for(relief_m: float, direction: tuple[float, float], pixel_size_m: float, step: int) -> Halo:
    """The halo a block needs for terrain of ``relief_m`` (max − min height around it): the
    ground reach :data:`RELIEF_REACH` × relief along the range ``direction`` (see
    :func:`range_direction`), split into rows and columns, plus 2 px, rounded up to ``step``."""
    reach = RELIEF_REACH * max(float(relief_m), 0.0) / pixel_size_m + 2.0
    dr, dc = direction
    norm = math.hypot(dr, dc)
    sin_phi, cos_phi = abs(dr) / norm, abs(dc) / norm
    up = lambda v: max(step, int(math.ceil(v / step)) * step)  # noqa: E731
    return Halo(rows=up(reach * sin_phi + 2.0), cols=up(reach * cos_phi + 2.0))


@dataclass
class TerrainBlock:
    """A block of a target grid grown by a halo (see the module docstring).

    ``grid`` is the grown grid; ``rows``/``cols`` the block inside it. Arrays have the grown
    grid's shape: ``heights`` (float32, above ``vertical_datum``; NaN only in the halo, where the
    DEM has no height and the gap policy fills none), ``filled`` (bool: the height comes from the
    gap policy), ``line``/``pixel`` (float32 GRD coordinates). Sub-grid arrays (every
    ``step`` px): ``p0``/``nrm`` (ECEF ellipsoid point and normal), ``und`` (geoid undulation),
    ``sensor`` (ECEF sensor position at the node's zero-Doppler time) and ``az_spacing``
    (ground distance per GRD line at the node, m: the true azimuth footprint, not the nominal
    10 m).
    """

    geometry: GeometryModel
    grid: RasterGrid
    rows: slice
    cols: slice
    heights: np.ndarray
    filled: np.ndarray
    vertical_datum: str
    line: np.ndarray
    pixel: np.ndarray
    step: int
    p0: np.ndarray
    nrm: np.ndarray
    und: np.ndarray
    sensor: np.ndarray
    az_spacing: np.ndarray

    def inner(self, array: np.ndarray) -> np.ndarray:
        """The block's part of a grown-grid array."""
        return array[self.rows, self.cols]

    @property
    def offset(self) -> tuple[int, int]:
        """(row, col) of the block's first pixel in the grown grid."""
        return int(self.rows.start), int(self.cols.start)

    @property
    def block_shape(self) -> tuple[int, int]:
        return int(self.rows.stop - self.rows.start), int(self.cols.stop - self.cols.start)


def grown_grid(grid: RasterGrid, window: Window, halo: Halo) -> RasterGrid:
    """``window`` of ``grid`` grown by ``halo`` on every side (may reach past the grid's edges)."""
    r0, c0 = int(window.row_off) - halo.rows, int(window.col_off) - halo.cols
    shape = (int(window.height) + 2 * halo.rows, int(window.width) + 2 * halo.cols)
    return RasterGrid(grid.crs, grid.transform @ Affine.translation(c0, r0), shape)


def _sensor_nodes(geometry: GeometryModel, p0, nrm, und, heights: np.ndarray, step: int):
    """Sensor position and ground azimuth spacing at the sub-grid nodes (node's DEM height)."""
    ny, nx = und.shape
    rr = np.minimum(np.arange(ny) * step, heights.shape[0] - 1)
    cc = np.minimum(np.arange(nx) * step, heights.shape[1] - 1)
    h = heights[np.ix_(rr, cc)].astype(np.float64)
    if not np.isfinite(h).all():  # a node without height: the block's median height (a full pass)
        fallback = float(np.nanmedian(heights)) if np.isfinite(heights).any() else 0.0
        h = np.where(np.isfinite(h), h, fallback)
    x = p0 + ((h + und)[..., None]) * nrm
    t, _, _ = zero_doppler(geometry, x)
    t = np.where(np.isfinite(t), t, np.nanmedian(t))
    orbit = geometry.orbit
    pos, vel, acc = orbit.position(t), orbit.velocity(t), orbit.acceleration(t)
    speed = np.linalg.norm(vel, axis=-1)
    # the zero-Doppler plane through the sensor moves along V at |V| + (P − X)·A/|V| at the
    # target (d/dt of the distance along V̂ from X to the plane (Y − P)·V = 0)
    ground_speed = speed + np.einsum("...a,...a->...", pos - x, acc) / speed
    return np.ascontiguousarray(pos), np.ascontiguousarray(ground_speed * geometry.azimuth_time_interval)


def terrain_block(
    geometry: GeometryModel,
    grid,
    window: Window,
    halo: Halo,
    heights: np.ndarray,
    filled: np.ndarray,
    vertical_datum: str,
    line: np.ndarray,
    pixel: np.ndarray,
    geodesy_step: int = 16,
) -> TerrainBlock:
    """The :class:`TerrainBlock` of ``window`` of ``grid`` grown by ``halo``, from the grown
    grid's heights (and ``filled`` mask) and GRD coordinates; prepares the sub-grid geometry."""
    grown = grown_grid(RasterGrid.of(grid), window, halo)
    p0, nrm, und = _subgrid_geodesy(grown, int(geodesy_step), vertical_datum)
    sensor, az_spacing = _sensor_nodes(geometry, p0, nrm, und, heights, int(geodesy_step))
    rows = slice(halo.rows, halo.rows + int(window.height))
    cols = slice(halo.cols, halo.cols + int(window.width))
    return TerrainBlock(geometry, grown, rows, cols, heights, filled, vertical_datum, line, pixel,
                        int(geodesy_step), p0, nrm, und, sensor, az_spacing)


def read_terrain_block(
    geometry: GeometryModel,
    dem,
    grid,
    window: Window,
    halo: Halo,
    geocode: Callable[[RasterGrid, np.ndarray, str], tuple[np.ndarray, np.ndarray]] | None = None,
    geodesy_step: int = 16,
) -> TerrainBlock:
    """Read the DEM on ``window`` of ``grid`` grown by ``halo`` (gap policy as in
    :meth:`.dem.DemSource.read_grown`), geocode it with ``geocode(grown grid, heights, datum)``
    → (line, pixel) (default: the exact per-pixel solve) and build the :class:`TerrainBlock`."""
    from .geocoding import geocode_grid

    grid = RasterGrid.of(grid)
    grown = grown_grid(grid, window, halo)
    heights, filled, datum = dem.read_grown(grid, window, halo.rows, halo.cols)
    if geocode is None:
        geocode = lambda g, h, d: geocode_grid(geometry, g, h, d, geodesy_step=geodesy_step)  # noqa: E731
    line, pixel = geocode(grown, heights, datum)
    return terrain_block(geometry, grid, window, halo, heights, filled, datum, line, pixel, geodesy_step)


# ------------------------------------------------------------------------------ numba helpers


@numba.njit(cache=True, parallel=True, nogil=True)
def imaged_columns(line, pixel, lines, samples, reach_rows, reach_cols):
    """(lo, hi): per row i of a grown grid, the columns ``lo[i]:hi[i]`` within ``reach_rows`` rows
    and ``reach_cols`` columns (a block's halo: the reach of layover and shadow) of a pixel whose
    GRD coordinate (``line``, ``pixel``) falls on an image of ``lines`` × ``samples``
    (:func:`.geocoding.on_grd_image`); empty (0, 0) for rows with none in reach.
    A pixel farther from the image neither is imaged nor hides or folds onto one that is."""
    H, W = line.shape
    first = np.full(H, W, np.int64)
    last = np.full(H, -1, np.int64)
    for i in numba.prange(H):
        for j in range(W):
            if on_grd_image(line[i, j], pixel[i, j], lines, samples):
                first[i] = j
                break
        for j in range(W - 1, first[i] - 1, -1):
            if on_grd_image(line[i, j], pixel[i, j], lines, samples):
                last[i] = j
                break
    lo = np.zeros(H, np.int64)
    hi = np.zeros(H, np.int64)
    for i in numba.prange(H):
        f = W
        g = -1
        for k in range(max(i - reach_rows, 0), min(i + reach_rows + 1, H)):
            f = min(f, first[k])
            g = max(g, last[k])
        if g >= 0:
            lo[i] = max(f - reach_cols, 0)
            hi[i] = min(g + reach_cols + 1, W)
    return lo, hi


@numba.njit(cache=True, inline="always")
def subgrid_cell(x, step):
    """Sub-grid cell ``int(x/step)`` of pixel row or column ``x`` (fractional allowed) and the
    fraction ``x/step − cell`` (the one rounding of every sub-grid lookup here)."""
    inv = 1.0 / step
    cell = int(x * inv)
    return cell, x * inv - cell


@numba.njit(cache=True, inline="always")
def node_weights(i, j, step):
    """Sub-grid cell (ci, cj) and bilinear weights of pixel (i, j) (fractional allowed)."""
    ci, fi = subgrid_cell(i, step)
    cj, fj = subgrid_cell(j, step)
    return ci, cj, (1.0 - fi) * (1.0 - fj), (1.0 - fi) * fj, fi * (1.0 - fj), fi * fj


@numba.njit(cache=True, inline="always")
def node_interp3(i, j, field, step, out):
    """Bilinear interpolation of a sub-grid vector field (ny, nx, 3) at pixel (i, j)."""
    ci, cj, w00, w01, w10, w11 = node_weights(i, j, step)
    for a in range(3):
        out[a] = (w00 * field[ci, cj, a] + w01 * field[ci, cj + 1, a] + w10 * field[ci + 1, cj, a]
                  + w11 * field[ci + 1, cj + 1, a])


@numba.njit(cache=True, inline="always")
def node_interp(i, j, field, step):
    """Bilinear interpolation of a sub-grid scalar field (ny, nx) at pixel (i, j)."""
    ci, cj, w00, w01, w10, w11 = node_weights(i, j, step)
    return w00 * field[ci, cj] + w01 * field[ci, cj + 1] + w10 * field[ci + 1, cj] + w11 * field[ci + 1, cj + 1]


@numba.njit(cache=True)
def ecef_row(i, heights, und, p0, nrm, step, out):
    """ECEF positions (W, 3) of row ``i`` of ``heights`` (NaN where there is no height)."""
    w = heights.shape[1]
    ci, fi = subgrid_cell(i, step)
    for j in range(w):
        hh = heights[i, j]
        if not np.isfinite(hh):
            out[j, 0] = np.nan
            out[j, 1] = np.nan
            out[j, 2] = np.nan
            continue
        cj, fj = subgrid_cell(j, step)
        w00 = (1.0 - fi) * (1.0 - fj)
        w01 = (1.0 - fi) * fj
        w10 = fi * (1.0 - fj)
        w11 = fi * fj
        hell = hh + (w00 * und[ci, cj] + w01 * und[ci, cj + 1] + w10 * und[ci + 1, cj] + w11 * und[ci + 1, cj + 1])
        for a in range(3):
            out[j, a] = (w00 * (p0[ci, cj, a] + hell * nrm[ci, cj, a]) + w01 * (p0[ci, cj + 1, a] + hell * nrm[ci, cj + 1, a])
                         + w10 * (p0[ci + 1, cj, a] + hell * nrm[ci + 1, cj, a])
                         + w11 * (p0[ci + 1, cj + 1, a] + hell * nrm[ci + 1, cj + 1, a]))


# Row by row, cell by cell: the same values as ecef_row / node_interp3 at every pixel of a row
# (the same operations on the same operands), with each sub-grid cell's corner values loaded once
# for its ``step`` columns instead of at every pixel, and the components apart (3, W): the loops
# over a cell's columns have no branch, no gather and few arrays.


@numba.njit(cache=True)
def subgrid_columns(width, step, offset=0.0):
    """(fraction, starts): per column j its fraction ``x/step − cj`` in sub-grid cell
    ``cj = int(x/step)`` (:func:`subgrid_cell`), x = j + ``offset`` (0.5: between pixel centres j
    and j + 1), and the first column of every cell, plus ``width`` (cell cj holds columns
    ``starts[cj]:starts[cj + 1]``)."""
    frac = np.empty(width)
    cells = np.empty(width, np.int64)
    for j in range(width):
        cells[j], frac[j] = subgrid_cell(j + offset, step)
    n = cells[width - 1] + 1 if width else 0
    starts = np.empty(n + 1, np.int64)
    starts[n] = width
    c = -1
    for j in range(width):
        while c < cells[j]:
            c += 1
            starts[c] = j
    return frac, starts


@numba.njit(cache=True, inline="always")
def ecef_row_cells(i, heights, und, p0, nrm, step, frac, starts, out, jlo, jhi):
    """:func:`ecef_row` of row ``i`` into ``out`` (3, W): x, y, z of columns ``jlo:jhi`` (NaN where
    there is no height: NaN propagates through the same arithmetic; other columns untouched).
    ``frac``, ``starts``: from :func:`subgrid_columns`."""
    ci, fi = subgrid_cell(i, step)
    gi = 1.0 - fi
    hrow = heights[i]
    ox = out[0]
    oy = out[1]
    oz = out[2]
    for cj in range(max(np.searchsorted(starts, jlo, side="right") - 1, 0), starts.size - 1):
        if starts[cj] >= jhi:
            break
        u00 = und[ci, cj]
        u01 = und[ci, cj + 1]
        u10 = und[ci + 1, cj]
        u11 = und[ci + 1, cj + 1]
        a00x, a00y, a00z = p0[ci, cj, 0], p0[ci, cj, 1], p0[ci, cj, 2]
        a01x, a01y, a01z = p0[ci, cj + 1, 0], p0[ci, cj + 1, 1], p0[ci, cj + 1, 2]
        a10x, a10y, a10z = p0[ci + 1, cj, 0], p0[ci + 1, cj, 1], p0[ci + 1, cj, 2]
        a11x, a11y, a11z = p0[ci + 1, cj + 1, 0], p0[ci + 1, cj + 1, 1], p0[ci + 1, cj + 1, 2]
        b00x, b00y, b00z = nrm[ci, cj, 0], nrm[ci, cj, 1], nrm[ci, cj, 2]
        b01x, b01y, b01z = nrm[ci, cj + 1, 0], nrm[ci, cj + 1, 1], nrm[ci, cj + 1, 2]
        b10x, b10y, b10z = nrm[ci + 1, cj, 0], nrm[ci + 1, cj, 1], nrm[ci + 1, cj, 2]
        b11x, b11y, b11z = nrm[ci + 1, cj + 1, 0], nrm[ci + 1, cj + 1, 1], nrm[ci + 1, cj + 1, 2]
        for j in range(max(starts[cj], jlo), min(starts[cj + 1], jhi)):
            fj = frac[j]
            w00 = gi * (1.0 - fj)
            w01 = gi * fj
            w10 = fi * (1.0 - fj)
            w11 = fi * fj
            hell = hrow[j] + (w00 * u00 + w01 * u01 + w10 * u10 + w11 * u11)
            ox[j] = (w00 * (a00x + hell * b00x) + w01 * (a01x + hell * b01x) + w10 * (a10x + hell * b10x)
                     + w11 * (a11x + hell * b11x))
            oy[j] = (w00 * (a00y + hell * b00y) + w01 * (a01y + hell * b01y) + w10 * (a10y + hell * b10y)
                     + w11 * (a11y + hell * b11y))
            oz[j] = (w00 * (a00z + hell * b00z) + w01 * (a01z + hell * b01z) + w10 * (a10z + hell * b10z)
                     + w11 * (a11z + hell * b11z))


@numba.njit(cache=True, inline="always")
def node_row_cells(i, field, step, frac, starts, out, jlo, jhi):
    """:func:`node_interp3` of a sub-grid vector field at the pixels ``jlo:jhi`` of row ``i``,
    into ``out`` (3, W)."""
    ci, fi = subgrid_cell(i, step)
    gi = 1.0 - fi
    ox = out[0]
    oy = out[1]
    oz = out[2]
    for cj in range(max(np.searchsorted(starts, jlo, side="right") - 1, 0), starts.size - 1):
        if starts[cj] >= jhi:
            break
        a00x, a00y, a00z = field[ci, cj, 0], field[ci, cj, 1], field[ci, cj, 2]
        a01x, a01y, a01z = field[ci, cj + 1, 0], field[ci, cj + 1, 1], field[ci, cj + 1, 2]
        a10x, a10y, a10z = field[ci + 1, cj, 0], field[ci + 1, cj, 1], field[ci + 1, cj, 2]
        a11x, a11y, a11z = field[ci + 1, cj + 1, 0], field[ci + 1, cj + 1, 1], field[ci + 1, cj + 1, 2]
        for j in range(max(starts[cj], jlo), min(starts[cj + 1], jhi)):
            fj = frac[j]
            w00 = gi * (1.0 - fj)
            w01 = gi * fj
            w10 = fi * (1.0 - fj)
            w11 = fi * fj
            ox[j] = w00 * a00x + w01 * a01x + w10 * a10x + w11 * a11x
            oy[j] = w00 * a00y + w01 * a01y + w10 * a10y + w11 * a11y
            oz[j] = w00 * a00z + w01 * a01z + w10 * a10z + w11 * a11z
