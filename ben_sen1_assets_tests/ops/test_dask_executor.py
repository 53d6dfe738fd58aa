"""A demo partition end to end on a local Dask cluster, executor chosen by ``BEN_SEN1_EXECUTOR``.

The run is driven from a fresh interpreter (``_dask_driver``): the executor and the storage
are read from the environment when the definitions are imported, in the driver and in every
Dask worker, so they must be set before any import (a test process that already imported the
definitions with other settings would keep them).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from ben_sen1_assets_tests.ops.conftest import ROOT, OpsEnv, demo_partition_keys, tile_job_asset_keys, wait_for


CLUSTER_START_S = 180  # two worker processes importing the code location, on a busy machine
STALL_S = 300  # longest a healthy run goes without a new event (one step of the demo tile)


def _run_until_done(ops_env: OpsEnv, proc: subprocess.Popen, out: Path) -> None:
    """Wait for the driver: the cluster must come up within CLUSTER_START_S, then the run must keep
    logging events (no gap over STALL_S) until the driver exits. No guess of the total time: a
    slow machine makes a slow run, a stuck run fails fast and says where it stopped."""
    wait_for(lambda: proc.poll() is not None or "worker_pids" in out.read_text(), CLUSTER_START_S,
             "the Dask cluster's two workers")
    last_count, last_change = -1, time.monotonic()
    while proc.poll() is None:
        with ops_env.instance() as instance:
            runs = instance.get_runs()
            count = len(instance.all_logs(runs[0].run_id)) if runs else 0
        if count != last_count:
            last_count, last_change = count, time.monotonic()
        elif time.monotonic() - last_change > STALL_S:
            proc.kill()
            raise TimeoutError(f"the Dask run logged no event for {STALL_S} s (after {count} events)")
        time.sleep(2.0)


@pytest.mark.slow
@pytest.mark.timeout(1800)  # a backstop only: the limits are in _run_until_done
def test_tile_job_on_local_dask_cluster(ops_env: OpsEnv) -> None:
    key = demo_partition_keys()[0]
    env = {**ops_env.env, "BEN_SEN1_EXECUTOR": "dask"}
    out_path, err_path = ops_env.logs / "driver.out", ops_env.logs / "driver.err"
    with out_path.open("w") as out_f, err_path.open("w") as err_f:
        proc = subprocess.Popen([sys.executable, "-m", "ben_sen1_assets_tests.ops._dask_driver", key, "2"],
                                cwd=ROOT, env=env, stdout=out_f, stderr=err_f, text=True)
        try:
            _run_until_done(ops_env, proc, out_path)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
    stdout, stderr = out_path.read_text(), err_path.read_text()
    print(stdout[-3000:], stderr[-3000:])
    assert proc.returncode == 0, stdout[-2000:] + stderr[-4000:]
    lines = stdout.strip().splitlines()
    run_id = lines[-1]
    worker_pids = set(next(json.loads(line) for line in lines if line.startswith('{"worker_pids"'))["worker_pids"])
    assert len(worker_pids) == 2, worker_pids  # the cluster really had two worker processes

    with ops_env.instance() as instance:
        run = instance.get_run_by_id(run_id)
        assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS
        assert run.tags["dagster/partition"] == key
        records = instance.all_logs(run_id)
        events = [r.dagster_event for r in records if r.dagster_event is not None]
        # the run's own process orchestrates; every step must have executed in a Dask worker
        # process of the cluster (Dask may keep a chain of dependent steps on one of them)
        orchestrator = next(e.pid for e in events if e.event_type == dg.DagsterEventType.RUN_START)
        step_pids = {e.step_key: e.pid for e in events if e.event_type == dg.DagsterEventType.STEP_START}
        step_success = {e.step_key for e in events if e.event_type == dg.DagsterEventType.STEP_SUCCESS}
        plan_steps = {e.step_key for e in events if e.is_step_event}
        assert step_pids and set(step_pids) == step_success == plan_steps
        assert orchestrator not in worker_pids, (orchestrator, worker_pids)
        assert set(step_pids.values()) <= worker_pids, (step_pids, worker_pids)
        print(f"run {run_id}: orchestrator pid {orchestrator}; workers {sorted(worker_pids)}; step pids {step_pids}")

        # every asset of the job materialized for this partition, into the tmp storage
        for asset in tile_job_asset_keys():
            asset_key = dg.AssetKey.from_user_string(asset)
            event = instance.get_latest_materialization_event(asset_key)
            assert event is not None and event.run_id == run_id, asset
            assert key in instance.get_materialized_partitions(asset_key)
            path = event.asset_materialization.metadata.get("path")
            if path is not None:  # assets stored through an IO manager say where
                assert str(path.value).startswith(str(ops_env.ben_home)), (asset, path.value)
        checks = [e for e in events if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION]
        assert checks and all(c.event_specific_data.passed for c in checks)
    assert any(ops_env.ben_home.joinpath("storage").rglob(f"{key}*"))
