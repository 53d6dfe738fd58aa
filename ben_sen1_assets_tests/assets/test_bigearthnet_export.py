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


def v1_root(e2e) -> Path:
    return Path(e2e.settings.storage) / "exports" / "BigEarthNet-S1-v1.0"


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


def test_v1_export_loads_through_torchgeo(e2e, tmp_path):
    try:
        from torchgeo.datasets import BigEarthNet
    except Exception as exc:  # ImportError, or torchvision failing to load its C++ ops
        pytest.skip(f"torchgeo not importable: {type(exc).__name__}: {exc}")
    from ben_sen1_assets_tests.outputs.test_torchgeo import _gdal_int32

    root = tmp_path / "ben"
    root.mkdir()
    (root / "BigEarthNet-S1-v1.0").symlink_to(v1_root(e2e), target_is_directory=True)
    names = sorted(complete_patches(e2e))[:3]
    # demo patches have no BigEarthNet-S2 pair; TorchGeo's S1-only loading reads only the S1 column
    (root / "bigearthnet-train.csv").write_text("".join(f"S2_PLACEHOLDER_{k},{n}\n" for k, n in enumerate(names)))
    for split in ("val", "test"):
        (root / f"bigearthnet-{split}.csv").write_text("")
    ds = BigEarthNet(root=str(root), split="train", bands="s1", num_classes=19)
    assert len(ds) == len(names)
    patches = complete_patches(e2e)
    for k, name in enumerate(names):
        sample = ds[k]
        image = sample["image"].numpy()
        assert image.shape == (2, 120, 120)
        _, store, i = patches[name]
        vv, vh = store["backscatter"].values[i]
        np.testing.assert_array_equal(image[0], _gdal_int32(vh))  # sorted band files: VH, VV
        np.testing.assert_array_equal(image[1], _gdal_int32(vv))
        assert sample["label"].shape == (19,) and int(sample["label"].sum()) == 0
