"""kill -9 at random moments, then reruns: nothing a killed run leaves blocks or slows the next one.

The instance is the one the project writes (``ben_sen1_assets.instance``: pools with limit 1,
run monitoring), on disk under a temporary ``DAGSTER_HOME``, over the demo archive.

- Foreground runs (as ``make demo`` runs its tiles, ``_crash_driver``): the driver process is
  killed with SIGKILL (with everything it started) at a random moment; the next driver marks the
  dead run failed and frees its pool slots before it starts (no daemon watches these runs).
  Every third kill (and the last) is followed by a run that must succeed within a bound of the
  normal run time; the runs killed in between reaped the earlier dead ones when they started.
  A dead process's temporary files are swept by the next writer of the same output, so before
  that timed run, every other partition killed since the last check is run once too (a kill
  while the other tile published its patch store left its hidden ``.old`` behind, correctly,
  until that tile is written again).
- Daemon-launched runs (the deployment path): the run worker is killed; the daemon's run
  monitoring marks the run failed and frees its slots; the rerun must succeed in normal time.

After every successful rerun: the killed runs are FAILURE, no pool slot is held, every output at
a final path reads, every stored product verifies, and no temporary file of a dead process is
left (storage, product store, the runs' TMPDIR).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from ben_sen1_assets_tests.ops.conftest import (
    BIN,
    LOCATION,
    ROOT,
    OpsEnv,
    ProcessGroup,
    free_port,
    graphql,
    make_ops_env,
    wait_for,
    wait_for_server,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

SEED = 20261130
KEYS = ("31TEL_20210809", "33TTG_20211223")  # one product each (France, Rome)
FOREGROUND_KILLS = 8
DAEMON_KILLS = 2


def _env(ops_env: OpsEnv, tmp: Path) -> dict[str, str]:
    return {**ops_env.env, "TMPDIR": str(tmp), "BEN_SEN1_EXECUTOR": "in_process"}


def _start_driver(env: dict[str, str], key: str, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "ben_sen1_assets_tests.ops._crash_driver", key], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=log.open("ab"), text=True, start_new_session=True,
    )


def _lines(proc: subprocess.Popen, timeout: float) -> list[dict]:
    out, _ = proc.communicate(timeout=timeout)
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def _held_slots(instance: dg.DagsterInstance) -> set[str]:
    return set(instance.event_log_storage.get_concurrency_run_ids())


def _check_outputs(ops_env: OpsEnv, tmp: Path) -> list[str]:
    """Problems with what is at final paths, and temporary files of dead processes."""
    import geopandas as gpd
    import rasterio
    import xarray as xr

    from ben_sen1_assets.archive.store import ProductStore
    from ben_sen1_assets.archive.verify import verify_product_zip
    from ben_sen1_assets.formats.staging import is_stale

    problems = []
    storage = ops_env.ben_home / "storage"
    for path in sorted(storage.rglob("*")):
        name = path.name
        try:
            if any(part.startswith(".") for part in path.relative_to(storage).parts):
                if is_stale(path):
                    problems.append(f"left by a dead process: {path}")
                continue
            if name.endswith(".parquet"):
                gpd.read_parquet(path)
            elif name.endswith(".tif") and path.is_file():
                with rasterio.open(path) as ds:
                    ds.read(1, window=((0, 1), (0, 1)))
            elif name.endswith(".zarr") and path.is_dir():
                xr.open_zarr(path).load()
        except Exception as exc:  # noqa: BLE001 - reported
            problems.append(f"unreadable output {path}: {exc}")
    store = ProductStore(ops_env.ben_home / "products")
    for name in store.names():
        if not store.has(name):
            problems.append(f"product without its verification record: {name}")
        verify_product_zip(store.path_for(name), name)
    for leftover in list((ops_env.ben_home / "products").glob(".*/*")) + list(tmp.glob("ben_sen1_*")):
        if is_stale(leftover) or leftover.suffix == ".broken":
            problems.append(f"left by a dead process: {leftover}")
    return problems


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    """A home with the demo archive built and one normal run timed per partition."""
    root = tmp_path_factory.mktemp("crash")
    ops_env = make_ops_env(root)
    from ben_sen1_assets.instance import write_instance_yaml

    write_instance_yaml(ops_env.dagster_home, overwrite=True, monitoring_poll_s=2, free_slots_after_s=2)
    tmp = root / "tmp"
    tmp.mkdir()
    env = _env(ops_env, tmp)
    from ben_sen1_assets.demo_archive import build_demo_archive

    build_demo_archive(ops_env.ben_home / "archive")
    normal, run_only = {}, {}
    for key in KEYS:  # numba's cache is warm after the suite's earlier tests (cold: a slower first run)
        lines = _lines(_start_driver(env, key, ops_env.logs / "normal.log"), timeout=900)
        assert lines[-1]["stage"] == "done" and lines[-1]["success"], lines
        normal[key], run_only[key] = lines[-1]["seconds"], lines[-1]["run_seconds"]
    return ops_env, env, tmp, normal, run_only


def test_foreground_runs_killed_at_random_moments(deployment):
    ops_env, env, tmp, normal, _ = deployment
    rng = random.Random(SEED)
    print(f"\nNORMAL {json.dumps(normal)}")
    report = []
    killed_runs: list[str] = []
    killed_keys: set[str] = set()  # partitions killed since the last check
    trial = 0
    while trial < FOREGROUND_KILLS:
        assert len(report) < 3 * FOREGROUND_KILLS, "kills keep arriving after the runs ended"
        key = KEYS[trial % len(KEYS)]
        proc = _start_driver(env, key, ops_env.logs / f"kill{trial}.log")
        at = rng.uniform(2.0, 0.95 * normal[key])
        time.sleep(at)
        if proc.poll() is not None:  # finished first: not a kill
            report.append({"trial": None, "key": key, "kill_at_s": round(at, 1), "finished_first": True})
            continue
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        alive = True
        with ops_env.instance() as instance:
            runs = instance.get_runs(filters=dg.RunsFilter(tags={"ben_sen1/tile": key.split("_")[0]}), limit=1)
            victim = runs[0] if runs and runs[0].run_id not in killed_runs and runs[0].status != dg.DagsterRunStatus.SUCCESS else None
            held = victim is not None and victim.run_id in _held_slots(instance)
        if victim is not None:
            killed_runs.append(victim.run_id)
        entry = {"trial": trial, "key": key, "kill_at_s": round(at, 1), "alive": alive,
                 "run": victim.run_id[:8] if victim else None, "status_at_kill": victim.status.value if victim else None,
                 "held_slot": held}
        killed_keys.add(key)
        if trial % 3 == 2 or trial == FOREGROUND_KILLS - 1:  # a run to the end: reaps the dead, takes normal time
            for other in sorted(killed_keys - {key}):  # their outputs written again: their leftovers swept
                lines = _lines(_start_driver(env, other, ops_env.logs / f"rerun{trial}_{other}.log"), timeout=600)
                assert lines[-1]["stage"] == "done" and lines[-1]["success"], (other, lines)
            killed_keys.clear()
            t0 = time.monotonic()
            lines = _lines(_start_driver(env, key, ops_env.logs / f"rerun{trial}.log"), timeout=600)
            seconds = time.monotonic() - t0
            ready, done = lines[0], lines[-1]
            entry.update(rerun_s=round(seconds, 1), normal_s=normal[key], reaped=len(ready["reaped"]))
            assert done["stage"] == "done" and done["success"], (entry, lines)
            assert seconds < 2.0 * normal[key] + 30, entry  # no wait for a dead run's slot
            with ops_env.instance() as instance:
                for run_id in killed_runs:
                    run = instance.get_run_by_id(run_id)
                    assert run.status == dg.DagsterRunStatus.FAILURE, (run_id, run.status)
                assert _held_slots(instance) == set(), entry
            problems = _check_outputs(ops_env, tmp)
            assert problems == [], problems
        report.append(entry)
        print(f"\nKILL {json.dumps(entry)}")
        trial += 1
    assert sum(1 for e in report if e["trial"] is not None) == FOREGROUND_KILLS


LAUNCH_RUN = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
  }
}"""


