"""Radiometry of IW GRD windows: thermal noise, calibration (σ0/β0/γ0), border noise, dB.

All LUTs are interpolated only on the window asked for, separably: first each vector along its
own pixel grid at the window's columns (``np.interp``), then linearly in line between the two
vectors that bracket each window row. Results therefore depend only on absolute (line, pixel),
so a window equals the same pixels of a whole-scene result.

- Calibration A(line, pixel): bilinear between vectors. Rows before the first / after the last
  vector take the nearest vector (clamp); columns likewise (``np.interp`` clamps). In IW GRD the
  last vector lies past the last image line, so image rows are always between two vectors.
- Thermal noise N(line, pixel), DN² units. IPF ≥ 2.9: range vectors (bilinear as above) × the
  azimuth LUT of the ``noiseAzimuthVector`` block whose inclusive line/sample bounds contain the
  pixel (linear in line within the block's own ``line`` list, clamped at its ends). Lines past a
  block's last line (up to the next block of the same samples, or the image end) take the block's
  last value, lines before the first block of those samples its first value: the noise level
  does not jump to the unscaled range noise there. Samples outside every block keep the range
  noise unscaled (factor 1). IPF < 2.9: range vectors only, each on its own pixel grid, then
  linear in line.
- Calibrated value: ``(DN² − N) / A²``, **unclipped**: where DN² < N (noise-dominated dark areas)
  it is negative, and it stays so through the speckle filter, resampling and mosaicking, because
  any average of floored values is biased upwards (DOMAIN.md §9). ``RadiometryParams.negative``
  applies only where values leave the linear domain (:func:`to_db`): "floor" (default: values
  below ``floor`` = 1e-5 become −50 dB, so dB stays finite), "nan", or "zero" (→ NaN in dB).
- Border noise. Always: DN == 0 is no data → NaN (zero borders of IPF ≥ 2.9 products).
  IPF < 2.9 (``border_noise="auto"``) or ``"edge_trim"``: SNAP-like "Remove-GRD-Border-Noise"
  idea, our algorithm: within ``border_limit`` (500) pixels of each scene edge, scan every line
  (left and right edges) and every column (top and bottom edges) inward from the edge; the border
  ends at the first position where the thermal-noise-corrected amplitude
  ``a = sqrt(max(DN² − N, 0))`` of the pixel and its mean over the next ``trim_run`` (16) pixels
  both exceed ``trim_threshold`` (0.5) × the mean of ``a`` over the whole ``border_limit`` strip of
  that line/column.
  Everything between the scene edge and that position is invalid (NaN). If no position qualifies,
  the whole strip is border. The strips are read from the scene edges (not the window), so the
  mask of a window equals the whole-scene mask.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Literal

import numba
import numpy as np
from rasterio.windows import Window

from .errors import WindowError
from .luts import CalibrationLut, NoiseLut
from .vector_math import db_into

QUANTITIES = {"sigma0": "sigmaNought", "beta0": "betaNought", "gamma0": "gamma"}
LEGACY_IPF = (2, 90)  # noise/border-noise layout changed with IPF 2.90


@dataclass(frozen=True)
class RadiometryParams:
    """Radiometric processing parameters (recorded with outputs via :meth:`to_dict`).

    ``negative``/``floor``: what values ≤ ``floor`` become at the dB conversion (:func:`to_db`);
    calibrated linear values are never clipped (see the module docstring).
    """

    quantity: Literal["sigma0", "beta0", "gamma0"] = "sigma0"
    thermal_noise: bool = True
    negative: Literal["floor", "nan", "zero"] = "floor"
    floor: float = 1e-5
    border_noise: Literal["auto", "zero_only", "edge_trim"] = "auto"
    border_limit: int = 500
    trim_threshold: float = 0.5
    trim_run: int = 16

    def __post_init__(self) -> None:
        if self.quantity not in QUANTITIES:
            raise ValueError(f"quantity must be one of {sorted(QUANTITIES)}, got {self.quantity!r}")
        if self.negative not in ("floor", "nan", "zero"):
            raise ValueError(f"negative must be 'floor', 'nan' or 'zero', got {self.negative!r}")
        if self.border_noise not in ("auto", "zero_only", "edge_trim"):
            raise ValueError(f"border_noise must be 'auto', 'zero_only' or 'edge_trim', got {self.border_noise!r}")
        if not self.floor > 0:
            raise ValueError(f"floor must be > 0, got {self.floor}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "RadiometryParams":
        return cls(**d)


def _window_bounds(window: Window) -> tuple[int, int, int, int]:
    return int(window.row_off), int(window.col_off), int(window.height), int(window.width)


def _bracket(rows: np.ndarray, vector_lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower bracketing vector index and linear weight for each row (clamped outside)."""
    n = vector_lines.size
    if n == 1:
        return np.zeros(rows.size, np.int64), np.zeros(rows.size)
    i = np.clip(np.searchsorted(vector_lines, rows, side="right") - 1, 0, n - 2)
    t = (rows - vector_lines[i]) / (vector_lines[i + 1] - vector_lines[i])
    return i, np.clip(t, 0.0, 1.0)


