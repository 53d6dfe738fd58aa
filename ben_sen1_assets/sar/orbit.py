"""Orbit interpolation from the annotation state vectors (ECEF, ~10 s apart).

The orbit is stored as a piecewise polynomial in float seconds since an ``epoch`` (the product's
first line time by default), so numba kernels can evaluate position, velocity and acceleration:

- ``"hermite"`` (default): cubic Hermite between consecutive state vectors, using positions *and*
  velocities; C¹-continuous, error well below a millimetre for 10 s spacing.
- ``"polyfit"``: one least-squares polynomial (degree 5) through all positions, as sarsen does
  (``sarsen.orbit.OrbitPolyfitInterpolator``), centred on the middle state vector.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numba
import numpy as np

from .annotation import OrbitStateVectors, seconds_since
from .errors import SafeError

OrbitMethod = Literal["hermite", "polyfit"]


class OrbitError(SafeError):
    """The orbit state vectors cannot be interpolated as asked."""


@dataclass(frozen=True)
class OrbitInterpolator:
    """Piecewise polynomial orbit: on ``[breaks[i], breaks[i+1]]`` position =
    Σ_k ``coefficients[i, :, k]`` · (t − ``origins[i]``)^k, t in seconds since ``epoch``.

    Outside ``[breaks[0], breaks[-1]]`` the first/last piece is extrapolated.
    """

    epoch: np.datetime64
    breaks: np.ndarray  # (n_pieces + 1,) float64 s
    origins: np.ndarray  # (n_pieces,) float64 s
    coefficients: np.ndarray  # (n_pieces, 3, degree + 1) float64, increasing powers
    method: str

    @classmethod
    def from_state_vectors(
        cls,
        orbit: OrbitStateVectors,
        epoch: np.datetime64 | None = None,
        method: OrbitMethod = "hermite",
        degree: int = 5,
    ) -> "OrbitInterpolator":
        """Build the interpolator from annotation state vectors (times strictly increasing)."""
        if epoch is None:
            epoch = orbit.time[0]
        t = seconds_since(orbit.time, epoch)
        pos = np.asarray(orbit.position, dtype=np.float64)
        vel = np.asarray(orbit.velocity, dtype=np.float64)
        if t.size < 2 or np.any(np.diff(t) <= 0):
            raise OrbitError(f"orbit state vectors: need ≥ 2 vectors with increasing times, got {t.size}")
        if method == "hermite":
            h = np.diff(t)[:, None]  # (n-1, 1)
            p0, p1, v0, v1 = pos[:-1], pos[1:], vel[:-1], vel[1:]
            c = np.empty((t.size - 1, 3, 4))
            c[:, :, 0] = p0
            c[:, :, 1] = v0
            c[:, :, 2] = (3.0 * (p1 - p0) / h - 2.0 * v0 - v1) / h
            c[:, :, 3] = (2.0 * (p0 - p1) / h + v0 + v1) / h**2
            return cls(np.datetime64(epoch, "ns"), t.copy(), t[:-1].copy(), c, method)
        if method == "polyfit":
            if t.size <= degree:
                raise OrbitError(f"orbit polyfit of degree {degree} needs > {degree} state vectors, got {t.size}")
            origin = t[t.size // 2]
            # np.polyfit returns decreasing powers; reverse to increasing.
            c = np.stack([np.polyfit(t - origin, pos[:, a], degree)[::-1] for a in range(3)])
            return cls(np.datetime64(epoch, "ns"), np.array([t[0], t[-1]]), np.array([origin]), c[None], method)
        raise OrbitError(f"orbit interpolation method {method!r}: expected 'hermite' or 'polyfit'")

    def _eval(self, t: np.ndarray, derivative: int) -> np.ndarray:
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        out = np.empty((t.size, 3))
        _eval_many(self.breaks, self.origins, self.coefficients, t.ravel(), derivative, out)
        return out.reshape(t.shape + (3,))

    def position(self, t: np.ndarray) -> np.ndarray:
        """ECEF position (…, 3) m at ``t`` seconds since ``epoch``."""
        return self._eval(t, 0)

    def velocity(self, t: np.ndarray) -> np.ndarray:
        """ECEF velocity (…, 3) m/s at ``t`` seconds since ``epoch``."""
        return self._eval(t, 1)

    def acceleration(self, t: np.ndarray) -> np.ndarray:
        """ECEF acceleration (…, 3) m/s² at ``t`` seconds since ``epoch``."""
        return self._eval(t, 2)


@numba.njit(cache=True, inline="always")
def piece_index(breaks: np.ndarray, t: float) -> int:
    """Index of the polynomial piece holding ``t`` (first/last piece outside the breaks)."""
    n = breaks.size - 1
    i = np.searchsorted(breaks, t, side="right") - 1
    if i < 0:
        return 0
    if i > n - 1:
        return n - 1
    return i


@numba.njit(cache=True, inline="always")
def eval_pva(breaks, origins, coefficients, t, out):
    """Position, velocity, acceleration at ``t`` into ``out`` (3, 3): rows P, V, A."""
    i = piece_index(breaks, t)
    dt = t - origins[i]
    deg = coefficients.shape[2] - 1
    for a in range(3):
        p = 0.0
        v = 0.0
        acc = 0.0
        # Horner for the value and its first two derivatives
        for k in range(deg, -1, -1):
            acc = acc * dt + 2.0 * v
            v = v * dt + p
            p = p * dt + coefficients[i, a, k]
        out[0, a] = p
        out[1, a] = v
        out[2, a] = acc


@numba.njit(cache=True)
def _eval_many(breaks, origins, coefficients, t, derivative, out):
    pva = np.empty((3, 3))
    for j in range(t.size):
        eval_pva(breaks, origins, coefficients, t[j], pva)
        for a in range(3):
            out[j, a] = pva[derivative, a]
