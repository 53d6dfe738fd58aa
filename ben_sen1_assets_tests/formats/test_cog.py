"""COG writing: GDAL's COG driver layout, plain GeoTIFFs converted, finished COGs copied as they are."""

from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from upath import UPath

from ben_sen1_assets.formats.cog import Raster, is_cog, read_raster, write_cog

TRANSFORM = Affine(10.0, 0.0, 300000.0, 0.0, -10.0, 4700040.0)


def test_raster_to_cog_and_back(tmp_path: Path) -> None:
    raster = Raster(np.random.default_rng(1).normal(size=(2, 700, 600)).astype("float32"), TRANSFORM, 32633,
                    band_names=("VV", "VH"), tags={"source_product": "S1B_X"})
    write_cog(raster, UPath(tmp_path / "a.tif"))
    assert is_cog(tmp_path / "a.tif")
    back = read_raster(tmp_path / "a.tif")
    np.testing.assert_array_equal(back.data, raster.data)
    assert back.band_names == ("VV", "VH") and back.tags["source_product"] == "S1B_X"
    with rasterio.open(tmp_path / "a.tif") as src:
        assert src.overviews(1), "a 700 px COG at 512 px blocks has an overview"


def test_plain_geotiff_is_converted_and_cog_is_copied(tmp_path: Path) -> None:
    plain = tmp_path / "plain.tif"
    with rasterio.open(plain, "w", driver="GTiff", width=600, height=600, count=1, dtype="float32",
                       crs="EPSG:32633", transform=TRANSFORM) as dst:
        dst.write(np.ones((1, 600, 600), "float32"))
    assert not is_cog(plain)
    write_cog(plain, UPath(tmp_path / "converted.tif"))
    assert is_cog(tmp_path / "converted.tif")
    write_cog(tmp_path / "converted.tif", UPath(tmp_path / "copied.tif"))
    assert (tmp_path / "copied.tif").read_bytes() == (tmp_path / "converted.tif").read_bytes()
