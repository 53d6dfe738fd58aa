"""The BigEarthNet v2 LMDB (rico-hdl / ConfigILM layout) read back by its documented format:
an LMDB keyed by S1 patch name whose values are safetensors dicts {"VV", "VH"} float32 120 x 120.

ConfigILM itself (configilm 0.7.1) pins numpy < 2 and imports transformers at import time, so it
cannot be installed beside this project's numpy 2 stack; these tests read the LMDB with the
same calls its ``BENv2LDMBReader`` makes (lmdb.open readonly, txn.get(s1_name), safetensors
``load``) and with its metadata logic (patch_id -> s1_name from the two metadata tables)."""

from __future__ import annotations

import lmdb
import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import load as safetensors_load
from upath import UPath

from ben_sen1_assets.formats.zarr_store import open_zarr
from ben_sen1_assets.outputs import OutputError
from ben_sen1_assets.outputs.bigearthnet_layout import export_bigearthnet
from ben_sen1_assets.outputs.lmdb_export import (
    LMDB_DIR,
    metadata_s1_names,
    write_bigearthnet_lmdb,
)

from .test_export import store_87  # noqa: F401  (fixture)


def _read_like_configilm(root):
    """ConfigILM's BENv2 reading: both metadata tables, patch_id -> s1_name, LMDB get, safetensors."""
    meta = pd.concat([pd.read_parquet(root / "metadata.parquet"),
                      pd.read_parquet(root / "metadata_for_patches_with_snow_cloud_or_shadow.parquet")])
    mapping = dict(zip(meta["patch_id"], meta["s1_name"]))
    env = lmdb.open(str(root / LMDB_DIR), readonly=True, lock=False, meminit=False, readahead=True,
                    map_size=8 * 1024**3, max_spare_txns=16)
    out = {}
    with env.begin(write=False, buffers=True) as txn:
        keys = {bytes(k).decode() for k in txn.cursor().iternext(values=False)}
        for patch_id, s1 in mapping.items():
            out[s1] = safetensors_load(bytes(txn.get(s1.encode())))
    env.close()
    return keys, out


def test_lmdb_holds_every_exported_patch_as_safetensors(tmp_path, store_87):  # noqa: F811
    summary = export_bigearthnet([store_87], UPath(tmp_path))
    n = write_bigearthnet_lmdb([store_87], metadata_s1_names(UPath(tmp_path)), UPath(tmp_path / LMDB_DIR))
    assert n == len(summary.v2_names) == 9
    keys, values = _read_like_configilm(tmp_path)
    assert keys == set(summary.v2_names)
    ds = open_zarr(store_87)
    for i, name in enumerate(ds["s1_name"].values):
        v = values[str(name)]
        assert set(v) == {"VV", "VH"}
        for b, band in enumerate(("VV", "VH")):
            assert v[band].dtype == np.float32 and v[band].shape == (120, 120)
            np.testing.assert_array_equal(v[band], ds["backscatter"].values[i, b])


def test_lmdb_refuses_names_it_cannot_find_and_leaves_nothing(tmp_path, store_87):  # noqa: F811
    with pytest.raises(OutputError, match="in no patch store"):
        write_bigearthnet_lmdb([store_87], ["S1A_IW_GRDH_1SDV_20170613T165043_33UUP_1_1"],
                               UPath(tmp_path / LMDB_DIR))
    assert [p.name for p in tmp_path.iterdir() if "lmdb" in p.name] == []


def test_lmdb_on_s3(tmp_path, store_87, s3_bucket):  # noqa: F811
    base, options = s3_bucket
    root = UPath(base, **options) / "exports"
    export_bigearthnet([store_87], root)
    assert write_bigearthnet_lmdb([store_87], metadata_s1_names(root), root / LMDB_DIR) == 9
    # a user copies the folder down and opens it
    local = tmp_path / "copy"
    for name in ("metadata.parquet", "metadata_for_patches_with_snow_cloud_or_shadow.parquet",
                 f"{LMDB_DIR}/data.mdb"):
        (local / name).parent.mkdir(parents=True, exist_ok=True)
        root.fs.get_file((root / name).path, str(local / name))
    keys, values = _read_like_configilm(local)
    assert len(keys) == 9 and all(v["VV"].shape == (120, 120) for v in values.values())
