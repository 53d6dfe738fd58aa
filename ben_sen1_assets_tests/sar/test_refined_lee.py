"""The Refined Lee kernels against the filter's per-pixel definition, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from ben_sen1_assets.sar.refined_lee import CHUNK
from ben_sen1_assets.sar.speckle import SpeckleFilter
from ben_sen1_assets_tests.sar.test_speckle import _speckle


def _refined_lee_per_pixel(img: np.ndarray, ws: int, looks: float) -> np.ndarray:
    """Refined Lee written pixel by pixel in plain Python (the module docstring's definition: 3×3
    sub-window means, 4 gradients, 8 edge-aligned half windows, MMSE; float64 sums in row-major
    order, squares in float32): the reference the chunked numba kernel must equal bit for bit."""
    h = ws // 2
    sub, stride = (3, (ws - 3) // 2) if ws <= 9 else (5, (ws - 5) // 2)
    dr, dc = np.mgrid[-h : h + 1, -h : h + 1]
    masks = [dc <= 0, dc >= 0, dr <= 0, dr >= 0, dc >= dr, dc <= dr, dr + dc <= 0, dr + dc >= 0, np.ones((ws, ws), bool)]
    p = np.pad(img, h, constant_values=np.nan)

    def box_mean(r, c):  # sub-window with upper-left corner (r, c) of p, float32 as stored
        s, n = 0.0, 0
        for i in range(sub):
            for j in range(sub):
                v = p[r + i, c + j]
                if v == v:
                    s += float(v)
                    n += 1
        return float(np.float32(s / n)) if n else float("nan")

    nv2 = 1.0 / looks
    out = np.full(img.shape, np.nan, np.float32)
    for r in range(img.shape[0]):
        for c in range(img.shape[1]):
            z = p[r + h, c + h]
            if z != z:
                continue
            M = np.array([[box_mean(r + a * stride, c + b * stride) for b in range(3)] for a in range(3)])
            k = 8
            if not np.isnan(M).any():
                g = [abs(M[0, 2] + M[1, 2] + M[2, 2] - M[0, 0] - M[1, 0] - M[2, 0]),
                     abs(M[0, 1] + M[0, 2] + M[1, 2] - M[1, 0] - M[2, 0] - M[2, 1]),
                     abs(M[0, 0] + M[0, 1] + M[0, 2] - M[2, 0] - M[2, 1] - M[2, 2]),
                     abs(M[0, 0] + M[0, 1] + M[1, 0] - M[1, 2] - M[2, 1] - M[2, 2])]
                pairs = [((1, 0), (1, 2), 0, 1), ((0, 2), (2, 0), 4, 5), ((0, 1), (2, 1), 2, 3), ((0, 0), (2, 2), 6, 7)]
                best = 0
                for d in range(1, 4):
                    if g[d] > g[best]:
                        best = d
                a, b, k_a, k_b = pairs[best]
                k = k_a if abs(M[a] - M[1, 1]) < abs(M[b] - M[1, 1]) else k_b
            s = s2 = 0.0
            n = 0
            for i in range(ws):
                for j in range(ws):
                    v = p[r + i, c + j]
                    if masks[k][i, j] and v == v:
                        s += float(v)
                        s2 += float(v * v)  # float32 square
                        n += 1
            mean = s / n
            var = s2 / n - mean * mean
            if var <= 0.0:
                out[r, c] = mean
                continue
            var_x = max((var - mean * mean * nv2) / (1.0 + nv2), 0.0)
            out[r, c] = mean + var_x / var * (float(z) - mean)
    return out


@pytest.mark.parametrize("ws", [5, 7, 9, 11])
def test_refined_lee_kernel_equals_the_per_pixel_definition(ws):
    rng = np.random.default_rng(ws)
    img = _speckle((37, 300), mean=0.05, looks=4.4, seed=ws)
    img[:, 150:] *= 6.0  # an edge
    img[rng.random(img.shape) < 0.03] = np.nan
    img[10:14, 40:60] = np.nan
    img[20] -= 0.04  # unclipped negatives after noise removal
    ours = SpeckleFilter("refined_lee", window=ws, looks=4.4).apply(img)
    ref = _refined_lee_per_pixel(img, ws, 4.4)
    assert np.array_equal(ours, ref, equal_nan=True), np.nanmax(np.abs(ours - ref))


@pytest.mark.parametrize("ws", [5, 7])
def test_refined_lee_chunks_without_nan_equal_the_per_pixel_definition(ws):
    """Most of a scene holds no NaN: chunks whose window rows are all finite take the kernel's lean
    pass (counts from the mask sizes). Beside them, chunks with a NaN block and the image's edge."""
    img = _speckle((26, 2 * CHUNK + 90), mean=0.05, looks=4.4, seed=ws)
    img[:, 300:] *= 6.0  # an edge inside the clean chunk
    img[:, 420:424] = 1.5  # a bright line: large squares beside small values
    img[12:15, 600:610] = np.nan
    img[18] -= 0.04  # unclipped negatives after noise removal
    h = ws // 2
    padded = np.pad(img, h, constant_values=np.nan)
    clean = [(r, c0) for r in range(img.shape[0]) for c0 in range(0, img.shape[1], CHUNK)
             if not np.isnan(padded[r : r + ws, c0 : c0 + CHUNK + ws - 1]).any()]
    assert len(clean) > img.shape[0] // 2  # the lean pass is taken (rows × chunk 1)
    ours = SpeckleFilter("refined_lee", window=ws, looks=4.4).apply(img)
    ref = _refined_lee_per_pixel(img, ws, 4.4)
    assert np.array_equal(ours, ref, equal_nan=True), np.nanmax(np.abs(ours - ref))
