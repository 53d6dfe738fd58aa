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
def test_quicklook_and_sources_metadata(e2e, key):
    meta = e2e.metadata(key, "mosaics")
    inline = meta["quicklook (R VV, G VH, B VV−VH)"].value
    assert len(inline) < 1000 and "data:image/avif;base64," in inline  # shown in place by the UI
    assert "data:image/png;base64," in meta["quicklook, 512 px"].value
    sources = meta["sources"].value
    assert [c.name for c in sources.schema.columns] == ["index", "product", "patch_pixels_percent"]
    assert {r.data["product"] for r in sources.records} == set(e2e.value(key, "s1_product_selection")["name"])
    assert sum(r.data["patch_pixels_percent"] for r in sources.records) == pytest.approx(100.0, abs=0.05)
    assert 0.0 < meta["valid_percent"].value <= 100.0


@pytest.mark.parametrize("key", DEMO_KEYS)
def test_provenance_check_passed(e2e, key):
    check = e2e.checks(e2e.tiles[key])["mosaic_provenance"]
    assert check.passed, check.metadata["problems"].value
    assert check.metadata["n_patches_mixed"].value == 0
