"""s1s2_mapping (datasets_job, after the three demo tiles): GeoParquet + BigEarthNet-MM style CSV."""

from __future__ import annotations

import csv
from pathlib import Path

import geopandas as gpd
import numpy as np
from shapely.geometry import box

from ben_sen1_assets.grid.patches import patch_bounds
from ben_sen1_assets.grid.tile import tile_grid

from .conftest import DEMO_KEYS


def test_datasets_job_succeeded(e2e):
    assert e2e.datasets.success
    done = {e.event_specific_data.materialization.asset_key.to_user_string()
            for e in e2e.datasets.get_asset_materialization_events()}
    assert done == {"s1s2_mapping", "bigearthnet_export", "bigearthnet_lmdb", "stac_catalog",
                    "gdal_vrts", "dataset_statistics"}


def test_geoparquet_one_row_per_patch_with_geometry(e2e):
    path = Path(e2e.settings.storage) / "s1s2_mapping.parquet"
    frame = gpd.read_parquet(path)  # GeoParquet: geopandas restores the geometry and CRS
    assert frame.crs.to_epsg() == 4326
    assert frame.geometry.notna().all() and frame.geometry.is_valid.all()
    n_scope = {k: len(e2e.value(k, "tile_footprints").iloc[0].patches_in_scope.split(";")) for k in DEMO_KEYS}
    assert len(frame) == sum(n_scope.values())
    assert frame.groupby("partition_key").size().to_dict() == n_scope
    # each WGS84 polygon is the patch's UTM square (area within 0.1 %)
    for _, row in frame.sample(5, random_state=0).iterrows():
        grid = tile_grid(row["mgrs"])
        square = box(*patch_bounds(grid, int(row["x"]), int(row["y"])))
        utm = gpd.GeoSeries([row.geometry], crs=4326).to_crs(grid.epsg).iloc[0]
        assert abs(utm.intersection(square).area / square.area - 1) < 1e-3


def test_csv_no_header_two_columns(e2e):
    path = Path(e2e.settings.storage) / "s1s2_mapping.csv"
    assert path.is_file()
    rows = list(csv.reader(path.open()))
    frame = gpd.read_parquet(Path(e2e.settings.storage) / "s1s2_mapping.parquet")
    paired = frame[frame["s2v1_name"].fillna("").astype(str).str.len() > 0]
    # demo tiles lie outside BigEarthNet's countries: no pair exists, so the CSV is empty; the
    # row count and format still have to agree with the table
    meta = [e.event_specific_data.materialization.metadata for e in e2e.datasets.get_asset_materialization_events()
            if e.event_specific_data.materialization.asset_key.to_user_string() == "s1s2_mapping"][0]
    assert len(rows) == len(paired) == meta["n_bigearthnet_pairs"].value
    assert all(len(r) == 2 and r[0] != "s2v1_name" for r in rows)
    assert meta["n_patches"].value == len(frame)
    assert np.all(frame["s1_name"].astype(str).str.contains("_IW_GRDH_1SDV_"))


def test_no_pairs_check_warns_with_the_reason(e2e):
    checks = {ev.check_name: ev for ev in e2e.datasets.get_asset_check_evaluations()}
    check = checks["bigearthnet_pairs"]
    assert not check.passed and check.severity.value == "WARN"
    reason = check.metadata["reason"].value
    for key in DEMO_KEYS:  # demo tiles are not BigEarthNet products
        assert f"{key} is not one of BigEarthNet's 125 S2 products" in reason
