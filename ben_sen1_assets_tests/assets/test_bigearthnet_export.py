"""bigearthnet_export (datasets_job): BigEarthNet-S1 v1.0 folder layout, readable by TorchGeo."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import xarray as xr

from ben_sen1_assets.grid.names import parse_s1_patch_name
from ben_sen1_assets.grid.patches import patch_bounds
from ben_sen1_assets.grid.tile import tile_grid

from .conftest import DEMO_KEYS

V1_KEYS = {"labels", "coordinates", "projection", "corresponding_s2_patch", "scene_source", "acquisition_time"}


def export_root(e2e) -> Path:
    return Path(e2e.settings.storage) / "exports"


def v1_root(e2e) -> Path:
    return export_root(e2e) / "BigEarthNet-S1-v1.0"


def complete_patches(e2e) -> dict[str, tuple[str, xr.Dataset, int]]:
    """s1 name -> (key, store, index) of every patch with all pixels valid (the export's default)."""
    out = {}
    for key in DEMO_KEYS:
        ds = xr.open_zarr(e2e.metadata(key, "patches")["path"].value)
        finite = np.isfinite(ds["backscatter"].values).all(axis=(1, 2, 3))
        for i in np.flatnonzero(finite):
            out[str(ds["s1_name"].values[i])] = (key, ds, int(i))
    return out


def test_v1_layout_and_json(e2e):
    root = v1_root(e2e)
    expected = complete_patches(e2e)
    folders = sorted(p.name for p in root.iterdir() if p.is_dir())
    assert folders == sorted(expected)
    meta = [e.event_specific_data.materialization.metadata for e in e2e.datasets.get_asset_materialization_events()
            if e.event_specific_data.materialization.asset_key.to_user_string() == "bigearthnet_export"][0]
    assert meta["n_patches_v1"].value == len(folders)
    for name in folders[:: max(1, len(folders) // 6)]:
        folder = root / name
        assert sorted(p.name for p in folder.iterdir()) == sorted(
            [f"{name}_VH.tif", f"{name}_VV.tif", f"{name}_labels_metadata.json"]
        )
        doc = json.loads((folder / f"{name}_labels_metadata.json").read_text())
        assert V1_KEYS <= set(doc)
        assert {"ulx", "uly", "lrx", "lly"} <= set(doc["coordinates"])
        parsed = parse_s1_patch_name(name)
        grid = tile_grid(parsed.mgrs)
        left, bottom, right, top = patch_bounds(grid, parsed.x, parsed.y)
        c = doc["coordinates"]
        assert (c["ulx"], c["uly"], c["lrx"], c["lly"]) == (left, top, right, bottom)
        assert rasterio.crs.CRS.from_wkt(doc["projection"]).to_epsg() == grid.epsg
        key, ds, i = expected[name]
        assert doc["scene_source"] == str(ds["scene_source"].values[i])
        assert doc["acquisition_time"].startswith(str(ds["acquisition_time"].values[i])[:19])
        with rasterio.open(folder / f"{name}_VV.tif") as src:
            assert (src.width, src.height, src.count, src.dtypes[0]) == (120, 120, 1, "float32")
            assert src.crs.to_epsg() == grid.epsg
            assert src.bounds == (left, bottom, right, top)
            np.testing.assert_array_equal(src.read(1), ds["backscatter"].values[i, 0])


def test_export_root_loads_through_torchgeo_as_written(e2e):
    """TorchGeo's loaders pointed at `<storage>/exports` after the datasets job: no file made by hand."""
    try:
        from torchgeo.datasets import BigEarthNet, BigEarthNetV2
    except Exception as exc:  # ImportError, or torchvision failing to load its C++ ops
        pytest.skip(f"torchgeo not importable: {type(exc).__name__}: {exc}")
    from ben_sen1_assets_tests.outputs.test_torchgeo import _gdal_int32

    root = str(export_root(e2e))
    patches = complete_patches(e2e)
    v1_total = v2_total = 0
    for split in ("train", "val", "test"):
        v1 = BigEarthNet(root=root, split=split, bands="s1", num_classes=19)
        v2 = BigEarthNetV2(root=root, split=split, bands="s1")
        v1_total, v2_total = v1_total + len(v1), v2_total + len(v2)
        for k in range(0, len(v2), max(1, len(v2) // 3)):
            sample = v2[k]
            name = v2.metadata_df.loc[k, "s1_name"]
            _, store, i = patches[name]
            vv, vh = store["backscatter"].values[i]
            image = sample["image"].numpy()
            assert image.shape == (2, 120, 120)
            np.testing.assert_array_equal(image[0], _gdal_int32(vh))  # sorted band files: VH, VV
            np.testing.assert_array_equal(image[1], _gdal_int32(vv))
            # demo tiles are not BigEarthNet products: no labels, no CLC map
            assert int(sample["label"].sum()) == 0 and set(sample["mask"].unique().tolist()) == {999}
            names = [f["s1"].rsplit("/", 1)[-1] for f in v1.folders]
            np.testing.assert_array_equal(v1[names.index(name)]["image"].numpy(), image)
    assert v1_total == v2_total == len(patches)
    # the default split holds samples
    assert len(BigEarthNetV2(root=root, bands="s1")) > 0


def test_export_check_loaded_a_sample(e2e):
    (ev,) = [ev for ev in e2e.datasets.get_asset_check_evaluations()
             if ev.check_name == "export_loads_in_torchgeo"]
    assert ev.passed, ev.metadata
    assert ev.metadata["image_shape"].value == "(2, 120, 120)"
    assert ev.metadata["loader"].value.startswith("torchgeo")


def test_lmdb_holds_every_exported_patch(e2e):
    import lmdb
    from safetensors.numpy import load

    root = export_root(e2e)
    patches = complete_patches(e2e)
    env = lmdb.open(str(root / "BigEarthNet-S1.lmdb"), readonly=True, lock=False)
    with env.begin(buffers=True) as txn:
        keys = {bytes(k).decode() for k in txn.cursor().iternext(values=False)}
        assert keys == set(patches)
        for name in sorted(patches)[::20]:
            value = load(bytes(txn.get(name.encode())))
            _, store, i = patches[name]
            np.testing.assert_array_equal(value["VV"], store["backscatter"].values[i, 0])
            np.testing.assert_array_equal(value["VH"], store["backscatter"].values[i, 1])
    env.close()
