"""mosaics: VV, VH, source_index, local incidence angle and mask on the tile grid, with a quicklook."""

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
        assert src.descriptions == ("VV", "VH", "source_index", "local_incidence_angle", "mask")
        assert src.crs.to_epsg() == grid.epsg
        assert (src.transform.c - grid.ulx) % 10 == 0 and (grid.uly - src.transform.f) % 10 == 0
        products = json.loads(src.tags()["source_products"])
        assert set(products) == chosen
        index, lia, mask = src.read(3), src.read(4), src.read(5)
    used = np.unique(index[np.isfinite(index)]).astype(int)
    assert set(used) <= set(range(len(products)))
    # per pixel from the product it came from: every pixel with data has an angle and a mask
    # without the no_data bit
    has = np.isfinite(index)
    assert np.isfinite(lia[has]).all() and 15 < np.median(lia[has]) < 50
    assert not (mask[has].astype(np.uint8) & 4).any()


@pytest.mark.parametrize("key", DEMO_KEYS)
def test_quicklook_metadata(e2e, key):
    meta = e2e.metadata(key, "mosaics")
    assert "data:image/png;base64," in meta["quicklook"].value
    assert set(meta["source_products"].value) == set(e2e.value(key, "s1_product_selection")["name"])
    assert 0.0 < meta["valid_fraction"].value <= 1.0
