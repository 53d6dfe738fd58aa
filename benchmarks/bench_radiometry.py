"""Benchmark: radiometry (thermal noise + σ0 calibration) and Refined Lee 7×7 on an 11,000 × 11,000
window of a real IW GRD geometry (S1A 2021-01-19 sample LUTs), VV + VH, processed in row blocks
with the speckle halo as the pipeline does. DN are synthetic (σ0 speckle drawn through the real
LUTs: DN = sqrt(σ0·A² + N)), built before timing and held in memory (no TIFF I/O is timed).

Last line of output: one JSON object (wall_s, peak_rss_mb, per-step seconds).
"""

from __future__ import annotations

import argparse
import importlib.resources
import json
import resource
import time

import numpy as np
from rasterio.windows import Window

from ben_sen1_assets.sar import open_safe
from ben_sen1_assets.sar.radiometry import RadiometryParams, calibrate, calibration_window, noise_window, to_db
from ben_sen1_assets.sar.speckle import SpeckleFilter

PRODUCT = "S1A_IW_GRDH_1SDV_20210119T031653_20210119T031718_036201_043ED0_8255.SAFE"
MEAN_SIGMA0 = {"VV": 0.05, "VH": 0.01}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def synthesise_dn(product, pol: str, window: Window, block: int, seed: int) -> np.ndarray:
    """uint16 DN for ``window`` from gamma speckle (L = 4.4) around MEAN_SIGMA0[pol]."""
    rng = np.random.default_rng(seed)
    cal, noise = product.calibration(pol), product.noise(pol)
    h, w = int(window.height), int(window.width)
    dn = np.empty((h, w), np.uint16)
    for r in range(0, h, block):
        bw = Window(window.col_off, window.row_off + r, w, min(block, h - r))
        a = calibration_window(cal, bw).astype(np.float64)
        n = noise_window(noise, bw)
        sigma0 = rng.gamma(4.4, MEAN_SIGMA0[pol] / 4.4, size=a.shape)
        dn[r : r + a.shape[0]] = np.clip(np.rint(np.sqrt(sigma0 * a * a + n)), 1, 65535)
    return dn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=11000)
    parser.add_argument("--block", type=int, default=1024, help="rows per block")
    args = parser.parse_args()

    path = importlib.resources.files("ben_sen1_assets") / "data" / "s1_samples" / PRODUCT
    product = open_safe(str(path))
    shape = product.annotation("VV").shape
    size = args.size
    window = Window(col_off=(shape[1] - size) // 2, row_off=(shape[0] - size) // 2, width=size, height=size)
    params = RadiometryParams()  # σ0, thermal noise, floor 1e-5
    speckle = SpeckleFilter(kind="refined_lee", window=7, looks=4.4)
    print(f"product {product.name}, scene {shape}, window {window}, block {args.block} rows", flush=True)

    t = time.perf_counter()
    dns = {pol: synthesise_dn(product, pol, window, args.block, seed=i) for i, pol in enumerate(("VV", "VH"))}
    print(f"synthesised DN in {time.perf_counter() - t:.1f} s (not timed), rss {peak_rss_mb():.0f} MB", flush=True)

    # JIT warm-up (numba cache) on a tiny window, not timed
    t = time.perf_counter()
    tiny = Window(window.col_off, window.row_off, 16, 16)
    speckle.apply(calibrate(dns["VV"][:16, :16], calibration_window(product.calibration("VV"), tiny),
                            noise_window(product.noise("VV"), tiny), params))
    warmup_s = time.perf_counter() - t

    steps = {"luts_s": 0.0, "calibrate_s": 0.0, "speckle_s": 0.0, "db_s": 0.0}
    halo = speckle.halo
    checksum = 0.0
    valid = 0
    t_all = time.perf_counter()
    for pol in ("VV", "VH"):
        cal, noise, dn = product.calibration(pol), product.noise(pol), dns[pol]
        for r in range(0, size, args.block):
            h = min(args.block, size - r)
            r0, r1 = max(r - halo, 0), min(r + h + halo, size)  # halo rows inside the window
            bw = Window(window.col_off, window.row_off + r0, size, r1 - r0)
            t = time.perf_counter()
            a = calibration_window(cal, bw, params.quantity)
            n = noise_window(noise, bw)
            steps["luts_s"] += time.perf_counter() - t
            t = time.perf_counter()
            sigma0 = calibrate(dn[r0:r1], a, n, params)
            steps["calibrate_s"] += time.perf_counter() - t
            del a, n
            t = time.perf_counter()
            filtered = speckle.apply(sigma0)[r - r0 : r - r0 + h]
            steps["speckle_s"] += time.perf_counter() - t
            t = time.perf_counter()
            db = to_db(filtered)
            steps["db_s"] += time.perf_counter() - t
            checksum += float(np.nansum(db, dtype=np.float64))
            valid += int(np.isfinite(db).sum())
            if (r // args.block) % 4 == 0:
                print(f"{pol} rows {r}-{r + h - 1} done, {time.perf_counter() - t_all:.1f} s, rss {peak_rss_mb():.0f} MB", flush=True)
    wall = time.perf_counter() - t_all
    result = {
        "benchmark": "radiometry+refined_lee_7x7",
        "window": [size, size],
        "polarisations": ["VV", "VH"],
        "pixels": 2 * size * size,
        "block_rows": args.block,
        "wall_s": round(wall, 2),
        "mpix_per_s": round(2 * size * size / wall / 1e6, 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        **{k: round(v, 2) for k, v in steps.items()},
        "jit_warmup_s": round(warmup_s, 2),
        "mean_db": round(checksum / valid, 3),
        "valid_fraction": round(valid / (2 * size * size), 6),
        "radiometry": params.to_dict(),
        "speckle": speckle.to_dict(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
