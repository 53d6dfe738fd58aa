"""BigEarthNet-layout exports compared with a real BigEarthNet-S1 v1.0 patch (33UUP 87_48),
and the S1<->S2 mapping."""

from __future__ import annotations

import json
from importlib.resources import files

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from rasterio.windows import Window
from upath import UPath

from ben_sen1_assets.grid.catalog import bigearthnet_patch_table
from ben_sen1_assets.grid.patches import patch_bounds
from ben_sen1_assets.outputs import OutputError
from ben_sen1_assets.outputs.export import (
    export_bigearthnet_v1,
    export_bigearthnet_v2,
)
from ben_sen1_assets.outputs.bigearthnet_layout import export_records
from ben_sen1_assets.outputs.mapping import (
    mapping_frame,
    write_mapping_geoparquet,
    write_s1s2_mapping_csv,
)
from ben_sen1_assets.outputs.mosaic import MosaicConfig, mosaic_tile
from ben_sen1_assets.outputs.patches import patch_dataset, write_patch_store

from .conftest import MGRS, PRODUCT_A, S2_SENSING, START_A, product_cog
from .test_mosaic import CHOICE

REAL = "S1A_IW_GRDH_1SDV_20170613T165043_33UUP_87_48"
REAL_DIR = files("ben_sen1_assets") / "data" / "bigearthnet_s1_example" / REAL
# patches x 86..88, y 47..49 around the real example patch 87_48
WINDOW_87 = Window(86 * 120, 47 * 120, 360, 360)


@pytest.fixture
def store_87(tmp_path):
    """A patch store around 87_48 cut from product A (the product the real patch came from),
    with made-up dB values."""
    rng = np.random.default_rng(7)
    vv = rng.normal(-12.6, 5.1, (360, 360))
    vh = rng.normal(-19.3, 5.5, (360, 360))
    src = product_cog(UPath(tmp_path / "a87.tif"), PRODUCT_A, START_A, vv, vh, window=WINDOW_87)
    mosaic = UPath(tmp_path / "m87.tif")
    mosaic_tile([src], MGRS, S2_SENSING, mosaic, config=MosaicConfig(rule="closest_per_pixel"))
    store = UPath(tmp_path / "p87.zarr")
    write_patch_store(mosaic, store)
    return store


def _profile(path):
    with rasterio.open(path) as s:
        p = dict(s.profile)
        return p, s.tags(), s.tags(ns="IMAGE_STRUCTURE"), s.descriptions, s.compression, s.read(1)


def _tiff_tags(path) -> dict:
    from PIL import Image

    with Image.open(path) as im:
        return {k: v for k, v in im.tag_v2.items() if k != 273}  # 273 = StripOffsets


def test_v1_export_matches_real_files(tmp_path, store_87):
    root = UPath(tmp_path / "BigEarthNet-S1-v1.0")
    names = export_bigearthnet_v1([store_87], root)
    assert len(names) == 9 and REAL in names
    folder = tmp_path / "BigEarthNet-S1-v1.0" / REAL
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in REAL_DIR.iterdir())

    from ben_sen1_assets.formats.zarr_store import open_zarr

    ds = open_zarr(store_87)
    i = list(ds["patch"].values).index("87_48")
    for band_index, band in enumerate(("VV", "VH")):
        ours = _profile(folder / f"{REAL}_{band}.tif")
        real = _profile(REAL_DIR / f"{REAL}_{band}.tif")
        assert ours[0] == real[0]  # driver, dtype, nodata None, size, count, crs, transform, blocks, tiled, interleave
        assert ours[1:5] == real[1:5]  # tags (AREA_OR_POINT=Area), structure, descriptions, compression
        np.testing.assert_array_equal(ours[5], ds["backscatter"].values[i, band_index])
        # every TIFF tag (GeoKeys, tiepoint, pixel scale, strips, planar config ...) is the real
        # file's, except the strip offsets: the newer GDAL lays the header out 16 bytes shorter
        ours_tags, real_tags = _tiff_tags(folder / f"{REAL}_{band}.tif"), _tiff_tags(REAL_DIR / f"{REAL}_{band}.tif")
        assert ours_tags == real_tags

    text = (folder / f"{REAL}_labels_metadata.json").read_text()
    real_text = (REAL_DIR / f"{REAL}_labels_metadata.json").read_text()
    ours, real = json.loads(text), json.loads(real_text)
    assert text == json.dumps(ours)  # same serialisation as the real files (no newline)
    assert list(ours) == list(real) and list(ours["coordinates"]) == list(real["coordinates"])
    for key in ("coordinates", "projection", "corresponding_s2_patch", "scene_source", "acquisition_time"):
        assert ours[key] == real[key], key
    # labels: the real v1 file has 43-class CLC names; those are not available offline and
    # TorchGeo's v1 loader accepts no other names, so none (the 19-class ones are in the v2 tables)
    assert real["labels"] and ours["labels"] == []


def test_v1_export_skips_incomplete_patches_and_is_atomic(tmp_path, two_products):
    paths, _ = two_products
    mosaic = UPath(tmp_path / "m.tif")
    mosaic_tile(paths, MGRS, S2_SENSING, mosaic, patch_choice=CHOICE)
    ds = patch_dataset(mosaic)
    root = UPath(tmp_path / "out")
    names = export_bigearthnet_v1([ds], root)
    # 61_39 has a NaN hole, x = 62 patches lack A's last 20 columns: not complete
    assert sorted(names) == sorted(
        f"{n}" for n in ds["s1_name"].values if n.rsplit("_", 2)[-2] in ("60", "61") and not n.endswith("61_39")
    )
    everything = export_bigearthnet_v1([ds], UPath(tmp_path / "all"), min_valid_fraction=0.0)
    assert len(everything) == 9
    # a failing export leaves nothing behind: a good store then a broken one
    broken = ds.drop_vars("valid_fraction")
    with pytest.raises(OutputError, match=r"\['valid_fraction'\] missing"):
        export_bigearthnet_v1([ds, broken], UPath(tmp_path / "fail"))
    assert not (tmp_path / "fail").exists() or not any((tmp_path / "fail").iterdir())
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".stage")]
    # re-export replaces the patch folders in place
    again = export_bigearthnet_v1([ds], root)
    assert sorted(again) == sorted(names)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(names)


