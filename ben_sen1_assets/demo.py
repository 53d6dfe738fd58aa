"""`make demo`: materialize the whole graph for the demo partitions, offline, and say where it went.

Runs through Dagster on a persistent instance (``<BEN_SEN1_HOME>/dagster_home``), so the runs,
materializations and check results are there afterwards in the UI
(``DAGSTER_HOME=.ben_sen1/dagster_home .venv/bin/dagster dev -w workspace.yaml``).
"""

from __future__ import annotations

import os
import sys
import time
import warnings

from ben_sen1_assets.settings import load_settings


def main() -> int:
    settings = load_settings()
    os.environ.setdefault("DAGSTER_HOME", str(settings.home / "dagster_home"))
    import dagster as dg

    from ben_sen1_assets.instance import reap_dead_runs, run_host_tags, write_instance_yaml

    # the project's instance: pools (downloads per provider, CPU-heavy steps: one at a time on
    # 2 cores) and run monitoring, so that a killed run never holds a pool slot for ever
    write_instance_yaml(os.environ["DAGSTER_HOME"])

    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    warnings.filterwarnings("ignore", category=dg.PreviewWarning)
    from ben_sen1_assets.definitions import defs
    from ben_sen1_assets.demo_archive import build_demo_archive
    from ben_sen1_assets.jobs import tile_run_tags
    from ben_sen1_assets.partitions import tile_catalog

    catalog = tile_catalog()

    print(f"ben_sen1_assets demo: catalog '{settings.catalog}', {len(catalog.keys())} partitions, offline")
    print(f"  storage:       {settings.storage}")
    print(f"  dagster home:  {os.environ['DAGSTER_HOME']}")
    started = time.perf_counter()
    if settings.is_embedded_default:
        products = build_demo_archive(settings.archive, progress=lambda m: print(f"  archive: {m}"))
        print(f"  demo archive:  {len(products)} products (pixels SIMULATED on real metadata) "
              f"in {settings.archive} [{time.perf_counter() - started:.1f} s]")

    instance = dg.DagsterInstance.get()
    # no daemon watches `make demo`: runs whose process was killed are failed here, slots freed
    for run_id in reap_dead_runs(instance):
        print(f"  run {run_id}: its process is gone (killed?); marked failed, its pool slots freed")
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    failed = False
    for key in catalog.keys():
        t0 = time.perf_counter()
        result = defs.resolve_job_def("tile_job").execute_in_process(
            partition_key=key, instance=instance, raise_on_error=False, run_config=quiet,
            tags={**tile_run_tags(key), "ben_sen1/demo": "true", **run_host_tags(in_this_process=True)},
        )
        failed |= not _report(key, result, time.perf_counter() - t0)
    t0 = time.perf_counter()
    result = defs.resolve_job_def("datasets_job").execute_in_process(
        instance=instance, raise_on_error=False, run_config=quiet, tags=run_host_tags(in_this_process=True)
    )
    failed |= not _report("cross-tile (datasets: mapping, BigEarthNet export + LMDB, statistics, VRTs, STAC)",
                          result, time.perf_counter() - t0)

    print(f"\nwritten under {settings.storage}:")
    for key in catalog.keys():
        store = os.path.join(settings.storage, "patches", f"{key}.zarr")
        if os.path.exists(os.path.join(store, "zarr.json")):
            print(f"  {store}")
    for key in catalog.keys():
        for folder in ("preprocessed_s1", "mosaics"):
            vrt = os.path.join(settings.storage, folder, f"{key}.vrt")
            if os.path.exists(vrt):
                print(f"  {vrt}")
    for name in ("s1s2_mapping.csv", "s1s2_mapping.parquet", "exports/BigEarthNet-S1-v1.0", "exports/BigEarthNet-S1",
                 "exports/metadata.parquet", "exports/BigEarthNet-S1.lmdb", "exports/band_statistics.json",
                 "stac/catalog.json"):
        path = os.path.join(settings.storage, name)
        if os.path.exists(path):
            print(f"  {path}")
    print(f"\n{'FAILED' if failed else 'done'} in {time.perf_counter() - started:.1f} s")
    print("load the patches:  xarray.open_zarr('<storage>/patches/<partition>.zarr')")
    print("load the dataset:  torchgeo.datasets.BigEarthNetV2(root='<storage>/exports', bands='s1')")
    print("browse the outputs: pystac.Catalog.from_file('<storage>/stac/catalog.json'); gdalinfo <storage>/mosaics/<partition>.vrt")
    print(f"open the UI:       DAGSTER_HOME={os.environ['DAGSTER_HOME']} .venv/bin/dagster dev -w workspace.yaml")
    return 1 if failed else 0


def _report(label: str, result, seconds: float) -> bool:
    """Print one run's outcome (materializations, patches, checks, and why a check warned); True
    when the run succeeded and no ERROR-severity check failed."""
    import dagster as dg

    checks = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    passed = sum(c.passed for c in checks)
    n_patches = 0
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        if mat.asset_key.path == ["patches"] and "n_patches" in mat.metadata:
            n_patches = mat.metadata["n_patches"].value
    errors = [c for c in checks if not c.passed and c.severity == dg.AssetCheckSeverity.ERROR]
    warnings = [c for c in checks if not c.passed and c.severity != dg.AssetCheckSeverity.ERROR]
    print(
        f"  {label}: {'ok' if result.success and not errors else 'FAILED'} in {seconds:.1f} s, "
        f"{len(result.get_asset_materialization_events())} assets, "
        + (f"{n_patches} patches, " if n_patches else "")
        + f"checks {passed}/{len(checks)} passed"
        + (f" (failed: {', '.join(c.check_name for c in errors)})" if errors else "")
    )
    for check in warnings:
        reason = check.metadata.get("reason") or check.metadata.get("problems")
        print(f"    warning {check.asset_key.to_user_string()}.{check.check_name}"
              + (f": {reason.value}" if reason is not None else ""))
    return result.success and not errors


if __name__ == "__main__":
    sys.exit(main())
