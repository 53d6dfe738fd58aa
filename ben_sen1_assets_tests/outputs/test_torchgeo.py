"""An export root loads through TorchGeo's BigEarthNet (v1) and BigEarthNetV2 as written: the
loaders are pointed at what `export_bigearthnet` wrote, no file is made by hand. Needs the
optional extra ``torchgeo``; skipped only when torchgeo cannot be imported (the reason, with the
exact error, is in the skip message)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from upath import UPath

try:
    from torchgeo.datasets import BigEarthNet, BigEarthNetV2
except Exception as exc:  # ImportError, or torchvision failing to load its C++ ops
    pytest.skip(f"torchgeo not importable: {type(exc).__name__}: {exc}", allow_module_level=True)

from ben_sen1_assets.formats.zarr_store import open_zarr
from ben_sen1_assets.grid.catalog import bigearthnet_patch_table
from ben_sen1_assets.outputs.bigearthnet_layout import export_bigearthnet
from ben_sen1_assets.outputs.loader_check import load_one_sample

from .test_export import REAL, store_87  # noqa: F401  (fixture)

V2_ID = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_87_48"


def _gdal_int32(a: np.ndarray) -> np.ndarray:
    """GDAL's float -> int32 conversion (rasterio ``out_dtype='int32'``, which TorchGeo uses):
    round half away from zero."""
    return np.trunc(a + np.copysign(0.5, a)).astype(np.float32)


def _patch(store, name="87_48"):
    ds = open_zarr(store)
    i = list(ds["patch"].values).index(name)
    return ds["backscatter"].values[i]  # (VV, VH)


def _reben(x, y):
    table = bigearthnet_patch_table("33UUP_20170613")
    return table[(table.x == x) & (table.y == y)].iloc[0]


def test_torchgeo_bigearthnet_v1_loads_export_root(tmp_path, store_87):  # noqa: F811
    export_bigearthnet([store_87], UPath(tmp_path))
    split = {"train": "train", "validation": "val", "test": "test"}[_reben(87, 48)["split"]]
    ds = BigEarthNet(root=str(tmp_path), split=split, bands="s1", num_classes=19)
    names = [f["s1"].rsplit("/", 1)[-1] for f in ds.folders]
    sample = ds[names.index(REAL)]
    image = sample["image"].numpy()
    assert image.shape == (2, 120, 120)
    vv, vh = _patch(store_87)
    # TorchGeo v1 globs and sorts the band files: <name>_VH.tif before <name>_VV.tif
    np.testing.assert_array_equal(image[0], _gdal_int32(vh))
    np.testing.assert_array_equal(image[1], _gdal_int32(vv))
    # the v1 JSON carries the 43-class names, which are not available offline: none
    assert sample["label"].shape == (19,) and int(sample["label"].sum()) == 0
    # all 9 patches are in one of the three split files, each once
    total = sum(len(BigEarthNet(root=str(tmp_path), split=s, bands="s1")) for s in ("train", "val", "test"))
    assert total == 9


def test_torchgeo_bigearthnet_v2_loads_export_root(tmp_path, store_87):  # noqa: F811
    summary = export_bigearthnet([store_87], UPath(tmp_path))
    row = _reben(87, 48)
    split = {"train": "train", "validation": "val", "test": "test"}[row["split"]]
    ds = BigEarthNetV2(root=str(tmp_path), split=split, bands="s1")
    sample = ds[list(ds.metadata_df["patch_id"]).index(V2_ID)]
    image = sample["image"].numpy()
    assert image.shape == (2, 120, 120)
    vv, vh = _patch(store_87)
    np.testing.assert_array_equal(image[0], _gdal_int32(vh))  # sorted: VH, VV
    np.testing.assert_array_equal(image[1], _gdal_int32(vv))
    expected = np.zeros(19, dtype=np.int64)
    expected[[BigEarthNet.class_sets[19].index(n) for n in row["labels_v2"]]] = 1
    assert expected.sum() > 0
    np.testing.assert_array_equal(sample["label"].numpy(), expected)
    # no CLC raster offline: the reference map is CLC's no-data code, passed through by TorchGeo
    assert sample["mask"].shape == (1, 120, 120) and set(sample["mask"].unique().tolist()) == {999}
    # every exported patch is in exactly one split of one of the two metadata files
    meta = pd.concat([pd.read_parquet(tmp_path / "metadata.parquet"),
                      pd.read_parquet(tmp_path / "metadata_for_patches_with_snow_cloud_or_shadow.parquet")])
    assert sorted(meta["s1_name"]) == sorted(summary.v2_names) and meta["patch_id"].is_unique


def test_patches_outside_bigearthnet_get_block_splits_and_empty_labels(tmp_path, store_87):  # noqa: F811
    from ben_sen1_assets.outputs.bigearthnet_layout import block_split

    ds = open_zarr(store_87)
    # pretend the same pixels were cut for a tile/date that is not a BigEarthNet product
    other = ds.assign_attrs(partition_key="33UUP_20210101")
    summary = export_bigearthnet([other], UPath(tmp_path))
    rec = summary.records
    assert len(rec) == 9 and (rec["labels"].map(len) == 0).all() and rec["s2v1_name"].isna().all()
    assert list(rec["patch_id"]) == [f"33UUP_20210101_{x:02d}_{y:02d}" for x, y in zip(rec.x, rec.y)]
    # 86..88 x 47..49 lies in blocks (8, 4) and (8, 4)/(8, 4): one block, one split
    assert set(rec["split"]) == {block_split("33UUP", 86, 47)}
    split = {"train": "train", "validation": "val", "test": "test"}[rec["split"].iloc[0]]
    v2 = BigEarthNetV2(root=str(tmp_path), split=split, bands="s1")
    assert len(v2) == 9 and int(v2[0]["label"].sum()) == 0


def test_tile_partly_in_bigearthnet(tmp_path):
    """Patches 25..27 x 55..57 of 33UUP: 4 of the 9 are BigEarthNet patches. Their v1 name and
    reBEN labels are in the tables, the others have none (null in metadata.parquet, an empty
    first column in the v1 split files), and TorchGeo loads all 9 from the export root."""
    from rasterio.windows import Window

    from ben_sen1_assets.outputs.mosaic import MosaicConfig, mosaic_tile
    from ben_sen1_assets.outputs.patches import write_patch_store

    from .conftest import MGRS, PRODUCT_A, S2_SENSING, START_A, product_cog

    window = Window(25 * 120, 55 * 120, 360, 360)
    rng = np.random.default_rng(25)
    src = product_cog(UPath(tmp_path / "a.tif"), PRODUCT_A, START_A, rng.normal(-12.6, 5.1, (360, 360)),
                      rng.normal(-19.3, 5.5, (360, 360)), window=window)
    mosaic_tile([src], MGRS, S2_SENSING, UPath(tmp_path / "m.tif"), config=MosaicConfig(rule="closest_per_pixel"))
    write_patch_store(UPath(tmp_path / "m.tif"), UPath(tmp_path / "p.zarr"))
    root = tmp_path / "exports"
    export_bigearthnet([UPath(tmp_path / "p.zarr")], UPath(root))

    table = bigearthnet_patch_table("33UUP_20170613").set_index(["x", "y"])
    meta = pd.concat([pd.read_parquet(root / "metadata.parquet"),
                      pd.read_parquet(root / "metadata_for_patches_with_snow_cloud_or_shadow.parquet")])
    assert len(meta) == 9
    expected = {}
    for x in range(25, 28):
        for y in range(55, 58):
            in_ben = (x, y) in table.index and isinstance(table.loc[(x, y), "s2v1_name"], str)
            expected[f"{x}_{y}"] = table.loc[(x, y), "s2v1_name"] if in_ben else None
    assert sum(v is not None for v in expected.values()) == 4
    got = {"_".join(name.rsplit("_", 2)[-2:]): v if isinstance(v, str) else None
           for name, v in zip(meta["s1_name"], meta["s2v1_name"])}
    assert got == expected
    import pyarrow.parquet as pq

    nulls = sum(pq.read_table(root / name).column("s2v1_name").null_count
                for name in ("metadata.parquet", "metadata_for_patches_with_snow_cloud_or_shadow.parquet"))
    assert nulls == 5  # null, not the string "nan"
    for name in ("bigearthnet-train.csv", "bigearthnet-val.csv", "bigearthnet-test.csv"):
        for line in (root / name).read_text().splitlines():
            s2, s1 = line.split(",")
            assert s2 == (expected["_".join(s1.rsplit("_", 2)[-2:])] or "")
    total = sum(len(BigEarthNetV2(root=str(root), split=s, bands="s1")) for s in ("train", "val", "test"))
    assert total == 9


def test_block_split_rule():
    from ben_sen1_assets.outputs.bigearthnet_layout import block_split

    # whole 10 x 10 blocks share a split; over many blocks the fractions approach 0.5/0.25/0.25
    assert len({block_split("31TEL", x, y) for x in range(10, 20) for y in range(30, 40)}) == 1
    splits = pd.Series([block_split(f"{z:02d}TAB", bx * 10, by * 10)
                        for z in range(1, 61) for bx in range(10) for by in range(10)])
    shares = splits.value_counts(normalize=True)
    assert abs(shares["train"] - 0.5) < 0.03 and abs(shares["validation"] - 0.25) < 0.03


def test_load_one_sample_local_and_s3(tmp_path, store_87, s3_bucket):  # noqa: F811
    export_bigearthnet([store_87], UPath(tmp_path / "local"))
    local = load_one_sample(UPath(tmp_path / "local"))
    assert local["image_shape"] == [2, 120, 120] and local["loader"].startswith("torchgeo")
    base, options = s3_bucket
    root = UPath(base, **options) / "exports"
    export_bigearthnet([store_87], root)
    remote = load_one_sample(root)
    assert remote == local
