"""Fixtures for the operations tests: isolated state, Dagster's own processes on loopback.

Every test gets its own ``DAGSTER_HOME`` and ``BEN_SEN1_HOME`` under ``tmp_path`` (never the
repo's ``.ben_sen1/``). Long-running Dagster processes (``dagster dev``, ``dagster-daemon``,
``dagster-webserver``) start in their own session and are stopped by signalling the whole
process group (SIGTERM, then SIGKILL): they spawn code servers and run workers of their own.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
LOCATION = "ben_sen1_assets"  # the location name in workspace.yaml
DAGSTER_YAML = "telemetry:\n  enabled: false\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate: Callable[[], object], timeout: float, what: str, interval: float = 1.0) -> object:
    """Poll ``predicate`` until it returns something truthy; fail naming ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not reached within {timeout:.0f} s")
        time.sleep(interval)


def wait_while_progressing(predicate: Callable[[], object], progress: Callable[[], object], stall: float,
                           what: str, interval: float = 2.0) -> object:
    """Poll ``predicate`` until it returns something truthy. Fail only when ``progress()`` (e.g.
    the number of events the runs have written) has not changed for ``stall`` seconds: on a busy
    machine a slow run gets the time it needs, a stuck one fails in bounded time."""
    last, changed = progress(), time.monotonic()
    while True:
        value = predicate()
        if value:
            return value
        now = progress()
        if now != last:
            last, changed = now, time.monotonic()
        elif time.monotonic() - changed > stall:
            raise TimeoutError(f"{what}: no progress for {stall:.0f} s (last: {last})")
        time.sleep(interval)


def instance_progress(ops_env: "OpsEnv") -> int:
    """Events written so far by the instance's latest runs: grows while any run does something."""
    with ops_env.instance() as instance:
        return sum(len(instance.all_logs(run.run_id)) for run in instance.get_runs(limit=20))


@dataclass
class OpsEnv:
    """Environment of one test: its Dagster home, its project state root, the env to pass on."""

    dagster_home: Path
    ben_home: Path
    logs: Path
    env: dict[str, str]

    def instance(self):
        """A DagsterInstance reading this test's DAGSTER_HOME (sqlite storages on disk)."""
        import dagster as dg
        from dagster._core.instance.ref import InstanceRef

        return dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(self.dagster_home)))


def make_ops_env(tmp_path: Path) -> OpsEnv:
    """A fresh DAGSTER_HOME (sqlite, telemetry off) and BEN_SEN1_HOME under ``tmp_path``."""
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text(DAGSTER_YAML)
    ben_home = tmp_path / "ben"
    logs = tmp_path / "logs"
    logs.mkdir()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(dagster_home),
        "BEN_SEN1_HOME": str(ben_home),
        "PYTHONUNBUFFERED": "1",
        # subprocesses (code servers, run and step workers) import THIS checkout's code
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
    }
    # settings default to the demo: drop any outer override that would point elsewhere
    for key in ("BEN_SEN1_CONFIG", "BEN_SEN1_STORAGE", "BEN_SEN1_STORAGE_OPTIONS", "BEN_SEN1_CATALOG",
                "BEN_SEN1_ARCHIVE", "BEN_SEN1_PRODUCT_STORE", "BEN_SEN1_PROVIDER", "BEN_SEN1_EXECUTOR"):
        env.pop(key, None)
    # create the sqlite schemas once, before a daemon and a webserver start together: both would
    # otherwise create them at the same moment ("alembic_version has more than one head")
    import dagster as dg

    dg.DagsterInstance.from_config(str(dagster_home)).dispose()
    return OpsEnv(dagster_home=dagster_home, ben_home=ben_home, logs=logs, env=env)


@pytest.fixture
def ops_env(tmp_path: Path) -> OpsEnv:
    return make_ops_env(tmp_path)


