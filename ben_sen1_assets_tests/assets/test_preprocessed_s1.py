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
    assert meta["n_products"].value == len(e2e.value(key, "s1_product_selection"))
    assert 0.5 < meta["mean_valid_fraction"].value <= 1.0
    table = meta["products (valid fraction, seconds per step)"].value
    for step in ("geocoding", "radiometry", "speckle", "total"):
        assert step in table
    assert "processing_fingerprint" in meta


@pytest.mark.parametrize("key", DEMO_KEYS[:1])
def test_materialization_path_names_stored_output(e2e, key):
    """The `path` shown in the UI must be where the COGs are (a `.cogs` folder for a collection)."""
    from upath import UPath

    path = UPath(e2e.metadata(key, "preprocessed_s1")["path"].value)
    assert path.exists(), f"materialization metadata path {path} does not exist"
