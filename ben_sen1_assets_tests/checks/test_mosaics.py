"""mosaic_provenance: a patch whose pixels come from another product than the one chosen is named."""

from __future__ import annotations

import shutil

import numpy as np
import rasterio
from rasterio.windows import Window

from ben_sen1_assets.assets.mosaics import patch_choice
from ben_sen1_assets.checks.mosaics import provenance_problems
from ben_sen1_assets.outputs.provenance import patch_provenance

KEY = "31TEL_20210809"  # two products serve this tile


def test_demo_mosaic_agrees_with_its_selection(e2e):
    selection = e2e.value(KEY, "s1_product_selection")
    entry = e2e.defs.resources["tile_catalog"].entry(KEY)
    provenance = patch_provenance(e2e.value(KEY, "mosaics"), list(entry.patches))
    problems, mixed = provenance_problems(provenance, set(selection["name"]), patch_choice(selection))
    assert problems == [] and mixed == []
    assert set(provenance.pixels) == set(entry.patches)


def test_a_patch_with_foreign_pixels_is_named(e2e, tmp_path):
    selection = e2e.value(KEY, "s1_product_selection")
    entry = e2e.defs.resources["tile_catalog"].entry(KEY)
    choice = patch_choice(selection)
    damaged = tmp_path / "mosaic.tif"
    shutil.copyfile(str(e2e.value(KEY, "mosaics")), damaged)
    x, y = sorted(entry.patches)[0]
    with rasterio.open(damaged, "r+", IGNORE_COG_LAYOUT_BREAK="YES") as dst:
        names = list(dst.descriptions)
        band = names.index("source_index") + 1
        products = __import__("json").loads(dst.tags()["source_products"])
        other = next(i for i, p in enumerate(products) if p != choice[(x, y)])
        tile = entry.tile
        col = (x * 120) - round((dst.transform.c - tile.ulx) / 10)
        row = (y * 120) - round((tile.uly - dst.transform.f) / 10)
        block = dst.read(band, window=Window(col, row, 10, 10))
        dst.write(np.full_like(block, other), band, window=Window(col, row, 10, 10))
    provenance = patch_provenance(damaged, list(entry.patches))
    problems, mixed = provenance_problems(provenance, set(selection["name"]), choice)
    assert len(mixed) == 1 and mixed[0].startswith(f"{x}_{y}: 100 px from {products[other]}")
    # a product outside the selection is named too
    problems, _ = provenance_problems(provenance, set(selection["name"]) - {products[other]}, choice)
    assert any(f"names {products[other]}, which the selection did not choose" in p for p in problems)
