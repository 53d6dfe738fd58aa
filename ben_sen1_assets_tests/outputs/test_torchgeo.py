"""Exported samples load through TorchGeo's BigEarthNet (v1 layout) and BigEarthNetV2 (reBEN
layout) datasets. Needs the optional extra ``torchgeo``; skipped only when torchgeo cannot be
imported (the reason, with the exact error, is in the skip message)."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from upath import UPath

try:
    from torchgeo.datasets import BigEarthNet, BigEarthNetV2
except Exception as exc:  # ImportError, or e.g. torchvision failing to load its C++ ops
    pytest.skip(f"torchgeo not importable: {type(exc).__name__}: {exc}", allow_module_level=True)

from ben_sen1_assets.formats.zarr_store import open_zarr
from ben_sen1_assets.grid.catalog import bigearthnet_patch_table
from ben_sen1_assets.outputs.export import (
    export_bigearthnet_v1,
    export_bigearthnet_v2,
    reben_metadata_frame,
)

from .test_export import REAL, store_87  # noqa: F401  (fixture)

S2V1 = "S2A_MSIL2A_20170613T101031_87_48"
V2_ID = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_87_48"


def _gdal_int32(a: np.ndarray) -> np.ndarray:
    """GDAL's float -> int32 conversion (rasterio ``out_dtype='int32'``, which TorchGeo uses):
    round half away from zero."""
    return np.trunc(a + np.copysign(0.5, a)).astype(np.float32)


def _patch(store, name="87_48"):
    ds = open_zarr(store)
    i = list(ds["patch"].values).index(name)
    return ds["backscatter"].values[i]  # (VV, VH)


def test_torchgeo_bigearthnet_v1_loads_export(tmp_path, store_87):  # noqa: F811
    root = tmp_path / "ben"
    # TorchGeo's v1 class vocabulary is the 43 CLC names; the shipped tables give the reBEN
    # 19-class names only, some of which ("Arable land" ...) it does not know: export without
    export_bigearthnet_v1([store_87], UPath(root / "BigEarthNet-S1-v1.0"), labels=False)
    (root / "bigearthnet-train.csv").write_text(f"{S2V1},{REAL}\n")
    for split in ("val", "test"):
        (root / f"bigearthnet-{split}.csv").write_text("")
    ds = BigEarthNet(root=str(root), split="train", bands="s1", num_classes=19)
    assert len(ds) == 1
    sample = ds[0]
    image = sample["image"].numpy()
    assert image.shape == (2, 120, 120)
    vv, vh = _patch(store_87)
    # TorchGeo v1 globs and sorts the band files: <name>_VH.tif before <name>_VV.tif
    np.testing.assert_array_equal(image[0], _gdal_int32(vh))
    np.testing.assert_array_equal(image[1], _gdal_int32(vv))
    assert sample["label"].shape == (19,) and int(sample["label"].sum()) == 0


def test_torchgeo_bigearthnet_v2_loads_export(tmp_path, store_87):  # noqa: F811
    root = tmp_path / "reben"
    export_bigearthnet_v2([store_87], UPath(root / "BigEarthNet-S1"))
    meta = reben_metadata_frame([store_87])
    meta.to_parquet(root / "metadata.parquet", index=False)
    (root / "BigEarthNet-S2").mkdir()
    # TorchGeo always loads the CLC reference map: a synthetic one (code 211 = arable land)
    ref = root / "Reference_Maps" / V2_ID.rsplit("_", 2)[0] / V2_ID
    ref.mkdir(parents=True)
    with rasterio.open(ref / f"{V2_ID}_reference_map.tif", "w", driver="GTiff", width=120, height=120,
                       count=1, dtype="uint16", crs="EPSG:32633",
                       transform=from_origin(404400, 5342400, 10, 10)) as dst:
        dst.write(np.full((1, 120, 120), 211, dtype=np.uint16))

    row = meta[meta["patch_id"] == V2_ID].iloc[0]
    split = {"train": "train", "validation": "val", "test": "test"}[row["split"]]
    ds = BigEarthNetV2(root=str(root), split=split, bands="s1")
    index = list(ds.metadata_df["patch_id"]).index(V2_ID)
    sample = ds[index]
    image = sample["image"].numpy()
    assert image.shape == (2, 120, 120)
    vv, vh = _patch(store_87)
    np.testing.assert_array_equal(image[0], _gdal_int32(vh))  # sorted: VH, VV
    np.testing.assert_array_equal(image[1], _gdal_int32(vv))
    table = bigearthnet_patch_table("33UUP_20170613")
    labels = table[(table.x == 87) & (table.y == 48)].iloc[0]["labels_v2"]
    expected = np.zeros(19, dtype=np.int64)
    expected[[BigEarthNet.class_sets[19].index(n) for n in labels]] = 1
    np.testing.assert_array_equal(sample["label"].numpy(), expected)
