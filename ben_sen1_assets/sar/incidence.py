"""Local incidence angle (LIA) and ellipsoid incidence angle per target pixel.

LIA (CEOS-ARD NRB; DOMAIN.md §9): the angle between the terrain normal and the line of sight
from the ground to the sensor at zero Doppler. Here, for target pixel (i, j) of a
:class:`.terrain.TerrainBlock`:

- the terrain normal n = (X[i, j+1] − X[i, j−1]) × (X[i−1, j] − X[i+1, j]) from the ECEF
  positions X of the neighbouring pixels on the DEM (central differences on the target grid, the
  same heights, geoid and gap policy as the geocoding; one-sided where a neighbour has no
  height);
- the line of sight s = (P − X) / |P − X|, P the sensor position at the pixel's zero-Doppler
  time;
- LIA = arccos(n̂ · s) in degrees: 0° faces the sensor, 90° is grazing, > 90° faces away (the
  terrain is in active radar shadow).

The ellipsoid incidence angle θ_e uses the ellipsoid normal instead of the terrain normal; it
is the reference of flat terrain (γ0 = β0·tan θ_e) for :mod:`.terrain_flattening`.
"""

from __future__ import annotations

import numba
import numpy as np

from .geocoding import on_grd_image
from .terrain import TerrainBlock, ecef_row_cells, imaged_columns, node_row_cells, subgrid_columns
from .vector_math import acos_of


@numba.njit(cache=True, inline="always")
def _ecef_row_in(i, heights, und, p0, nrm, step, frac, starts, out, lo, hi):
    """ECEF positions of row ``i``, columns ``lo[i]:hi[i]``; NaN in the others (no position)."""
    jlo = lo[i]
    jhi = hi[i]
    out[:, :jlo] = np.nan
    out[:, jhi:] = np.nan
    ecef_row_cells(i, heights, und, p0, nrm, step, frac, starts, out, jlo, jhi)


