"""Benchmark: what a partition run costs beyond its work, under the default executor.

The same demo partition (default ``33TTG_20211223``) is built from scratch (fresh storage and
product store, the demo archive built beforehand) in four ways, side by side on one instance
written as ``make demo`` writes it:

* ``in_process``: ``dagster job execute -j tile_job`` with ``BEN_SEN1_EXECUTOR=in_process``
  (one process; the reference);
* ``cli``: the same command under the default executor (multiprocess, forkserver);
* ``queued``: ``dagster job launch`` queues the run as the UI's Launch button does; the daemon
  dequeues it and the code server starts the run worker (timed from the run's creation, when the
  UI's button returns, to its end: the CLI's own loading of the workspace is not the run's);
* ``asset_backfill``: ``ben-sen1 backfill`` submits an asset backfill of the partition, as the
  UI's Materialize → backfill does: its run is timed from creation to end, the backfill from
  submission to completion (the backfill daemon iterates every 30 s, so up to a minute more).

Also the import time of the code location (best of 3, minus the interpreter's start).

    PYTHONPATH=. python benchmarks/bench_run_overhead.py [--partition 33TTG_20211223]

The last line is one JSON object: per way the median wall seconds over the rounds (and every
round's), each ratio to ``in_process``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
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


def run_queued(env: dict[str, str], dagster_home: Path, partition: str, log: Path, label: str) -> float:
    """Queue a run as the UI does; wait for the daemon to finish it."""
    import dagster as dg

    tags = json.dumps({"dagster/partition": partition, "bench": label})
    with log.open("wb") as out:
        subprocess.run(
            [str(BIN / "dagster"), "job", "launch", "-w", "workspace.yaml", "-j", "tile_job", "--tags", tags],
            env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, check=True,
        )

    def finished():
        with instance_for(dagster_home) as instance:
            runs = instance.get_runs(filters=dg.RunsFilter(tags={"bench": label}))
            return runs[0] if runs and runs[0].is_finished else None

    run = wait_until(finished, 1800, "queued run")
    if run.status != dg.DagsterRunStatus.SUCCESS:
        raise RuntimeError(f"queued run {run.run_id} ended {run.status}")
    with instance_for(dagster_home) as instance:
        record = instance.get_run_record_by_id(run.run_id)
    return record.end_time - record.create_timestamp.timestamp()


def run_asset_backfill(env: dict[str, str], dagster_home: Path, partition: str, log: Path) -> tuple[float, float]:
    """Submit an asset backfill of the partition; wait for it to complete. Returns the wall time
    of its run (creation to end) and of the whole backfill (submission to completion: the
    backfill daemon looks at backfills every 30 s, before the run and after it)."""
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
    whole = time.perf_counter() - t0
    if backfill.status != BulkActionStatus.COMPLETED_SUCCESS:
        raise RuntimeError(f"asset backfill {backfill_id} ended {backfill.status}")
    import dagster as dg

    with instance_for(dagster_home) as instance:
        (run,) = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
        record = instance.get_run_record_by_id(run.run_id)
    return record.end_time - record.create_timestamp.timestamp(), whole


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partition", default="33TTG_20211223")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of all ways, interleaved (median kept)")
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

    figures: dict[str, object] = {"partition": args.partition, "cpus": os.cpu_count(), "rounds": args.rounds}
    figures.update(import_seconds(env))
    ways = set(args.ways.split(","))
    daemon_env = fresh_state(env, work, "daemon") if ways & {"queued", "asset_backfill"} else None
    daemon_log = (work / "daemon.log").open("wb")
    daemon = None if daemon_env is None else subprocess.Popen(
        [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"], env=daemon_env, cwd=ROOT,
        stdout=daemon_log, stderr=subprocess.STDOUT, start_new_session=True)
    wall: dict[str, list[float]] = {}
    try:
        for k in range(args.rounds):
            wall.setdefault("in_process", []).append(run_cli(
                {**fresh_state(env, work, "in_process"), "BEN_SEN1_EXECUTOR": "in_process"}, args.partition,
                work / f"in_process_{k}.log"))
            if "cli" in ways:
                wall.setdefault("cli", []).append(
                    run_cli(fresh_state(env, work, "cli"), args.partition, work / f"cli_{k}.log"))
            if "queued" in ways:
                fresh_state(env, work, "daemon")  # the same work each time: empty storage and product store
                wall.setdefault("queued", []).append(
                    run_queued(daemon_env, dagster_home, args.partition, work / f"queued_{k}.log", f"queued-{k}"))
            if "asset_backfill" in ways:
                fresh_state(env, work, "daemon")
                run_s, whole_s = run_asset_backfill(daemon_env, dagster_home, args.partition,
                                                    work / f"asset_backfill_{k}.log")
                wall.setdefault("asset_backfill_run", []).append(run_s)
                wall.setdefault("asset_backfill_submitted_to_completed", []).append(whole_s)
    finally:
        if daemon is not None:
            os.killpg(daemon.pid, signal.SIGTERM)
            try:
                daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(daemon.pid, signal.SIGKILL)
        daemon_log.close()

    median = {k: statistics.median(v) for k, v in wall.items()}
    figures.update({f"{k}_s": round(v, 1) for k, v in median.items()})
    figures.update({f"{k}_s_all": [round(x, 1) for x in v] for k, v in wall.items()})
    figures.update({f"ratio_{k}": round(v / median["in_process"], 2) for k, v in median.items()
                    if k not in ("in_process", "asset_backfill_submitted_to_completed")})
    if args.keep:
        figures["work"] = str(work)
    else:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
