"""Benchmark: full-tile outputs on 33UUP: mosaic of 3 per-product COGs covering the whole
10980 x 10980 tile (closest_per_patch with a choice for all 8,281 patches), quicklook, the
streamed patch Zarr store of all 8,281 patches, a v1 export of one patch row (91 patches), and
that row through every dataset layout (v1 + v2 folders, tables, reference maps), the LMDB and
the band statistics.

Inputs (synthetic dB, partial swaths with NaN) are written before timing, in a separate
process; every timed step runs in its own child process so its peak RSS is its own.

Last line of output: one JSON object (seconds and peak RSS in MB per step).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

# run from a checkout: import this checkout's package, not an installed one
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MGRS = "33UUP"
S2 = datetime(2017, 6, 13, 10, 10, 31, tzinfo=timezone.utc)
PRODUCTS = [
    ("S1A_IW_GRDH_1SDV_20170613T165043_20170613T165108_017018_01C579_7EEC", "2017-06-13T16:50:43Z", (0, 8000)),
    ("S1B_IW_GRDH_1SDV_20170612T165809_20170612T165834_006020_00A90D_AF62", "2017-06-12T16:58:09Z", (3000, 10980)),
    ("S1A_IW_GRDH_1SDV_20170608T164300_20170608T164325_016945_01C33B_0000", "2017-06-08T16:43:00Z", (0, 10980)),
]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def make_inputs(folder: Path) -> None:
    import rasterio
    from upath import UPath

    from ben_sen1_assets.formats.cog import write_cog
    from ben_sen1_assets.grid.tile import tile_grid

    tile = tile_grid(MGRS)
    rng = np.random.default_rng(0)
    for k, (name, start, (c0, c1)) in enumerate(PRODUCTS):
        plain = folder / f"p{k}.plain.tif"
        with rasterio.open(plain, "w", driver="GTiff", width=10980, height=10980, count=2,
                           dtype="float32", crs=tile.crs, transform=tile.transform,
                           nodata=float("nan"), tiled=True, compress="DEFLATE", zlevel=1) as dst:
            dst.set_band_description(1, "VV")
            dst.set_band_description(2, "VH")
            dst.update_tags(source_product=name, start_time=start, mission=name[:3],
                            processing=json.dumps({"calibration": "sigma0"}))
            for r in range(0, 10980, 1024):
                h = min(1024, 10980 - r)
                vv = rng.normal(-12.6, 5.1, (h, 10980)).astype(np.float32)
                vv[:, :c0] = np.nan
                vv[:, c1:] = np.nan
                dst.write(np.stack([vv, vv - 6.7]), window=rasterio.windows.Window(0, r, 10980, h))
        write_cog(plain, UPath(folder / f"p{k}.tif"))
        plain.unlink()


def step(name: str, folder: Path) -> dict:
    from upath import UPath

    t0 = time.perf_counter()
    if name == "inputs":
        make_inputs(folder)
        extra = {}
    elif name == "mosaic":
        from ben_sen1_assets.outputs.mosaic import mosaic_tile

        # per patch: the closest product whose columns contain the patch (as a selection would)
        choice = {}
        for y in range(91):
            for x in range(91):
                for pname, _, (c0, c1) in sorted(PRODUCTS, key=lambda p: abs(
                        (datetime.fromisoformat(p[1].replace("Z", "+00:00")) - S2).total_seconds())):
                    if c0 <= x * 120 and (x + 1) * 120 <= c1:
                        choice[(x, y)] = pname
                        break
        res = mosaic_tile([UPath(folder / f"p{k}.tif") for k in range(3)], MGRS, S2,
                          UPath(folder / "mosaic.tif"), patch_choice=choice)
        extra = {"valid_fraction": round(res.valid_fraction, 4)}
    elif name == "quicklook":
        from ben_sen1_assets.outputs.mosaic import quicklook_png

        png = quicklook_png(UPath(folder / "mosaic.tif"))
        extra = {"png_kb": round(len(png) / 1024, 1)}
    elif name == "patches":
        from ben_sen1_assets.outputs.patches import write_patch_store

        n = write_patch_store(UPath(folder / "mosaic.tif"), UPath(folder / "patches.zarr"))
        extra = {"n_patches": n}
    elif name == "export_row":
        from ben_sen1_assets.formats.zarr_store import open_zarr
        from ben_sen1_assets.outputs.export import export_bigearthnet_v1

        ds = open_zarr(UPath(folder / "patches.zarr")).isel(patch=slice(91 * 40, 91 * 41))
        names = export_bigearthnet_v1([ds], UPath(folder / "BigEarthNet-S1-v1.0"))
        extra = {"n_exported": len(names)}
    elif name == "datasets_row":
        # one patch row through every dataset layout: v1 + v2 folders, split files, metadata
        # tables, reference maps (export_bigearthnet), then the LMDB and the band statistics
        from ben_sen1_assets.formats.zarr_store import open_zarr
        from ben_sen1_assets.outputs.bigearthnet_layout import export_bigearthnet
        from ben_sen1_assets.outputs.lmdb_export import LMDB_DIR, metadata_s1_names, write_bigearthnet_lmdb
        from ben_sen1_assets.outputs.statistics import band_statistics

        ds = open_zarr(UPath(folder / "patches.zarr")).isel(patch=slice(91 * 40, 91 * 41))
        root = UPath(folder / "exports")
        t1 = time.perf_counter()
        summary = export_bigearthnet([ds], root)
        t2 = time.perf_counter()
        n = write_bigearthnet_lmdb([ds], metadata_s1_names(root), root / LMDB_DIR)
        t3 = time.perf_counter()
        band_statistics([ds], dict(zip(summary.records["s1_name"], summary.records["split"])))
        t4 = time.perf_counter()
        extra = {"n_exported": len(summary.v2_names), "n_lmdb": n, "export_all_layouts_s": round(t2 - t1, 2),
                 "lmdb_s": round(t3 - t2, 2), "statistics_s": round(t4 - t3, 2)}
    else:
        raise SystemExit(f"unknown step {name}")
    return {"seconds": round(time.perf_counter() - t0, 2), "peak_rss_mb": round(peak_rss_mb(), 1), **extra}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--step")
    ap.add_argument("--folder", help="work folder (kept; inputs reused if present)")
    args = ap.parse_args()
    if args.step:
        print(json.dumps(step(args.step, Path(args.folder))))
        return
    with tempfile.TemporaryDirectory(prefix="bench_outputs_") as tmp:
        folder = Path(args.folder or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        if not (folder / "p2.tif").exists():
            # in a child too: Linux carries a process's peak RSS over to the children it forks,
            # so the inputs' memory must not be this process's
            subprocess.run([sys.executable, __file__, "--step", "inputs", "--folder", str(folder)], check=True)
        result = {"inputs_s": round(time.perf_counter() - t0, 1)}
        for name in ("mosaic", "quicklook", "patches", "export_row", "datasets_row"):
            out = subprocess.run([sys.executable, __file__, "--step", name, "--folder", str(folder)],
                                 check=True, stdout=subprocess.PIPE, text=True)
            result[name] = json.loads(out.stdout.strip().splitlines()[-1])
            print(name, result[name], flush=True)
        sizes = {p.name: p.stat().st_size for p in folder.glob("*.tif")}
        result["mosaic_cog_mb"] = round(sizes["mosaic.tif"] / 2**20, 1)
        result["patch_store_mb"] = round(sum(p.stat().st_size for p in (folder / "patches.zarr").rglob("*")
                                             if p.is_file()) / 2**20, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