@numba.njit(cache=True, parallel=True, nogil=True, error_model="numpy")
def _geometry_kernel(heights, und, p0, nrm, sensor, step, r0, c0, h, w, nchunks, out_psi, cosine, out_lia,
                     ellipsoid, out_ell, lo, hi, line, pixel, lines, samples):
    """Per row chunk, with the ECEF positions of three rows at a time and the sensor positions of
    the current row (components first, built cell by cell of the sub-grid): the off-nadir look
    angle of every pixel (radians, float32; or if ``cosine`` its cosine clamped to [-1, 1],
    float64, the arccos left to :mod:`.masks`' shadow test, which rarely needs it) and, for the
    block's pixels, the local and (if ``ellipsoid``) the ellipsoid incidence angles (degrees).
    Only columns ``lo[i]:hi[i]`` of row i are computed (NaN elsewhere); if ``lines`` > 0, the
    incidence angles only where (``line``, ``pixel``) falls on a GRD image of ``lines`` ×
    ``samples`` (NaN elsewhere)."""
    H, W = heights.shape
    frac, starts = subgrid_columns(W, step)
    on_image_only = lines > 0
    for k in numba.prange(nchunks):
        a = k * H // nchunks
        b = (k + 1) * H // nchunks
        if a >= b:
            continue
        rows = np.full((3, 3, W), np.nan)  # rows i-1, i, i+1 at slots (i-1)%3, i%3, (i+1)%3
        if a >= 1:
            _ecef_row_in(a - 1, heights, und, p0, nrm, step, frac, starts, rows[(a - 1) % 3], lo, hi)
        _ecef_row_in(a, heights, und, p0, nrm, step, frac, starts, rows[a % 3], lo, hi)
        sen = np.empty((3, W))  # the sensor at each pixel's zero-Doppler time, row i
        up = np.zeros((3, W))  # the ellipsoid normal, row i (if ellipsoid; read in any case)
        for i in range(a, b):
            nxt = rows[(i + 1) % 3]
            if i + 1 < H:
                _ecef_row_in(i + 1, heights, und, p0, nrm, step, frac, starts, nxt, lo, hi)
            else:
                nxt[:, :] = np.nan
            cur = rows[i % 3]
            prev = rows[(i - 1) % 3] if i >= 1 else rows[(i + 2) % 3]  # unused at i = 0 (NaN)
            inner = r0 <= i < r0 + h
            jlo = lo[i]
            jhi = hi[i]
            node_row_cells(i, sensor, step, frac, starts, sen, jlo, jhi)
            if inner and ellipsoid:
                node_row_cells(i, nrm, step, frac, starts, up, jlo, jhi)
            # off lo:hi nothing is computed: NaN, written in runs
            out_psi[i, :jlo] = np.nan
            out_psi[i, jhi:] = np.nan
            if inner:
                out_lia[i - r0, : max(min(jlo - c0, w), 0)] = np.nan
                out_lia[i - r0, max(min(jhi - c0, w), 0):] = np.nan
                if ellipsoid:
                    out_ell[i - r0, : max(min(jlo - c0, w), 0)] = np.nan
                    out_ell[i - r0, max(min(jhi - c0, w), 0):] = np.nan
            # the look angle of every pixel jlo:jhi, then the incidence angles of the block's:
            # branch-free loops (selects, no call: :func:`.vector_math.acos_of`) that LLVM vectorizes
            cx = cur[0]
            cy = cur[1]
            cz = cur[2]
            sx = sen[0]
            sy = sen[1]
            sz = sen[2]
            if cosine:
                for j in range(jlo, jhi):
                    c = _look_cosine(cx[j], cy[j], cz[j], sx[j], sy[j], sz[j])
                    out_psi[i, j] = min(max(c, -1.0), 1.0) if np.isfinite(cx[j]) else np.nan
            else:
                for j in range(jlo, jhi):
                    c = _look_cosine(cx[j], cy[j], cz[j], sx[j], sy[j], sz[j])
                    psi = np.float32(acos_of(min(max(c, -1.0), 1.0)))
                    out_psi[i, j] = psi if np.isfinite(cx[j]) else np.float32(np.nan)
            if not inner:
                continue
            lia_row = out_lia[i - r0]
            ell_row = out_ell[i - r0] if ellipsoid else out_ell[0]
            line_row = line[i]
            pixel_row = pixel[i]
            px_ = prev[0]
            py_ = prev[1]
            pz_ = prev[2]
            nx_ = nxt[0]
            ny_ = nxt[1]
            nz_ = nxt[2]
            ux = up[0]
            uy = up[1]
            uz = up[2]
            has_north = i >= 1
            has_south = i + 1 < H
            ja = max(jlo, c0)
            jb = min(jhi, c0 + w)
            # the columns with both neighbours in the grid, neighbours at j ± 1: linear indices and
            # no branch in the loop, which LLVM vectorizes (a branch on ``ellipsoid`` inside it, or
            # clamped indices, and it does not); the grid's first and last columns apart
            if not ellipsoid:
                for j in range(max(ja, 1), min(jb, W - 1)):
                    unseen = on_image_only & ~on_grd_image(line_row[j], pixel_row[j], lines, samples)
                    lia_row[j - c0] = _local_incidence(
                        (cx[j], cy[j], cz[j]), (cx[j + 1], cy[j + 1], cz[j + 1]), (cx[j - 1], cy[j - 1], cz[j - 1]),
                        (px_[j], py_[j], pz_[j]), (nx_[j], ny_[j], nz_[j]), (sx[j], sy[j], sz[j]), True, True,
                        has_north, has_south, unseen)[0]
            else:
                for j in range(max(ja, 1), min(jb, W - 1)):
                    unseen = on_image_only & ~on_grd_image(line_row[j], pixel_row[j], lines, samples)
                    lia, bad, l0, l1, l2, lr = _local_incidence(
                        (cx[j], cy[j], cz[j]), (cx[j + 1], cy[j + 1], cz[j + 1]), (cx[j - 1], cy[j - 1], cz[j - 1]),
                        (px_[j], py_[j], pz_[j]), (nx_[j], ny_[j], nz_[j]), (sx[j], sy[j], sz[j]), True, True,
                        has_north, has_south, unseen)
                    ell = _ellipsoid_incidence(ux[j], uy[j], uz[j], l0, l1, l2, lr)
                    lia_row[j - c0] = lia
                    ell_row[j - c0] = np.float32(np.nan) if bad else ell
            for j in (0, W - 1):
                if ja <= j < jb:
                    je = min(j + 1, W - 1)
                    jw = max(j - 1, 0)
                    unseen = on_image_only & ~on_grd_image(line_row[j], pixel_row[j], lines, samples)
                    lia, bad, l0, l1, l2, lr = _local_incidence(
                        (cx[j], cy[j], cz[j]), (cx[je], cy[je], cz[je]), (cx[jw], cy[jw], cz[jw]),
                        (px_[j], py_[j], pz_[j]), (nx_[j], ny_[j], nz_[j]), (sx[j], sy[j], sz[j]), j + 1 < W, j >= 1,
                        has_north, has_south, unseen)
                    lia_row[j - c0] = lia
                    if ellipsoid:
                        ell = _ellipsoid_incidence(ux[j], uy[j], uz[j], l0, l1, l2, lr)
                        ell_row[j - c0] = np.float32(np.nan) if bad else ell


