"""Benchmark: generate one FULL-SIZE demo product (VV+VH, 16705 × 26102, zipped).

Run: ``python benchmarks/bench_demo_archive.py [--scene rome|france] [--keep DIR]``.
A small product is built first to warm up numba (compiled kernels are cached on disk); the
timed figure is the full-size build alone. The LAST output line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ben_sen1_assets.demo_archive import build_product, demo_products  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scene", default="rome", choices=["rome", "france"])
    parser.add_argument("--keep", default=None, help="write the product here instead of a temp folder")
    args = parser.parse_args()
    products = {p.label: p for p in demo_products(full_size=True)}
    full = products[f"{args.scene}-full"]
    out = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-demo-"))
    try:
        t = time.perf_counter()
        build_product(products[f"{args.scene}-a"], out / "warmup", seed=1)
        warm = time.perf_counter() - t
        t = time.perf_counter()
        zip_path = build_product(full, out, seed=1, progress=lambda m: print(f"{time.perf_counter() - t:6.1f} s  {m}", flush=True))
        wall = time.perf_counter() - t
        with zipfile.ZipFile(zip_path) as zf:
            members = {i.filename.rsplit("/", 1)[-1]: i.file_size for i in zf.infolist()}
        tiffs = {k: v for k, v in members.items() if k.endswith(".tiff")}
        result = {
            "benchmark": "demo_archive_full_size_product",
            "product": zip_path.name,
            "scene": args.scene,
            "wall_s": round(wall, 2),
            "warmup_small_product_s": round(warm, 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "zip_size_mb": round(zip_path.stat().st_size / 1e6, 1),
            "measurement_tiff_bytes": tiffs,
            "unzipped_size_mb": round(sum(members.values()) / 1e6, 1),
        }
    finally:
        if not args.keep:
            shutil.rmtree(out, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
