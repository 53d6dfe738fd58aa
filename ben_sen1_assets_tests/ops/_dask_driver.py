"""Run ``tile_job`` for one partition on a local Dask cluster (called in a fresh interpreter).

``python -m ben_sen1_assets_tests.ops._dask_driver <partition> <n_workers>`` with
``DAGSTER_HOME``, ``BEN_SEN1_HOME`` and ``BEN_SEN1_EXECUTOR=dask`` already in the environment:
the Dask worker processes inherit it and import the definitions with the same settings.
Prints the run id on its last line.
"""

from __future__ import annotations

import sys


def main(partition_key: str, n_workers: int) -> int:
    import dagster as dg

    from ben_sen1_assets_tests.ops._jobs import tile_job

    cluster = {"local": {"n_workers": n_workers, "processes": True, "threads_per_worker": 1,
                         "dashboard_address": None}}
    with dg.DagsterInstance.get() as instance:
        result = dg.execute_job(
            dg.reconstructable(tile_job),
            instance=instance,
            run_config={"execution": {"config": {"cluster": cluster}}},
            tags={"dagster/partition": partition_key},
            raise_on_error=False,
        )
        print(result.run_id)
        return 0 if result.success else 1


if __name__ == "__main__":  # Dask's spawned workers re-import __main__: nothing may run then
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
