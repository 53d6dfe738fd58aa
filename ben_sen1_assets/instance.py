"""The Dagster instance the project writes (``dagster.yaml``), and runs whose worker died.

One place for the instance configuration: :func:`instance_yaml` (``demo.py`` writes it into
``<BEN_SEN1_HOME>/dagster_home``; operators copy it). It sets:

- ``concurrency``: pools (``default_limit``: downloads per provider, CPU-heavy SAR steps) and
  the number of concurrent runs;
- ``run_queue``: queued runs (the UI's launches, backfills, sensors) are picked up every second,
  not Dagster's default 5 s;
- ``run_monitoring``: the daemon checks every ``poll_interval_seconds`` that each started run's
  worker is alive (:class:`MonitoredRunLauncher`), marks runs whose worker died as failed, and
  frees the pool slots a finished run still holds after ``free_slots_after_run_end_seconds``
  (a run killed in a pooled step would otherwise hold its slot for ever and block every later
  run of that pool);
- ``run_launcher``: :class:`MonitoredRunLauncher`, Dagster's default launcher (runs in a
  subprocess of the code server) plus a worker health check by process id.

Without a daemon (``make demo`` runs in the foreground), :func:`reap_dead_runs` does the same at
the start of the next run: runs of this host whose worker process is gone are marked failed and
their pool slots freed.

A run worker is identified by the process that reported the run's start (the ``pid`` of its
``RUN_START`` event) on the host named by the run tag :data:`HOST_TAG`; a process id reused by a
later process is told apart by its start time.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

import dagster as dg
from dagster._core.launcher import CheckRunHealthResult, DefaultRunLauncher, LaunchRunContext, WorkerStatus
from dagster._core.storage.dagster_run import FINISHED_STATUSES

logger = logging.getLogger(__name__)

HOST_TAG = "ben_sen1/run_host"
#: set by processes that run a job themselves (``execute_in_process``: ``make demo``): the run's
#: worker is known before it reports its start
PID_TAG = "ben_sen1/run_pid"
MARKER = "# written by ben_sen1_assets (ben_sen1_assets/instance.py); edits are kept"
#: what earlier versions wrote (replaced, since they had no run monitoring)
_EARLIER = ("telemetry:\n  enabled: false\nconcurrency:\n  pools:\n    default_limit: 1\n  runs:\n    max_concurrent_runs: 2\n",)
IN_PROGRESS = (dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.NOT_STARTED)


def instance_yaml(
    *,
    pool_limit: int = 1,
    max_concurrent_runs: int = 2,
    monitoring_poll_s: int = 30,
    free_slots_after_s: int = 10,
    start_timeout_s: int = 300,
    dequeue_interval_s: int = 1,
) -> str:
    """The project's ``dagster.yaml`` (see the module docstring)."""
    return f"""\
{MARKER}
telemetry:
  enabled: false
concurrency:
  pools:
    default_limit: {pool_limit}
  runs:
    max_concurrent_runs: {max_concurrent_runs}
run_queue:
  dequeue_interval_seconds: {dequeue_interval_s}
run_launcher:
  module: ben_sen1_assets.instance
  class: MonitoredRunLauncher
run_monitoring:
  enabled: true
  poll_interval_seconds: {monitoring_poll_s}
  start_timeout_seconds: {start_timeout_s}
  max_resume_run_attempts: 0
  free_slots_after_run_end_seconds: {free_slots_after_s}
"""


def write_instance_yaml(dagster_home: str | os.PathLike, *, overwrite: bool = False, **settings) -> Path:
    """Write :func:`instance_yaml` to ``<dagster_home>/dagster.yaml``; returns its path. A file
    there is kept (it may hold a user's settings) unless ``overwrite``, or unless it is what an
    earlier version of the project wrote."""
    path = Path(dagster_home) / "dagster.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    if overwrite or not path.exists() or path.read_text() in _EARLIER:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(instance_yaml(**settings))
        os.replace(tmp, path)
    return path


