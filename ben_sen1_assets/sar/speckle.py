"""Speckle filters for intensity images (σ0/β0/γ0, linear): Refined Lee, Lee Sigma, boxcar, none.

All filters are NaN-aware: NaN pixels are ignored in every statistic and stay NaN; pixels outside
the array count as NaN. A filter's output at a pixel depends only on input pixels within
``SpeckleFilter.halo`` of it, so a tile read with that halo (see :func:`filter_window`) gives
exactly the pixels of a whole-scene run.

- ``refined_lee``: the edge-aligned Refined Lee filter (J.-S. Lee, "Refined filtering of image
  noise using local statistics", CGIP 15, 1981) as implemented in SNAP/NEST: in a ``window``×``window``
  box (7 by default) the 3×3 grid of sub-window means (3×3 sub-windows, stride 2 for 7×7) gives four
  gradients (0°, 45°, 90°, 135°); the largest picks the edge direction and the side more similar to
  the centre picks one of 8 directional half-window masks (pixels on the edge line included); the
  MMSE estimate ``mean + b (z − mean)``, ``b = var_x / var``, ``var_x = (var − mean² σv²)/(1 + σv²)``,
  ``σv² = 1/looks``, uses the mask's pixels. Without a valid gradient (NaN sub-window) the whole box
  is used.
- ``lee_sigma``: Lee et al. 2009 "Improved sigma filter" without the point-target step: a priori
  value from a 3×3 MMSE estimate; pixels of the ``window`` box inside ``[I1, I2] × a priori`` are
  selected (I1, I2: the interval of the L-look gamma speckle pdf that holds ``sigma`` of the
  probability and keeps the truncated mean at 1, Lee 2009 §III); MMSE on the selected pixels
  with the truncated speckle variance η².
- ``boxcar``: NaN-aware mean of the ``window`` box.
- ``none``: identity (copy).

``looks`` is the equivalent number of looks of the input (IW GRDH ≈ 4.4 per ESA; 1 for
single-look synthetic speckle).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Literal

import numba
import numpy as np
from rasterio.windows import Window

from .refined_lee import refined_lee

KINDS = ("refined_lee", "lee_sigma", "boxcar", "none")


@dataclass(frozen=True)
class SpeckleFilter:
    """Speckle filter parameters (serialise with :meth:`to_dict`, recorded with outputs)."""

    kind: Literal["refined_lee", "lee_sigma", "boxcar", "none"] = "refined_lee"
    window: int = 7
    looks: float = 4.4
    sigma: float = 0.9  # lee_sigma only: probability mass of the sigma range

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"speckle filter kind must be one of {KINDS}, got {self.kind!r}")
        if self.window < 3 or self.window % 2 == 0 or self.window > 63:
            raise ValueError(f"speckle filter window must be odd, ≥ 3 and ≤ 63, got {self.window}")
        if self.kind == "refined_lee" and self.window < 5:
            raise ValueError(f"refined_lee needs a window ≥ 5, got {self.window}")
        if not self.looks > 0:
            raise ValueError(f"looks must be > 0, got {self.looks}")
        if not 0.0 < self.sigma < 1.0:
            raise ValueError(f"sigma must be in (0, 1), got {self.sigma}")

    @property
    def halo(self) -> int:
        """Pixels of context needed on each side of a tile."""
        return 0 if self.kind == "none" else self.window // 2

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "SpeckleFilter":
        return cls(**d)

    def filter_into(self, padded: np.ndarray, out: np.ndarray, row: int = 0, col: int = 0) -> None:
        """Filter an image already padded with NaN by :attr:`halo` on every side (float32) and
        write rows ``row``… and columns ``col``… of the result into ``out`` (as many as its shape
        holds): :meth:`apply` without its copies (the chain calibrates into the padded buffer)."""
        h = self.halo
        shape = (padded.shape[0] - 2 * h, padded.shape[1] - 2 * h)
        if row < 0 or col < 0 or row + out.shape[0] > shape[0] or col + out.shape[1] > shape[1]:
            raise ValueError(f"out {out.shape} at ({row}, {col}) outside the filtered image {shape}")
        if self.kind == "refined_lee":
            refined_lee(padded, self.window, self.looks, out, row, col)
            return
        full = self.apply(padded[h : h + shape[0], h : h + shape[1]])
        out[...] = full[row : row + out.shape[0], col : col + out.shape[1]]

    def apply(self, image: np.ndarray) -> np.ndarray:
        """Filter a whole 2-D array (outside = NaN) → float32 of the same shape."""
        img = np.asarray(image, dtype=np.float32)
        if img.ndim != 2:
            raise ValueError(f"expected a 2-D image, got shape {img.shape}")
        if self.kind == "none":
            return img.copy()
        h = self.halo
        padded = np.pad(img, h, mode="constant", constant_values=np.nan)
        if self.kind == "boxcar":
            out = _boxcar(padded, self.window)
        elif self.kind == "refined_lee":
            return refined_lee(padded, self.window, self.looks)
        else:
            i1, i2, eta2 = sigma_range(self.looks, self.sigma)
            out = _lee_sigma(padded, self.window, 1.0 / self.looks, i1, i2, eta2)
        return out[h : h + img.shape[0], h : h + img.shape[1]]


@lru_cache(maxsize=32)
def sigma_range(looks: float, sigma: float) -> tuple[float, float, float]:
    """(I1, I2, η²) for unit-mean L-look gamma speckle, as in Lee et al. 2009: the interval holds
    probability ``sigma`` and the speckle truncated to it keeps unit mean (so the selected pixels'
    mean is unbiased); η² is the normalised variance of the truncated speckle."""
    from scipy import integrate, optimize, stats

    dist = stats.gamma(a=looks, scale=1.0 / looks)

    def upper(lo: float) -> float:
        return float(dist.ppf(dist.cdf(lo) + sigma))

    def moment(lo: float, k: int) -> float:
        return integrate.quad(lambda x: x**k * dist.pdf(x), lo, upper(lo))[0] / sigma

    lo_max = float(dist.ppf(1.0 - sigma)) - 1e-12
    i1 = optimize.brentq(lambda lo: moment(lo, 1) - 1.0, 0.0, lo_max, xtol=1e-12)
    i2 = upper(i1)
    m1, m2 = moment(i1, 1), moment(i1, 2)
    return float(i1), float(i2), float((m2 - m1 * m1) / (m1 * m1))


@numba.njit(cache=True, parallel=True, nogil=True)
def _boxcar(p: np.ndarray, ws: int) -> np.ndarray:
    h = ws // 2
    H, W = p.shape
    out = np.full((H, W), np.nan, np.float32)
    for r in numba.prange(h, H - h):
        for c in range(h, W - h):
            if np.isnan(p[r, c]):
                continue
            s = 0.0
            n = 0
            for i in range(r - h, r + h + 1):
                for j in range(c - h, c + h + 1):
                    v = p[i, j]
                    if not np.isnan(v):
                        s += v
                        n += 1
            out[r, c] = s / n
    return out


@numba.njit(cache=True)
def _mmse(z: float, mean: float, var: float, nv2: float) -> float:
    if var <= 0.0:
        return mean
    var_x = (var - mean * mean * nv2) / (1.0 + nv2)
    if var_x < 0.0:
        var_x = 0.0
    b = var_x / var
    return mean + b * (z - mean)


@numba.njit(cache=True, parallel=True, nogil=True)
def _lee_sigma(p, ws, nv2, i1, i2, eta2):
    h = ws // 2
    H, W = p.shape
    out = np.full((H, W), np.nan, np.float32)
    for r in numba.prange(h, H - h):
        for c in range(h, W - h):
            z = p[r, c]
            if np.isnan(z):
                continue
            # a priori estimate: 3×3 MMSE
            s = 0.0
            s2 = 0.0
            n = 0
            for i in range(r - 1, r + 2):
                for j in range(c - 1, c + 2):
                    v = p[i, j]
                    if not np.isnan(v):
                        s += v
                        s2 += v * v
                        n += 1
            m = s / n
            prior = _mmse(z, m, s2 / n - m * m, nv2)
            lo = i1 * prior
            hi = i2 * prior
            s = 0.0
            s2 = 0.0
            n = 0
            for i in range(r - h, r + h + 1):
                for j in range(c - h, c + h + 1):
                    v = p[i, j]
                    if not np.isnan(v) and v >= lo and v <= hi:
                        s += v
                        s2 += v * v
                        n += 1
            if n == 0:
                out[r, c] = prior
                continue
            m = s / n
            out[r, c] = _mmse(z, m, s2 / n - m * m, eta2)
    return out


def filter_window(
    speckle: SpeckleFilter,
    read: Callable[[Window], np.ndarray],
    window: Window,
    shape: tuple[int, int],
) -> np.ndarray:
    """Filter ``window`` of a scene of ``shape``: reads ``window`` grown by ``speckle.halo``
    (clipped to the scene) through ``read`` and returns float32 (height, width) equal to the same
    pixels of ``speckle.apply(whole scene)``."""
    h = speckle.halo
    row_off, col_off = int(window.row_off), int(window.col_off)
    height, width = int(window.height), int(window.width)
    r0, c0 = max(row_off - h, 0), max(col_off - h, 0)
    r1, c1 = min(row_off + height + h, shape[0]), min(col_off + width + h, shape[1])
    data = np.asarray(read(Window(c0, r0, c1 - c0, r1 - r0)), dtype=np.float32)
    if data.shape != (r1 - r0, c1 - c0):
        raise ValueError(f"read returned {data.shape}, expected {(r1 - r0, c1 - c0)}")
    filtered = speckle.apply(data)
    return filtered[row_off - r0 : row_off - r0 + height, col_off - c0 : col_off - c0 + width]
