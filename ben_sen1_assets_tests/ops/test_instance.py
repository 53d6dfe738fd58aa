"""The instance the project writes: Dagster accepts it, and a run whose process was killed while
holding a pool slot is recognised as dead, failed, and its slot freed (real instance on disk)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import dagster as dg
import pytest

from ben_sen1_assets.instance import (
    MonitoredRunLauncher,
    check_worker,
    instance_yaml,
    reap_dead_runs,
    write_instance_yaml,
)
from ben_sen1_assets_tests.ops.conftest import wait_for

pytestmark = pytest.mark.timeout(300)

# a job whose one step holds a slot of pool "sar_cpu" (limit 1) until it is killed
HOLDER = textwrap.dedent("""
    import sys, time
    import dagster as dg
    from ben_sen1_assets.instance import run_host_tags

    @dg.op(pool="sar_cpu")
    def hold():
        print("holding", flush=True)
        time.sleep(600)

    @dg.job
    def holder():
        hold()

    holder.execute_in_process(instance=dg.DagsterInstance.get(), tags=run_host_tags(in_this_process=True))
""")


def test_the_written_instance_is_dagsters_with_run_monitoring(tmp_path):
    path = write_instance_yaml(tmp_path)
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert isinstance(instance.run_launcher, MonitoredRunLauncher)
        assert instance.run_launcher.supports_check_run_worker_health
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] == 10
        assert instance.run_monitoring_max_resume_run_attempts == 0
    # a user's own file is kept; what an earlier version of the project wrote is replaced
    path.write_text("telemetry:\n  enabled: true\n")
    write_instance_yaml(tmp_path)
    assert path.read_text() == "telemetry:\n  enabled: true\n"
    path.write_text("telemetry:\n  enabled: false\nconcurrency:\n  pools:\n    default_limit: 1\n  runs:\n    max_concurrent_runs: 2\n")
    write_instance_yaml(tmp_path)
    assert path.read_text() == instance_yaml()


def test_a_killed_run_holding_a_slot_is_failed_and_its_slot_freed(tmp_path):
    home = tmp_path / "home"
    write_instance_yaml(home)
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-c", HOLDER], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "holding"
        with dg.DagsterInstance.from_config(str(home)) as instance:
            (run,) = instance.get_runs()
            assert run.status == dg.DagsterRunStatus.STARTED
            assert set(instance.event_log_storage.get_concurrency_run_ids()) == {run.run_id}
            assert check_worker(instance, run).status.value == "RUNNING"
            assert reap_dead_runs(instance) == []  # alive: left alone
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
            health = instance.run_launcher.check_run_worker_health(run)
            assert health.status.value == "FAILED" and f"pid {proc.pid}" in health.msg
            t0 = time.monotonic()
            assert reap_dead_runs(instance) == [run.run_id]
            assert time.monotonic() - t0 < 5
            assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
            assert set(instance.event_log_storage.get_concurrency_run_ids()) == set()
            info = instance.event_log_storage.get_concurrency_info("sar_cpu")
            assert info.slot_count == 1 and info.active_slot_count == 0
    finally:
        if proc.poll() is None:
            proc.kill()