def test_v2_export_layout(tmp_path, store_87):
    root = UPath(tmp_path / "BigEarthNet-S1")
    names = export_bigearthnet_v2([store_87], root)
    assert REAL in names
    folder = tmp_path / "BigEarthNet-S1" / "S1A_IW_GRDH_1SDV_20170613T165043" / REAL
    assert sorted(p.name for p in folder.iterdir()) == [f"{REAL}_VH.tif", f"{REAL}_VV.tif"]
    meta = export_records([store_87])
    r = meta[meta["patch_id"] == "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_87_48"].iloc[0]
    assert r["s1_name"] == REAL and r["s2v1_name"] == "S2A_MSIL2A_20170613T101031_87_48"
    table = bigearthnet_patch_table("33UUP_20170613")
    row = table[(table.x == 87) & (table.y == 48)].iloc[0]
    assert list(r["labels"]) == list(row["labels_v2"]) and r["split"] == row["split"]
    assert r["country"] == "Austria"


def test_mapping_csv_and_geoparquet(tmp_path, store_87, two_products):
    paths, _ = two_products
    mosaic = UPath(tmp_path / "m.tif")
    mosaic_tile(paths, MGRS, S2_SENSING, mosaic, patch_choice=CHOICE)
    store = UPath(tmp_path / "p.zarr")
    write_patch_store(mosaic, store)
    gdf = mapping_frame([store, store_87])
    assert len(gdf) == 18 and gdf.crs.to_epsg() == 4326
    assert list(gdf["partition_key"].unique()) == ["33UUP_20170613"]
    # the WGS84 polygon of 61_39 equals the UTM patch square reprojected by geopandas (peer)
    row = gdf[(gdf.x == 61) & (gdf.y == 39)].iloc[0]
    box = gpd.GeoSeries([shapely.box(*patch_bounds(MGRS, 61, 39))], crs=32633).to_crs(4326).iloc[0]
    for corner in box.exterior.coords:
        assert row.geometry.exterior.distance(shapely.Point(corner)) < 1e-9
    assert row.geometry.area == pytest.approx(box.area, rel=1e-6)
    assert row["s1_name"] == "S1A_IW_GRDH_1SDV_20170613T165043_33UUP_61_39"
    assert row["scene_source"] == PRODUCT_A
    assert pd.isna(gdf[(gdf.x == 60) & (gdf.y == 38)].iloc[0]["s2v1_name"])

    csv_path = UPath(tmp_path / "s1s2_mapping.csv")
    n = write_s1s2_mapping_csv(gdf, csv_path)
    lines = (tmp_path / "s1s2_mapping.csv").read_text().splitlines()
    assert n == len(lines)
    # BigEarthNet patches among the 18 (reBEN metadata): 5 in the 3 x 3 block, and around 87_48
    assert "S2A_MSIL2A_20170613T101031_60_40,S1B_IW_GRDH_1SDV_20170612T165809_33UUP_60_40" in lines
    assert "S2A_MSIL2A_20170613T101031_87_48,S1A_IW_GRDH_1SDV_20170613T165043_33UUP_87_48" in lines
    assert not any(line.startswith(("s2", "S2v1")) for line in lines[:1] if "," not in line)
    assert all(line.count(",") == 1 for line in lines)

    pq_path = UPath(tmp_path / "mapping.parquet")
    write_mapping_geoparquet(gdf, pq_path)
    back = gpd.read_parquet(tmp_path / "mapping.parquet")
    assert back.crs.to_epsg() == 4326 and len(back) == 18
    assert back.geometry.iloc[0].equals_exact(gdf.geometry.iloc[0], 0)

    with pytest.raises(OutputError, match="no patch stores"):
        mapping_frame([])


def test_outputs_on_s3(tmp_path, s3_bucket, two_products):
    """Mosaic, patch store, mapping and v1 export on an S3 API (moto server on 127.0.0.1)."""
    base, options = s3_bucket
    root = UPath(base, **options)
    paths, _ = two_products
    # the per-product COGs on S3 too
    remote = []
    for p in paths:
        dst = root / "preprocessed" / p.name
        dst.fs.put_file(str(p.path), dst.path)
        remote.append(dst)
    mosaic = root / "mosaics" / "33UUP_20170613.tif"
    mosaic_tile(remote, MGRS, S2_SENSING, mosaic, patch_choice=CHOICE)
    store = root / "patches" / "33UUP_20170613.zarr"
    assert write_patch_store(mosaic, store) == 9
    gdf = mapping_frame([store])
    assert len(gdf) == 9 and set(gdf["s1_name"].str[:32]) == {
        "S1A_IW_GRDH_1SDV_20170613T165043", "S1B_IW_GRDH_1SDV_20170612T165809"}
    out = root / "export" / "BigEarthNet-S1-v1.0"
    names = export_bigearthnet_v1([store], out, min_valid_fraction=0.0)
    assert len(names) == 9
    keys = out.fs.find(out.path)
    assert len(keys) == 27 and sum(k.endswith("_labels_metadata.json") for k in keys) == 9
    local = patch_dataset(mosaic)  # read straight from S3
    assert list(local["s1_name"].values) == list(gdf["s1_name"])
