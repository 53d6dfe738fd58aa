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

from .terrain import TerrainBlock, ecef_at, node_interp3


@numba.njit(cache=True, parallel=True)
def _incidence_kernel(heights, und, p0, nrm, sensor, step, r0, c0, out_lia, out_ell):
    H, W = heights.shape
    h, w = out_lia.shape
    for i in numba.prange(h):
        x = np.empty(3)
        xa = np.empty(3)
        xb = np.empty(3)
        p = np.empty(3)
        up = np.empty(3)
        de = np.empty(3)
        dn = np.empty(3)
        ri = r0 + i
        for j in range(w):
            cj = c0 + j
            hh = heights[ri, cj]
            if not np.isfinite(hh):
                out_lia[i, j] = np.nan
                out_ell[i, j] = np.nan
                continue
            ecef_at(ri, cj, hh, und, p0, nrm, step, x)
            # east: columns j+1 / j−1 (one-sided where missing)
            ja = cj + 1 if cj + 1 < W and np.isfinite(heights[ri, cj + 1]) else cj
            jb = cj - 1 if cj >= 1 and np.isfinite(heights[ri, cj - 1]) else cj
            # north: rows i−1 / i+1
            ia = ri - 1 if ri >= 1 and np.isfinite(heights[ri - 1, cj]) else ri
            ib = ri + 1 if ri + 1 < H and np.isfinite(heights[ri + 1, cj]) else ri
            if ja == jb or ia == ib:
                out_lia[i, j] = np.nan
                out_ell[i, j] = np.nan
                continue
            ecef_at(ri, ja, heights[ri, ja], und, p0, nrm, step, xa)
            ecef_at(ri, jb, heights[ri, jb], und, p0, nrm, step, xb)
            for a in range(3):
                de[a] = xa[a] - xb[a]
            ecef_at(ia, cj, heights[ia, cj], und, p0, nrm, step, xa)
            ecef_at(ib, cj, heights[ib, cj], und, p0, nrm, step, xb)
            for a in range(3):
                dn[a] = xa[a] - xb[a]
            n0 = de[1] * dn[2] - de[2] * dn[1]
            n1 = de[2] * dn[0] - de[0] * dn[2]
            n2 = de[0] * dn[1] - de[1] * dn[0]
            node_interp3(float(ri), float(cj), sensor, step, p)
            s0 = p[0] - x[0]
            s1 = p[1] - x[1]
            s2 = p[2] - x[2]
            rs = np.sqrt(s0 * s0 + s1 * s1 + s2 * s2)
            rn = np.sqrt(n0 * n0 + n1 * n1 + n2 * n2)
            c = (n0 * s0 + n1 * s1 + n2 * s2) / (rs * rn)
            node_interp3(float(ri), float(cj), nrm, step, up)
            ru = np.sqrt(up[0] * up[0] + up[1] * up[1] + up[2] * up[2])
            ce = (up[0] * s0 + up[1] * s1 + up[2] * s2) / (rs * ru)
            out_lia[i, j] = np.degrees(np.arccos(min(max(c, -1.0), 1.0)))
            out_ell[i, j] = np.degrees(np.arccos(min(max(ce, -1.0), 1.0)))


def incidence_angles(block: TerrainBlock) -> tuple[np.ndarray, np.ndarray]:
    """(local incidence angle, ellipsoid incidence angle) in degrees, float32, for the block's
    pixels (NaN where the DEM has no height)."""
    h, w = block.block_shape
    r0, c0 = block.offset
    lia = np.empty((h, w), np.float32)
    ell = np.empty((h, w), np.float32)
    _incidence_kernel(np.ascontiguousarray(block.heights, dtype=np.float32), block.und, block.p0, block.nrm,
                      block.sensor, block.step, r0, c0, lia, ell)
    return lia, ell
