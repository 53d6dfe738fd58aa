"""Terrain flattening: γ0_T = β0 / (illuminated area normalised by the reference area).

Method: D. Small, "Flattening Gamma: Radiometric Terrain Correction for SAR Imagery", IEEE TGRS
49(8), 2011, with the facet area projection of G. H. X. Shiroma, M. Lavalle, S. M. Buckley,
"An Area-Based Projection Algorithm for SAR Radiometric Terrain Correction and Geocoding",
IEEE TGRS 60, 2022 (OPERA RTC-S1, isce3), on the DEM heights, geoid and gap policy that geocode
the same pixels (:mod:`.terrain`).

For a block of the target grid grown by its halo:

1. **Facets.** Every cell between four neighbouring target pixel centres is a DEM facet with
   corners X₀₀, X₀₁, X₁₀, X₁₁ (ECEF). Its area vector A = ½ (X₁₁ − X₀₀) × (X₀₁ − X₁₀) is exact
   for a planar quadrilateral and the mean of its two triangles otherwise. Its illuminated area
   in the plane perpendicular to the line of sight ŝ (from the facet to the sensor at zero
   Doppler) is A_γ = max(A·ŝ, 0): a facet facing away is in shadow and illuminates nothing.
2. **Reference area.** β0 is radar brightness per unit area of the radar (slant) plane: the area
   of one GRD pixel there is A_β = Δaz · Δr, Δaz the ground distance per line (the true azimuth
   footprint, from the orbit: |V| + (P − X)·A/|V| times the line interval; not the nominal 10 m)
   and Δr the slant-range extent of one GRD pixel, spacing / (dg/dR) from the annotation's
   slant-to-ground-range polynomials. Each facet contributes A_γ / A_β (at the facet).
3. **Area projection into radar geometry.** A facet's corners have GRD (line, pixel) from the
   geocoding; its footprint there is the quadrilateral between them. The facet is split into
   k × k sub-facets (k = 1.5 × its extent in GRD pixels, 1…16: the footprint is sampled at
   least every 0.7 pixel), each carrying 1/k² of the facet's contribution, placed at its bilinear
   position inside the footprint and shared among the GRD pixels its own footprint's bounding
   box overlaps, in proportion to the overlap (an approximation of the exact polygon clipping
   of Shiroma et al.: no blur beyond the facet, a ripple below 0.7 % on flat ground). Many
   facets in one GRD pixel add up: layover. The accumulated array is the normalised area
   A_γ/A_β of every GRD pixel; a slope facing the sensor gathers more area than flat ground.
4. **Flattening.** γ0_T = β0 / area, in GRD geometry before the speckle filter (as SNAP's
   Terrain-Flattening → Speckle-Filter, so the filter sees flattened γ0 and not the terrain's
   brightness pattern), then resampled onto the target grid like any band. Flat terrain gives
   area = cot θ_e, so γ0_T = β0 · tan θ_e = σ0 / cos θ_e (the identity the tests check).
   Where the area is below :data:`MIN_AREA_FRACTION` (5 %) of flat ground's, Small's advice,
   the pixel is masked (NaN and :data:`.masks.RTC_AREA_LOW`), not divided. :func:`flatten`
   does the same on arrays already on a target grid.

Speed: one parallel pass computes each facet's contribution; a second splats them, each thread
owning a band of GRD lines (no atomics, no private copies of the accumulator). A sub-facet under a
pixel each way (nearly all of them where the grids' pixels are alike) is added to its 2 × 2 pixels
without the loops' branches, the same sums bit for bit: the splat of a 1024-row band of a tile
across the swath's edge, 1.26 → 0.90 s on one thread in the same process (the code before it,
1.14–1.41 s over seven runs).
"""

from __future__ import annotations

import numba
import numpy as np
from rasterio.windows import Window

from .geocoding import resample_grd
from .terrain import TerrainBlock, ecef_row_cells, node_interp, node_row_cells, subgrid_columns

#: pixels whose normalised illuminated area is below this fraction of flat ground's are masked
MIN_AREA_FRACTION = 0.05
#: at most this many sub-facets per side of a facet (its footprint spans ≤ 8 GRD pixels there)
MAX_SUBDIVISION = 16
#: sub-facets per GRD pixel of a facet's footprint extent (per side)
SUBDIVISION = 1.5


@numba.njit(cache=True, inline="always")
def _srgr_derivative(cc_time, cc_sr0, cc_srgr, nearest, t, r):
    """dg/dR of the slant → ground range polynomials at azimuth time t, slant range r."""
    m = cc_time.size
    k = cc_srgr.shape[1]
    j = np.searchsorted(cc_time, t, side="right") - 1
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
    for i in range(k - 1, 0, -1):
        c = cc_srgr[j0, i] + w * (cc_srgr[j1, i] - cc_srgr[j0, i])
        g = g * d + i * c
    return g


