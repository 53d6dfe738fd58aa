"""The UI's server: dagster-webserver on loopback serves the assets and partitions over GraphQL."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def webserver(tmp_path: Path):
    port = _free_port()
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "BEN_SEN1_HOME": str(tmp_path / "ben")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "dagster_webserver", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"webserver exited: {proc.stderr.read().decode()[-2000:]}")
            try:
                if requests.get(f"{url}/server_info", timeout=2).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.5)
        else:
            raise TimeoutError("webserver did not start within 120 s")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _graphql(url: str, query: str) -> dict:
    response = requests.post(f"{url}/graphql", json={"query": query}, timeout=30)
    response.raise_for_status()
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


def test_webserver_serves_assets_and_partitions(webserver: str) -> None:
    deadline = time.monotonic() + 120
    nodes: list = []
    while time.monotonic() < deadline:  # the code location loads asynchronously
        nodes = _graphql(webserver, "{ assetNodes { assetKey { path } } }")["assetNodes"]
        if nodes:
            break
        time.sleep(1)
    keys = {"/".join(n["assetKey"]["path"]) for n in nodes}
    assert "tile_footprints" in keys

    data = _graphql(
        webserver,
        '{ assetNodeOrError(assetKey: {path: ["tile_footprints"]}) { ... on AssetNode {'
        " partitionKeys assetChecksOrError { ... on AssetChecks { checks { name blocking } } } } } }",
    )["assetNodeOrError"]
    from ben_sen1_assets.grid.catalog import load_demo_catalog

    assert sorted(data["partitionKeys"]) == sorted(load_demo_catalog().keys())
    checks = {c["name"]: c["blocking"] for c in data["assetChecksOrError"]["checks"]}
    assert checks.get("tile_geometry") is True
