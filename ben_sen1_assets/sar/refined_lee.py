"""The Refined Lee filter's kernels (the filter itself: :mod:`.speckle`'s docstring), fast and
bit for bit equal to its per-pixel definition."""

from __future__ import annotations

import numba
import numpy as np


def _subwindow(window: int) -> tuple[int, int]:
    sub = 3 if window <= 9 else 5
    return sub, (window - sub) // 2


def _directional_masks(window: int) -> np.ndarray:
    """(8, window, window) bool half-window masks: left, right, top, bottom, upper-right,
    lower-left, upper-left, lower-right (edge line included)."""
    h = window // 2
    dr, dc = np.mgrid[-h : h + 1, -h : h + 1]
    return np.stack([dc <= 0, dc >= 0, dr <= 0, dr >= 0, dc >= dr, dc <= dr, dr + dc <= 0, dr + dc >= 0])


# Refined Lee, fast and exact. Each pixel's statistics are sums over one of 9 masks in row-major
# order (float64 accumulators, squares in float32, as the per-pixel definition). The kernels below
# take CHUNK pixels of a row at once: for every offset (i, j) of the window (two of a row per pass),
# a branch-free pass over the chunk adds the value if it is in the pixel's mask, else +0.0 (which
# leaves a float64 sum unchanged). Each pixel's terms are thus added in the same order as in a
# per-pixel loop (bit-identical results), while the chunk's independent sums fill SIMD lanes instead
# of one latency-bound chain with an unpredictable branch per term. A chunk whose window rows hold
# no NaN (most of a scene: NaN lies off the swath and at its edges) takes a leaner pass: its rows
# converted to float64 once (value and float32 square) instead of once per offset, no NaN tests, and
# each pixel's count is its mask's size. Buffers are allocated once per row, not per chunk.
CHUNK = 256


@numba.njit(cache=True, parallel=True, nogil=True)
def _box_mean(p: np.ndarray, sub: int) -> np.ndarray:
    """NaN-aware mean of the sub×sub box whose upper-left corner is (r, c); NaN if empty."""
    H, W = p.shape
    out = np.full((H, W), np.nan, np.float32)
    oh, ow = H - sub + 1, W - sub + 1
    for r in numba.prange(oh):
        s = np.empty(CHUNK)
        n = np.empty(CHUNK)
        for c0 in range(0, ow, CHUNK):
            m = min(CHUNK, ow - c0)
            s[:] = 0.0
            n[:] = 0.0
            for i in range(sub):
                row = p[r + i]
                for j in range(sub):
                    vals = row[c0 + j : c0 + j + m]
                    for c in range(m):
                        v = vals[c]
                        ok = v == v
                        s[c] += np.float64(v if ok else np.float32(0.0))
                        n[c] += 1.0 if ok else 0.0
            orow = out[r, c0 : c0 + m]
            for c in range(m):
                if n[c] > 0.0:
                    orow[c] = s[c] / n[c]
    return out