@numba.njit(cache=True, parallel=True, nogil=True)
def _facets(heights, line, pixel, und, p0, nrm, sensor, az_spacing, step, cc_time, cc_sr0, cc_srgr, nearest,
            dt_line, spacing, nchunks, bounds, out, row_lines):
    """Per facet (cell between 4 pixel centres): A_γ / A_β (0 where none, or where the footprint
    misses ``bounds`` = (line0, line1, pixel0, pixel1) grown by a pixel); per facet row: the min/max
    GRD line of its corners. Chunks of rows, two rows of ECEF positions at a time and the sensor
    positions at the facet centres of the current row (components first, built cell by cell of
    the sub-grid: :func:`.terrain.ecef_row_cells`, :func:`.terrain.node_row_cells`)."""
    bl0, bl1, bp0, bp1 = bounds[0] - 1.0, bounds[1] + 1.0, bounds[2] - 1.0, bounds[3] + 1.0
    H, W = heights.shape
    frac, starts = subgrid_columns(W, step)
    centre_frac, centre_starts = subgrid_columns(W - 1, step, 0.5)  # facet centres: half a pixel on
    for k in numba.prange(nchunks):
        a = k * (H - 1) // nchunks
        b = (k + 1) * (H - 1) // nchunks
        if a >= b:
            continue
        rows = np.empty((2, 3, W))
        ecef_row_cells(a, heights, und, p0, nrm, step, frac, starts, rows[a % 2], 0, W)
        sen = np.empty((3, W - 1))
        for i in range(a, b):
            top = rows[i % 2]
            bottom = rows[(i + 1) % 2]
            ecef_row_cells(i + 1, heights, und, p0, nrm, step, frac, starts, bottom, 0, W)
            node_row_cells(i + 0.5, sensor, step, centre_frac, centre_starts, sen, 0, W - 1)
            lo = np.inf
            hi = -np.inf
            for j in range(W - 1):
                out[i, j] = 0.0
                l00 = line[i, j]
                l01 = line[i, j + 1]
                l10 = line[i + 1, j]
                l11 = line[i + 1, j + 1]
                if not (np.isfinite(l00) and np.isfinite(l01) and np.isfinite(l10) and np.isfinite(l11)
                        and np.isfinite(pixel[i, j]) and np.isfinite(pixel[i, j + 1])
                        and np.isfinite(pixel[i + 1, j]) and np.isfinite(pixel[i + 1, j + 1])
                        and np.isfinite(top[0, j]) and np.isfinite(top[0, j + 1])
                        and np.isfinite(bottom[0, j]) and np.isfinite(bottom[0, j + 1])):
                    continue
                if (max(max(l00, l01), max(l10, l11)) < bl0 or min(min(l00, l01), min(l10, l11)) > bl1
                        or max(max(pixel[i, j], pixel[i, j + 1]), max(pixel[i + 1, j], pixel[i + 1, j + 1])) < bp0
                        or min(min(pixel[i, j], pixel[i, j + 1]), min(pixel[i + 1, j], pixel[i + 1, j + 1])) > bp1):
                    continue  # its footprint misses the GRD window being accumulated
                d1x = bottom[0, j + 1] - top[0, j]
                d1y = bottom[1, j + 1] - top[1, j]
                d1z = bottom[2, j + 1] - top[2, j]
                d2x = top[0, j + 1] - bottom[0, j]
                d2y = top[1, j + 1] - bottom[1, j]
                d2z = top[2, j + 1] - bottom[2, j]
                ax = 0.5 * (d1y * d2z - d1z * d2y)
                ay = 0.5 * (d1z * d2x - d1x * d2z)
                az = 0.5 * (d1x * d2y - d1y * d2x)
                ic = i + 0.5
                jc = j + 0.5
                sx = sen[0, j] - 0.25 * (top[0, j] + top[0, j + 1] + bottom[0, j] + bottom[0, j + 1])
                sy = sen[1, j] - 0.25 * (top[1, j] + top[1, j + 1] + bottom[1, j] + bottom[1, j + 1])
                sz = sen[2, j] - 0.25 * (top[2, j] + top[2, j + 1] + bottom[2, j] + bottom[2, j + 1])
                r = np.sqrt(sx * sx + sy * sy + sz * sz)
                gamma_area = (ax * sx + ay * sy + az * sz) / r
                lo = min(lo, min(min(l00, l01), min(l10, l11)))
                hi = max(hi, max(max(l00, l01), max(l10, l11)))
                if gamma_area <= 0.0:
                    continue
                t = 0.25 * (l00 + l01 + l10 + l11) * dt_line
                dg_dr = _srgr_derivative(cc_time, cc_sr0, cc_srgr, nearest, t, r)
                a_beta = node_interp(ic, jc, az_spacing, step) * spacing / dg_dr
                out[i, j] = gamma_area / a_beta
            row_lines[i, 0] = lo
            row_lines[i, 1] = hi


