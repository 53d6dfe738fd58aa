"""A faster kernel for the Refined Lee filter of :mod:`.speckle` (same algorithm, same numbers).

:class:`.speckle.SpeckleFilter` walks each directional half-window through index tables
(``_mask_offsets``), ≈ 200 ns per pixel on 2 threads, ≈ 30 s for the GRD window of a tile. Here
the masks are walked as per-row column ranges (``_mask_cols``) with the same row-major order, so
the sums, hence the results, are bit-identical to :meth:`.speckle.SpeckleFilter.apply` (checked
in the tests); the 3×3 sub-window means use separable NaN-aware sums. Proposed for
``speckle.py`` itself; until then :func:`apply_speckle` picks it for ``refined_lee``.
"""

from __future__ import annotations

import numba
import numpy as np

from .speckle import SpeckleFilter, _subwindow


@numba.njit(cache=True, inline="always")
def _mask_cols(k: int, dr: int, h: int) -> tuple[int, int]:
    """Column offsets [lo, hi] of directional mask ``k`` in row offset ``dr`` (empty: lo > hi)."""
    if k == 0:
        return -h, 0
    if k == 1:
        return 0, h
    if k == 2:
        return (-h, h) if dr <= 0 else (1, 0)
    if k == 3:
        return (-h, h) if dr >= 0 else (1, 0)
    if k == 4:
        return dr, h
    if k == 5:
        return -h, dr
    if k == 6:
        return -h, -dr
    if k == 7:
        return -dr, h
    return -h, h


@numba.njit(cache=True, parallel=True)
def _box_mean_sep(p, sub):
    """NaN-aware mean of the sub×sub box with upper-left corner (r, c) (as speckle._box_mean)."""
    H, W = p.shape
    out = np.full((H, W), np.nan, np.float32)
    for r in numba.prange(H - sub + 1):
        cs = np.zeros(W)
        cn = np.zeros(W, np.int64)
        for i in range(sub):
            for c in range(W):
                v = p[r + i, c]
                if not np.isnan(v):
                    cs[c] += v
                    cn[c] += 1
        for c in range(W - sub + 1):
            s = 0.0
            n = 0
            for j in range(sub):
                s += cs[c + j]
                n += cn[c + j]
            if n > 0:
                out[r, c] = s / n
    return out


@numba.njit(cache=True, parallel=True)
def _refined_lee_fast(p, sm, ws, stride, nv2):
    h = ws // 2
    H, W = p.shape
    out = np.full((H, W), np.nan, np.float32)
    for r in numba.prange(h, H - h):
        for c in range(h, W - h):
            z = p[r, c]
            if np.isnan(z):
                continue
            r0 = r - h
            c0 = c - h
            m00 = sm[r0, c0]
            m01 = sm[r0, c0 + stride]
            m02 = sm[r0, c0 + 2 * stride]
            m10 = sm[r0 + stride, c0]
            m11 = sm[r0 + stride, c0 + stride]
            m12 = sm[r0 + stride, c0 + 2 * stride]
            m20 = sm[r0 + 2 * stride, c0]
            m21 = sm[r0 + 2 * stride, c0 + stride]
            m22 = sm[r0 + 2 * stride, c0 + 2 * stride]
            k = 8
            if not (np.isnan(m00) or np.isnan(m01) or np.isnan(m02) or np.isnan(m10) or np.isnan(m11)
                    or np.isnan(m12) or np.isnan(m20) or np.isnan(m21) or np.isnan(m22)):
                # float64 as in speckle._refined_lee_kernel (M is a float64 array there)
                M00 = np.float64(m00)
                M01 = np.float64(m01)
                M02 = np.float64(m02)
                M10 = np.float64(m10)
                cen = np.float64(m11)
                M12 = np.float64(m12)
                M20 = np.float64(m20)
                M21 = np.float64(m21)
                M22 = np.float64(m22)
                g0 = abs(M02 + M12 + M22 - M00 - M10 - M20)
                g1 = abs(M01 + M02 + M12 - M10 - M20 - M21)
                g2 = abs(M00 + M01 + M02 - M20 - M21 - M22)
                g3 = abs(M00 + M01 + M10 - M12 - M21 - M22)
                gmax = g0
                k = 0 if abs(M10 - cen) < abs(M12 - cen) else 1
                if g1 > gmax:
                    gmax = g1
                    k = 4 if abs(M02 - cen) < abs(M20 - cen) else 5
                if g2 > gmax:
                    gmax = g2
                    k = 2 if abs(M01 - cen) < abs(M21 - cen) else 3
                if g3 > gmax:
                    gmax = g3
                    k = 6 if abs(M00 - cen) < abs(M22 - cen) else 7
            s = 0.0
            s2 = 0.0
            n = 0
            for dr in range(-h, h + 1):
                lo, hi = _mask_cols(k, dr, h)
                row = r + dr
                for dc in range(lo, hi + 1):
                    v = p[row, c + dc]
                    if not np.isnan(v):
                        s += v
                        s2 += v * v
                        n += 1
            mean = s / n
            var = s2 / n - mean * mean
            if var <= 0.0:
                out[r, c] = mean
                continue
            var_x = (var - mean * mean * nv2) / (1.0 + nv2)
            if var_x < 0.0:
                var_x = 0.0
            out[r, c] = mean + (var_x / var) * (z - mean)
    return out


def refined_lee(image: np.ndarray, speckle: SpeckleFilter) -> np.ndarray:
    """``speckle.apply(image)`` for ``kind="refined_lee"``, faster (bit-identical)."""
    img = np.asarray(image, dtype=np.float32)
    h = speckle.halo
    padded = np.pad(img, h, mode="constant", constant_values=np.nan)
    sub, stride = _subwindow(speckle.window)
    out = _refined_lee_fast(padded, _box_mean_sep(padded, sub), speckle.window, stride, 1.0 / speckle.looks)
    return out[h : h + img.shape[0], h : h + img.shape[1]]


def apply_speckle(image: np.ndarray, speckle: SpeckleFilter) -> np.ndarray:
    """Filter a whole 2-D array like ``speckle.apply`` (the fast kernel for ``refined_lee``)."""
    if speckle.kind == "refined_lee":
        return refined_lee(image, speckle)
    return speckle.apply(image)
