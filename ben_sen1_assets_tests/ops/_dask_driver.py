"""Run ``tile_job`` for one partition on a local Dask cluster (called in a fresh interpreter).

``python -m ben_sen1_assets_tests.ops._dask_driver <partition> <n_workers>`` with
``DAGSTER_HOME``, ``BEN_SEN1_HOME`` and ``BEN_SEN1_EXECUTOR=dask`` already in the environment:
the Dask worker processes inherit it and import the definitions with the same settings.

The driver starts the cluster itself and gives the executor its scheduler address
(``cluster: existing``, as on a real cluster), so it can tell which processes were the
workers. Prints a JSON object ``{"worker_pids": [...]}`` as soon as the cluster is up (the test
waits for it), then the run id as its last line.
"""

from __future__ import annotations

import json
import os
import sys


def main(partition_key: str, n_workers: int) -> int:
    import dagster as dg
    from dask.distributed import Client, LocalCluster

    from ben_sen1_assets_tests.ops._jobs import tile_job

    with LocalCluster(n_workers=n_workers, processes=True, threads_per_worker=1,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        client.wait_for_workers(n_workers, timeout=120)
        worker_pids = sorted(client.run(os.getpid).values())
        print(json.dumps({"worker_pids": worker_pids}), flush=True)
        with dg.DagsterInstance.get() as instance:
            result = dg.execute_job(
                dg.reconstructable(tile_job),
                instance=instance,
                run_config={"execution": {"config": {
                    "cluster": {"existing": {"address": cluster.scheduler_address}}}}},
                tags={"dagster/partition": partition_key},
                raise_on_error=False,
            )
        print(result.run_id)
        return 0 if result.success else 1


if __name__ == "__main__":  # Dask's spawned workers re-import __main__: nothing may run then
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
