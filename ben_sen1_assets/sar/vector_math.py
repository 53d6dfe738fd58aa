"""Elementary functions as branch-free float64 arithmetic that LLVM vectorizes inside numba
kernels: the natural logarithm (for dB) and the arc cosine (for incidence angles).

numba compiles ``np.log10`` or ``np.arccos`` of a scalar to a call of the C library's function per
value (≈ 15–25 ns here): without Intel's SVML, LLVM cannot vectorize a loop that calls it. The
chain converts ≈ 130 M values a tile to dB and ≈ 65 M local incidence angles to degrees. Here both
are a range reduction and a series in float64, with no branch and no call, so LLVM runs 4 float64 values
per instruction here (≈ 2.4 ns a value for the dB).

dB (:func:`db_into`): from the float32's bits, exponent e and mantissa m (m in [√½, √2)),
ln x = e·ln 2 + 2·atanh((m − 1)/(m + 1)), the atanh series to 11 terms (|error| < 1e-16 relative on
that interval). The float64 result rounded to float32 is numpy's float64 10·log10(x) rounded to
float32 (the tests check it under every float32 exponent); ``log10f`` then ×10, rounded twice,
differed from that by one float32 ulp in 31 % of speckled σ0 values and by two in 0.2 % (≤ 4e-6 dB
at −20 dB). Subnormal inputs (below 2⁻¹²⁶ ≈ 1.2e-38, whose bits hold no implicit leading one) are
redone with ``np.log10`` in float64 after the vectorized pass; +inf gives +inf.

arccos (:func:`acos_of`): |x| ≤ ½ as π/2 ∓ asin|x|, |x| > ½ through the half angle,
acos x = 2·asin √((1 − x)/2) (x > 0) or π − 2·asin √((1 + x)/2) (x < 0), so that asin's Taylor
series (exact rational coefficients) only meets arguments ≤ ½, where 24 terms reach 1e-17;
within 2 ulp of the C library's ``acos`` (the tests; 1 ulp over 5 M uniform values, whose degrees
as float32 were all identical), 3.7–5.2 ns a value against 24–27 ns.
"""

from __future__ import annotations

import math

import numba
import numpy as np

_LN2_HI = 6.93147180369123816490e-01  # ln 2 split in two (fdlibm): e·_LN2_HI is exact for |e| < 2¹¹
_LN2_LO = 1.90821492927058770002e-10
_DB_PER_NEPER = 10.0 / math.log(10.0)  # 10·log10(x) = ln(x) · 10 / ln 10
_SQRT2 = math.sqrt(2.0)
_MIN_NORMAL = np.float32(2.0**-126)
# 2·atanh(s) = 2s·(1 + s²/3 + s⁴/5 + …): coefficients 1/(2k + 1), k = 1…11
_C1, _C2, _C3, _C4, _C5, _C6, _C7, _C8, _C9, _C10, _C11 = (1.0 / (2 * k + 1) for k in range(1, 12))


@numba.njit(cache=True, inline="always", error_model="numpy")
def ln_of_bits(u):
    """ln x of a positive normal float32 x from its bits ``u`` (int32), in float64."""
    e = ((u >> 23) & 0xFF) - 127
    m = 1.0 + np.float64(u & 0x7FFFFF) * (1.0 / 8388608.0)  # the mantissa, exactly, in [1, 2)
    big = m > _SQRT2
    m = m * 0.5 if big else m  # [√½, √2): |s| ≤ 0.172 below
    e = e + 1 if big else e
    s = (m - 1.0) / (m + 1.0)
    z = s * s
    p = (((((((((((_C11 * z + _C10) * z + _C9) * z + _C8) * z + _C7) * z + _C6) * z + _C5) * z + _C4) * z + _C3)
               * z + _C2) * z + _C1) * z)
    fe = np.float64(e)
    return fe * _LN2_HI + (fe * _LN2_LO + (2.0 * s + 2.0 * s * p))


@numba.njit(cache=True, nogil=True, error_model="numpy")
def db_into(x, floor_mode, floor, out):
    """``out[j]`` = 10·log10(``x[j]``) as float32 (``x``, ``out``: distinct 1-D float32 arrays of
    the same size). NaN stays NaN; with ``floor_mode``, values below ``floor`` (≤ 0 included)
    give 10·log10(``floor``); otherwise values ≤ 0 give NaN."""
    bits = x.view(np.int32)
    lg = np.float32(10.0 * np.log10(floor)) if floor_mode else np.float32(np.nan)
    nan = np.float32(np.nan)
    inf = np.float32(np.inf)
    subnormal = 0
    for j in range(x.size):
        v = x[j]
        r = np.float32(_DB_PER_NEPER * ln_of_bits(bits[j]))
        r = inf if v == inf else r
        r = r if v > 0.0 else nan
        r = lg if (floor_mode and v < floor) else r
        out[j] = r
        subnormal += 1 if (v > 0.0 and v < _MIN_NORMAL) else 0
    if subnormal:
        for j in range(x.size):
            v = x[j]
            if v > 0.0 and v < _MIN_NORMAL and not (floor_mode and v < floor):
                out[j] = np.float32(10.0 * np.log10(np.float64(v)))


# asin(y) = y + y·y²·Σ a_k y^(2k−2), a_k = (2k)! / (4^k (k!)² (2k + 1)), k = 1…24
# (y ≤ ½: a_k / 4^k < 1e-17 beyond)
_ASIN = tuple(math.comb(2 * k, k) / (4**k * (2 * k + 1)) for k in range(1, 25))
(_A1, _A2, _A3, _A4, _A5, _A6, _A7, _A8, _A9, _A10, _A11, _A12, _A13, _A14, _A15, _A16, _A17, _A18, _A19, _A20,
 _A21, _A22, _A23, _A24) = _ASIN
_HALF_PI = math.pi / 2


@numba.njit(cache=True, inline="always", error_model="numpy")
def acos_of(x):
    """arccos of a float64 in [−1, 1] (NaN gives NaN), in radians."""
    ax = abs(x)
    big = ax > 0.5
    y2 = (1.0 - ax) * 0.5 if big else ax * ax
    # abs: a no-op for |x| ≤ 1 that lets LLVM see the root cannot set errno (it then emits the
    # vector instruction, not a call of the C library's sqrt, which would keep the loop scalar)
    y = np.sqrt(abs(y2)) if big else ax
    # Estrin's scheme (pairs, then pairs of pairs…): a few dependent steps instead of Horner's 24;
    # every term is positive, so the order adds no error of note
    y4 = y2 * y2
    y8 = y4 * y4
    y16 = y8 * y8
    q0 = (_A1 + _A2 * y2) + (_A3 + _A4 * y2) * y4
    q1 = (_A5 + _A6 * y2) + (_A7 + _A8 * y2) * y4
    q2 = (_A9 + _A10 * y2) + (_A11 + _A12 * y2) * y4
    q3 = (_A13 + _A14 * y2) + (_A15 + _A16 * y2) * y4
    q4 = (_A17 + _A18 * y2) + (_A19 + _A20 * y2) * y4
    q5 = (_A21 + _A22 * y2) + (_A23 + _A24 * y2) * y4
    p = (q0 + q1 * y8) + (q2 + q3 * y8) * y16 + (q4 + q5 * y8) * (y16 * y16)
    asin_y = y + y * (y2 * p)
    small = _HALF_PI - asin_y if x >= 0.0 else _HALF_PI + asin_y
    large = 2.0 * asin_y if x > 0.0 else math.pi - 2.0 * asin_y
    return large if big else small
