"""Backfills the ways users launch them, executed by a real daemon on a temporary instance:
``dagster job backfill`` (a job backfill), the UI's asset backfill (GraphQL) and ``ben-sen1
backfill`` (an asset backfill from the command line). Every run carries its tile's tags.

One deployment for the module: ``dagster-daemon run`` (launches queued runs, drives asset
backfills) and ``dagster-webserver`` (GraphQL, the UI's API), both on ``-w workspace.yaml`` so
runs belong to the code location ``ben_sen1_assets`` whichever tool created them.

The runs execute their steps in process (``BEN_SEN1_EXECUTOR=in_process``): what is under test
here is the backfill path (CLI or GraphQL -> queue -> daemon -> run worker), not the executor,
and a subprocess per step would triple the time (the multiprocess executor is exercised by the
browser test, Dask by ``test_dask_executor``).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import dagster as dg
import pytest

from ben_sen1_assets.jobs import run_partition

from ben_sen1_assets_tests.ops.conftest import (
    BIN,
    ROOT,
    datasets_asset_keys,
    OpsEnv,
    ProcessGroup,
    definition_check_names,
    demo_partition_keys,
    free_port,
    graphql,
    make_ops_env,
    partitioned_asset_keys,
    run_failure_details,
    tile_job_asset_keys,
    instance_progress,
    wait_for_finished_runs,
    wait_while_progressing,
    wait_for_server,
)

# the waits fail when nothing progresses for minutes; this cap is only a last resort
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]


@dataclass
class Deployment:
    ops_env: OpsEnv
    daemon: ProcessGroup
    webserver: ProcessGroup
    url: str


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    ops_env = make_ops_env(tmp_path_factory.mktemp("backfill"))
    ops_env.env["BEN_SEN1_EXECUTOR"] = "in_process"
    port = free_port()
    daemon = ProcessGroup("daemon", [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"],
                          ops_env.env, ops_env.logs / "daemon.log")
    webserver = ProcessGroup(
        "webserver", [str(BIN / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        ops_env.env, ops_env.logs / "webserver.log",
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_server(url, webserver)
        yield Deployment(ops_env, daemon, webserver, url)
    finally:
        webserver.stop()
        daemon.stop()
        print(f"process logs: {ops_env.logs}")


def _assert_partitions_built(ops_env: OpsEnv, runs: list, keys: list[str], assets: list[str]) -> None:
    assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in runs), run_failure_details(ops_env, runs)
    run_ids = {run.run_id for run in runs}
    with ops_env.instance() as instance:
        for asset in assets:
            asset_key = dg.AssetKey.from_user_string(asset)
            records = instance.fetch_materializations(asset_key, limit=100).records
            by_partition = {r.partition_key: r.run_id for r in records if r.run_id in run_ids}
            assert sorted(by_partition) == keys, (asset, by_partition)
        # every check on these assets evaluated once per partition, and passed
        evaluations = [
            r.dagster_event.event_specific_data
            for run in runs
            for r in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
        ]
    expected = {(a, c) for a, names in definition_check_names().items() if a in assets for c in names}
    evaluated = [(e.asset_key.to_user_string(), e.check_name) for e in evaluations]
    assert {pair: evaluated.count(pair) for pair in expected} == {pair: len(keys) for pair in expected}
    assert all(e.passed for e in evaluations), [e for e in evaluations if not e.passed]


def _assert_tile_tags(runs: list) -> None:
    """Every run of a partition names its tile and S2 date, however it was launched."""
    for run in runs:
        mgrs, date = run_partition(run.tags).split("_")
        assert (run.tags.get("ben_sen1/tile"), run.tags.get("ben_sen1/s2_date")) == (mgrs, date), run.tags


def test_job_backfill_from_the_cli(deployment: Deployment) -> None:
    keys = demo_partition_keys()
    out = subprocess.run(
        [str(BIN / "dagster"), "job", "backfill", "-w", "workspace.yaml", "-j", "tile_job",
         "--partitions", ",".join(keys), "--noprompt"],
        cwd=ROOT, env=deployment.ops_env.env, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    match = re.search(r"Launched backfill job `([^`]+)`", out.stdout + out.stderr)
    assert match, out.stdout + out.stderr
    backfill_id = match.group(1)

    runs = wait_for_finished_runs(deployment.ops_env, {"dagster/backfill": backfill_id}, len(keys), 300,
                                  watch=[deployment.daemon])
    assert sorted(run.tags["dagster/partition"] for run in runs) == keys
    assert {run.job_name for run in runs} == {"tile_job"}
    assert all(run.tags["ben_sen1/pipeline"] == "s1-patches" for run in runs)  # the job's own tags
    _assert_tile_tags(runs)
    _assert_partitions_built(deployment.ops_env, runs, keys, tile_job_asset_keys())


LAUNCH_BACKFILL = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
  }
}"""
BACKFILL_STATUS = """
query($id: String!) {
  partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill { status isAssetBackfill } }
}"""


