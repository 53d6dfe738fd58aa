"""raw_s1_safe: products stored once in the shared product store, verified by products_verified."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import dagster as dg
import pytest

from .conftest import DEMO_KEYS

SHARED = "S1B_IW_GRDH_1SDV_20211223T051133_20211223T051135_030148_039993_B379"  # 32TQM and 33TTG


@pytest.mark.parametrize("key", DEMO_KEYS)
def test_products_in_store_and_verified(e2e, key):
    frame = e2e.value(key, "raw_s1_safe")
    selection = e2e.value(key, "s1_product_selection")
    assert list(frame["name"]) == list(selection["name"])
    store = Path(e2e.settings.product_store)
    for _, row in frame.iterrows():
        path = Path(row["store_path"])
        assert path.parent == store and path.name == f"{row['name']}.zip" and path.is_file()
        assert row["size"] == path.stat().st_size
    assert e2e.checks(e2e.tiles[key])["products_verified"].passed


def test_shared_product_copied_once(e2e):
    first = e2e.value("32TQM_20211223", "raw_s1_safe").set_index("name")
    second = e2e.value("33TTG_20211223", "raw_s1_safe").set_index("name")
    assert bool(first.loc[SHARED, "downloaded"]) is True
    assert bool(second.loc[SHARED, "downloaded"]) is False
    assert first.loc[SHARED, "store_path"] == second.loc[SHARED, "store_path"]
    assert e2e.metadata("33TTG_20211223", "raw_s1_safe")["n_downloaded"].value == int(second["downloaded"].sum())
    # the file was not rewritten by the second tile's run
    run = e2e.instance.get_run_records(dg.RunsFilter(run_ids=[e2e.tiles["33TTG_20211223"].run_id]))[0]
    start = run.start_time
    assert Path(second.loc[SHARED, "store_path"]).stat().st_mtime < start
    # exactly one copy of each product in the store
    names = sorted(p.name for p in Path(e2e.settings.product_store).iterdir() if p.suffix == ".zip")
    assert len(names) == len(set(names)) == 3


def test_corrupted_product_fails_check_naming_it(e2e, tmp_path):
    from ben_sen1_assets.checks import products_verified

    frame = e2e.value("32TQM_20211223", "raw_s1_safe").copy()
    row = frame.index[frame["name"] == SHARED][0]
    assert json.loads(frame.loc[row, "checksums"]), "the catalog gives checksums to verify against"
    bad = tmp_path / Path(frame.loc[row, "store_path"]).name
    shutil.copyfile(frame.loc[row, "store_path"], bad)
    data = bytearray(bad.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    frame.loc[row, "store_path"] = str(bad)
    store = e2e.defs.resources["product_store"]
    result = products_verified(frame, product_store=store)
    assert not result.passed
    assert SHARED in result.metadata["problems"].value
    # the intact store copy still passes
    assert products_verified(e2e.value("32TQM_20211223", "raw_s1_safe"), product_store=store).passed
