"""Schedules: keep every partition of the catalog built, a bounded number of tiles per tick."""

import dagster as dg
from dagster import DagsterRunStatus, RunsFilter

from ben_sen1_assets.jobs import tile_job, tile_run_tags
from ben_sen1_assets.partitions import tile_partitions

FINAL_ASSET = dg.AssetKey("patches")
MAX_RUNS_PER_TICK = 8
IN_FLIGHT = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.STARTED]


def missing_partitions(instance: dg.DagsterInstance) -> list[str]:
    """Partitions whose final asset is not materialized and that no run is building now."""
    done = instance.get_materialized_partitions(FINAL_ASSET)
    in_flight = {
        run.tags.get("dagster/partition")
        for run in instance.get_runs(filters=RunsFilter(job_name=tile_job.name, statuses=IN_FLIGHT))
    }
    return [k for k in tile_partitions.get_partition_keys() if k not in done and k not in in_flight]


@dg.schedule(
    job=tile_job,
    cron_schedule="0 2 * * *",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description=f"Nightly: request runs for up to {MAX_RUNS_PER_TICK} tiles whose patches are missing.",
)
def missing_tiles_schedule(context: dg.ScheduleEvaluationContext):
    missing = missing_partitions(context.instance)
    if not missing:
        return dg.SkipReason("every partition of the catalog has its patches")
    tick = context.scheduled_execution_time.strftime("%Y%m%dT%H%M")
    return [
        dg.RunRequest(partition_key=key, run_key=f"{key}@{tick}", tags=tile_run_tags(key))
        for key in missing[:MAX_RUNS_PER_TICK]
    ]