@numba.njit(cache=True, parallel=True, nogil=True)
def _blend_rows(cols: np.ndarray, idx: np.ndarray, t: np.ndarray, local: np.ndarray) -> np.ndarray:
    # cols: (n_used, w) vectors on the window columns; local[i] maps a global vector index to cols
    h = idx.size
    w = cols.shape[1]
    out = np.empty((h, w), np.float32)
    for r in numba.prange(h):
        a = cols[local[idx[r]]]
        b = cols[local[idx[r] + 1]] if t[r] > 0.0 else a
        tr = t[r]
        for c in range(w):
            out[r, c] = (1.0 - tr) * a[c] + tr * b[c]
    return out


def _interp_vectors(
    vector_lines: np.ndarray,
    pixels: list[np.ndarray] | np.ndarray,
    values: list[np.ndarray] | np.ndarray,
    window: Window,
) -> np.ndarray:
    """Separable bilinear interpolation of LUT vectors onto ``window`` → float32 (h, w)."""
    row_off, col_off, height, width = _window_bounds(window)
    rows = np.arange(row_off, row_off + height, dtype=np.float64)
    cols = np.arange(col_off, col_off + width, dtype=np.float64)
    idx, t = _bracket(rows, vector_lines.astype(np.float64))
    used = np.unique(np.concatenate([idx, np.minimum(idx + 1, vector_lines.size - 1)]))
    local = np.full(vector_lines.size, -1, np.int64)
    local[used] = np.arange(used.size)
    on_cols = np.stack([np.interp(cols, pixels[k], values[k]) for k in used])
    return _blend_rows(on_cols, idx, t, local)


def calibration_window(cal: CalibrationLut, window: Window, quantity: str = "sigma0") -> np.ndarray:
    """Calibration LUT A (``quantity`` sigma0/beta0/gamma0, or "dn") on ``window`` → float32 (h, w)."""
    values = cal.values(quantity)
    return _interp_vectors(cal.line, cal.pixel, values, window)


def _azimuth_block_rows(noise: NoiseLut) -> list[tuple[float, float]]:
    """Per azimuth block, the (first, last) lines it scales: its own lines, plus the lines past
    its last line up to the next block of overlapping samples (or the image end, ``inf``), plus
    the lines before it if no block of overlapping samples comes earlier (``-inf``)."""
    blocks = noise.azimuth_blocks
    out = []
    for b in blocks:
        others = [o for o in blocks if o is not b and o.first_sample <= b.last_sample and b.first_sample <= o.last_sample]
        later = [o.first_line for o in others if o.first_line > b.last_line]
        earlier = [o for o in others if o.last_line < b.first_line]
        last = min(later) - 1 if later else math.inf
        first = b.first_line if earlier else -math.inf
        out.append((first, last))
    return out