@numba.njit(cache=True, parallel=True, nogil=True)
def _splat(contrib, line, pixel, row_lines, row_off, col_off, bands, acc):
    """Spread every facet's contribution over the GRD pixels of its footprint; thread b owns
    accumulator rows [bands[b], bands[b+1])."""
    H1, W1 = contrib.shape
    ah, aw = acc.shape
    for b in numba.prange(bands.size - 1):
        a0 = bands[b]
        a1 = bands[b + 1]
        for i in range(H1):
            if not (row_lines[i, 1] - row_off + 1.0 >= a0 and row_lines[i, 0] - row_off - 1.0 < a1):
                continue
            for j in range(W1):
                g = contrib[i, j]
                if not g > 0.0:
                    continue
                l00 = line[i, j] - row_off
                l01 = line[i, j + 1] - row_off
                l10 = line[i + 1, j] - row_off
                l11 = line[i + 1, j + 1] - row_off
                if max(max(l00, l01), max(l10, l11)) + 1.0 < a0 or min(min(l00, l01), min(l10, l11)) - 1.0 >= a1:
                    continue
                q00 = pixel[i, j] - col_off
                q01 = pixel[i, j + 1] - col_off
                q10 = pixel[i + 1, j] - col_off
                q11 = pixel[i + 1, j + 1] - col_off
                ext = max(max(abs(l01 - l00), abs(l10 - l00)), max(abs(l11 - l00), abs(l01 - l10)))
                ext = max(ext, max(max(abs(q01 - q00), abs(q10 - q00)), max(abs(q11 - q00), abs(q01 - q10))))
                k = int(np.ceil(SUBDIVISION * ext))
                k = min(max(k, 1), 16)
                wsub = g / (k * k)
                # a sub-facet's footprint: the parallelogram of the quad's sides / k, spread over
                # the GRD pixels (unit squares centred on whole coordinates) by the overlap of its
                # bounding box: no blur beyond the footprint itself, weights summing to 1
                hl = 0.5 * (abs(l01 - l00) + abs(l10 - l00)) / k
                hp = 0.5 * (abs(q01 - q00) + abs(q10 - q00)) / k
                hl = max(hl, 1e-6)
                hp = max(hp, 1e-6)
                for u in range(k):
                    fu = (u + 0.5) / k
                    for v in range(k):
                        fv = (v + 0.5) / k
                        w00 = (1.0 - fu) * (1.0 - fv)
                        w01 = (1.0 - fu) * fv
                        w10 = fu * (1.0 - fv)
                        w11 = fu * fv
                        ll = w00 * l00 + w01 * l01 + w10 * l10 + w11 * l11
                        pp = w00 * q00 + w01 * q01 + w10 * q10 + w11 * q11
                        lo_l = ll - hl
                        hi_l = ll + hl
                        lo_p = pp - hp
                        hi_p = pp + hp
                        r_first = int(np.floor(lo_l + 0.5))
                        r_last = int(np.floor(hi_l + 0.5))
                        c_first = int(np.floor(lo_p + 0.5))
                        c_last = int(np.floor(hi_p + 0.5))
                        if (hl < 0.49 and hp < 0.49 and r_first >= 2 and c_first >= 2 and r_first >= a0
                                and r_first + 1 < a1 and r_first + 1 < ah and c_first + 1 < aw):
                            # under a pixel each way, inside the thread's lines: the loops below
                            # unrolled over the 2 × 2 pixels it can touch, without their branches.
                            # Exactly the loops' sums: from first ≥ 2 (rounded from lo + 0.5), lo ≥
                            # first − 0.5 and lo < first + 0.5, and hi < first + 1.5 as 2h < 0.98,
                            # so their overlaps reduce to these; a weight ≤ 0 (clamped) adds +0.0,
                            # which leaves a sum as skipping it does
                            wr0 = (min(hi_l, r_first + 0.5) - lo_l) / (2.0 * hl)
                            wr1 = max(hi_l - (r_first + 0.5), 0.0) / (2.0 * hl)
                            wc0 = (min(hi_p, c_first + 0.5) - lo_p) / (2.0 * hp)
                            wc1 = max(hi_p - (c_first + 0.5), 0.0) / (2.0 * hp)
                            acc[r_first, c_first] += wsub * wr0 * wc0
                            acc[r_first, c_first + 1] += wsub * wr0 * wc1
                            acc[r_first + 1, c_first] += wsub * wr1 * wc0
                            acc[r_first + 1, c_first + 1] += wsub * wr1 * wc1
                            continue
                        for rr in range(max(r_first, a0, 0), min(r_last, a1 - 1, ah - 1) + 1):
                            wr = (min(hi_l, rr + 0.5) - max(lo_l, rr - 0.5)) / (2.0 * hl)
                            if wr <= 0.0:
                                continue
                            for cc in range(max(c_first, 0), min(c_last, aw - 1) + 1):
                                wc = (min(hi_p, cc + 0.5) - max(lo_p, cc - 0.5)) / (2.0 * hp)
                                if wc > 0.0:
                                    acc[rr, cc] += wsub * wr * wc


