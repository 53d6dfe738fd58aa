"""Patch Datasets / Zarr stores cut from a mosaic: layout, names, georeferencing (rioxarray)."""

from __future__ import annotations

import numpy as np
import pytest
import rioxarray  # noqa: F401  (registers .rio)
import xarray as xr
from affine import Affine
from upath import UPath

from ben_sen1_assets.formats.zarr_store import open_zarr, write_zarr
from ben_sen1_assets.grid.patches import patch_bounds
from ben_sen1_assets.outputs import OutputError
from ben_sen1_assets.outputs.mosaic import MosaicConfig, mosaic_tile
from ben_sen1_assets.outputs.patches import patch_dataset, patch_transform, write_patch_store

from .conftest import MGRS, PRODUCT_A, PRODUCT_B, S2_SENSING
from .test_mosaic import CHOICE, two_products_with_layers  # noqa: F401 (fixture)

S1A_PREFIX = "S1A_IW_GRDH_1SDV_20170613T165043"
S1B_PREFIX = "S1B_IW_GRDH_1SDV_20170612T165809"


@pytest.fixture
def mosaic(tmp_path, two_products):
    paths, valid_a = two_products
    out = UPath(tmp_path / "mosaic.tif")
    mosaic_tile(paths, MGRS, S2_SENSING, out, patch_choice=CHOICE)
    return out, valid_a


def test_patch_dataset_names_and_values(mosaic):
    path, valid_a = mosaic
    ds = patch_dataset(path)
    assert dict(ds.sizes) == {"patch": 9, "band": 2, "y": 120, "x": 120}
    assert list(ds["band"].values) == ["VV", "VH"]
    p = ds.sel(patch="61_39")
    assert p["s1_name"].item() == f"{S1A_PREFIX}_33UUP_61_39"
    assert p["scene_source"].item() == PRODUCT_A
    assert p["acquisition_time"].values == np.datetime64("2017-06-13T16:50:43")
    # the official BigEarthNet names of this patch (reBEN metadata)
    assert p["s2v1_name"].item() == "S2A_MSIL2A_20170613T101031_61_39"
    assert p["v2_patch_id"].item() == "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_61_39"
    assert p["s1_name_bigearthnet"].item() == f"{S1A_PREFIX}_33UUP_61_39"
    # the hole of product A (rows/cols 130..150 of the window = 10..30 of this patch) stays NaN
    vv = p["backscatter"].sel(band="VV").values
    assert np.isnan(vv[10:30, 10:30]).all() and (vv[:10] == -10).all()
    assert p["valid_fraction"].item() == pytest.approx(1 - 400 / 14400)
    q = ds.sel(patch="60_40")
    assert q["s1_name"].item() == f"{S1B_PREFIX}_33UUP_60_40"
    assert q["s1_name_bigearthnet"].item() == f"{S1B_PREFIX}_33UUP_60_40"  # as the official one
    assert q["acquisition_time"].values == np.datetime64("2017-06-12T16:58:09")
    assert (q["backscatter"].sel(band="VH").values == -26).all()
    # 60_38 is not a BigEarthNet patch
    r = ds.sel(patch="60_38")
    assert r["s2v1_name"].item() == "" and r["v2_patch_id"].item() == ""


def test_patch_store_carries_incidence_and_mask(tmp_path, two_products_with_layers):
    """The chain's analysis-ready layers as variables beside `backscatter`: one chunk per patch,
    the mask's bits as CF flag attributes."""
    paths, valid_a = two_products_with_layers
    m = UPath(tmp_path / "mosaic.tif")
    mosaic_tile(paths, MGRS, S2_SENSING, m, config=MosaicConfig(rule="closest_per_pixel"))
    out = UPath(tmp_path / "p.zarr")
    write_patch_store(m, out, patches_per_shard=3, batch_size=3)
    ds = xr.open_zarr(str(out))
    assert ds["local_incidence_angle"].dims == ("patch", "y", "x") and ds["local_incidence_angle"].dtype == np.float32
    assert ds["mask"].dims == ("patch", "y", "x") and ds["mask"].dtype == np.uint8
    assert ds["mask"].chunks == ((1,) * 9, (120,), (120,))
    assert ds["local_incidence_angle"].attrs["units"] == "degree"
    meanings = ds["mask"].attrs["flag_meanings"].split()
    assert dict(zip(meanings, ds["mask"].attrs["flag_masks"]))["layover"] == 2
    p = ds.sel(patch="61_39")
    hole = ~valid_a[120:240, 120:240]
    np.testing.assert_array_equal(p["mask"].values, np.where(hole, 2, 0))
    np.testing.assert_array_equal(p["local_incidence_angle"].values, np.where(hole, 40.0, 30.0))


