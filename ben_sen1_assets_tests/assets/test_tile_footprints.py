"""tile_footprints, as materialized end to end for the demo partitions."""

from __future__ import annotations

import pytest
from pyproj import CRS

from ben_sen1_assets.grid.tile import tile_grid

from .conftest import DEMO_KEYS

# EPSG of each demo tile's UTM zone (MGRS zone 32/33/31, northern hemisphere), stated independently
EXPECTED_EPSG = {"32TQM": 32632, "33TTG": 32633, "31TEL": 32631}


@pytest.mark.parametrize("key", DEMO_KEYS)
def test_row_matches_tile_grid(e2e, key):
    frame = e2e.value(key, "tile_footprints")
    assert len(frame) == 1
    row = frame.iloc[0]
    mgrs = key.split("_")[0]
    grid = tile_grid(mgrs)
    assert row.partition_key == key and row.mgrs == mgrs
    assert int(row.epsg) == EXPECTED_EPSG[mgrs] == grid.epsg
    assert (row.ulx, row.lry, row.lrx, row.uly) == grid.bounds
    assert row.lrx - row.ulx == 109_800 and row.uly - row.lry == 109_800
    assert (row.width_px, row.height_px) == (10980, 10980)
    # the WGS84 footprint projects back onto the UTM square (within a metre)
    import geopandas as gpd

    utm = gpd.GeoSeries([row.geometry], crs="EPSG:4326").to_crs(CRS.from_epsg(grid.epsg)).iloc[0]
    assert max(abs(a - b) for a, b in zip(utm.bounds, grid.bounds)) < 1.0
    scope = [p for p in row.patches_in_scope.split(";") if p]
    assert len(scope) == row.n_patches_in_scope > 0
    assert all(0 <= int(v) < 91 for p in scope for v in p.split("_"))
    from ben_sen1_assets.partitions import TILE_CATALOG

    assert sorted(scope) == sorted(f"{x}_{y}" for x, y in TILE_CATALOG[key].patches)


@pytest.mark.parametrize("key", DEMO_KEYS)
def test_check_passed_and_metadata(e2e, key):
    checks = e2e.checks(e2e.tiles[key])
    assert checks["tile_geometry"].passed
    assert checks["tile_geometry"].metadata["corner_error_m"].value < 1.0
    meta = e2e.metadata(key, "tile_footprints")
    for name in ("mgrs", "epsg", "sensing_time", "bounds (UTM, m)", "n_patches_in_scope", "footprint_wkt",
                 "scope_map (blue = patches in scope)", "dagster/column_schema"):
        assert name in meta, name
    assert meta["epsg"].value == EXPECTED_EPSG[key.split("_")[0]]
    scope_map = meta["scope_map (blue = patches in scope)"].value
    assert len(scope_map) < 1000 and "data:image/png;base64," in scope_map
    columns = {c.name: c.type for c in meta["dagster/column_schema"].value.columns}
    assert columns["epsg"] == "int" and columns["geometry"].startswith("geometry")
