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
    dagster_home = settings.home / "dagster_home"
    dagster_home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("DAGSTER_HOME", str(dagster_home))
    (dagster_home / "dagster.yaml").touch(exist_ok=True)

    import dagster as dg

    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    warnings.filterwarnings("ignore", category=dg.PreviewWarning)
    from ben_sen1_assets.definitions import defs
    from ben_sen1_assets.partitions import TILE_CATALOG

    tile_job = defs.resolve_job_def("tile_job")
    print(f"ben_sen1_assets demo: catalog '{settings.catalog}', {len(TILE_CATALOG.keys())} partitions")
    print(f"  storage:       {settings.storage}")
    print(f"  dagster home:  {os.environ['DAGSTER_HOME']}")
    instance = dg.DagsterInstance.get()
    failed = False
    started = time.perf_counter()
    for key in TILE_CATALOG.keys():
        t0 = time.perf_counter()
        result = tile_job.execute_in_process(
            partition_key=key,
            instance=instance,
            tags={"tile": key.split("_")[0], "ben_sen1/demo": "true"},
            raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        )
        checks_run = [
            e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"
        ]
        passed = sum(c.passed for c in checks_run)
        materialized = len(result.get_asset_materialization_events())
        print(
            f"  {key}: {'ok' if result.success else 'FAILED'} in {time.perf_counter() - t0:.1f} s, "
            f"{materialized} materializations, checks {passed}/{len(checks_run)} passed"
        )
        failed |= not result.success or passed != len(checks_run)
    print(f"done in {time.perf_counter() - started:.1f} s; outputs under {settings.storage}")
    print("open the UI:  DAGSTER_HOME=" + os.environ["DAGSTER_HOME"] + " .venv/bin/dagster dev -w workspace.yaml")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
