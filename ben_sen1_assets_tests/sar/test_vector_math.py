"""The vectorized dB conversion against numpy's float64 log10, rounded to float32."""

import numba
import numpy as np
import pytest

from ben_sen1_assets.sar.vector_math import acos_of, db_into


def _numpy_db(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        ref = (10.0 * np.log10(x.astype(np.float64))).astype(np.float32)
    ref[~(x > 0)] = np.nan
    return ref


@numba.njit(cache=True)
def _libm_log10f_db(x):
    """The chain's arithmetic before: numba's float32 log10 (the C library's log10f), × 10."""
    out = np.empty_like(x)
    for j in range(x.size):
        out[j] = 10.0 * np.log10(x[j])
    return out


def test_every_float32_exponent_and_mantissa_pattern():
    """Random mantissas under every exponent (subnormals included), and the values around the
    range reduction's √2 and powers of two: identical to float64 log10 rounded to float32."""
    rng = np.random.default_rng(5)
    bits = [rng.integers(0, 1 << 23, 20_000, dtype=np.int64) | (e << 23) for e in range(0, 255)]
    x = np.concatenate(bits).astype(np.uint32).view(np.float32)
    edges = np.array([np.sqrt(2.0), 1.0, 2.0, 0.5, 1e-5, 10.0, np.float32(2.0**-126)], np.float32)
    around = np.concatenate([np.nextafter(edges, 0), edges, np.nextafter(edges, np.inf)])
    x = np.concatenate([x, around, np.float32(2.0**-149) * np.arange(1, 1000, dtype=np.float32)])
    out = np.empty_like(x)
    db_into(x, False, 0.0, out)
    np.testing.assert_array_equal(out, _numpy_db(x))


def test_typical_backscatter():
    """σ0-like values (speckled, 0.001–1): identical to float64 log10 rounded to float32, and
    within two float32 ulps of 10 × the C library's log10f (the kernels' arithmetic before, rounded
    twice)."""
    rng = np.random.default_rng(6)
    x = (rng.gamma(4.4, 1 / 4.4, 2_000_000) * 10.0 ** rng.uniform(-3, 0, 2_000_000)).astype(np.float32)
    out = np.empty_like(x)
    db_into(x, False, 0.0, out)
    np.testing.assert_array_equal(out, _numpy_db(x))
    f32 = _libm_log10f_db(x)
    assert np.abs(out.view(np.int32) - f32.view(np.int32)).max() <= 2


@pytest.mark.parametrize("floor_mode", [False, True])
def test_special_values(floor_mode):
    """NaN stays NaN, +inf gives +inf, ≤ 0 gives NaN or the floor's dB, values under the floor
    (a subnormal among them) the floor's dB in floor mode."""
    x = np.array([np.nan, 0.0, -0.0, -1.0, -np.inf, np.inf, 1.0, 1e-6, 2e-5, 1e-40], np.float32)
    out = np.empty_like(x)
    db_into(x, floor_mode, 1e-5, out)
    expected = _numpy_db(x)
    if floor_mode:
        expected[~np.isnan(x) & (x < 1e-5)] = np.float32(10.0 * np.log10(1e-5))
    np.testing.assert_array_equal(out, expected)
    assert out[5] == np.inf and np.isnan(out[0]) and out[6] == 0.0


@numba.njit(cache=True)
def _acos_pair(x):
    """(acos_of, the C library's acos) of every value."""
    ours = np.empty_like(x)
    libm = np.empty_like(x)
    for j in range(x.size):
        ours[j] = acos_of(x[j])
        libm[j] = np.arccos(x[j])
    return ours, libm


def test_acos_within_two_ulp_of_the_c_library():
    """Over [−1, 1] (denser near ±1 and ±½, where the formulas meet), against the C library's
    acos: within 2 float64 ulp; the degrees as float32 (the chain's angle bands) identical in all
    but a handful of millions; NaN gives NaN."""
    rng = np.random.default_rng(8)
    x = np.concatenate([rng.uniform(-1, 1, 2_000_000), 1 - 10.0 ** rng.uniform(-16, 0, 200_000),
                        -1 + 10.0 ** rng.uniform(-16, 0, 200_000), 0.5 + rng.uniform(-1e-6, 1e-6, 100_000),
                        -0.5 + rng.uniform(-1e-6, 1e-6, 100_000), [-1.0, -0.5, 0.0, 0.5, 1.0, np.nan]])
    ours, libm = _acos_pair(x)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(x))
    ok = ~np.isnan(x)
    ulp = np.spacing(np.abs(libm[ok]))
    assert (np.abs(ours[ok] - libm[ok]) <= 2 * ulp).all()
    deg_ours = np.degrees(ours[ok]).astype(np.float32)
    deg_libm = np.degrees(libm[ok]).astype(np.float32)
    assert (deg_ours != deg_libm).sum() <= 5
    assert acos_of(1.0) == 0.0 and acos_of(-1.0) == np.pi and acos_of(0.0) == np.pi / 2
