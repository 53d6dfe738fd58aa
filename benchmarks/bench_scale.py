"""Benchmark: full-size products over several whole tiles through Dagster, per executor.

Input (not timed): the demo archive's full-size products (``rome-full``: real S1B 2021-12-23
annotation, cycle-shifted to 2021-12-11, over 32TQM and 33TTG; ``france-full``: real S1A 2021-08-09
annotation shifted to 2021-07-28, over 31TEL), simulated DN (``ben_sen1_assets.demo_archive``,
≈3 min each, cached in ``--work``). Catalog: one S2 product per tile, its area of interest the
tile ∩ the scene footprint shrunk by ``AOI_INSET_DEG`` (whole-tile catalogs would ask for patches
no scene covers). DEM: a stated constant height (98.6 m above the ellipsoid) for every tile.

For each executor (``multiprocess``: the default, 2 processes; ``dask``: a local cluster of two
worker processes) a fresh interpreter with its own Dagster instance and storage runs ``tile_job``
(selection, download from the local archive with MD5 verification, chain, mosaic, patches, checks)
for every tile, one run after the other, as a backfill's runs would go through a queue limited
to one run at a time. Reported per executor:

- ``pairs``: (scene, tile) pairs processed (COGs written by ``preprocessed_s1``), ``tiles``;
- ``wall_s`` and ``pairs_per_hour``; per run the wall time and the step time;
- ``orchestration_overhead_s``: per run, the time during which no step executed (launch, step
  process start-up, between steps; what Dagster adds around the science), summed over runs, and its
  share of the wall time;
- ``step_s``: per asset, the step durations summed over runs.

Then ``estimate``: BigEarthNet v1 has 125 S2 tiles and 357 (scene, tile) pairs (312 scenes;
``bigearthnet_v1_s1_scenes_per_s2_tile.csv``, see DOMAIN.md). The time per tile of the
tile-level steps (mosaic, patches, ... everything but ``preprocessed_s1``) and the time per pair of
``preprocessed_s1`` measured here give hours on this machine; a cluster of N such machines divides
it by N (tiles are independent; downloads are not included: the archive is local).

Run: ``python benchmarks/bench_scale.py [--work DIR] [--executors multiprocess dask]``.
The LAST output line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

HEIGHT_M = 98.6
AOI_INSET_DEG = 0.05  # ≈ 4-5 km: keeps the area of interest inside the scene's valid pixels
PRODUCTS = {"rome-full": ("2021-12-11T10:00:00Z", ("32TQM", "33TTG")), "france-full": ("2021-07-28T10:50:00Z", ("31TEL",))}
BIGEARTHNET_TILES = 125
BIGEARTHNET_PAIRS = 357


def ensure_products(work: Path, labels: list[str]) -> dict[str, Path]:
    from ben_sen1_assets.demo_archive import build_product, demo_products

    archive = work / "archive"
    archive.mkdir(parents=True, exist_ok=True)
    known = {p.label: p for p in demo_products(full_size=True)}
    out = {}
    for label in labels:
        product = known[label]
        marker = archive / f"{label}.name"
        if marker.exists() and (archive / marker.read_text()).exists():
            out[label] = archive / marker.read_text()
            continue
        print(f"building {label} (not timed) ...", flush=True)
        path = build_product(product, archive, seed=20211223 if label.startswith("rome") else 20210809)
        marker.write_text(path.name)
        out[label] = path
    return out


def write_catalog(work: Path, products: dict[str, Path]) -> Path:
    import csv

    from ben_sen1_assets.grid import tile_grid
    from ben_sen1_assets.sar import open_safe

    rows = []
    for label, path in products.items():
        sensing, tiles = PRODUCTS[label]
        with open_safe(path) as p:
            footprint = p.manifest.footprint_polygon.buffer(-AOI_INSET_DEG)
        for tile in tiles:
            aoi = tile_grid(tile).footprint_wgs84().intersection(footprint)
            rows.append({"mgrs": tile, "sensing_time": sensing, "aoi_wkt": aoi.wkt,
                         "name": f"bench_scale: {tile} ∩ {label} footprint"})
    path = work / "catalog.csv"
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["mgrs", "sensing_time", "aoi_wkt", "name"])
        writer.writeheader()
        writer.writerows(rows)
    return path


# ------------------------------------------------------------------------ child (one executor)

def scale_tile_job():
    """``tile_job`` with the benchmark's resources (constant DEM); module level for reconstructable."""
    import dagster as dg

    from ben_sen1_assets import definitions as d
    from ben_sen1_assets.resources.processing import SarProcessingResource

    resources = {**d.RESOURCES, "sar_processing": SarProcessingResource(
        dem_kind="constant", dem_height=HEIGHT_M, dem_vertical_datum="ellipsoid")}
    defs = dg.Definitions(assets=d.ASSETS, asset_checks=d.ASSET_CHECKS, resources=resources,
                          jobs=[d.tile_job], executor=d.executor_for(d.SETTINGS.executor))
    return defs.resolve_job_def("tile_job")


