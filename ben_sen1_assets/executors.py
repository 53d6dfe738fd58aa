"""The executor (how a run's steps execute) chosen by configuration, never by editing code.

The executor kind is code in Dagster; its parameters come from run config (e.g. the Dask
cluster, the Kubernetes namespace and image, the Celery broker). The optional integrations are
imported only when chosen, so the base install stays small. Out-of-process executors need
storage and a product store that every worker reaches (a shared folder or object storage).

The default, ``multiprocess``, starts each step in a process forked from a forkserver that has
imported the code location and :mod:`ben_sen1_assets.step_imports` once per run: a step starts
in a fraction of a second instead of paying Dagster's and the science's imports again (seconds
per step, most of a small tile's run). Run config may still set ``max_concurrent``,
``tag_concurrency_limits``, ``retries`` or another ``start_method``.
"""

from __future__ import annotations

import os

import dagster as dg

#: environment variables naming the Celery broker and result backend (e.g. ``redis://host:6379/0``)
CELERY_BROKER_ENV = "BEN_SEN1_CELERY_BROKER"
CELERY_BACKEND_ENV = "BEN_SEN1_CELERY_BACKEND"

FORKSERVER_PRELOAD = ["ben_sen1_assets.definitions", "ben_sen1_assets.step_imports"]


def _forkserver_by_default(config: dict) -> dict:
    return {"start_method": {"forkserver": {"preload_modules": FORKSERVER_PRELOAD}}, **config}


multiprocess_executor = dg.multiprocess_executor.configured(
    _forkserver_by_default,
    name="multiprocess",
    # the multiprocess executor's own schema checks what the user gives
    config_schema=dg.Permissive({}),
    description="Each step in its own process, forked from a server that has imported the code "
    "location and the science once (ben_sen1_assets.executors).",
)


def executor_for(kind: str) -> dg.ExecutorDefinition:
    if kind == "in_process":
        return dg.in_process_executor
    if kind == "dask":
        from dagster_dask import dask_executor

        return dask_executor
    if kind == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    if kind == "celery":
        from dagster_celery import celery_executor

        # backfills, schedules and sensors launch runs without run config: with the broker in the
        # environment every run uses it (read when a run starts, never stored in the run config)
        if os.environ.get(CELERY_BROKER_ENV):
            config = {"broker": {"env": CELERY_BROKER_ENV}}
            if os.environ.get(CELERY_BACKEND_ENV):
                config["backend"] = {"env": CELERY_BACKEND_ENV}
            return celery_executor.configured(config, name="celery_executor")
        return celery_executor
    return multiprocess_executor


def step_pool(name: str) -> str | None:
    """The concurrency pool of a step, or None under Dask.

    dagster-dask 0.29.27 on dask 2026.8 cannot submit steps of pooled assets (dask's task spec
    tries to iterate Dagster's `RunOpConcurrency` record); under Dask the cluster's workers bound
    concurrency instead.
    """
    from ben_sen1_assets.settings import load_settings

    return None if load_settings().executor == "dask" else name
