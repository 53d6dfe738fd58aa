"""numba kernels of the COG writer's overviews (their own module: importing it loads numba, which
the modules imported when the code location loads must not do)."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def halve_rows(src, averaged, out):
    """Into ``out`` (bands, ⌈n/2⌉, ⌈w/2⌉), for each 2 × 2 cell of ``src`` (bands, n, w): where
    ``averaged[b]``, the NaN-aware mean (GDAL's AVERAGE: the last row/column of an odd size
    averages the pixels it has; NaN where none is finite), else the top-left pixel (codes, bit
    masks). Serial and without the GIL: it runs in the COG writer's thread beside the producer."""
    nb, n, w = src.shape
    oh, ow = out.shape[1], out.shape[2]
    for b in range(nb):
        for i in range(oh):
            r0 = 2 * i
            two_rows = r0 + 1 < n
            if not averaged[b]:
                for j in range(ow):
                    out[b, i, j] = src[b, r0, 2 * j]
                continue
            for j in range(ow):
                c0 = 2 * j
                s = 0.0
                m = 0
                v = src[b, r0, c0]
                if np.isfinite(v):
                    s += v
                    m += 1
                if c0 + 1 < w:
                    v = src[b, r0, c0 + 1]
                    if np.isfinite(v):
                        s += v
                        m += 1
                if two_rows:
                    v = src[b, r0 + 1, c0]
                    if np.isfinite(v):
                        s += v
                        m += 1
                    if c0 + 1 < w:
                        v = src[b, r0 + 1, c0 + 1]
                        if np.isfinite(v):
                            s += v
                            m += 1
                out[b, i, j] = s / m if m else np.nan