def test_asset_backfill_through_graphql(deployment: Deployment) -> None:
    """The UI's path: an asset backfill of every tile-partitioned asset for the demo partitions."""
    keys = demo_partition_keys()
    assets = partitioned_asset_keys()
    params = {
        "assetSelection": [{"path": dg.AssetKey.from_user_string(a).path} for a in assets],
        "partitionNames": keys,
        "title": "ops test: asset backfill",
    }
    launched = graphql(deployment.url, LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill_id = launched["backfillId"]

    # the daemon requests runs over several iterations (30 s apart): the backfill's status says
    # when it is over, then its runs are all there
    def backfill_done() -> dict | None:
        deployment.daemon.check_alive()
        status = graphql(deployment.url, BACKFILL_STATUS, {"id": backfill_id})["partitionBackfillOrError"]
        return status if status["status"] not in ("REQUESTED", "CANCELING") else None

    status = wait_while_progressing(backfill_done, lambda: instance_progress(deployment.ops_env), 300,
                                    f"backfill {backfill_id} finished")
    runs = wait_for_finished_runs(deployment.ops_env, {"dagster/backfill": backfill_id}, len(keys), 60)
    assert status == {"status": "COMPLETED_SUCCESS", "isAssetBackfill": True}, (
        status, run_failure_details(deployment.ops_env, runs))
    assert sorted({run_partition(run.tags) for run in runs}) == keys
    assert len(runs) == len(keys)  # BackfillPolicy: one run per tile, all stages
    _assert_tile_tags(runs)
    _assert_partitions_built(deployment.ops_env, runs, keys, assets)


def test_asset_backfill_from_the_cli(deployment: Deployment) -> None:
    """`ben-sen1 backfill`: an asset backfill like the UI's, its status true to its runs."""
    key = demo_partition_keys()[-1]
    out = subprocess.run(
        [str(BIN / "ben-sen1"), "backfill", "--partitions", key, "--with-datasets", "--wait", "--json"],
        cwd=ROOT, env=deployment.ops_env.env, capture_output=True, text=True, timeout=900,
    )
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    backfill_id = lines[0]["backfill_id"]
    assert lines[0]["partitions"] == [key]
    datasets = datasets_asset_keys()
    assert {"s1s2_mapping", "bigearthnet_export", "bigearthnet_lmdb", "stac_catalog"} <= set(datasets)
    assert set(lines[0]["assets"]) == {*tile_job_asset_keys(), *datasets}
    assert lines[-1]["status"] == "COMPLETED_SUCCESS"
    with deployment.ops_env.instance() as instance:
        backfill = instance.get_backfill(backfill_id)
        assert backfill.is_asset_backfill and backfill.status.value == "COMPLETED_SUCCESS"
        runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
    assert lines[-1]["runs"] == {"SUCCESS": len(runs)}
    tile_runs = [run for run in runs if run_partition(run.tags) == key]
    dataset_runs = [run for run in runs if run_partition(run.tags) is None]
    # the tile's chain in one run, then the unpartitioned datasets (one run per wave of ready assets)
    assert len(tile_runs) == 1 and len(dataset_runs) == len(runs) - 1 >= 1
    _assert_tile_tags(tile_runs)
    assert all(run.tags["ben_sen1/launched_by"] == "ben-sen1 backfill" for run in runs)
    _assert_partitions_built(deployment.ops_env, tile_runs, [key], tile_job_asset_keys())
    _assert_datasets_built(deployment.ops_env, dataset_runs, datasets)


def _assert_datasets_built(ops_env: OpsEnv, runs: list, assets: list[str]) -> None:
    """Each datasets asset materialized once by these runs, and the export's blocking load check
    passed (the mapping's pair check warns on the demo tiles: they are not BigEarthNet products)."""
    assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in runs), run_failure_details(ops_env, runs)
    run_ids = {run.run_id for run in runs}
    with ops_env.instance() as instance:
        for asset in assets:
            records = instance.fetch_materializations(dg.AssetKey(asset), limit=100).records
            assert len([r for r in records if r.run_id in run_ids]) == 1, asset
        evaluations = {
            r.dagster_event.event_specific_data.check_name: r.dagster_event.event_specific_data
            for run in runs
            for r in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
        }
    assert evaluations["export_loads_in_torchgeo"].passed, evaluations["export_loads_in_torchgeo"].metadata


def test_cli_names_unknown_partitions(deployment: Deployment) -> None:
    out = subprocess.run([str(BIN / "ben-sen1"), "backfill", "--partitions", "33UUP_20170613"],
                         cwd=ROOT, env=deployment.ops_env.env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "33UUP_20170613" in out.stderr and "not in the catalog in force" in out.stderr
