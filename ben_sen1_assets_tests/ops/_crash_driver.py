"""One tile run in the foreground, the way ``make demo`` runs its tiles (``ben_sen1_assets.demo``):
the project's instance configuration, dead runs of earlier processes reaped, then ``tile_job``
for one partition in this process. Prints one JSON line per stage (the test kills it at random).

    python -m ben_sen1_assets_tests.ops._crash_driver 31TEL_20210809
"""

from __future__ import annotations

import json
import os
import sys
import time


def say(**fields) -> None:
    print(json.dumps(fields), flush=True)


def main(key: str) -> int:
    t0 = time.monotonic()
    from ben_sen1_assets.instance import reap_dead_runs, run_host_tags, write_instance_yaml

    write_instance_yaml(os.environ["DAGSTER_HOME"])
    import dagster as dg

    from ben_sen1_assets.definitions import defs
    from ben_sen1_assets.jobs import tile_run_tags

    instance = dg.DagsterInstance.get()
    reaped = reap_dead_runs(instance)
    say(stage="ready", pid=os.getpid(), reaped=reaped, seconds=round(time.monotonic() - t0, 2))
    t1 = time.monotonic()
    result = defs.resolve_job_def("tile_job").execute_in_process(
        partition_key=key, instance=instance, tags={**tile_run_tags(key), **run_host_tags(in_this_process=True)}, raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}},
    )
    say(stage="done", success=result.success, run_id=result.run_id, run_seconds=round(time.monotonic() - t1, 2),
        seconds=round(time.monotonic() - t0, 2))
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
