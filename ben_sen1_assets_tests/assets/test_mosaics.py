"""mosaics: VV, VH and source_index on the tile grid, with a quicklook."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio

from ben_sen1_assets.grid.tile import tile_grid

from .conftest import DEMO_KEYS


@pytest.mark.parametrize("key", DEMO_KEYS)
def test_mosaic_bands_and_sources(e2e, key):
    path = e2e.value(key, "mosaics")
    chosen = set(e2e.value(key, "s1_product_selection")["name"])
    grid = tile_grid(key.split("_")[0])
    with rasterio.open(str(path)) as src:
        assert src.descriptions == ("VV", "VH", "source_index")
        assert src.crs.to_epsg() == grid.epsg
        assert (src.transform.c - grid.ulx) % 10 == 0 and (grid.uly - src.transform.f) % 10 == 0
        products = json.loads(src.tags()["source_products"])
        assert set(products) == chosen
        index = src.read(3)
    used = np.unique(index[np.isfinite(index)]).astype(int)
    assert set(used) <= set(range(len(products)))


@pytest.mark.parametrize("key", DEMO_KEYS)
def test_quicklook_metadata(e2e, key):
    meta = e2e.metadata(key, "mosaics")
    assert "data:image/png;base64," in meta["quicklook"].value
    assert set(meta["source_products"].value) == set(e2e.value(key, "s1_product_selection")["name"])
    assert 0.0 < meta["valid_fraction"].value <= 1.0
