"""GDAL VRTs beside the preprocessed collections and mosaics, read back by rasterio (GDAL) and
compared pixel for pixel with the COGs they describe."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from upath import UPath

from ben_sen1_assets.formats.cog import write_cog_collection
from ben_sen1_assets.outputs.mosaic import MosaicConfig, mosaic_tile
from ben_sen1_assets.outputs.vrts import write_gdal_vrts

from .conftest import MGRS, PARTITION_KEY, PRODUCT_A, PRODUCT_B, S2_SENSING


def _layout(tmp_path, two_products):
    """A storage root as the IO managers lay it out: one .cogs collection and one mosaic made of
    product A alone (its NaN hole and missing columns leave pixels without provenance)."""
    paths, valid_a = two_products
    root = tmp_path / "storage"
    write_cog_collection({PRODUCT_A: Path(paths[0].path), PRODUCT_B: Path(paths[1].path)},
                         UPath(root / "preprocessed_s1" / f"{PARTITION_KEY}.cogs"))
    mosaic_tile([paths[0]], MGRS, S2_SENSING, UPath(root / "mosaics" / f"{PARTITION_KEY}.tif"),
                config=MosaicConfig(rule="closest_per_pixel"))
    return root, valid_a


def test_vrts_open_in_gdal_with_names_units_nodata(tmp_path, two_products):
    root, valid_a = _layout(tmp_path, two_products)
    written = write_gdal_vrts(UPath(root))
    assert written == [f"preprocessed_s1/{PARTITION_KEY}.vrt", f"mosaics/{PARTITION_KEY}.vrt"]

    with rasterio.open(root / "preprocessed_s1" / f"{PARTITION_KEY}.vrt") as vrt:
        assert vrt.count == 4 and vrt.descriptions == (
            f"{PRODUCT_A} VV", f"{PRODUCT_A} VH", f"{PRODUCT_B} VV", f"{PRODUCT_B} VH")
        assert all(np.isnan(v) for v in vrt.nodatavals)
        for k, product in enumerate((PRODUCT_A, PRODUCT_B)):
            with rasterio.open(root / "preprocessed_s1" / f"{PARTITION_KEY}.cogs" / f"{product}.tif") as cog:
                assert vrt.crs == cog.crs and vrt.transform == cog.transform
                expected_unit = "dB" if cog.tags().get("units", "dB") == "dB" else None
                assert vrt.units[2 * k : 2 * k + 2] == (expected_unit, expected_unit)
                np.testing.assert_array_equal(vrt.read([2 * k + 1, 2 * k + 2]), cog.read())

    with rasterio.open(root / "mosaics" / f"{PARTITION_KEY}.vrt") as vrt, \
            rasterio.open(root / "mosaics" / f"{PARTITION_KEY}.tif") as cog:
        assert vrt.dtypes == ("float32", "float32", "int16")
        assert vrt.units[:2] == ("dB", "dB") and vrt.descriptions[:2] == ("VV", "VH")
        assert vrt.nodatavals[2] == -1 and vrt.descriptions[2].startswith("source_index")
        np.testing.assert_array_equal(vrt.read([1, 2]), cog.read([1, 2]))
        prov, ref = vrt.read(3), cog.read(3)
        assert (prov[np.isnan(ref)] == -1).all() and np.isnan(ref).any()
        np.testing.assert_array_equal(prov[~np.isnan(ref)], ref[~np.isnan(ref)].astype(np.int16))
        # the provenance says product A (index 0) wherever A has pixels
        assert (prov[~np.isnan(ref)] == 0).all()


def test_vrt_sources_are_relative(tmp_path, two_products):
    root, _ = _layout(tmp_path, two_products)
    write_gdal_vrts(UPath(root))
    moved = tmp_path / "copied"
    (root).rename(moved)  # the whole storage root moved: the VRTs still open
    text = (moved / "mosaics" / f"{PARTITION_KEY}.vrt").read_text()
    assert str(tmp_path) not in text and 'relativeToVRT="1"' in text
    with rasterio.open(moved / "preprocessed_s1" / f"{PARTITION_KEY}.vrt") as vrt:
        assert np.isfinite(vrt.read(3)).all()  # product B: full coverage
