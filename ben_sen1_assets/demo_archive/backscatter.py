"""The simulated physical scene (σ0) and its encoding into Sentinel-1 GRD digital numbers.

σ0 model (linear power), per pixel, from the local incidence angle θ_loc (see ``geometry``):

- land:  σ0_VV = k_land · cos^n_land(θ_loc), k_land = 0.12, n_land = 2
  (−10.3 dB at 30°, −12.2 dB at 45°: typical C-band VV over mixed land cover);
- water: σ0_VV = k_water · cos^n_water(θ_loc), k_water = 0.05, n_water = 8
  (−17.9 dB at 30°, −25.1 dB at 45°: calm open water, specular, steep angular fall-off);
- terrain facing away beyond grazing (cos θ_loc ≤ 0, radar shadow): σ0 = 0 (noise only);
- VH = VV − 7 dB everywhere.

Speckle and noise (as the instrument measures them): the measured intensity of a pixel is the
backscattered power plus the thermal noise power, and both are speckled together:
``I = (σ0 · A² + N) · S`` with ``S ~ Gamma(shape=L, scale=1/L)`` (mean 1), ``L = 4.4`` looks
(ESA's ENL for IW GRDH). ``A`` is the sigmaNought calibration LUT, ``N`` the thermal-noise LUT
(range × azimuth) of the product itself, both bilinearly interpolated by the project's
radiometry. ``DN = round(sqrt(I))`` clipped to 1..65535 inside the valid swath and 0 outside it
(the zero borders of IPF ≥ 2.9 products). Hence the project's ``σ0 = (DN² − N) / A²`` recovers σ0
in expectation (bias < 1/(12 A²) from rounding).

Random numbers: a counter-based generator (splitmix64 of seed, polarisation, absolute line and
sample) feeding Marsaglia–Tsang's gamma sampler, so every pixel's draw depends only on its
position and the seed: identical bytes for any block size or thread count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np


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


@numba.njit(cache=True, inline="always")
def _uniform(state: np.uint64) -> tuple[np.uint64, float]:
    state = state + np.uint64(0x9E3779B97F4A7C15)
    z = _splitmix64(state)
    # 53 random bits → (0, 1)
    return state, ((z >> np.uint64(11)) + 0.5) * (1.0 / 9007199254740992.0)


@numba.njit(cache=True)
def _gamma_unit_mean(state: np.uint64, looks: float) -> float:
    """Gamma(looks, 1/looks) by Marsaglia–Tsang (looks ≥ 1), normals by Box–Muller."""
    d = looks - 1.0 / 3.0
    c = 1.0 / np.sqrt(9.0 * d)
    while True:
        state, u1 = _uniform(state)
        state, u2 = _uniform(state)
        x = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
        v = 1.0 + c * x
        if v <= 0.0:
            continue
        v = v * v * v
        state, u = _uniform(state)
        if np.log(u) < 0.5 * x * x + d - d * v + d * np.log(v):
            return d * v / looks


@numba.njit(cache=True, parallel=True)
def encode_dn_kernel(
    sigma0,
    a_sigma,
    noise,
    valid,
    row0: int,
    col0: int,
    seed_key: np.uint64,
    looks: float,
    out,
):
    """DN = round(sqrt((σ0·A² + N)·S)) for a block; 0 where not ``valid``. ``row0``/``col0`` are the
    block's absolute (source product) line/sample, used to key the random stream."""
    nrows, ncols = sigma0.shape
    for r in numba.prange(nrows):
        line_key = _splitmix64(seed_key ^ np.uint64(row0 + r))
        for c in range(ncols):
            if not valid[r, c]:
                out[r, c] = 0
                continue
            state = _splitmix64(line_key + np.uint64(col0 + c) * np.uint64(0xD1B54A32D192ED03))
            s = _gamma_unit_mean(state, looks)
            a = a_sigma[r, c]
            intensity = (sigma0[r, c] * a * a + noise[r, c]) * s
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