def _mask_bits(masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Of the 8 directional masks and the full box (index 8): (9, window) uint64, per mask and
    window row the columns it covers as bits; (9,) float64, each mask's size."""
    ws = masks.shape[1]
    allm = np.concatenate([masks, np.ones((1, ws, ws), bool)])
    weights = np.uint64(1) << np.arange(ws, dtype=np.uint64)
    bits = (allm.astype(np.uint64) * weights).sum(axis=2).astype(np.uint64)
    return bits, allm.sum(axis=(1, 2)).astype(np.float64)


@numba.njit(cache=True, nogil=True, inline="always")
def _edge_mask(m00, m01, m02, m10, m11, m12, m20, m21, m22):
    """Index of the Refined Lee mask from the 3×3 sub-window means (float64): the largest of the
    four gradients picks the edge direction (the first on ties), the side nearer the centre the
    half window; 8 (the whole box) if a mean is NaN. Selects only, so that a loop vectorizes."""
    g0 = abs(m02 + m12 + m22 - m00 - m10 - m20)
    g1 = abs(m01 + m02 + m12 - m10 - m20 - m21)
    g2 = abs(m00 + m01 + m02 - m20 - m21 - m22)
    g3 = abs(m00 + m01 + m10 - m12 - m21 - m22)
    k = 0 if abs(m10 - m11) < abs(m12 - m11) else 1
    gmax = g0
    t = g1 > gmax
    k = (4 if abs(m02 - m11) < abs(m20 - m11) else 5) if t else k
    gmax = g1 if t else gmax
    t = g2 > gmax
    k = (2 if abs(m01 - m11) < abs(m21 - m11) else 3) if t else k
    gmax = g2 if t else gmax
    t = g3 > gmax
    k = (6 if abs(m00 - m11) < abs(m22 - m11) else 7) if t else k
    finite = ((m00 == m00) & (m01 == m01) & (m02 == m02) & (m10 == m10) & (m11 == m11)
              & (m12 == m12) & (m20 == m20) & (m21 == m21) & (m22 == m22))
    return k if finite else 8


@numba.njit(cache=True, parallel=True, nogil=True, error_model="numpy")
def _refined_lee_kernel(p, sm, ws, stride, bits, sizes, nv2, out, r_lo, c_lo):
    """Refined Lee of the padded image ``p`` (halo ws//2 of NaN): rows ``r_lo``… and columns
    ``c_lo``… of the unpadded result into ``out`` (as many as its shape holds)."""
    h = ws // 2
    OH, OW = out.shape
    one = np.uint64(1)
    zero = np.uint64(0)
    for ro in numba.prange(OH):
        r = ro + r_lo  # row of the unpadded result; its window starts at row r of p
        kk = np.empty(CHUNK, np.int64)
        rb = np.empty(CHUNK, np.uint64)
        s = np.empty(CHUNK)
        s2 = np.empty(CHUNK)
        n = np.empty(CHUNK)  # counts in float64 (exact): no integer lanes beside the float ones
        xs = np.empty((ws, CHUNK + ws - 1))  # the window rows in float64, and their squares
        xs2 = np.empty((ws, CHUNK + ws - 1))
        for co in range(0, OW, CHUNK):
            c0 = co + c_lo
            m = min(CHUNK, OW - co)
            s[:] = 0.0
            s2[:] = 0.0
            n[:] = 0.0
            # edge direction → mask of each pixel
            ra = sm[r, c0 : c0 + m + 2 * stride]
            rm = sm[r + stride, c0 : c0 + m + 2 * stride]
            rz = sm[r + 2 * stride, c0 : c0 + m + 2 * stride]
            for c in range(m):
                kk[c] = _edge_mask(np.float64(ra[c]), np.float64(ra[c + stride]),
                                   np.float64(ra[c + 2 * stride]), np.float64(rm[c]),
                                   np.float64(rm[c + stride]), np.float64(rm[c + 2 * stride]),
                                   np.float64(rz[c]), np.float64(rz[c + stride]),
                                   np.float64(rz[c + 2 * stride]))
            nan_count = 0
            for i in range(ws):
                row = p[r + i, c0 : c0 + m + ws - 1]
                xi = xs[i]
                x2i = xs2[i]
                for t in range(m + ws - 1):
                    v = row[t]
                    nan_count += 1 if v != v else 0
                    xi[t] = np.float64(v)
                    x2i[t] = np.float64(v * v)
            # mask sums, offset by offset, in the window's row-major order (loads unconditional,
            # from slices: LLVM vectorizes the chunk loop only so); two offsets of a row per pass,
            # added one after the other: half the accumulators' loads and stores
            for i in range(ws):
                for c in range(m):
                    rb[c] = bits[kk[c], i]
                if nan_count == 0:
                    xi = xs[i]
                    x2i = xs2[i]
                    for j in range(0, ws - 1, 2):
                        b0 = one << np.uint64(j)
                        b1 = one << np.uint64(j + 1)
                        a0 = xi[j : j + m]
                        a1 = xi[j + 1 : j + 1 + m]
                        q0 = x2i[j : j + m]
                        q1 = x2i[j + 1 : j + 1 + m]
                        for c in range(m):
                            t0 = (rb[c] & b0) != zero
                            t1 = (rb[c] & b1) != zero
                            s[c] = (s[c] + (a0[c] if t0 else 0.0)) + (a1[c] if t1 else 0.0)
                            s2[c] = (s2[c] + (q0[c] if t0 else 0.0)) + (q1[c] if t1 else 0.0)
                    j = ws - 1  # the window is odd: its last column alone
                    b0 = one << np.uint64(j)
                    a0 = xi[j : j + m]
                    q0 = x2i[j : j + m]
                    for c in range(m):
                        t0 = (rb[c] & b0) != zero
                        s[c] += a0[c] if t0 else 0.0
                        s2[c] += q0[c] if t0 else 0.0
                    continue
                row = p[r + i]
                for j in range(0, ws - 1, 2):
                    b0 = one << np.uint64(j)
                    b1 = one << np.uint64(j + 1)
                    vals = row[c0 + j : c0 + j + m]
                    vals1 = row[c0 + j + 1 : c0 + j + 1 + m]
                    for c in range(m):
                        v = vals[c]
                        ok = (v == v) & ((rb[c] & b0) != zero)
                        x = v if ok else np.float32(0.0)
                        v1 = vals1[c]
                        ok1 = (v1 == v1) & ((rb[c] & b1) != zero)
                        x1 = v1 if ok1 else np.float32(0.0)
                        s[c] = (s[c] + np.float64(x)) + np.float64(x1)
                        s2[c] = (s2[c] + np.float64(x * x)) + np.float64(x1 * x1)
                        n[c] = (n[c] + (1.0 if ok else 0.0)) + (1.0 if ok1 else 0.0)
                j = ws - 1
                b0 = one << np.uint64(j)
                vals = row[c0 + j : c0 + j + m]
                for c in range(m):
                    v = vals[c]
                    ok = (v == v) & ((rb[c] & b0) != zero)
                    x = v if ok else np.float32(0.0)
                    s[c] += np.float64(x)
                    s2[c] += np.float64(x * x)
                    n[c] += 1.0 if ok else 0.0
            if nan_count == 0:
                for c in range(m):
                    n[c] = sizes[kk[c]]
            # MMSE (as speckle._mmse, in selects); a NaN centre stays NaN
            zrow = p[r + h, c0 + h : c0 + h + m]
            orow = out[ro, co : co + m]
            for c in range(m):
                z = zrow[c]
                mean = s[c] / n[c]
                var = s2[c] / n[c] - mean * mean
                var_x = (var - mean * mean * nv2) / (1.0 + nv2)
                var_x = 0.0 if var_x < 0.0 else var_x
                est = mean + (var_x / var) * (z - mean)
                est = mean if var <= 0.0 else est
                orow[c] = est if z == z else np.nan


def refined_lee(p: np.ndarray, ws: int, looks: float, out: np.ndarray | None = None, row: int = 0,
                col: int = 0) -> np.ndarray:
    """Refined Lee of a padded image → the unpadded result (or its rows ``row``… and columns
    ``col``… into ``out``)."""
    sub, stride = _subwindow(ws)
    bits, sizes = _mask_bits(_directional_masks(ws))
    if out is None:
        h = ws // 2
        out = np.empty((p.shape[0] - 2 * h, p.shape[1] - 2 * h), np.float32)
    _refined_lee_kernel(p, _box_mean(p, sub), ws, stride, bits, sizes, 1.0 / looks, out, int(row),
                        int(col))
    return out
