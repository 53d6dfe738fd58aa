"""The executor (how a run's steps execute) chosen by configuration, never by editing code.

The executor kind is code in Dagster; its parameters come from run config (e.g. the Dask
cluster, the Kubernetes namespace and image, the Celery broker). The optional integrations are
imported only when chosen, so the base install stays small. Out-of-process executors need
storage and a product store that every worker reaches (a shared folder or object storage).
"""

from __future__ import annotations

import os

import dagster as dg

#: environment variables naming the Celery broker and result backend (e.g. ``redis://host:6379/0``)
CELERY_BROKER_ENV = "BEN_SEN1_CELERY_BROKER"
CELERY_BACKEND_ENV = "BEN_SEN1_CELERY_BACKEND"


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
    return dg.multiprocess_executor


def step_pool(name: str) -> str | None:
    """The concurrency pool of a step, or None under Dask.

    dagster-dask 0.29.27 on dask 2026.8 cannot submit steps of pooled assets (dask's task spec
    tries to iterate Dagster's `RunOpConcurrency` record); under Dask the cluster's workers bound
    concurrency instead.
    """
    from ben_sen1_assets.settings import load_settings

    return None if load_settings().executor == "dask" else name