@numba.njit(cache=True, inline="always", error_model="numpy")
def _local_incidence(x, east, west, north, south, sensor, has_east, has_west, has_north, has_south, unseen):
    """(local incidence angle in degrees, float32, NaN if ``bad``; ``bad``; the line of sight
    s0, s1, s2 and its length) of ground point ``x`` (ECEF, a 3-tuple) from its neighbours' positions
    (``east``/``west``: columns j ± 1, ``north``/``south``: rows i ∓ 1; each used where it
    exists and has a height) and the ``sensor``'s. ``bad``: ``x`` has no height, a direction has
    no neighbour, or ``unseen``. Scalars in and out, the choices selects: a loop calling it has
    no branch and no call."""
    x0, y0, z0 = x
    ex, ey, ez = east
    wx, wy, wz = west
    nx, ny, nz = north
    sx, sy, sz = south
    # terrain normal: central differences, one-sided where a neighbour has no height
    e_ok = has_east & np.isfinite(ex)
    w_ok = has_west & np.isfinite(wx)
    n_ok = has_north & np.isfinite(nx)
    s_ok = has_south & np.isfinite(sx)
    bad = ~np.isfinite(x0) | ~(e_ok | w_ok) | ~(n_ok | s_ok) | unseen
    s0 = sensor[0] - x0
    s1 = sensor[1] - y0
    s2 = sensor[2] - z0
    rs = np.sqrt(s0 * s0 + s1 * s1 + s2 * s2)
    de0 = (ex if e_ok else x0) - (wx if w_ok else x0)
    de1 = (ey if e_ok else y0) - (wy if w_ok else y0)
    de2 = (ez if e_ok else z0) - (wz if w_ok else z0)
    dn0 = (nx if n_ok else x0) - (sx if s_ok else x0)
    dn1 = (ny if n_ok else y0) - (sy if s_ok else y0)
    dn2 = (nz if n_ok else z0) - (sz if s_ok else z0)
    n0 = de1 * dn2 - de2 * dn1
    n1 = de2 * dn0 - de0 * dn2
    n2 = de0 * dn1 - de1 * dn0
    rn = np.sqrt(n0 * n0 + n1 * n1 + n2 * n2)
    cl = (n0 * s0 + n1 * s1 + n2 * s2) / (rs * rn)
    lia = np.float32(np.degrees(acos_of(min(max(cl, -1.0), 1.0))))
    return (np.float32(np.nan) if bad else lia), bad, s0, s1, s2, rs


@numba.njit(cache=True, inline="always", error_model="numpy")
def _ellipsoid_incidence(ux, uy, uz, s0, s1, s2, rs):
    """Ellipsoid incidence angle in degrees (float32) from the ellipsoid normal (ux, uy, uz) and
    the line of sight (s0, s1, s2), |s| = ``rs``, of :func:`_local_incidence`."""
    ru = np.sqrt(ux * ux + uy * uy + uz * uz)
    ce = (ux * s0 + uy * s1 + uz * s2) / (rs * ru)
    return np.float32(np.degrees(acos_of(min(max(ce, -1.0), 1.0))))