def normalised_area(block: TerrainBlock, window: Window, acc: np.ndarray | None = None,
                    cells: tuple[int, int, int, int] | None = None, row_bands: int | None = None) -> np.ndarray:
    """The normalised illuminated area A_γ/A_β (float32) of the GRD pixels of ``window``,
    accumulated from every facet of the block and its halo (see the module docstring).

    ``acc`` (float64, the window's shape): add the facets' area into it instead (returned as
    is); ``cells`` = (row0, row1, col0, col1): only the facets (cells between pixel centres,
    indexed like the grown grid's pixels) in those half-open ranges count. Together they sum a
    GRD window's area over blocks that share pixels, each facet once (:mod:`.rtc_area`).
    ``row_bands``: the bands of GRD lines the splat's threads own (default twice the threads;
    the result does not depend on it, bit for bit)."""
    geo = block.geometry
    heights = np.ascontiguousarray(block.heights, dtype=np.float32)
    line = np.ascontiguousarray(block.line, dtype=np.float32)
    pixel = np.ascontiguousarray(block.pixel, dtype=np.float32)
    H, W = heights.shape
    contrib = np.empty((max(H - 1, 0), max(W - 1, 0)), np.float32)
    row_lines = np.full((max(H - 1, 0), 2), np.nan)
    _facets(heights, line, pixel, block.und, block.p0, block.nrm, block.sensor, block.az_spacing, block.step,
            geo.cc_time, geo.cc_sr0, geo.cc_srgr, geo.srgr == "nearest", geo.azimuth_time_interval,
            geo.range_pixel_spacing, max(1, min(H - 1, 4 * numba.get_num_threads())),
            np.array([window.row_off, window.row_off + window.height - 1, window.col_off,
                      window.col_off + window.width - 1], np.float64), contrib, row_lines)
    if cells is not None:  # facets owned by another block: no contribution
        r0, r1, c0, c1 = (max(int(v), 0) for v in cells)
        contrib[:r0] = 0.0
        contrib[r1:] = 0.0
        contrib[:, :c0] = 0.0
        contrib[:, c1:] = 0.0
    ah, aw = int(window.height), int(window.width)
    out = np.zeros((ah, aw), np.float64) if acc is None else acc
    if out.shape != (ah, aw) or out.dtype != np.float64:
        raise ValueError(f"acc must be float64 of the window's shape {(ah, aw)}, not {out.dtype} {out.shape}")
    n = max(1, min(ah, 2 * numba.get_num_threads() if row_bands is None else int(row_bands)))
    bands = np.linspace(0, ah, n + 1).round().astype(np.int64)
    _splat(contrib, line, pixel, row_lines, float(window.row_off), float(window.col_off), bands, out)
    return out if acc is not None else out.astype(np.float32)


def flatten(beta0: np.ndarray, area: np.ndarray, ellipsoid_incidence_deg: np.ndarray,
            min_fraction: float = MIN_AREA_FRACTION) -> tuple[np.ndarray, np.ndarray]:
    """(γ0_T, low) on the target grid: ``beta0 / area``, NaN where the normalised ``area`` is
    below ``min_fraction`` of flat ground's (cot θ_e) — ``low`` marks those pixels (bool)."""
    flat = 1.0 / np.tan(np.radians(ellipsoid_incidence_deg.astype(np.float64)))
    with np.errstate(invalid="ignore", divide="ignore"):
        low = ~(area >= min_fraction * flat) & np.isfinite(area) & np.isfinite(flat)
        out = (beta0 / area).astype(np.float32)
    out[low | ~np.isfinite(area)] = np.nan
    return out, low


def area_on_grid(area: np.ndarray, window: Window, line: np.ndarray, pixel: np.ndarray, method: str) -> np.ndarray:
    """The normalised area at the target pixels (GRD coordinates ``line``/``pixel``), resampled
    like the image (``method``)."""
    return resample_grd(area, window, line, pixel, method)