def test_patch_georeferencing_with_rioxarray(mosaic):
    path, _ = mosaic
    ds = patch_dataset(path)
    i = list(ds["patch"].values).index("61_39")
    da = ds.isel(patch=i)["backscatter"]
    assert da.rio.crs.to_epsg() == 32633
    # DOMAIN.md §2: 33UUP patch 61_39 has its upper-left corner at (373200, 5353200)
    assert da.rio.bounds() == (373200.0, 5352000.0, 374400.0, 5353200.0)
    assert da.rio.bounds() == patch_bounds(MGRS, 61, 39)
    assert da.rio.transform() == Affine(10.0, 0.0, 373200.0, 0.0, -10.0, 5353200.0)
    assert patch_transform(ds, i) == da.rio.transform()
    for j in range(ds.sizes["patch"]):
        x, y = int(ds["patch_x"][j]), int(ds["patch_y"][j])
        assert ds.isel(patch=j)["backscatter"].rio.bounds() == patch_bounds(MGRS, x, y)


def test_write_zarr_roundtrip(tmp_path, mosaic):
    path, _ = mosaic
    ds = patch_dataset(path)
    store = UPath(tmp_path / "patches.zarr")
    write_zarr(ds, store)
    z = xr.open_zarr(store.path)
    assert dict(z.sizes) == {"patch": 9, "band": 2, "y": 120, "x": 120}
    assert z["backscatter"].encoding["chunks"] == (1, 2, 120, 120)
    assert z["backscatter"].dtype == np.float32
    assert z["x"].dims == ("patch", "x") and z["y"].dims == ("patch", "y")
    for c in ("s1_name", "s2v1_name", "v2_patch_id", "scene_source", "acquisition_time",
              "patch_x", "patch_y", "patch_ulx", "patch_uly"):
        assert c in z.coords and z[c].dims == ("patch",)
    assert z["backscatter"].attrs["grid_mapping"] == "spatial_ref"
    assert "crs_wkt" in z["spatial_ref"].attrs and "GeoTransform" not in z["spatial_ref"].attrs
    p = z.sel(patch="61_39")["backscatter"]
    assert p.rio.crs.to_epsg() == 32633
    assert p.rio.bounds() == (373200.0, 5352000.0, 374400.0, 5353200.0)
    xr.testing.assert_identical(open_zarr(store).load(), z.load())


def test_write_patch_store_streams_in_batches(tmp_path, mosaic):
    path, _ = mosaic
    ds = patch_dataset(path)
    store = UPath(tmp_path / "p.zarr")
    # 3 batches (4 + 4 + 1 patches) appended, in shards of 2 patches
    assert write_patch_store(path, store, batch_size=4, patches_per_shard=2) == 9
    z = open_zarr(store).load()
    np.testing.assert_array_equal(z["backscatter"].values, ds["backscatter"].values)
    for c in ("patch", "s1_name", "scene_source", "acquisition_time", "x", "y", "patch_ulx"):
        np.testing.assert_array_equal(z[c].values, ds[c].values)
    assert z["backscatter"].encoding["chunks"] == (1, 2, 120, 120)
    assert z["backscatter"].encoding["shards"] == (2, 2, 120, 120)
    with pytest.raises(OutputError, match="batch_size"):
        write_patch_store(path, UPath(tmp_path / "q.zarr"), batch_size=3, patches_per_shard=2)


def test_patch_subset_and_bad_patch(tmp_path, mosaic):
    path, _ = mosaic
    ds = patch_dataset(path, [(62, 40), (61, 39)])
    assert list(ds["patch"].values) == ["61_39", "62_40"]  # y-major
    with pytest.raises(OutputError, match="patch 10_10 is not inside the mosaic window"):
        patch_dataset(path, [(10, 10)])


def test_naming_for_per_pixel_and_mean_rules(tmp_path, two_products):
    paths, _ = two_products
    m1 = UPath(tmp_path / "pp.tif")
    mosaic_tile(paths, MGRS, S2_SENSING, m1, config=MosaicConfig(rule="closest_per_pixel"))
    ds = patch_dataset(m1)
    # 62_39: 100 of 120 columns from A, 20 from B -> named after A, both listed
    p = ds.sel(patch="62_39")
    assert p["s1_name"].item() == f"{S1A_PREFIX}_33UUP_62_39"
    assert p["scene_sources"].item() == f"{PRODUCT_A};{PRODUCT_B}"
    m2 = UPath(tmp_path / "ml.tif")
    mosaic_tile(paths, MGRS, S2_SENSING, m2, config=MosaicConfig(rule="mean_linear"))
    ds = patch_dataset(m2)
    assert set(ds["scene_source"].values) == {PRODUCT_A}  # the closest contributor
    assert set(ds["scene_sources"].values) == {f"{PRODUCT_A};{PRODUCT_B}"}
