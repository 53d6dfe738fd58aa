"""preprocessed_s1: one COG per chosen product on the tile's 10 m grid."""

from __future__ import annotations

import json

import pytest
import rasterio

from ben_sen1_assets.grid.tile import tile_grid

from .conftest import DEMO_KEYS


@pytest.mark.parametrize("key", DEMO_KEYS)
def test_one_cog_per_product_on_tile_grid(e2e, key):
    cogs = e2e.value(key, "preprocessed_s1")
    chosen = set(e2e.value(key, "s1_product_selection")["name"])
    assert set(cogs) == chosen
    grid = tile_grid(key.split("_")[0])
    for name, path in cogs.items():
        with rasterio.open(str(path)) as src:
            assert src.crs.to_epsg() == grid.epsg
            assert src.descriptions == ("VV", "VH", "local_incidence_angle", "mask")
            assert set(src.dtypes) == {"float32"}
            t = src.transform
            assert (t.a, t.b, t.d, t.e) == (10.0, 0.0, 0.0, -10.0)
            # origin on the tile's 10 m grid, inside the tile
            assert (t.c - grid.ulx) % 10 == 0 and (grid.uly - t.f) % 10 == 0
            assert grid.ulx <= t.c < grid.lrx and grid.lry < t.f <= grid.uly
            assert src.profile["tiled"] and src.overviews(1), "a COG has internal tiles and overviews"
            tags = src.tags()
            assert tags["source_product"] == name
            assert tags["units"] == "linear" and tags["quantity"] == "sigma0"
            assert json.loads(tags["processing"])["calibration"] == "sigma0"
            for k in ("mission", "relative_orbit", "start_time", "processing_fingerprint", "tile_window"):
                assert tags.get(k), k


@pytest.mark.parametrize("key", DEMO_KEYS)
def test_metadata_valid_fraction_and_timings(e2e, key):
    meta = e2e.metadata(key, "preprocessed_s1")
    names = set(e2e.value(key, "s1_product_selection")["name"])
    assert meta["n_products"].value == len(names)
    assert 50.0 < meta["mean_valid_percent"].value <= 100.0
    table = meta["products"].value
    assert [c.name for c in table.schema.columns] == [
        "product", "valid_percent", "geocoding_s", "radiometry_s", "speckle_s", "total_s"]
    assert {r.data["product"] for r in table.records} == names
    assert all(r.data["total_s"] > 0 for r in table.records)
    quicklooks = [v.value for k, v in meta.items() if k.startswith("quicklook ")]
    assert len(quicklooks) == len(names) and all(len(q) < 1000 and "image/avif" in q for q in quicklooks)
    assert "processing_fingerprint" in meta


@pytest.mark.parametrize("key", DEMO_KEYS)
def test_checks_passed(e2e, key):
    checks = e2e.checks(e2e.tiles[key])
    for name in ("preprocessed_on_tile_grid", "preprocessed_serve_their_patches", "preprocessed_plausible_db"):
        assert checks[name].passed, (name, checks[name].metadata)


@pytest.mark.parametrize("key", DEMO_KEYS[:1])
def test_materialization_path_names_stored_output(e2e, key):
    """The `path` shown in the UI must be where the COGs are (a `.cogs` folder for a collection)."""
    from upath import UPath

    path = UPath(e2e.metadata(key, "preprocessed_s1")["path"].value)
    assert path.exists(), f"materialization metadata path {path} does not exist"
