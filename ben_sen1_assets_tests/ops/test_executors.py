"""Executors chosen by configuration.

Executors: with ``BEN_SEN1_EXECUTOR=k8s|celery`` the definitions (imported in a fresh
interpreter, as a deployment imports them) give ``tile_job`` the Kubernetes or Celery executor,
whose run config is validated by Dagster's own config schema: a realistic deployment config
passes, a misspelt or mistyped key is rejected. No cluster or broker is needed to validate.

The nightly missing-tiles rule is an automation condition now: ``test_automation.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ben_sen1_assets_tests.ops.conftest import ROOT, make_ops_env

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


def test_default_executor_forks_steps_from_a_preloaded_forkserver(tmp_path) -> None:
    """The default run config resolves to the forkserver start method with the project's preload
    list, and every module of that list imports (a failing preload would be skipped silently by
    multiprocessing, and each step would pay the imports again)."""
    import dagster as dg

    from ben_sen1_assets.executors import FORKSERVER_PRELOAD, _forkserver_by_default, multiprocess_executor

    assert _forkserver_by_default({}) == {"start_method": {"forkserver": {"preload_modules": FORKSERVER_PRELOAD}}}
    assert _forkserver_by_default({"max_concurrent": 2})["start_method"]["forkserver"]["preload_modules"]
    assert _forkserver_by_default({"start_method": {"spawn": {}}})["start_method"] == {"spawn": {}}
    assert multiprocess_executor.name == "multiprocess"
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    dg.DagsterInstance.from_config(str(dagster_home)).dispose()
    code = (
        "import importlib, sys, json\n"
        f"for m in {FORKSERVER_PRELOAD!r}: importlib.import_module(m)\n"
        "wanted = ['geopandas', 'rasterio', 'numba', 'xarray', 'zarr', 'ben_sen1_assets.sar.chain',\n"
        "          'ben_sen1_assets.outputs.patches', 'dagster._core.storage.event_log.sqlite.sqlite_event_log']\n"
        "print(json.dumps([m for m in wanted if m not in sys.modules]))\n"
    )
    env = {**__import__("os").environ, "DAGSTER_HOME": str(dagster_home)}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
