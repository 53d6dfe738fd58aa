"""s1_product_selection and its blocking check patch_coverage, end to end on the demo archive."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import dagster as dg
import geopandas as gpd
import pytest
from shapely.geometry import Polygon, box

from ben_sen1_assets.grid.patches import patch_bounds
from ben_sen1_assets.grid.tile import tile_grid

from .conftest import DEMO_KEYS


def manifest_footprint(zip_path: Path) -> Polygon:
    """The product footprint from its manifest.safe (``lat,lon`` pairs), parsed here, not by the project."""
    with zipfile.ZipFile(zip_path) as z:
        (manifest,) = [n for n in z.namelist() if n.endswith("/manifest.safe")]
        text = z.read(manifest).decode()
    coords = re.search(r"<gml:coordinates>([^<]+)</gml:coordinates>", text).group(1).split()
    return Polygon([(float(p.split(",")[1]), float(p.split(",")[0])) for p in coords])


@pytest.mark.parametrize("key", DEMO_KEYS)
def test_chosen_products_are_in_archive_and_cover(e2e, key):
    frame = e2e.value(key, "s1_product_selection")
    archive_names = {p.name.removesuffix(".zip") for p in e2e.archive}
    assert len(frame) >= 1
    assert set(frame["name"]) <= archive_names
    check = e2e.checks(e2e.tiles[key])["patch_coverage"]
    assert check.passed
    assert check.metadata["coverage_percent"].value == 100.0
    assert check.metadata["n_uncovered"].value == 0


@pytest.mark.parametrize("key", DEMO_KEYS)
def test_products_table_and_coverage_map(e2e, key):
    frame = e2e.value(key, "s1_product_selection")
    meta = e2e.metadata(key, "s1_product_selection")
    table = meta["products"].value
    assert [r.data["product"] for r in table.records] == list(frame["name"])
    assert [r.data["n_patches"] for r in table.records] == list(frame["n_patches"])
    assert all(isinstance(r.data["delta_t_days"], float) for r in table.records)
    coverage = meta["coverage_map (patch colour = its product, red = uncovered, grey = footprints)"].value
    assert len(coverage) < 1000 and "image/png" in coverage
    assert meta["coverage_percent"].value == 100.0
    assert "name" in {c.name for c in meta["dagster/column_schema"].value.columns}


def test_31tel_patches_served_by_closest_containing_product(e2e):
    key = "31TEL_20210809"
    frame = e2e.value(key, "s1_product_selection")
    by_name = {p.name.removesuffix(".zip"): p for p in e2e.archive}
    assert len(frame) == 2, "both France products are needed for 31TEL"
    grid = tile_grid("31TEL")
    margin = e2e.defs.resources["selection_rules"].footprint_margin_m
    sensing = e2e.value(key, "tile_footprints").iloc[0].sensing_time
    # footprints in the tile's UTM CRS, shrunk by the selection margin
    footprints = {
        name: gpd.GeoSeries([manifest_footprint(by_name[name])], crs="EPSG:4326").to_crs(grid.epsg).iloc[0]
        .buffer(-margin, join_style="mitre")
        for name in frame["name"]
    }
    served: dict[str, list[str]] = {}
    for _, row in frame.iterrows():
        for p in filter(None, row["patches"].split(";")):
            served.setdefault(p, []).append(row["name"])
    scope = [p for p in e2e.value(key, "tile_footprints").iloc[0].patches_in_scope.split(";") if p]
    assert sorted(served) == sorted(scope)
    starts = dict(zip(frame["name"], frame["start"]))
    for p, names in served.items():
        assert len(names) == 1, f"patch {p} served by {names}"
        x, y = map(int, p.split("_"))
        patch = box(*patch_bounds(grid, x, y))
        containing = [n for n, fp in footprints.items() if fp.contains(patch)]
        assert containing, f"patch {p}: no product footprint contains it"
        closest = min(containing, key=lambda n: abs((starts[n] - sensing).total_seconds()))
        assert names[0] == closest, f"patch {p}: served by {names[0]}, closest containing is {closest}"


def test_empty_archive_fails_blocking_check(e2e, tmp_path):
    from ben_sen1_assets.definitions import ASSET_CHECKS, ASSETS, RESOURCES, storage_resources
    from ben_sen1_assets.resources.archives import S1CatalogResource

    empty = tmp_path / "archive"
    empty.mkdir()
    resources = {
        **RESOURCES,
        **storage_resources(str(tmp_path / "storage"), {}),
        "s1_catalog": S1CatalogResource(provider="local", local_folder=str(empty), build_demo_archive=False),
    }
    key = "31TEL_20210809"
    result = dg.materialize(
        [*ASSETS, *ASSET_CHECKS],
        selection=dg.AssetSelection.assets("tile_footprints", "s1_product_selection", "raw_s1_safe"),
        resources=resources,
        partition_key=key,
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not result.success
    checks = {ev.check_name: ev for ev in result.get_asset_check_evaluations()}
    assert not checks["patch_coverage"].passed
    scope = [p for p in e2e.value(key, "tile_footprints").iloc[0].patches_in_scope.split(";") if p]
    named = checks["patch_coverage"].metadata["uncovered_patches"].value.split(";")
    assert sorted(named) == sorted(scope)
    materialized = {m.asset_key.to_user_string() for m in result.asset_materializations_for_node("s1_product_selection")}
    assert materialized == {"s1_product_selection"}
    assert result.asset_materializations_for_node("raw_s1_safe") == []
    skipped = [e for e in result.all_events if e.event_type_value == "STEP_START" and e.step_key == "raw_s1_safe"]
    assert skipped == [], "raw_s1_safe ran although the blocking check failed"
