"""Benchmark: product selection on a whole tile, and local-catalogue scans (first vs re-scan).

Selection: 33UUP, all 8,281 patches, N synthetic products (a datatake of 3 slices per relative
orbit and date every 6 days for 4 relative orbits, footprints 250 km wide). Local catalogue: a
folder with the real sample zip padded to ``--zip-mb`` MB (a stored member appended), scanned
twice (the second from the index).

    PYTHONPATH=. python benchmarks/bench_selection.py [--zip-mb 300]   (from the repo root)

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
import zipfile
from datetime import datetime, timedelta, timezone
from importlib.resources import as_file, files
from pathlib import Path

import numpy as np
import pyproj
import shapely

from ben_sen1_assets.archive.local import LocalCatalog
from ben_sen1_assets.archive.records import ProductRecord, relative_orbit
from ben_sen1_assets.archive.selection import SelectionConfig, select_products
from ben_sen1_assets.grid.catalog import TileEntry
from ben_sen1_assets.grid.tile import tile_grid

T0 = datetime(2017, 6, 13, 10, 0, tzinfo=timezone.utc)
MOZ = "S1A_IW_GRDH_1SDV_20210119T031653_20210119T031718_036201_043ED0_8255"


def synthetic_records() -> list[ProductRecord]:
    t = tile_grid("33UUP")
    to_ll = pyproj.Transformer.from_crs(t.epsg, 4326, always_xy=True)
    cx, cy = t.centre
    out = []
    uid = 0x1000
    for k, (abs0, shift_km) in enumerate([(17013, -60), (17042, 40), (17071, -120), (17100, 110)]):
        for day in range(-12, 13, 6):
            for s in range(3):  # three consecutive slices, 170 km each along track
                start = T0 + timedelta(days=day + k * 0.7, seconds=25 * s)
                y0 = cy + 200_000 - 170_000 * s  # the tile straddles slices 0 and 1
                box = shapely.box(cx + shift_km * 1000 - 125_000, y0 - 170_000, cx + shift_km * 1000 + 125_000, y0)
                fp = shapely.transform(shapely.segmentize(box, 2000.0),
                                       lambda xy: np.column_stack(to_ll.transform(xy[:, 0], xy[:, 1])))
                absolute = abs0 + day // 12 * 175
                uid += 1
                name = (f"S1A_IW_GRDH_1SDV_{start:%Y%m%dT%H%M%S}_{start + timedelta(seconds=25):%Y%m%dT%H%M%S}_"
                        f"{absolute:06d}_{0x020000 + k * 64 + day + 12:06X}_{uid:04X}")
                out.append(ProductRecord(
                    name=name, provider_id=name, start=start.replace(microsecond=0),
                    stop=start.replace(microsecond=0) + timedelta(seconds=25), mission="S1A",
                    absolute_orbit=absolute, relative_orbit=relative_orbit("S1A", absolute),
                    pass_direction="DESCENDING", polarisations=("VV", "VH"), footprint=fp, size=None,
                    source="cdse"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--zip-mb", type=int, default=300)
    args = ap.parse_args()
    t = tile_grid("33UUP")
    entry = TileEntry("33UUP_20170613", "33UUP", T0, None, None, t.epsg, None, None, "bench")
    records = synthetic_records()
    result: dict = {"benchmark": "selection+local_scan", "n_records": len(records), "n_patches": entry.n_patches}
    for rule in ("closest_per_patch", "per_orbit"):
        cfg = SelectionConfig(rule=rule)
        select_products(records[:3], entry, cfg)  # warm-up (imports, PROJ)
        t0 = time.perf_counter()
        res = select_products(records, entry, cfg)
        result[f"{rule}_s"] = round(time.perf_counter() - t0, 3)
        result[f"{rule}_products"] = len(res.products)
        result[f"{rule}_coverage"] = round(res.coverage_fraction, 4)
        print(rule, len(res.products), "products", res.coverage_fraction, flush=True)

    with tempfile.TemporaryDirectory() as tmp, as_file(files("ben_sen1_assets") / "data" / "s1_samples") as samples:
        root = Path(tmp)
        zp = root / f"{MOZ}.zip"
        shutil.copy2(Path(samples) / "zips" / f"{MOZ}.zip", zp)
        block = np.random.default_rng(0).bytes(1 << 20)
        with zipfile.ZipFile(zp, "a", compression=zipfile.ZIP_STORED) as z, \
                z.open(f"{MOZ}.SAFE/measurement/padding.bin", "w", force_zip64=True) as f:
            for _ in range(args.zip_mb):
                f.write(block)
        size = zp.stat().st_size
        t0 = time.perf_counter()
        first = LocalCatalog(root).scan()
        t1 = time.perf_counter()
        second = LocalCatalog(root).scan()
        t2 = time.perf_counter()
        assert first.n_hashed == 1 and second.n_hashed == 0 and len(second.records) == 1
        result.update(
            zip_mb=round(size / 1e6, 1), first_scan_s=round(t1 - t0, 3), rescan_s=round(t2 - t1, 4),
            md5_mb_per_s=round(size / 1e6 / (t1 - t0), 1),
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
