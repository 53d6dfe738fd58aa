"""The per-pixel quality mask of every product (uint8 bits) and the layover/shadow sweep.

Bits (a pixel may carry several; 0 = clean). Shadow and layover use OPERA RTC-S1's codes
(shadow 1, layover 2, both 3), so its readers' masks apply unchanged:

====  ====================  =====================================================================
bit   name                  meaning
====  ====================  =====================================================================
1     ``shadow``            radar shadow: the line of sight to the sensor is blocked by terrain
                            nearer in range (passive), or the terrain faces away beyond grazing
                            (active, local incidence angle > 90°)
2     ``layover``           layover: terrain at another ground range has the same slant range
                            (active: a slope facing the sensor steeper than the incidence angle;
                            passive: the points it folds onto)
4     ``no_data``           no value: outside the swath or the image, GRD border noise, DN = 0
                            (or next to such a pixel: bilinear resampling needs 4)
8     ``dem_filled``        the DEM has no height here; the height comes from the gap policy
16    ``noise_<pol 1>``     DN² < thermal noise at the nearest GRD pixel, first polarisation
                            (e.g. VV): the linear value is negative (kept, unclipped)
32    ``noise_<pol 2>``     the same for the second polarisation (e.g. VH)
64    ``rtc_area_low``      terrain flattening only: the GRD pixel's illuminated area is below 5 %
                            of flat ground's (Small 2011): γ0_T is not computed (NaN; not
                            ``no_data``)
====  ====================  =====================================================================

Layover and shadow (:func:`layover_shadow`) are found along ground-range lines of the target
grid, near range to far range, as in radar geometry: shadow where the off-nadir look angle of a
point is below the largest one seen nearer in range; layover where its GRD pixel coordinate
(monotonic in slant range) is below the largest one nearer in range, or above the smallest one
farther in range. The lines are straight lines of the grid along the block's mean range
direction (every pixel on exactly one line; the true range direction turns by < 1° over a
tile), over the block *and its halo* (:mod:`.terrain`), so terrain outside the block that hides
or folds onto it is seen.
"""

from __future__ import annotations

import numba
import numpy as np
from rasterio.windows import Window

from .terrain import TerrainBlock

SHADOW = 1
LAYOVER = 2
NO_DATA = 4
DEM_FILLED = 8
NOISE_FIRST = 16
NOISE_SECOND = 32
RTC_AREA_LOW = 64


def mask_bits(polarisations: tuple[str, ...] | list[str]) -> dict[str, int]:
    """Bit name → value for a product of these polarisations (the noise bits are named by them)."""
    bits = {"shadow": SHADOW, "layover": LAYOVER, "no_data": NO_DATA, "dem_filled": DEM_FILLED}
    for pol, bit in zip(polarisations, (NOISE_FIRST, NOISE_SECOND)):
        bits[f"noise_{pol.lower()}"] = bit
    bits["rtc_area_low"] = RTC_AREA_LOW
    return bits


def cf_flag_attributes(bits: dict[str, int]) -> dict:
    """CF conventions' ``flag_masks``/``flag_meanings`` for a mask variable with these bits."""
    names = sorted(bits, key=bits.get)
    return {"flag_masks": np.array([bits[n] for n in names], np.uint8),
            "flag_meanings": " ".join(names)}


@numba.njit(cache=True, nogil=True)
def _columns_on_grid(shifts, q, H):
    """(first, last + 1) of the columns j with 0 <= q + shifts[j] < H (``shifts`` monotonic)."""
    W = shifts.size
    inc = shifts[W - 1] >= shifts[0]
    lo, hi = 0, W  # first column whose row is >= 0 (inc) / < H (dec)
    while lo < hi:
        m = (lo + hi) // 2
        r = q + shifts[m]
        if (r >= 0) if inc else (r < H):
            hi = m
        else:
            lo = m + 1
    first = lo
    lo, hi = first, W  # first column past the run of rows inside the grid
    while lo < hi:
        m = (lo + hi) // 2
        r = q + shifts[m]
        if (r >= H) if inc else (r < 0):
            hi = m
        else:
            lo = m + 1
    return first, lo


@numba.njit(cache=True, parallel=True, nogil=True)
def _sweep(pixel, psi, shifts, reverse, cosine, out):
    """Layover/shadow along the range lines. ``psi``: the look angles (float32), or if ``cosine``
    their cosines (float64, clamped): then the shadow test, "the angle (float32) is below the
    largest seen nearer in range", takes an arccos only where the cosine is above the running
    largest angle's (rarely: where terrain may hide the pixel), with the same results."""
    H, W = pixel.shape
    smin = shifts.min()
    smax = shifts.max()
    for q in numba.prange(-smax, H - smin):
        j0, j1 = _columns_on_grid(shifts, q, H)  # the line's columns: no pass over the others
        run_p = -np.inf
        run_psi = -np.inf  # the largest look angle so far (float32)
        run_c = np.inf  # cosine: the cosine of a point with that angle; run_psi computed from it
        known = True
        for jj in range(W - j1, W - j0) if reverse else range(j0, j1):
            j = W - 1 - jj if reverse else jj
            r = q + shifts[j]
            if r < 0 or r >= H:
                continue
            a = psi[r, j]
            if not np.isfinite(a):  # no height
                continue
            flag = 0
            v = pixel[r, j]
            if np.isfinite(v):  # no GRD coordinate far off the image: no layover test
                if v < run_p:
                    flag |= 2
                else:
                    run_p = v
            if cosine:
                # arccos decreases: a smaller cosine gives an angle >= the running largest
                if a < run_c:
                    run_c = a
                    known = False
                elif a > run_c:
                    if not known:
                        run_psi = np.float32(np.arccos(run_c))
                        known = True
                    if np.float32(np.arccos(a)) < run_psi:
                        flag |= 1
            elif a < run_psi:
                flag |= 1
            else:
                run_psi = a
            out[r, j] |= flag
        run_p = np.inf
        for jj in range(j0, j1) if reverse else range(W - j1, W - j0):
            j = jj if reverse else W - 1 - jj
            r = q + shifts[j]
            if r < 0 or r >= H:
                continue
            v = pixel[r, j]
            if not (np.isfinite(v) and np.isfinite(psi[r, j])):
                continue
            if v > run_p:
                out[r, j] |= 2
            else:
                run_p = v


