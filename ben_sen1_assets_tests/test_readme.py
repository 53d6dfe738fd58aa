"""The README's commands, run as written, in a copy of the repository, after its quickstart.

Every ```bash and ```python block of the README is run in order, in a copy of this checkout (the
same `.venv`), so that `./.ben_sen1` and the Dagster instance are the copy's: the quickstart's
`make demo` first, then each section's blocks. Conventions of the README's blocks:

* a first line ``# needs network ...`` : not run (the machine has no network, nor credentials);
* a first line ``# runs until stopped; serves <url>`` : started in the background, waited for
  until ``<url>`` answers and its code location is loaded, and stopped at the end of its
  section (once every run it launched has finished, and they must have succeeded);
* ``make test`` is not run (it is this suite).

Exports carry from one block to the next, as in one terminal.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv"
BLOCK = re.compile(r"^```(bash|python)\n(.*?)^```", re.S | re.M)
NOT_COPIED = {".venv", ".git", ".ben_sen1", "test-artifacts", ".pytest_cache", "__pycache__", "benchmarks/out"}

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]


@dataclass
class Block:
    section: str
    language: str
    code: str

    @property
    def first_line(self) -> str:
        return self.code.splitlines()[0] if self.code.strip() else ""

    @property
    def needs_network(self) -> bool:
        return self.first_line.startswith("# needs network")

    @property
    def serves(self) -> str | None:
        match = re.match(r"# runs until stopped; serves (\S+)", self.first_line)
        return match.group(1) if match else None


def readme_blocks() -> list[Block]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks, section = [], ""
    headings = [(m.start(), m.group(1)) for m in re.finditer(r"^## (.+)$", text, re.M)]
    for match in BLOCK.finditer(text):
        section = next((title for start, title in reversed(headings) if start < match.start()), "")
        blocks.append(Block(section, match.group(1), match.group(2)))
    return blocks


def _copy_repository(dest: Path) -> Path:
    def ignore(folder: str, names: list[str]) -> set[str]:
        relative = Path(folder).relative_to(ROOT)
        return {n for n in names if n in NOT_COPIED or str(relative / n) in NOT_COPIED or n.endswith(".egg-info")}

    shutil.copytree(ROOT, dest, ignore=ignore, symlinks=True)  # copy2: the Makefile's stamps stay valid
    (dest / ".venv").symlink_to(VENV.resolve())
    return dest


def _environment(copy: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("BEN_SEN1_", "DAGSTER_")) and k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    # the copy's code, whatever the virtualenv's editable install points at
    env["PYTHONPATH"] = str(copy)
    return env


class Terminal:
    """Runs blocks one after the other in ``cwd``, carrying exported variables between them."""

    def __init__(self, cwd: Path, env: dict[str, str], logs: Path) -> None:
        self.cwd, self.env, self.logs = cwd, env, logs
        self.background: list[tuple[subprocess.Popen, Block]] = []
        self.count = 0

    def run(self, block: Block, timeout: float = 1500) -> str:
        self.count += 1
        log = self.logs / f"{self.count:02d}.log"
        if block.language == "python":
            script = self.logs / f"{self.count:02d}.py"
            script.write_text(block.code)
            args = [str(self.cwd / ".venv/bin/python"), str(script)]
        else:
            envfile = self.logs / f"{self.count:02d}.env"
            code = "\n".join(line for line in block.code.splitlines() if line.split("#")[0].strip() != "make test")
            args = ["bash", "-c", f"set -euo pipefail\n{code}\nenv -0 > {envfile}"]
        with log.open("w") as out:
            done = subprocess.run(args, cwd=self.cwd, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                  timeout=timeout)
        output = log.read_text(errors="replace")
        assert done.returncode == 0, f"README block in '{block.section}' failed ({done.returncode}):\n{block.code}\n{output[-4000:]}"
        if block.language == "bash":
            self.env = dict(item.split("=", 1) for item in envfile.read_text().split("\0") if "=" in item)
        return output

    def start(self, block: Block) -> None:
        self.count += 1
        log = (self.logs / f"{self.count:02d}.log").open("w")
        proc = subprocess.Popen(["bash", "-c", block.code], cwd=self.cwd, env=self.env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.background.append((proc, block))
        url = block.serves
        deadline = time.monotonic() + 300
        while True:
            assert proc.poll() is None, f"'{block.code}' exited {proc.returncode}: {self._tail(self.count)}"
            try:
                if requests.get(f"{url}/server_info", timeout=5).ok and _location_loaded(url):
                    return
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, f"{url} not serving after 300 s: {self._tail(self.count)}"
            time.sleep(2)

    def _tail(self, n: int) -> str:
        return (self.logs / f"{n:02d}.log").read_text(errors="replace")[-3000:]

    def stop_background(self) -> None:
        for proc, block in self.background:
            _wait_for_runs(self.env, block, self.cwd)
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        self.background.clear()


def _location_loaded(url: str) -> bool:
    query = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }"
    body = requests.post(f"{url}/graphql", json={"query": query}, timeout=30).json()
    entries = body["data"]["workspaceOrError"]["locationEntries"]
    return bool(entries) and all(e["loadStatus"] == "LOADED" for e in entries)


def _wait_for_runs(env: dict[str, str], block: Block, cwd: Path, timeout: float = 900) -> None:
    """Before a server stops: every run it may still launch or run has finished, successfully."""
    home = _home_in(block.code, cwd) or env.get("DAGSTER_HOME")
    if not home:
        return
    code = (
        "import json, dagster as dg\n"
        "from dagster._core.instance.ref import InstanceRef\n"
        f"i = dg.DagsterInstance.from_ref(InstanceRef.from_dir({home!r}))\n"
        "print(json.dumps([[r.run_id, r.job_name, r.status.value] for r in i.get_runs()]))\n"
    )
    deadline = time.monotonic() + timeout
    while True:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        runs = __import__("json").loads(out.stdout.strip().splitlines()[-1])
        pending = [r for r in runs if r[2] in ("QUEUED", "NOT_STARTED", "STARTING", "STARTED")]
        if not pending:
            failed = [r for r in runs if r[2] != "SUCCESS"]
            assert not failed, f"runs launched by the README's commands failed: {failed}"
            return
        assert time.monotonic() < deadline, f"runs still pending after {timeout:.0f} s: {pending}"
        time.sleep(3)


def _home_in(code: str, cwd: Path) -> str | None:
    """The DAGSTER_HOME a block sets (``$PWD`` being the block's working directory)."""
    match = re.search(r"DAGSTER_HOME=(\S+)", code)
    return match.group(1).replace("$PWD", str(cwd)) if match else None


def test_readme_blocks_are_classified():
    blocks = readme_blocks()
    assert blocks[0].section == "Quickstart" and blocks[0].code.startswith("make demo")
    for block in blocks:
        if block.first_line.startswith("# runs until stopped"):
            assert block.serves, f"a server block must say what it serves: {block.code}"


def test_readme_commands_run_as_written(tmp_path: Path):
    if not (VENV / ".installed").exists():
        pytest.fail("no .venv/.installed: run make install (or make test) first")
    copy = _copy_repository(tmp_path / "repository")
    # make demo must not reinstall into the shared virtualenv from the copy
    stale = subprocess.run(["make", "-q", ".venv/.installed"], cwd=copy, capture_output=True)
    assert stale.returncode == 0, "the .venv stamps are older than pyproject.toml: run make install first"
    logs = tmp_path / "logs"
    logs.mkdir()
    terminal = Terminal(copy, _environment(copy), logs)
    skipped, section = [], None
    try:
        for block in readme_blocks():
            if block.section != section:
                terminal.stop_background()
                section = block.section
            if block.needs_network:
                skipped.append(block.first_line)
            elif block.serves:
                terminal.start(block)
            else:
                terminal.run(block)
        terminal.stop_background()
    finally:
        for proc, _ in terminal.background:
            os.killpg(proc.pid, signal.SIGKILL)
        print(f"README logs: {logs}; not run (network): {skipped}")
    assert (copy / ".ben_sen1" / "storage" / "patches" / "33TTG_20211223.zarr" / "zarr.json").exists()
