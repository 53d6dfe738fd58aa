"""CLI: ``python -m ben_sen1_assets.demo_archive [--folder DIR] [--full-size] [--seed N]``."""

from __future__ import annotations

import argparse
import sys
import time

from .archive import DEFAULT_SEED, build_demo_archive, default_archive_folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ben_sen1_assets.demo_archive",
        description="Build the demo archive: Sentinel-1 IW GRDH SAFE zips with SIMULATED pixels on real metadata.",
    )
    parser.add_argument("--folder", default=None, help=f"archive folder (default {default_archive_folder()})")
    parser.add_argument("--full-size", action="store_true", help="also build the full scenes (≈1.7 GB each)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="speckle seed (default %(default)s)")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    paths = build_demo_archive(args.folder, seed=args.seed, full_size=args.full_size,
                               progress=lambda msg: print(msg, flush=True))
    for p in paths:
        print(f"{p}  {p.stat().st_size / 1e6:.1f} MB")
    print(f"done in {time.perf_counter() - t0:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