def layover_shadow(block: TerrainBlock, direction: tuple[float, float], look_angle: np.ndarray | None = None,
                   look_cosine: np.ndarray | None = None) -> np.ndarray:
    """``SHADOW``/``LAYOVER`` bits (uint8) of the block's pixels; ``direction``: the gradient of
    the GRD pixel coordinate in the grid (:func:`.terrain.range_direction`); ``look_angle``: the
    off-nadir look angle of every pixel of the grown grid (:func:`.incidence.block_angles`), or
    ``look_cosine`` its cosine (``block_angles(..., look="cosine")``: the same bits, fewer arccos);
    computed if neither is given."""
    if look_angle is not None:
        psi = np.ascontiguousarray(look_angle, dtype=np.float32)
    else:
        if look_cosine is None:
            from .incidence import block_angles

            look_cosine = block_angles(block, ellipsoid=False, look="cosine")[2]
        psi = np.ascontiguousarray(look_cosine, dtype=np.float64)
    cosine = look_angle is None
    pixel = np.ascontiguousarray(block.pixel, dtype=np.float32)
    dr, dc = direction
    transposed = abs(dr) > abs(dc)
    if transposed:  # range runs closer to the rows axis: sweep along rows instead
        psi, pixel = np.ascontiguousarray(psi.T), np.ascontiguousarray(pixel.T)
        dr, dc = dc, dr
    out = np.zeros(psi.shape, np.uint8)
    shifts = np.floor(np.arange(psi.shape[1]) * (dr / dc) + 0.5).astype(np.int64)
    _sweep(pixel, psi, shifts, bool(dc < 0), cosine, out)
    if transposed:
        out = out.T
    return np.ascontiguousarray(block.inner(out))


@numba.njit(cache=True, parallel=True, nogil=True)
def _nearest_flags(flags_a, lut_a, flags_b, lut_b, row_off, col_off, line, pixel, out):
    h, w = flags_a.shape
    for i in numba.prange(line.shape[0]):
        for j in range(line.shape[1]):
            r = line[i, j] - row_off
            c = pixel[i, j] - col_off
            if r > -0.5 and c > -0.5 and r < h - 0.5 and c < w - 0.5:
                rr = int(np.floor(r + 0.5))
                cc = int(np.floor(c + 0.5))
                out[i, j] |= lut_a[flags_a[rr, cc]] | lut_b[flags_b[rr, cc]]


def add_nearest_flags(out: np.ndarray, flags: np.ndarray, window: Window, line: np.ndarray, pixel: np.ndarray,
                      source_bit: int, bit: int) -> None:
    """Set ``bit`` in ``out`` where the GRD flag array ``flags`` (uint8, of ``window``) has
    ``source_bit`` at the nearest GRD pixel of (line, pixel)."""
    add_nearest_flags_of(out, [(flags, source_bit, bit)], window, line, pixel)


def add_nearest_flags_of(out: np.ndarray, sources: list, window: Window, line: np.ndarray, pixel: np.ndarray) -> None:
    """:func:`add_nearest_flags` for several ``(flags, source_bit, bit)`` at once, from at most two
    flag arrays of the same ``window`` (e.g. a flag per polarisation): one pass over the block."""
    arrays: list[np.ndarray] = []
    luts: list[np.ndarray] = []
    codes = np.arange(256)
    for flags, source_bit, bit in sources:
        k = next((n for n, a in enumerate(arrays) if a is flags), None)
        if k is None:
            if len(arrays) == 2:
                raise ValueError("at most two flag arrays per pass")
            arrays.append(flags)
            luts.append(np.zeros(256, np.uint8))
            k = len(arrays) - 1
        luts[k][(codes & int(source_bit)) != 0] |= np.uint8(bit)  # flag value → bits it sets
    if not arrays:
        return
    if len(arrays) == 1:
        arrays.append(arrays[0])
        luts.append(np.zeros(256, np.uint8))
    if arrays[0].shape != arrays[1].shape:
        raise ValueError(f"flag arrays of different shapes {arrays[0].shape}, {arrays[1].shape}")
    _nearest_flags(arrays[0], luts[0], arrays[1], luts[1], float(window.row_off), float(window.col_off), line, pixel,
                   out)