def noise_window(noise: NoiseLut, window: Window) -> np.ndarray:
    """Thermal noise N (DN² units) on ``window`` → float32 (h, w); see module doc for the rules."""
    rv = noise.range_vectors
    out = _interp_vectors(rv.line, list(rv.pixel), list(rv.values), window)
    row_off, col_off, height, width = _window_bounds(window)
    row_end, col_end = row_off + height - 1, col_off + width - 1
    for block, (first, last) in zip(noise.azimuth_blocks, _azimuth_block_rows(noise)):
        r0, r1 = int(max(first, row_off)), int(min(last, row_end))
        c0, c1 = max(block.first_sample, col_off), min(block.last_sample, col_end)
        if r0 > r1 or c0 > c1:
            continue
        # np.interp clamps to the block's first/last value outside its line list
        factor = np.interp(np.arange(r0, r1 + 1, dtype=np.float64), block.line, block.values)
        sub = out[r0 - row_off : r1 - row_off + 1, c0 - col_off : c1 - col_off + 1]
        sub *= factor.astype(np.float32)[:, None]
    return out


@numba.njit(cache=True, parallel=True, nogil=True)
def _calibrate_kernel(dn, a, n, subtract, valid, has_valid, out):
    h, w = dn.shape
    for r in numba.prange(h):
        for c in range(w):
            d = np.float64(dn[r, c])
            if d == 0.0 or (has_valid and not valid[r, c]):
                out[r, c] = np.nan
                continue
            p = d * d
            if subtract:
                p -= np.float64(n[r, c])
            aa = np.float64(a[r, c])
            out[r, c] = p / (aa * aa)


