"""Determinism (same seed → same bytes) and the build stamp (no rebuild unless an input changes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

from ben_sen1_assets.demo_archive import STAMP_NAME, DemoProduct, build_demo_archive, build_product
from ben_sen1_assets.demo_archive.metadata_edit import Crop
from ben_sen1_assets.demo_archive.scenes import FRANCE_SOURCE


def _tiny():
    """A 300 × 300 window of the France scene (fast to build)."""
    return DemoProduct(FRANCE_SOURCE, "france", 0, Crop(8000, 12500, 300, 300), "test-tiny")


def test_same_seed_identical_bytes_other_seed_other_pixels(tmp_path):
    product = _tiny()
    a = build_product(product, tmp_path / "a", seed=7)
    b = build_product(product, tmp_path / "b", seed=7)
    c = build_product(product, tmp_path / "c", seed=8)
    assert a.name == b.name == c.name
    assert a.read_bytes() == b.read_bytes()
    with zipfile.ZipFile(a) as za, zipfile.ZipFile(c) as zc:
        assert za.namelist() == zc.namelist()
        for name in za.namelist():
            same = za.read(name) == zc.read(name)
            if name.endswith((".tiff", ".png", "manifest.safe", "SIMULATED.txt")):
                assert not same, name  # pixels (and hence MD5s, the seed note) differ
            else:
                assert same, name  # metadata does not depend on the seed


def test_stamp_prevents_rebuild_and_input_change_triggers_one(tmp_path):
    products = [_tiny()]
    first = build_demo_archive(tmp_path, seed=3, products=products)
    stamp = json.loads((tmp_path / STAMP_NAME).read_text())
    assert stamp["products"] == [p.name for p in first] and stamp["seed"] == 3
    mtimes = {p: p.stat().st_mtime_ns for p in first}
    t = time.perf_counter()
    again = build_demo_archive(tmp_path, seed=3, products=products)
    assert time.perf_counter() - t < 2.0
    assert again == first and {p: p.stat().st_mtime_ns for p in again} == mtimes
    # a changed input (the seed) rebuilds; so does a missing product
    rebuilt = build_demo_archive(tmp_path, seed=4, products=products)
    assert rebuilt[0].stat().st_mtime_ns != mtimes[first[0]]
    assert json.loads((tmp_path / STAMP_NAME).read_text())["seed"] == 4
    rebuilt[0].unlink()
    assert build_demo_archive(tmp_path, seed=4, products=products)[0].is_file()
    assert not list(tmp_path.glob("*.part")) and not list(tmp_path.glob(".build-*"))


def test_cli_uses_existing_archive(demo_archive):
    folder = next(iter(demo_archive.values())).parent
    before = {p: p.stat().st_mtime_ns for p in folder.glob("*.zip")}
    root = Path(__file__).resolve().parents[2]  # this checkout, not an installed copy
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-m", "ben_sen1_assets.demo_archive", "--folder", str(folder)],
                         capture_output=True, text=True, timeout=120, cwd=root, env=env)
    assert run.returncode == 0, run.stderr
    assert "up to date" in run.stdout
    assert {p: p.stat().st_mtime_ns for p in folder.glob("*.zip")} == before