@numba.njit(cache=True, inline="always", error_model="numpy")
def _look_cosine(x, y, z, px, py, pz):
    """Cosine of the off-nadir look angle from sensor P to ground X: (P − X)·P / (|P − X| |P|)."""
    s0 = px - x
    s1 = py - y
    s2 = pz - z
    rs = np.sqrt(s0 * s0 + s1 * s1 + s2 * s2)
    rp = np.sqrt(px * px + py * py + pz * pz)
    return (s0 * px + s1 * py + s2 * pz) / (rs * rp)


def block_angles(block: TerrainBlock, ellipsoid: bool = True, lia_out: np.ndarray | None = None,
                 look: str = "angle", image_shape: tuple[int, int] | None = None,
                 ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """(local incidence angle °, ellipsoid incidence angle ° of the block's pixels, float32; the
    off-nadir look angle (radians, float32) of every pixel of the grown grid), NaN without height.

    ``ellipsoid`` False: the ellipsoid angle is not computed (None; it costs a third of the
    kernel). ``lia_out``: a float32 array of the block's shape to write the local incidence angle
    into (e.g. the output band), instead of a new one. ``look="cosine"``: instead of the look
    angle, its cosine (float64, clamped to [-1, 1]; what :func:`.masks.layover_shadow` takes as
    ``look_cosine``, sparing an arccos per pixel).

    ``image_shape``: the GRD image's (lines, samples). Then the angles are those of the imaged
    ground only: the incidence angles where the pixel's GRD coordinate falls on the image
    (:func:`.geocoding.on_grd_image`), NaN elsewhere; the look angle within the halo's reach of
    such a pixel (:func:`.terrain.imaged_columns`: all the layover/shadow sweep needs), NaN
    beyond. Off a swath, nothing is computed: on a tile the swath half covers, half
    of the kernel's work."""
    h, w = block.block_shape
    r0, c0 = block.offset
    heights = np.ascontiguousarray(block.heights, dtype=np.float32)
    if lia_out is None:
        lia_out = np.empty((h, w), np.float32)
    elif lia_out.shape != (h, w) or lia_out.dtype != np.float32:
        raise ValueError(f"lia_out: expected float32 {(h, w)}, got {lia_out.dtype} {lia_out.shape}")
    if look not in ("angle", "cosine"):
        raise ValueError(f"look must be 'angle' or 'cosine', got {look!r}")
    ell = np.empty((h, w) if ellipsoid else (1, 1), np.float32)
    psi = np.empty(heights.shape, np.float64 if look == "cosine" else np.float32)
    nchunks = max(1, min(heights.shape[0], 4 * numba.get_num_threads()))
    line, pixel = block.line, block.pixel
    if image_shape is None:
        lo = np.zeros(heights.shape[0], np.int64)
        hi = np.full(heights.shape[0], heights.shape[1], np.int64)
        lines = samples = 0.0
    else:
        lines, samples = float(image_shape[0]), float(image_shape[1])
        line = np.ascontiguousarray(line, dtype=np.float32)  # a no-op but for blocks built by hand
        pixel = np.ascontiguousarray(pixel, dtype=np.float32)
        lo, hi = imaged_columns(line, pixel, lines, samples, r0, c0)
    _geometry_kernel(heights, block.und, block.p0, block.nrm, block.sensor, block.step, r0, c0, h, w, nchunks,
                     psi, look == "cosine", lia_out, bool(ellipsoid), ell, lo, hi, line, pixel, lines, samples)
    return lia_out, (ell if ellipsoid else None), psi


def incidence_angles(block: TerrainBlock) -> tuple[np.ndarray, np.ndarray]:
    """(local incidence angle, ellipsoid incidence angle) in degrees, float32, for the block's
    pixels (NaN where the DEM has no height)."""
    lia, ell, _ = block_angles(block)
    return lia, ell