class ProcessGroup:
    """A Dagster process started in its own session, its output in a log file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        self._out = log.open("wb")
        self.proc = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=self._out, stderr=subprocess.STDOUT, start_new_session=True
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, n: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-n:]

    def check_alive(self) -> None:
        if not self.alive():
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")

    def stop(self, grace: float = 20.0) -> None:
        """SIGTERM to the whole group, SIGKILL to whatever is left after ``grace`` seconds."""
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
        # children (code servers, run workers) may outlive the leader: kill the group regardless
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self._out.close()


@pytest.fixture
def start_process(ops_env: OpsEnv) -> Iterator[Callable[[str, list[str]], ProcessGroup]]:
    """Start named Dagster processes for this test; all are stopped at teardown."""
    started: list[ProcessGroup] = []

    def start(name: str, args: list[str]) -> ProcessGroup:
        group = ProcessGroup(name, args, ops_env.env, ops_env.logs / f"{name}.log")
        started.append(group)
        return group

    yield start
    for group in reversed(started):
        group.stop()


def graphql(url: str, query: str, variables: dict | None = None) -> dict:
    response = requests.post(f"{url}/graphql", json={"query": query, "variables": variables or {}}, timeout=60)
    response.raise_for_status()
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


LOCATION_QUERY = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"


def wait_for_server(url: str, proc: ProcessGroup, timeout: float = 240) -> None:
    """Wait for ``/server_info``, then for the code location to be LOADED (it loads asynchronously)."""

    def server_up() -> bool:
        proc.check_alive()
        try:
            return requests.get(f"{url}/server_info", timeout=5).ok
        except requests.RequestException:
            return False

    wait_for(server_up, timeout, f"{proc.name} /server_info")

    def location_loaded() -> bool:
        proc.check_alive()
        entries = graphql(url, LOCATION_QUERY)["workspaceOrError"]["locationEntries"]
        entry = next((e for e in entries if e["name"] == LOCATION), None)
        if entry and entry["locationOrLoadError"] and entry["locationOrLoadError"]["__typename"] == "PythonError":
            raise RuntimeError(f"code location failed to load: {entry['locationOrLoadError']['message']}")
        return bool(entry and entry["loadStatus"] == "LOADED" and entry["locationOrLoadError"]["__typename"] == "RepositoryLocation")

    wait_for(location_loaded, timeout, f"code location {LOCATION} loaded")


def demo_partition_keys() -> list[str]:
    from ben_sen1_assets.grid.catalog import load_demo_catalog

    return sorted(load_demo_catalog().keys())


def definition_asset_keys() -> list[str]:
    """The assets of the code location, as the definitions declare them today."""
    from ben_sen1_assets.definitions import defs

    return sorted(k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys())


def tile_job_asset_keys() -> list[str]:
    """The assets ``tile_job`` builds for one tile partition, from the definitions."""
    from ben_sen1_assets.definitions import defs

    keys = defs.resolve_job_def("tile_job").asset_layer.selected_asset_keys
    return sorted(k.to_user_string() for k in keys)


def datasets_asset_keys() -> list[str]:
    """The cross-tile assets of the ``datasets`` group (what ``--with-datasets`` adds)."""
    from ben_sen1_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    return sorted(k.to_user_string() for k in graph.get_all_asset_keys() if graph.get(k).group_name == "datasets")


def partitioned_asset_keys() -> list[str]:
    """The assets partitioned by tile (what a partition backfill selects)."""
    from ben_sen1_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    return sorted(k.to_user_string() for k in graph.get_all_asset_keys() if graph.get(k).partitions_def)


def definition_check_names() -> dict[str, list[str]]:
    """Asset checks by asset, from the definitions."""
    from ben_sen1_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    checks: dict[str, list[str]] = {}
    for key in graph.asset_check_keys:
        checks.setdefault(key.asset_key.to_user_string(), []).append(key.name)
    return {k: sorted(v) for k, v in checks.items()}


def wait_for_finished_runs(ops_env: OpsEnv, tags: dict[str, str], count: int, stall: float,
                           watch: list[ProcessGroup] = ()) -> list:
    """Runs with ``tags`` once ``count`` of them exist and all have finished (success or not);
    fails when the instance's runs have written no event for ``stall`` seconds."""
    import dagster as dg

    def finished() -> list | None:
        for group in watch:
            group.check_alive()
        with ops_env.instance() as instance:
            runs = instance.get_runs(filters=dg.RunsFilter(tags=tags))
        if len(runs) >= count and all(run.is_finished for run in runs):
            return runs
        return None

    return wait_while_progressing(finished, lambda: instance_progress(ops_env), stall,
                                  f"{count} finished runs tagged {tags}")


def run_failure_details(ops_env: OpsEnv, runs: list) -> str:
    """The error messages of failed runs, for assertion messages."""
    lines = []
    with ops_env.instance() as instance:
        for run in runs:
            if run.status.value != "SUCCESS":
                for record in instance.all_logs(run.run_id):
                    if record.dagster_event and record.dagster_event.is_failure:
                        lines.append(f"{run.run_id} {record.dagster_event.message}")
    return "\n".join(lines)
