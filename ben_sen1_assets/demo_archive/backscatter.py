"""The simulated physical scene (σ0) and its encoding into Sentinel-1 GRD digital numbers.

σ0 model (linear power) of the surface, from the local incidence angle θ_loc (the brightness a
GRD pixel then collects, β0 = σ0/cos θ_loc × the terrain's area factor, is ``placement``'s):

- land:  σ0_VV = k_land · cos^n_land(θ_loc), k_land = 0.12, n_land = 2
  (−10.3 dB at 30°, −12.2 dB at 45°: typical C-band VV over mixed land cover);
- water: σ0_VV = k_water · cos^n_water(θ_loc), k_water = 0.05, n_water = 8
  (−17.9 dB at 30°, −25.1 dB at 45°: calm open water, specular, steep angular fall-off);
- terrain facing away beyond grazing (cos θ_loc ≤ 0, radar shadow): σ0 = 0 (noise only);
- VH = VV − 7 dB everywhere.

Speckle and noise (as the instrument measures them): the measured intensity of a pixel is the
backscattered power plus the thermal noise power, and both are speckled together:
``I = (β0 · A² + N) · S`` with ``S ~ Gamma(shape=L, scale=1/L)`` (mean 1), ``L = 4.4`` looks
(ESA's ENL for IW GRDH). ``A`` is the betaNought calibration LUT, ``N`` the thermal-noise LUT
(range × azimuth) of the product itself, both bilinearly interpolated by the project's
radiometry. ``DN = round(sqrt(I))`` clipped to 1..65535 inside the valid swath and 0 outside it
(the zero borders of IPF ≥ 2.9 products); the valid swath is where the product's thermal-noise
LUT is > 0 (ESA sets the far-range noise nodes past the valid swath to 0; near-range and
azimuth borders are not simulated). Hence the project's ``β0 = (DN² − N) / A²`` recovers β0
in expectation (bias < 1/(12 A²) from rounding), and σ0 with the σ LUT.

Random numbers: a counter-based generator (splitmix64 of seed, polarisation, absolute line and
sample), so every pixel's draw depends only on its position and the seed: identical bytes for any
block size or thread count. The gamma variate is drawn by inverse CDF: linear interpolation in a
16 384-entry table of the Gamma(L, 1/L) quantiles, renormalised so the sampled mean is exactly 1
(the tail beyond the 1 − 2^-15 quantile is cut; fast: no rejection loop).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numba
import numpy as np

GAMMA_TABLE_SIZE = 1 << 14


@dataclass(frozen=True)
class BackscatterModel:
    """Parameters of the σ0 model and of the speckle (see the module docstring)."""

    k_land: float = 0.12
    n_land: float = 2.0
    k_water: float = 0.05
    n_water: float = 8.0
    vh_minus_vv_db: float = 7.0
    looks: float = 4.4

    def pol_factor(self, polarisation: str) -> float:
        """Linear factor applied to σ0_VV for ``polarisation``."""
        pol = polarisation.upper()
        if pol in ("VV", "HH"):
            return 1.0
        if pol in ("VH", "HV"):
            return float(10.0 ** (-self.vh_minus_vv_db / 10.0))
        raise ValueError(f"unknown polarisation {polarisation!r}")

    def sigma0(self, cos_local: np.ndarray, is_water: np.ndarray, polarisation: str = "VV") -> np.ndarray:
        """σ0 (linear, float32) from cos θ_loc and the water mask."""
        c = np.clip(cos_local.astype(np.float32), 0.0, 1.0)
        land = np.float32(self.k_land) * c ** np.float32(self.n_land)
        water = np.float32(self.k_water) * c ** np.float32(self.n_water)
        out = np.where(is_water, water, land) * np.float32(self.pol_factor(polarisation))
        return out.astype(np.float32)


_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


@numba.njit(cache=True, inline="always")
def _splitmix64(x: np.uint64) -> np.uint64:
    z = x + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@lru_cache(maxsize=8)
def gamma_quantile_table(looks: float, size: int = GAMMA_TABLE_SIZE) -> np.ndarray:
    """Quantiles of Gamma(looks, 1/looks) at u = (k + ½)/size, renormalised to mean exactly 1.

    Sampling ``u`` uniform and interpolating this table linearly gives a distribution whose mean
    is the table's average (1 after renormalisation) and whose quantiles match the gamma law
    (tail cut at the 1 − ½/size quantile)."""
    from scipy.stats import gamma

    u = (np.arange(size) + 0.5) / size
    q = gamma.ppf(u, a=looks, scale=1.0 / looks)
    return (q / q.mean()).astype(np.float32)


@numba.njit(cache=True, inline="always")
def sigma0_vv(cos_local: float, is_water: bool, k_land: float, n_land: float, k_water: float, n_water: float) -> float:
    """σ0_VV of one pixel (the model of ``BackscatterModel.sigma0``)."""
    c = min(max(cos_local, 0.0), 1.0)
    if is_water:
        return k_water * _pow(c, n_water)
    return k_land * _pow(c, n_land)


@numba.njit(cache=True, inline="always")
def _pow(c: float, n: float) -> float:
    """c**n, by multiplications for small whole exponents (the common case; much faster)."""
    if n == np.floor(n) and 0.0 <= n <= 16.0:
        out = 1.0
        for _ in range(int(n)):
            out *= c
        return out
    return c**n


@numba.njit(cache=True, parallel=True)
def encode_dn_kernel(sigma0, a_sigma, noise, row0: int, col0: int, seed_key: np.uint64, pol_factor: float, table, out):
    """DN = round(sqrt((x·f·A² + N)·S)) for a block of a calibrated quantity x (β0 with the β LUT
    A; f: polarisation factor); 0 where the noise LUT is 0 (invalid swath). ``row0``/``col0`` are the block's absolute (source product) line/sample,
    used to key the random stream."""
    nrows, ncols = sigma0.shape
    size = table.shape[0]
    for r in numba.prange(nrows):
        line_key = _splitmix64(seed_key ^ np.uint64(row0 + r))
        for c in range(ncols):
            n = np.float64(noise[r, c])
            if not n > 0.0:
                out[r, c] = 0
                continue
            z = _splitmix64(line_key + np.uint64(col0 + c) * np.uint64(0xD1B54A32D192ED03))
            u = ((z >> np.uint64(11)) + 0.5) * (1.0 / 9007199254740992.0)
            x = u * size - 0.5
            if x <= 0.0:
                s = np.float64(table[0])
            elif x >= size - 1:
                s = np.float64(table[size - 1])
            else:
                k = int(x)
                f = x - k
                s = table[k] + f * (table[k + 1] - table[k])
            a = np.float64(a_sigma[r, c])
            intensity = (sigma0[r, c] * pol_factor * a * a + n) * s
            dn = np.floor(np.sqrt(intensity) + 0.5)
            if dn < 1.0:
                dn = 1.0
            elif dn > 65535.0:
                dn = 65535.0
            out[r, c] = np.uint16(dn)


def seed_key(seed: int, source_product: str, polarisation: str, variant: str) -> np.uint64:
    """64-bit key of a random stream: one per (seed, source product, polarisation, variant)."""
    import hashlib

    digest = hashlib.blake2b(f"{seed}|{source_product}|{polarisation.upper()}|{variant}".encode(), digest_size=8)
    return np.uint64(int.from_bytes(digest.digest(), "little"))
