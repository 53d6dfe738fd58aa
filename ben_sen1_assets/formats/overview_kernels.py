"""numba kernel of the COG writer's overviews (its own module: importing it loads numba, which the
modules imported when the code location loads must not do)."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, parallel=True)
def halve_into(src, out):
    """NaN-aware mean of each 2 × 2 cell of ``src`` (bands, n, w) into ``out`` (bands, ⌈n/2⌉, ⌈w/2⌉);
    the last row/column of an odd size averages the pixels it has; NaN where none is finite."""
    nb, n, w = src.shape
    oh, ow = out.shape[1], out.shape[2]
    for k in numba.prange(nb * oh):
        b = k // oh
        i = k % oh
        r0 = 2 * i
        r1 = min(r0 + 2, n)
        for j in range(ow):
            c0 = 2 * j
            c1 = min(c0 + 2, w)
            s = 0.0
            m = 0
            for r in range(r0, r1):
                for c in range(c0, c1):
                    v = src[b, r, c]
                    if np.isfinite(v):
                        s += v
                        m += 1
            out[b, i, j] = s / m if m else np.nan
