"""Benchmark: what a partition run costs beyond its work, under the default executor.

The same demo partition (default ``33TTG_20211223``) is built from scratch (fresh storage and
product store, the demo archive built beforehand) in four ways, side by side on one instance
written as ``make demo`` writes it:

* ``in_process``: ``dagster job execute -j tile_job`` with ``BEN_SEN1_EXECUTOR=in_process``
  (one process; the reference);
* ``cli``: the same command under the default executor (multiprocess, forkserver);
* ``queued``: ``dagster job launch`` queues the run as the UI's Launch button does; the daemon
  dequeues it and the code server starts the run worker (timed from the launch command to the
  run's end);
* ``asset_backfill``: ``ben-sen1 backfill`` submits an asset backfill of the partition, as the
  UI's Materialize → backfill does (timed from submission to the backfill's completion).

Also the import time of the code location (best of 3, minus the interpreter's start).

    PYTHONPATH=. python benchmarks/bench_run_overhead.py [--partition 33TTG_20211223]

The last line is one JSON object: wall seconds per way, each ratio to ``in_process``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def best_of(n: int, args: list[str], env: dict[str, str]) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run(args, env=env, check=True, cwd=ROOT, capture_output=True)
        times.append(time.perf_counter() - t0)
    return min(times)


def import_seconds(env: dict[str, str]) -> dict[str, float]:
    python = str(BIN / "python")
    base = best_of(3, [python, "-c", "pass"], env)
    return {
        "import_dagster_s": round(best_of(3, [python, "-c", "import dagster"], env) - base, 2),
        "import_code_location_s": round(
            best_of(3, [python, "-c", "import ben_sen1_assets.definitions"], env) - base, 2
        ),
    }


def fresh_state(env: dict[str, str], work: Path, mode: str) -> dict[str, str]:
    """Storage and product store of their own for one way of running (the archive is shared)."""
    for sub in ("storage", "products"):
        shutil.rmtree(work / mode / sub, ignore_errors=True)
    return {**env, "BEN_SEN1_STORAGE": str(work / mode / "storage"),
            "BEN_SEN1_PRODUCT_STORE": str(work / mode / "products")}


def run_cli(env: dict[str, str], partition: str, log: Path) -> float:
    tags = json.dumps({"dagster/partition": partition})
    t0 = time.perf_counter()
    with log.open("wb") as out:
        subprocess.run(
            [str(BIN / "dagster"), "job", "execute", "-m", "ben_sen1_assets.definitions", "-j", "tile_job",
             "--tags", tags],
            env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, check=True,
        )
    return time.perf_counter() - t0


def wait_until(predicate, timeout: float, what: str, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        time.sleep(interval)


def instance_for(dagster_home: Path):
    import dagster as dg

    return dg.DagsterInstance.from_config(str(dagster_home))


def run_queued(env: dict[str, str], dagster_home: Path, partition: str, log: Path) -> float:
    """Queue a run as the UI does; wait for the daemon to finish it."""
    import dagster as dg

    tags = json.dumps({"dagster/partition": partition, "bench": "queued"})
    t0 = time.perf_counter()
    with log.open("wb") as out:
        subprocess.run(
            [str(BIN / "dagster"), "job", "launch", "-w", "workspace.yaml", "-j", "tile_job", "--tags", tags],
            env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, check=True,
        )

    def finished():
        with instance_for(dagster_home) as instance:
            runs = instance.get_runs(filters=dg.RunsFilter(tags={"bench": "queued"}))
            return runs[0] if runs and runs[0].is_finished else None

    run = wait_until(finished, 1800, "queued run")
    if run.status != dg.DagsterRunStatus.SUCCESS:
        raise RuntimeError(f"queued run {run.run_id} ended {run.status}")
    return time.perf_counter() - t0


def run_asset_backfill(env: dict[str, str], dagster_home: Path, partition: str, log: Path) -> float:
    """Submit an asset backfill of the partition; wait for it to complete."""
    from dagster._core.execution.backfill import BulkActionStatus

    t0 = time.perf_counter()
    with log.open("wb") as out:
        done = subprocess.run(
            [str(BIN / "python"), "-m", "ben_sen1_assets.cli", "backfill", "--partitions", partition, "--json"],
            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=out, check=True,
        )
    backfill_id = json.loads(done.stdout.decode().strip().splitlines()[-1])["backfill_id"]

    def finished():
        with instance_for(dagster_home) as instance:
            backfill = instance.get_backfill(backfill_id)
            return backfill if backfill and backfill.status != BulkActionStatus.REQUESTED else None

    backfill = wait_until(finished, 1800, "asset backfill")
    if backfill.status != BulkActionStatus.COMPLETED_SUCCESS:
        raise RuntimeError(f"asset backfill {backfill_id} ended {backfill.status}")
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partition", default="33TTG_20211223")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs)")
    parser.add_argument("--ways", default="in_process,cli,queued,asset_backfill",
                        help="comma-separated subset of the ways to run (in_process is always run)")
    args = parser.parse_args()

    from ben_sen1_assets.instance import write_instance_yaml

    work = Path(tempfile.mkdtemp(prefix="bench_run_overhead_"))
    dagster_home = work / "dagster_home"
    write_instance_yaml(dagster_home)
    env = {key: value for key, value in os.environ.items() if not key.startswith("BEN_SEN1_")}
    env.update({
        "DAGSTER_HOME": str(dagster_home), "BEN_SEN1_HOME": str(work / "ben"),
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
    })
    # the demo archive once, before anything is timed
    subprocess.run([str(BIN / "python"), "-c", "from ben_sen1_assets.demo_archive import build_demo_archive; "
                    "build_demo_archive()"], env=env, cwd=ROOT, check=True)
    instance_for(dagster_home).dispose()  # create the sqlite schemas before the daemon starts

    figures: dict[str, object] = {"partition": args.partition, "cpus": os.cpu_count()}
    figures.update(import_seconds(env))
    wall = {}
    wall["in_process"] = run_cli({**fresh_state(env, work, "in_process"), "BEN_SEN1_EXECUTOR": "in_process"},
                                 args.partition, work / "in_process.log")
    ways = set(args.ways.split(","))
    if "cli" in ways:
        wall["cli"] = run_cli(fresh_state(env, work, "cli"), args.partition, work / "cli.log")

    daemon_env = fresh_state(env, work, "daemon")
    if not ways & {"queued", "asset_backfill"}:
        daemon_env = None
    daemon_log = (work / "daemon.log").open("wb")
    daemon = None if daemon_env is None else subprocess.Popen([str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"], env=daemon_env,
                              cwd=ROOT, stdout=daemon_log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        if "queued" in ways:
            wall["queued"] = run_queued(daemon_env, dagster_home, args.partition, work / "queued.log")
            fresh_state(env, work, "daemon")  # the same work again: empty storage and product store
        if "asset_backfill" in ways:
            wall["asset_backfill"] = run_asset_backfill(daemon_env, dagster_home, args.partition,
                                                        work / "asset_backfill.log")
    finally:
        if daemon is not None:
            os.killpg(daemon.pid, signal.SIGTERM)
            try:
                daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(daemon.pid, signal.SIGKILL)
        daemon_log.close()

    figures.update({f"{k}_s": round(v, 1) for k, v in wall.items()})
    figures.update({f"ratio_{k}": round(v / wall["in_process"], 2) for k, v in wall.items() if k != "in_process"})
    if args.keep:
        figures["work"] = str(work)
    else:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
