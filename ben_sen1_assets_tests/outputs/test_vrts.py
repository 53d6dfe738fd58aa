"""GDAL VRTs beside the preprocessed collections and mosaics, read back by rasterio (GDAL) and
compared pixel for pixel with the COGs they describe."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import Window
from upath import UPath

from ben_sen1_assets.formats.cog import write_cog_collection
from ben_sen1_assets.outputs.mosaic import MosaicConfig, mosaic_tile
from ben_sen1_assets.outputs.vrts import write_gdal_vrts

from .conftest import MGRS, PARTITION_KEY, PRODUCT_A, PRODUCT_B, S2_SENSING, START_A, START_B, WINDOW, product_cog


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


def test_incidence_angle_and_mask_bands(tmp_path):
    """Products with the chain's local incidence angle and mask bands: the VRTs give the angle
    its unit and the mask its integer type, with 255 where a product does not cover the union
    of the windows (bit 128 is not a mask bit); the values are the COGs'."""
    h, w = WINDOW.height, WINDOW.width
    lia = np.linspace(20.0, 45.0, h * w, dtype=np.float32).reshape(h, w)
    mask_a = np.broadcast_to(np.where(np.arange(w) % 7 == 0, 16.0, 0.0), (h, w)).astype(np.float32) + 8.0
    vv_a = np.full((h, w), -10.0)
    vv_a[:5, :5] = np.nan
    mask_a[:5, :5] = 4.0  # no data: NaN backscatter, mask bit set
    a = product_cog(UPath(tmp_path / "a.tif"), PRODUCT_A, START_A, vv_a, vv_a - 6.0, lia=lia, mask=mask_a)
    shifted = Window(WINDOW.col_off + 120, WINDOW.row_off, w, h)
    b = product_cog(UPath(tmp_path / "b.tif"), PRODUCT_B, START_B, np.full((h, w), -20.0), np.full((h, w), -26.0),
                    window=shifted, lia=lia + 1.0, mask=np.zeros((h, w)))
    root = tmp_path / "storage"
    write_cog_collection({PRODUCT_A: Path(a.path), PRODUCT_B: Path(b.path)},
                         UPath(root / "preprocessed_s1" / f"{PARTITION_KEY}.cogs"))
    mosaic_tile([a], MGRS, S2_SENSING, UPath(root / "mosaics" / f"{PARTITION_KEY}.tif"),
                config=MosaicConfig(rule="closest_per_pixel"))
    write_gdal_vrts(UPath(root))

    with rasterio.open(root / "preprocessed_s1" / f"{PARTITION_KEY}.vrt") as vrt:
        assert vrt.count == 8 and vrt.width == w + 120
        assert vrt.descriptions[:3] == (f"{PRODUCT_A} VV", f"{PRODUCT_A} VH", f"{PRODUCT_A} local_incidence_angle")
        assert vrt.descriptions[3].startswith(f"{PRODUCT_A} mask: quality bits") and "no_data" in vrt.descriptions[3]
        assert vrt.dtypes == ("float32", "float32", "float32", "uint8") * 2
        assert vrt.units[2] == vrt.units[6] == "degree" and vrt.units[3] is None
        assert vrt.nodatavals[3] == vrt.nodatavals[7] == 255
        mask, angle = vrt.read(4), vrt.read(3)
        np.testing.assert_array_equal(mask[:, :w], mask_a.astype(np.uint8))
        np.testing.assert_array_equal(angle[:, :w], lia)
        assert (mask[:, w:] == 255).all() and np.isnan(angle[:, w:]).all()  # outside A's window
        assert (vrt.read(8)[:, :120] == 255).all() and (vrt.read(8)[:, 120:] == 0).all()  # B starts 120 px right

    with rasterio.open(root / "mosaics" / f"{PARTITION_KEY}.vrt") as vrt, \
            rasterio.open(root / "mosaics" / f"{PARTITION_KEY}.tif") as cog:
        assert cog.descriptions == ("VV", "VH", "source_index", "local_incidence_angle", "mask")
        assert vrt.dtypes == ("float32", "float32", "int16", "float32", "uint8")
        assert vrt.units == ("dB", "dB", None, "degree", None)
        assert vrt.nodatavals[2] == -1 and np.isnan(vrt.nodatavals[3]) and vrt.nodatavals[4] == 255
        ref = cog.read(5)
        assert np.isfinite(ref).all()
        np.testing.assert_array_equal(vrt.read(5), ref.astype(np.uint8))
        np.testing.assert_array_equal(vrt.read(4), cog.read(4))
