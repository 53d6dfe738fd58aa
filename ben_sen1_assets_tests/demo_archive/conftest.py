"""Fixtures: the small demo archive, built once per test session (≈15 s)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from ben_sen1_assets.demo_archive import DEFAULT_SEED, build_demo_archive, demo_products


@pytest.fixture(scope="session")
def demo_archive(tmp_path_factory) -> dict[str, Path]:
    """label → zip path of every small demo product (default seed)."""
    folder = tmp_path_factory.mktemp("archive")
    paths = build_demo_archive(folder, seed=DEFAULT_SEED)
    products = demo_products()
    assert len(paths) == len(products)
    return {p.label: z for p, z in zip(products, paths)}


@pytest.fixture(scope="session")
def demo_unzipped(demo_archive, tmp_path_factory) -> dict[str, Path]:
    """label → unzipped ``.SAFE`` folder of every small demo product."""
    folder = tmp_path_factory.mktemp("unzipped")
    out = {}
    for label, z in demo_archive.items():
        with zipfile.ZipFile(z) as zf:
            zf.extractall(folder)
        out[label] = folder / (z.stem + ".SAFE")
    return out


@pytest.fixture(scope="session")
def demo_by_label():
    return {p.label: p for p in demo_products()}
