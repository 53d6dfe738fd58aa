"""Executors chosen by configuration, and the nightly schedule that requests missing tiles.

Executors: with ``BEN_SEN1_EXECUTOR=k8s|celery`` the definitions (imported in a fresh
interpreter, as a deployment imports them) give ``tile_job`` the Kubernetes or Celery executor,
whose run config is validated by Dagster's own config schema: a realistic deployment config
passes, a misspelt or mistyped key is rejected. No cluster or broker is needed to validate.

Schedule: ``missing_tiles_schedule`` evaluated against an instance on disk.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import textwrap

import dagster as dg
import pytest

from ben_sen1_assets_tests.ops.conftest import ROOT, OpsEnv, demo_partition_keys, make_ops_env

K8S_CONFIG = {
    "job_namespace": "ben-sen1",
    "job_image": "registry.example.org/ben_sen1_assets:0.1.0",
    "image_pull_policy": "IfNotPresent",
    "max_concurrent": 8,
    "env_secrets": ["CDSE_USERNAME", "CDSE_PASSWORD", "EARTHDATA_TOKEN"],
    "env_vars": ["BEN_SEN1_STORAGE=s3://ben-sen1/assets", "BEN_SEN1_CATALOG=bigearthnet"],
    "step_k8s_config": {"container_config": {"resources": {"requests": {"cpu": "2", "memory": "8Gi"}}}},
}
CELERY_CONFIG = {
    "broker": "pyamqp://guest@rabbitmq.example.org//",
    "backend": "rpc://",
    "include": ["ben_sen1_assets.definitions"],
    "config_source": {"worker_prefetch_multiplier": 1},
}


def _execution(config: dict) -> dict:
    return {"execution": {"config": config}}


K8S_CASES = [
    _execution(K8S_CONFIG),
    _execution({**K8S_CONFIG, "job_imag": "typo:1"}),
    _execution({**K8S_CONFIG, "max_concurrent": "eight"}),
    _execution(CELERY_CONFIG),  # another executor's config is not this one's
]
CELERY_CASES = [
    _execution(CELERY_CONFIG),
    _execution({**CELERY_CONFIG, "brokr": "redis://localhost:6379/0"}),
    _execution({**CELERY_CONFIG, "include": "ben_sen1_assets.definitions"}),  # must be a list
    _execution(K8S_CONFIG),
]
DEFAULT_CASES = [_execution({"max_concurrent": 2}), _execution(K8S_CONFIG)]


@pytest.fixture(scope="module")
def validation_reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Each executor's verdicts, from three interpreters started together (imports dominate)."""
    ops_env = make_ops_env(tmp_path_factory.mktemp("executors"))
    cases = {"k8s": K8S_CASES, "celery": CELERY_CASES, "multiprocess": DEFAULT_CASES}
    procs = {
        executor: subprocess.Popen(
            [sys.executable, "-m", "ben_sen1_assets_tests.ops._validate_config"],
            cwd=ROOT, env={**ops_env.env, "BEN_SEN1_EXECUTOR": executor},
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for executor in cases
    }
    reports = {}
    for executor, proc in procs.items():
        out, err = proc.communicate(json.dumps(cases[executor]), timeout=240)
        assert proc.returncode == 0, err[-3000:]
        reports[executor] = json.loads(out.strip().splitlines()[-1])
    return reports


@pytest.mark.timeout(300)
def test_k8s_executor_run_config(validation_reports: dict[str, dict]) -> None:
    report = validation_reports["k8s"]
    assert report["executor"] == "k8s"
    valid, typo, wrong_type, celery = report["results"]
    assert valid == {"valid": True, "errors": []}
    assert not typo["valid"] and any('"job_imag"' in e for e in typo["errors"])
    assert not wrong_type["valid"] and any("max_concurrent" in e for e in wrong_type["errors"])
    assert not celery["valid"] and any("'broker'" in e for e in celery["errors"])


@pytest.mark.timeout(300)
def test_celery_executor_run_config(validation_reports: dict[str, dict]) -> None:
    report = validation_reports["celery"]
    assert report["executor"] == "celery"
    valid, typo, wrong_type, k8s = report["results"]
    assert valid == {"valid": True, "errors": []}
    assert not typo["valid"] and any('"brokr"' in e for e in typo["errors"])
    assert not wrong_type["valid"] and any("include" in e for e in wrong_type["errors"])
    assert not k8s["valid"] and any("'job_namespace'" in e for e in k8s["errors"])


@pytest.mark.timeout(300)
def test_default_executor_rejects_cluster_config(validation_reports: dict[str, dict]) -> None:
    """Without the setting the job runs multiprocess: a k8s config is an error, not ignored."""
    report = validation_reports["multiprocess"]
    assert report["executor"] == "multiprocess"
    ok, k8s = report["results"]
    assert ok["valid"] and not k8s["valid"]


# ---------------------------------------------------------------------------------- schedule

TICK = dt.datetime(2026, 11, 24, 2, 0, tzinfo=dt.timezone.utc)


def _evaluate_schedule(instance: dg.DagsterInstance):
    from ben_sen1_assets.definitions import defs

    schedule = defs.resolve_schedule_def("missing_tiles_schedule")
    context = dg.build_schedule_context(
        instance=instance, scheduled_execution_time=TICK, repository_def=defs.get_repository_def()
    )
    return schedule.evaluate_tick(context)


def _requested(data) -> dict[str, dg.RunRequest]:
    return {r.partition_key: r for r in data.run_requests or []}


def test_schedule_requests_every_missing_partition(ops_env: OpsEnv) -> None:
    keys = demo_partition_keys()
    with ops_env.instance() as instance:
        data = _evaluate_schedule(instance)
    requested = _requested(data)
    assert sorted(requested) == keys, data.skip_message
    for key, request in requested.items():
        mgrs, date = key.split("_")
        assert request.job_name in (None, "tile_job")
        assert request.tags["ben_sen1/tile"] == mgrs and request.tags["ben_sen1/s2_date"] == date
        assert request.tags["dagster/partition"] == key
        assert request.run_key == f"{key}@20261124T0200"  # one run per tile per tick


def test_schedule_skips_partitions_done_or_in_flight(ops_env: OpsEnv) -> None:
    from ben_sen1_assets.definitions import defs
    from ben_sen1_assets.schedules import FINAL_ASSET

    done, busy, *rest = demo_partition_keys()
    with ops_env.instance() as instance:
        # the final asset recorded for one partition (as an external materialization would be)
        instance.report_runless_asset_event(dg.AssetMaterialization(FINAL_ASSET, partition=done))
        # a run already building another one
        instance.create_run_for_job(
            defs.resolve_job_def("tile_job"), tags={"dagster/partition": busy}, status=dg.DagsterRunStatus.STARTED
        )
        data = _evaluate_schedule(instance)
        assert sorted(_requested(data)) == sorted(rest)
        if not rest:
            assert data.skip_message and not data.run_requests

        for key in (done, busy, *rest):
            instance.report_runless_asset_event(dg.AssetMaterialization(FINAL_ASSET, partition=key))
        data = _evaluate_schedule(instance)
        assert not data.run_requests and "every partition" in data.skip_message


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_schedule_skips_a_partition_built_by_tile_job(ops_env: OpsEnv) -> None:
    """The real path: run the whole tile_job for one partition, then tick."""
    from ben_sen1_assets.definitions import defs
    from ben_sen1_assets.schedules import FINAL_ASSET

    if FINAL_ASSET not in defs.resolve_asset_graph().get_all_asset_keys():
        pytest.skip(f"{FINAL_ASSET.to_user_string()} (the schedule's final asset) is not in the graph yet")
    key, *others = demo_partition_keys()
    # in a fresh interpreter so the storage is this test's (settings are read at import)
    code = textwrap.dedent(f"""
        import dagster as dg
        from ben_sen1_assets_tests.ops._jobs import tile_job
        result = tile_job().execute_in_process(partition_key={key!r}, instance=dg.DagsterInstance.get())
        assert result.success
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=ops_env.env, capture_output=True, text=True,
                         timeout=580)
    assert out.returncode == 0, out.stderr[-3000:]
    with ops_env.instance() as instance:
        assert key in instance.get_materialized_partitions(FINAL_ASSET)
        data = _evaluate_schedule(instance)
    assert sorted(_requested(data)) == sorted(others)