def _launch(url: str, key: str) -> str:
    """Queue a tile_job run of ``key`` the way the UI does (the daemon launches it)."""
    params = {
        "selector": {"repositoryLocationName": LOCATION, "repositoryName": "__repository__", "jobName": "tile_job"},
        "runConfigData": {},
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": key}]},
    }
    launched = graphql(url, LAUNCH_RUN, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


def test_daemon_runs_whose_worker_is_killed(deployment):
    """The deployment path: queued runs launched by the daemon; run monitoring fails the run
    whose worker died and frees its pool slots; the rerun takes normal time."""
    from ben_sen1_assets.instance import run_worker

    ops_env, env, tmp, normal, run_only = deployment
    rng = random.Random(SEED + 1)
    port = free_port()
    daemon = ProcessGroup("daemon", [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"], env,
                          ops_env.logs / "daemon.log")
    webserver = ProcessGroup(
        "webserver", [str(BIN / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        env, ops_env.logs / "webserver.log",
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_server(url, webserver)
        trial = attempts = 0
        while trial < DAEMON_KILLS:
            attempts += 1
            assert attempts <= 3 * DAEMON_KILLS, "the runs keep finishing before the kill"
            key = KEYS[trial % len(KEYS)]
            run_id = _launch(url, key)

            def started():
                daemon.check_alive()
                with ops_env.instance() as instance:
                    run = instance.get_run_by_id(run_id)
                    worker = run_worker(instance, run) if run.status == dg.DagsterRunStatus.STARTED else None
                return (run, worker) if worker else None

            run, (pid, _) = wait_for(started, 240, f"run of {key} started by the daemon", interval=0.5)
            at = rng.uniform(0.5, 0.8 * run_only[key])  # within the execution, after the worker started
            time.sleep(at)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:  # finished first: not a kill
                wait_for(lambda: _run(ops_env, run_id).is_finished, 120, "run finished")
                continue
            trial += 1
            t_kill = time.monotonic()

            def failed_and_freed():
                with ops_env.instance() as instance:
                    current = instance.get_run_by_id(run_id)
                    return current.is_finished and run_id not in _held_slots(instance) and current

            final = wait_for(failed_and_freed, 120, f"killed run {run_id} failed and its slots freed", interval=0.5)
            detected = time.monotonic() - t_kill
            t0 = time.monotonic()
            rerun_id = _launch(url, key)

            def rerun_done():
                daemon.check_alive()
                current = _run(ops_env, rerun_id)
                return current if current.is_finished else None

            rerun = wait_for(rerun_done, 600, f"rerun of {key}", interval=1.0)
            seconds = time.monotonic() - t0
            with ops_env.instance() as instance:
                record = instance.get_run_record_by_id(rerun_id)
            ran = record.end_time - record.start_time
            entry = {"trial": trial, "key": key, "kill_at_s": round(at, 1), "killed_status": final.status.value,
                     "failed_and_freed_after_s": round(detected, 1), "rerun_s": round(seconds, 1),
                     "rerun_run_s": round(ran, 1), "normal_run_s": run_only[key], "rerun": rerun.status.value}
            print(f"\nDAEMON KILL {json.dumps(entry)}")
            assert final.status == dg.DagsterRunStatus.FAILURE, entry
            assert rerun.status == dg.DagsterRunStatus.SUCCESS, entry
            # the rerun waited for no slot of the dead run: its execution took normal time
            assert ran < 2.0 * run_only[key] + 30 and seconds < 2.0 * normal[key] + 60, entry
            problems = _check_outputs(ops_env, tmp)
            assert problems == [], problems
    finally:
        webserver.stop()
        daemon.stop()


def _run(ops_env: OpsEnv, run_id: str) -> dg.DagsterRun:
    with ops_env.instance() as instance:
        return instance.get_run_by_id(run_id)
