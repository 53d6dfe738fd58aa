"""A multi-tile backfill executed by Celery: Debian's redis-server as the broker and result backend
on a free loopback port, two ``dagster-celery worker`` processes, the daemon launching the runs.

``BEN_SEN1_EXECUTOR=celery`` with ``BEN_SEN1_CELERY_BROKER``/``BEN_SEN1_CELERY_BACKEND`` gives
``tile_job`` the Celery executor bound to that broker (a backfill carries no run config). The
runs' steps must execute in the two worker processes (``--pool solo``: a worker runs its tasks in
its own process), both of them taking part, and every partition must be built with passing checks.
Waits are bounded by what they wait for (a process up, runs finished), each named on timeout.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import dagster as dg
import pytest

from ben_sen1_assets_tests.ops.conftest import (
    BIN,
    ROOT,
    OpsEnv,
    ProcessGroup,
    demo_partition_keys,
    free_port,
    run_failure_details,
    tile_job_asset_keys,
    wait_for,
    wait_for_finished_runs,
)

REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(900),
    pytest.mark.skipif(not Path(REDIS).exists(), reason="Debian's redis-server is not installed (make test installs it)"),
]


def _redis_ping(port: int) -> bool:
    import redis

    try:
        return bool(redis.Redis(host="127.0.0.1", port=port, socket_timeout=2).ping())
    except redis.RedisError:
        return False


def _workers_ready(log: Path) -> bool:
    return "ready." in log.read_text(errors="replace")


def test_multi_tile_backfill_on_two_celery_workers(ops_env: OpsEnv, start_process) -> None:
    port = free_port()
    redis_proc = start_process("redis", [REDIS, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                                         "--appendonly", "no", "--dir", str(ops_env.logs)])
    wait_for(lambda: redis_proc.check_alive() or _redis_ping(port), 60, f"redis-server on 127.0.0.1:{port}", 0.2)

    broker, backend = f"redis://127.0.0.1:{port}/0", f"redis://127.0.0.1:{port}/1"
    env = {**ops_env.env, "BEN_SEN1_EXECUTOR": "celery", "BEN_SEN1_CELERY_BROKER": broker,
           "BEN_SEN1_CELERY_BACKEND": backend,
           # dagster-celery starts the `celery` program of the environment by name
           "PATH": os.pathsep.join([str(BIN), ops_env.env.get("PATH", "")])}
    worker_yaml = ops_env.logs / "celery.yaml"
    worker_yaml.write_text(f"execution:\n  config:\n    broker: '{broker}'\n    backend: '{backend}'\n")
    workers = []
    for name in ("w1", "w2"):
        group = ProcessGroup(
            f"celery-{name}",
            [str(BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app", "-y", str(worker_yaml),
             "-n", name, "--", "--pool", "solo", "--concurrency", "1"],
            env, ops_env.logs / f"celery-{name}.log")
        workers.append(group)
    daemon = ProcessGroup("daemon", [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"], env,
                          ops_env.logs / "daemon.log")
    try:
        for group in workers:
            wait_for(lambda g=group: g.check_alive() or _workers_ready(g.log), 180, f"{group.name} ready")

        keys = demo_partition_keys()
        out = subprocess.run(
            [str(BIN / "dagster"), "job", "backfill", "-w", "workspace.yaml", "-j", "tile_job",
             "--partitions", ",".join(keys), "--noprompt"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
        )
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
        match = re.search(r"Launched backfill job `([^`]+)`", out.stdout + out.stderr)
        assert match, out.stdout + out.stderr
        # bounded by what it waits for: the runs finishing, while daemon and workers stay alive
        runs = wait_for_finished_runs(ops_env, {"dagster/backfill": match.group(1)}, len(keys), 720,
                                      watch=[daemon, *workers])
    finally:
        daemon.stop()
        for group in workers:
            group.stop()
        print(f"process logs: {ops_env.logs}")

    assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in runs), run_failure_details(ops_env, runs)
    assert sorted(run.tags["dagster/partition"] for run in runs) == keys
    worker_hosts: set[str] = set()
    with ops_env.instance() as instance:
        for run in runs:
            assert "redis://" not in str(run.run_config)  # the broker comes from the environment
            events = [r.dagster_event for r in instance.all_logs(run.run_id) if r.dagster_event is not None]
            orchestrator = next(e.pid for e in events if e.event_type == dg.DagsterEventType.RUN_START)
            step_pids = {e.step_key: e.pid for e in events if e.event_type == dg.DagsterEventType.STEP_START}
            assert step_pids and orchestrator not in set(step_pids.values()), (orchestrator, step_pids)
            for e in events:
                if e.event_type == dg.DagsterEventType.ENGINE_EVENT and "in celery worker" in (e.message or ""):
                    worker_hosts.add(str(e.event_specific_data.metadata["Celery worker"].value))
        step_worker_pids = set()
        for run in runs:
            for r in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_START):
                step_worker_pids.add(r.dagster_event.pid)
        for asset in tile_job_asset_keys():
            partitions = instance.get_materialized_partitions(dg.AssetKey.from_user_string(asset))
            assert set(keys) <= partitions, (asset, partitions)
        checks = [r.dagster_event.event_specific_data for run in runs
                  for r in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)]
        assert checks and all(c.passed for c in checks)
    # both workers executed steps (solo pool: the worker process itself), and nothing else did
    assert {h.split("@")[0] for h in worker_hosts} == {"w1", "w2"}, worker_hosts
    assert len(step_worker_pids) == 2, step_worker_pids