def calibrate(
    dn: np.ndarray,
    calibration_lut: np.ndarray,
    noise: np.ndarray | None = None,
    params: RadiometryParams = RadiometryParams(),
    valid: np.ndarray | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """``(DN² − N) / A²`` elementwise → float32, unclipped (negative where DN² < N); DN == 0 and
    ``~valid`` → NaN. ``params.negative`` is not applied here (see :func:`to_db`). ``out``: a
    float32 array of ``dn``'s shape to write into (e.g. a view of a padded buffer)."""
    if dn.shape != calibration_lut.shape or (noise is not None and noise.shape != dn.shape):
        raise ValueError(f"shape mismatch: dn {dn.shape}, lut {calibration_lut.shape}, noise {None if noise is None else noise.shape}")
    subtract = params.thermal_noise and noise is not None
    if out is None:
        out = np.empty(dn.shape, np.float32)
    elif out.shape != dn.shape or out.dtype != np.float32:
        raise ValueError(f"out: expected float32 {dn.shape}, got {out.dtype} {out.shape}")
    _calibrate_kernel(
        np.ascontiguousarray(dn), np.ascontiguousarray(calibration_lut, dtype=np.float32),
        np.ascontiguousarray(noise, dtype=np.float32) if subtract else np.zeros((1, 1), np.float32),
        subtract, np.ascontiguousarray(valid, dtype=np.bool_) if valid is not None else np.ones((1, 1), np.bool_),
        valid is not None, out,
    )
    return out


@numba.njit(cache=True, parallel=True, nogil=True)
def _to_db_kernel(x, floor_mode, floor, out):
    flat_in = x.reshape(-1)
    flat_out = out.reshape(-1)
    n = flat_in.size
    chunk = 65536
    for k in numba.prange((n + chunk - 1) // chunk):
        a = k * chunk
        b = min(a + chunk, n)
        db_into(flat_in[a:b], floor_mode, floor, flat_out[a:b])


def to_db(linear: np.ndarray, negative: str = "nan", floor: float = 1e-5) -> np.ndarray:
    """10·log10 → float32 (:func:`.vector_math.db_into`). NaN stays NaN. ``negative`` (a
    :class:`RadiometryParams` policy): ``"floor"``: values below ``floor`` (including ≤ 0) give
    10·log10(``floor``); ``"nan"`` and ``"zero"``: values ≤ 0 give NaN (the dB of zero power is
    not a number)."""
    if negative not in ("floor", "nan", "zero"):
        raise ValueError(f"negative must be 'floor', 'nan' or 'zero', got {negative!r}")
    x = np.ascontiguousarray(linear, dtype=np.float32)
    out = np.empty(x.shape, np.float32)
    if x.size:
        _to_db_kernel(x, negative == "floor", float(floor), out)
    return out


# -- border noise ------------------------------------------------------------------------------

@numba.njit(cache=True)
def _first_valid(strips: np.ndarray, threshold_factor: float, run: int) -> np.ndarray:
    """For each strip (row of ``strips``, ordered from the scene edge inward) the index where data
    starts: first i with strip[i] and mean(strip[i:i+run]) both > factor × mean(strip); strip
    length if none."""
    n, m = strips.shape
    out = np.full(n, m, np.int64)
    for k in range(n):
        s = strips[k]
        total = 0.0
        for i in range(m):
            total += s[i]
        ref = threshold_factor * total / m
        if ref <= 0.0:
            continue
        acc = 0.0
        r = min(run, m)
        for i in range(r):
            acc += s[i]
        for i in range(m - r + 1):
            if s[i] > ref and acc / r > ref:
                out[k] = i
                break
            if i + r < m:
                acc += s[i + r] - s[i]
    return out


def _corrected_amplitude(dn: np.ndarray, n: np.ndarray) -> np.ndarray:
    p = dn.astype(np.float64) ** 2 - n
    return np.sqrt(np.maximum(p, 0.0))


def border_valid_mask(
    read_dn: Callable[[Window], np.ndarray],
    noise: NoiseLut,
    shape: tuple[int, int],
    window: Window,
    params: RadiometryParams = RadiometryParams(),
) -> np.ndarray:
    """Edge-trim mask (True = valid) of ``window`` for a scene of ``shape`` (see module doc).

    ``read_dn(window)`` returns scene DN of any window (e.g. ``product.read_measurement``); only
    strips within ``border_limit`` of the scene edges that cross the window are read.
    """
    lines, samples = shape
    row_off, col_off, height, width = _window_bounds(window)
    limit_r = min(params.border_limit, samples)
    limit_l = min(params.border_limit, lines)
    mask = np.ones((height, width), np.bool_)

    def strip(win: Window) -> np.ndarray:
        return _corrected_amplitude(read_dn(win), noise_window(noise, win))

    # left / right edges: per line
    if col_off < limit_r:
        w = Window(0, row_off, limit_r, height)
        start = _first_valid(strip(w), params.trim_threshold, params.trim_run)
        c = np.arange(col_off, col_off + width)
        mask &= c[None, :] >= start[:, None]
    if col_off + width > samples - limit_r:
        w = Window(samples - limit_r, row_off, limit_r, height)
        start = _first_valid(strip(w)[:, ::-1].copy(), params.trim_threshold, params.trim_run)
        last = samples - 1 - start
        c = np.arange(col_off, col_off + width)
        mask &= c[None, :] <= last[:, None]
    # top / bottom edges: per column
    if row_off < limit_l:
        w = Window(col_off, 0, width, limit_l)
        start = _first_valid(strip(w).T.copy(), params.trim_threshold, params.trim_run)
        r = np.arange(row_off, row_off + height)
        mask &= r[:, None] >= start[None, :]
    if row_off + height > lines - limit_l:
        w = Window(col_off, lines - limit_l, width, limit_l)
        start = _first_valid(strip(w)[::-1].T.copy(), params.trim_threshold, params.trim_run)
        last = lines - 1 - start
        r = np.arange(row_off, row_off + height)
        mask &= r[:, None] <= last[None, :]
    return mask


def uses_edge_trim(params: RadiometryParams, ipf: tuple[int, ...]) -> bool:
    """Whether the SNAP-like edge trim applies (``auto``: IPF < 2.90)."""
    if params.border_noise == "edge_trim":
        return True
    if params.border_noise == "auto":
        return tuple(ipf[:2]) < LEGACY_IPF
    return False


def radiometry_window(product, polarisation: str, window: Window, params: RadiometryParams = RadiometryParams()) -> np.ndarray:
    """Read DN of ``window`` from a SafeProduct and return calibrated, denoised float32 (NaN = no data)."""
    from .safe import check_window

    ann = product.annotation(polarisation)
    window = check_window(window, ann.shape, product.source)
    dn = product.read_measurement(polarisation, window)
    cal = product.calibration(polarisation)
    noise = product.noise(polarisation) if params.thermal_noise or uses_edge_trim(params, product.manifest.ipf) else None
    valid = None
    if uses_edge_trim(params, product.manifest.ipf):
        valid = border_valid_mask(
            lambda w: product.read_measurement(polarisation, w), noise, ann.shape, window, params
        )
    return calibrate(
        dn,
        calibration_window(cal, window, params.quantity),
        noise_window(noise, window) if params.thermal_noise else None,
        params,
        valid,
    )