def _union_seconds(intervals: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for a, b in sorted(intervals):
        if b <= end:
            continue
        total += b - max(a, end)
        end = b
    return total


def run_child(executor: str, home: Path) -> dict:
    import dagster as dg

    bench_scale = sys.modules[__name__]
    keys = sorted(json.loads(os.environ["BENCH_SCALE_KEYS"]))
    cluster = None
    run_config = {}
    if executor == "dask":
        from dask.distributed import LocalCluster

        cluster = LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None)
        run_config = {"execution": {"config": {"cluster": {"existing": {"address": cluster.scheduler_address}}}}}
    runs = []
    t0 = time.perf_counter()
    try:
        with dg.DagsterInstance.get() as instance:
            for key in keys:
                t = time.perf_counter()
                result = dg.execute_job(dg.reconstructable(bench_scale.scale_tile_job), instance=instance,
                                        run_config=run_config, tags={"dagster/partition": key}, raise_on_error=False)
                wall = time.perf_counter() - t
                if not result.success:
                    raise RuntimeError(f"{executor}: run for {key} failed")
                records = instance.all_logs(result.run_id)
                starts, steps = {}, []
                step_s: dict[str, float] = {}
                for r in records:
                    e = r.dagster_event
                    if e is None or e.step_key is None:
                        continue
                    if e.event_type == dg.DagsterEventType.STEP_START:
                        starts[e.step_key] = r.timestamp
                    elif e.event_type in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE):
                        steps.append((starts[e.step_key], r.timestamp))
                        step_s[e.step_key] = round(r.timestamp - starts[e.step_key], 2)
                busy = _union_seconds(steps)
                runs.append({"partition": key, "wall_s": round(wall, 2), "steps_busy_s": round(busy, 2),
                             "overhead_s": round(wall - busy, 2), "step_s": step_s})
    finally:
        if cluster is not None:
            cluster.close()
    wall = time.perf_counter() - t0
    pairs = 0
    for key in keys:
        index = home / "storage" / "preprocessed_s1" / f"{key}.cogs" / "index.json"
        pairs += len(json.loads(index.read_text())["members"]) if index.exists() else 0
    step_totals: dict[str, float] = {}
    for run in runs:
        for k, v in run["step_s"].items():
            step_totals[k] = round(step_totals.get(k, 0.0) + v, 2)
    overhead = sum(r["overhead_s"] for r in runs)
    return {"executor": executor, "tiles": len(keys), "pairs": pairs, "wall_s": round(wall, 1),
            "pairs_per_hour": round(pairs / wall * 3600, 1), "orchestration_overhead_s": round(overhead, 1),
            "orchestration_overhead_share": round(overhead / wall, 3), "step_s": step_totals, "runs": runs}


def estimate(result: dict) -> dict:
    """Hours for BigEarthNet from one executor's figures (see the module docstring)."""
    step = result["step_s"]
    per_pair = sum(v for k, v in step.items() if k.startswith("preprocessed_s1")) / max(result["pairs"], 1)
    tile_level = (result["wall_s"] - per_pair * result["pairs"]) / result["tiles"]  # incl. overhead
    hours = (BIGEARTHNET_TILES * tile_level + BIGEARTHNET_PAIRS * per_pair) / 3600
    return {"executor": result["executor"], "per_pair_s": round(per_pair, 1), "per_tile_rest_s": round(tile_level, 1),
            "bigearthnet_hours_one_machine": round(hours, 1),
            "bigearthnet_hours_cluster_10_machines": round(hours / 10, 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "bench_scale"),
                        help="folder of the inputs built once and kept between runs (default: bench_scale in the temporary folder, TMPDIR)")
    parser.add_argument("--executors", nargs="+", default=["multiprocess", "dask"])
    parser.add_argument("--products", nargs="+", default=list(PRODUCTS))
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_child(args.child, Path(os.environ["BEN_SEN1_HOME"]))))
        return

    work = Path(args.work).resolve()
    products = ensure_products(work, args.products)
    catalog = write_catalog(work, products)
    from ben_sen1_assets.grid.catalog import load_catalog_file

    keys = sorted(load_catalog_file(catalog).keys())
    result = {"benchmark": "scale_products_x_tiles_through_dagster", "products": sorted(p.name for p in products.values()),
              "partitions": keys, "dem": f"constant {HEIGHT_M} m above the WGS84 ellipsoid", "executors": {},
              "load_average_1min_before": os.getloadavg()[0], "cpu_count": os.cpu_count()}
    for executor in args.executors:
        import shutil

        home = work / f"home_{executor}"
        shutil.rmtree(home, ignore_errors=True)
        (home / "dagster_home").mkdir(parents=True)
        (home / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        env = {**os.environ, "BEN_SEN1_HOME": str(home), "BEN_SEN1_CATALOG": str(catalog),
               "BEN_SEN1_ARCHIVE": str(work / "archive"), "BEN_SEN1_PROVIDER": "local",
               "BEN_SEN1_EXECUTOR": executor, "DAGSTER_HOME": str(home / "dagster_home"),
               "BENCH_SCALE_KEYS": json.dumps(keys),
               "PYTHONPATH": os.pathsep.join([str(HERE), str(HERE.parent), os.environ.get("PYTHONPATH", "")])}
        for k in ("BEN_SEN1_CONFIG", "BEN_SEN1_STORAGE", "BEN_SEN1_PRODUCT_STORE"):
            env.pop(k, None)
        proc = subprocess.run([sys.executable, "-c", f"import sys; sys.argv = ['bench_scale', '--child', '{executor}']; "
                               "import bench_scale; bench_scale.main()"],
                              env=env, capture_output=True, text=True, cwd=HERE.parent)
        if proc.returncode != 0:
            raise RuntimeError(f"{executor} failed:\n{proc.stderr[-5000:]}")
        figures = json.loads(proc.stdout.strip().splitlines()[-1])
        figures["estimate"] = estimate(figures)
        result["executors"][executor] = figures
        print(executor, json.dumps(figures), flush=True)
    result["load_average_1min_after"] = os.getloadavg()[0]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