def run_host_tags(in_this_process: bool = False) -> dict[str, str]:
    """Tags that let :func:`reap_dead_runs` and the monitoring daemon check a run's worker;
    ``in_this_process`` for a run this process executes itself (``execute_in_process``)."""
    tags = {HOST_TAG: socket.gethostname()}
    if in_this_process:
        tags[PID_TAG] = str(os.getpid())
    return tags


def run_worker(instance: dg.DagsterInstance, run: dg.DagsterRun) -> tuple[int, float] | None:
    """(pid, a moment it was alive) of ``run``'s worker: the process that reported the run's
    start, else the one named by :data:`PID_TAG` (alive when it created the run); None if unknown."""
    records = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.RUN_START, limit=1).records
    if records:
        entry = records[0].event_log_entry
        if entry.dagster_event is not None and entry.dagster_event.pid is not None:
            return int(entry.dagster_event.pid), float(entry.timestamp)
    if run.tags.get(PID_TAG, "").isdigit():
        record = instance.get_run_record_by_id(run.run_id)
        if record is not None:
            return int(run.tags[PID_TAG]), record.create_timestamp.timestamp()
    return None


def worker_alive(pid: int, started: float) -> bool:
    """Whether process ``pid`` still runs and is the one that started by ``started`` (a process
    created after that moment reuses the id of a dead one)."""
    from ben_sen1_assets.formats.staging import process_alive

    return process_alive(pid, started)


def check_worker(instance: dg.DagsterInstance, run: dg.DagsterRun) -> CheckRunHealthResult:
    """RUNNING while ``run``'s worker is alive (or cannot be judged from here), FAILED once gone."""
    host = run.tags.get(HOST_TAG)
    if host != socket.gethostname():
        return CheckRunHealthResult(WorkerStatus.RUNNING, f"run worker on host {host!r}: not checked from here")
    worker = run_worker(instance, run)
    if worker is None:
        return CheckRunHealthResult(WorkerStatus.RUNNING, "run worker has not reported its start yet")
    pid, started = worker
    if worker_alive(pid, started):
        return CheckRunHealthResult(WorkerStatus.RUNNING, f"run worker pid {pid} alive")
    return CheckRunHealthResult(WorkerStatus.FAILED, f"run worker pid {pid} on {host} is gone (killed or crashed)")


class MonitoredRunLauncher(DefaultRunLauncher):
    """Dagster's default run launcher, whose run workers the monitoring daemon can check."""

    def launch_run(self, context: LaunchRunContext) -> None:
        self._instance.add_run_tags(context.dagster_run.run_id, run_host_tags())
        super().launch_run(context)

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        current = self._instance.get_run_by_id(run.run_id) or run  # tags added at launch
        return check_worker(self._instance, current)


def reap_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark the started runs of this host whose worker process is gone as failed, and free the
    pool slots they hold; returns their run ids. For instances without a monitoring daemon."""
    reaped = []
    for record in instance.get_run_records(dg.RunsFilter(statuses=list(IN_PROGRESS))):
        run = record.dagster_run
        health = check_worker(instance, run)
        if health.status != WorkerStatus.FAILED:
            continue
        instance.report_run_failed(run, f"{health.msg}; marked failed by the next run on this instance")
        reaped.append(run.run_id)
    for run_id in reaped + _finished_runs_holding_slots(instance):
        instance.event_log_storage.free_concurrency_slots_for_run(run_id)
    if reaped:
        logger.warning("marked %d run(s) whose worker died as failed: %s", len(reaped), ", ".join(reaped))
    return reaped


def _finished_runs_holding_slots(instance: dg.DagsterInstance) -> list[str]:
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    run_ids = storage.get_concurrency_run_ids()
    if not run_ids:
        return []
    finished = instance.get_run_records(dg.RunsFilter(run_ids=list(run_ids), statuses=list(FINISHED_STATUSES)))
    return [r.dagster_run.run_id for r in finished]
