"""numba kernels of the chain's per-block passes over the target grid (:mod:`.chain`): where a
block's pixels fall on the GRD image, resampling every band at once, and the mask band."""

from __future__ import annotations

import numba
import numpy as np
from rasterio.windows import Window

from .geocoding import grd_cell, grd_sample, on_grd_image
from .masks import NO_DATA, RTC_AREA_LOW
from .vector_math import db_into


@numba.njit(cache=True, parallel=True, nogil=True)
def resample_block(srcs, row_off, col_off, line, pixel, bilinear, db, floor_mode, floor, out, counts):
    """Resample every band of ``srcs`` (same GRD window) at (line, pixel), optionally to dB, into
    ``out[b]``, counting finite values per row and band (last column: finite in every band).

    One pass over the block for all bands, row by row: the arithmetic per value is that of
    :func:`.geocoding.resample_grd` followed by :func:`.radiometry.to_db` (same results, bit for
    bit); a row's linear values go through a buffer so that the dB conversion
    (:func:`.vector_math.db_into`) runs vectorized.
    """
    nb = len(srcs)
    h, w = srcs[0].shape
    width = line.shape[1]
    for i in numba.prange(line.shape[0]):
        linear = np.empty((nb, width if db else 0), np.float32)
        for j in range(width):
            inside, r0, c0, r1, c1, fr, fc = grd_cell(line[i, j] - row_off, pixel[i, j] - col_off, h, w, bilinear)
            for b in range(nb):
                v = np.float32(grd_sample(srcs[b], bilinear, r0, c0, r1, c1, fr, fc) if inside else np.nan)
                if db:
                    linear[b, j] = v
                else:
                    out[b, i, j] = v
        if db:
            for b in range(nb):
                db_into(linear[b], floor_mode, floor, out[b, i])
        row = out[:, i]
        n_all = 0
        for b in range(nb):
            n = 0
            for j in range(width):
                x = row[b, j]
                n += 1 if abs(x) < np.inf else 0  # finite (NaN compares false)
            counts[i, b] = n
        for j in range(width):
            ok = True
            for b in range(nb):
                ok = ok and abs(row[b, j]) < np.inf
            n_all += 1 if ok else 0
        counts[i, nb] = n_all


@numba.njit(cache=True, parallel=True, nogil=True)
def extent_rows(line, pixel, lines, samples):
    # per target row: min/max line and pixel of the points on the image (as grd_window_for)
    h, w = line.shape
    out = np.full((h, 4), np.nan)
    for i in numba.prange(h):
        l0 = np.inf
        l1 = -np.inf
        p0 = np.inf
        p1 = -np.inf
        for j in range(w):
            a = line[i, j]
            b = pixel[i, j]
            if on_grd_image(a, b, lines, samples):
                l0 = min(l0, a)
                l1 = max(l1, a)
                p0 = min(p0, b)
                p1 = max(p1, b)
        if l0 <= l1:
            out[i, 0] = l0
            out[i, 1] = l1
            out[i, 2] = p0
            out[i, 3] = p1
    return out


def grd_extent(line: np.ndarray, pixel: np.ndarray, image_shape: tuple[int, int], margin: int = 1) -> Window | None:
    """Same result as :func:`.geocoding.grd_window_for` in one parallel pass (no temporaries)."""
    rows = extent_rows(line, pixel, float(image_shape[0]), float(image_shape[1]))
    ok = np.isfinite(rows[:, 0])
    if not ok.any():
        return None
    r = rows[ok]
    l0 = max(int(np.floor(r[:, 0].min())) - margin, 0)
    l1 = min(int(np.ceil(r[:, 1].max())) + margin + 1, image_shape[0])
    p0 = max(int(np.floor(r[:, 2].min())) - margin, 0)
    p1 = min(int(np.ceil(r[:, 3].max())) + margin + 1, image_shape[1])
    return Window(p0, l0, p1 - p0, l1 - l0)


@numba.njit(cache=True, parallel=True, nogil=True)
def finish_mask(block, n_pols, mask, filled, filled_bit, rtc, out, bit_counts):
    """The mask band of a block, in one pass: ``mask`` (uint8 bits, modified in place) gains
    ``filled_bit`` where ``filled`` (a bool array of the block's shape, or an empty one: none) and
    :data:`.masks.NO_DATA` where a polarisation band of ``block`` (the first ``n_pols``) is not
    finite, unless ``rtc`` and the pixel carries :data:`.masks.RTC_AREA_LOW` (masked by the
    flattening, not missing); written to ``out`` (float32, exact) and counted per bit:
    ``bit_counts[i, k]`` = pixels of row ``i`` with bit ``1 << k``."""
    h, w = mask.shape
    has_filled = filled.shape[0] > 0
    for i in numba.prange(h):
        for k in range(8):
            bit_counts[i, k] = 0
        for j in range(w):
            m = np.int64(mask[i, j])  # int64 throughout: mixed unsigned/signed types unify to float
            if has_filled and filled[i, j]:
                m |= filled_bit
            nodata = False
            for b in range(n_pols):
                v = block[b, i, j]
                if not (v == v and abs(v) < np.inf):
                    nodata = True
            if nodata and not (rtc and (m & RTC_AREA_LOW)):
                m |= NO_DATA
            mask[i, j] = np.uint8(m)
            out[i, j] = np.float32(m)
            for k in range(8):
                if m & (1 << k):
                    bit_counts[i, k] += 1


@numba.njit(cache=True, parallel=True, nogil=True)
def copy_rows(src, dst):
    """``dst[...] = src`` (same shape, any strides), rows in parallel."""
    for i in numba.prange(src.shape[0]):
        for j in range(src.shape[1]):
            dst[i, j] = src[i, j]
