"""The COG of several float bands with its tiles encoded as they come and the file assembled
around them: GDAL (the peer) reads back exactly the pixels given at every level, finds the same
profile, georeferencing and metadata as in its own encoding of the same image, and the layout
passes rio-cogeo's validator; classic TIFF and BigTIFF."""

from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.shutil
from affine import Affine
from upath import UPath

from ben_sen1_assets.formats.cog import is_cog

TRANSFORM = Affine(10.0, 0.0, 300000.0, 0.0, -10.0, 4700040.0)


def _bands(count: int, shape: tuple[int, int], seed: int) -> np.ndarray:
    """dB-like bands with NaN borders and holes, the last band bit codes (as the chain writes)."""
    rng = np.random.default_rng(seed)
    data = (10 * np.log10(rng.gamma(4.4, 0.05 / 4.4, size=(count, *shape)))).astype("float32")
    data[:, : shape[0] // 5] = np.nan
    data[:, :, -7:] = np.nan
    data[-1] = rng.integers(0, 64, size=shape)
    return data


def _profile(src) -> dict:
    """The dataset's profile without its nodata (NaN, unequal to itself: checked apart)."""
    return {k: v for k, v in src.profile.items() if k != "nodata"}


def _write(path: Path, data: np.ndarray, block_rows: int, **kw) -> None:
    from ben_sen1_assets.formats.cog_writer import CogWriter

    count, height, width = data.shape
    with CogWriter(UPath(path), height, width, count, "float32", 32632, TRANSFORM,
                   band_names=tuple(f"b{k}" for k in range(count)), tags={"scene": "S1B_x", "n": "1"},
                   categorical=(count - 1,), **kw) as w:
        assert w.encodes_tiles == kw.get("encode_tiles", True)
        for r in range(0, height, block_rows):
            w.write(data[:, r : r + block_rows])


@pytest.mark.parametrize(("shape", "block_rows", "memory_stage_mb"),
                         [((1300, 1777), 333, 256), ((1300, 1777), 1024, 0), ((300, 200), 7, 256),
                          ((2048, 1100), 512, 0)])
def test_gdal_reads_every_level_as_its_own_encoding_of_the_same_image(
        tmp_path: Path, shape: tuple[int, int], block_rows: int, memory_stage_mb: float) -> None:
    """GDAL re-encodes our COG (its GTiff driver, the options the writer names, copying our
    overviews): every level of ours decodes to the same pixels as GDAL's (the full resolution also
    to the input), with the same profile, tags, descriptions and nodata; both are valid COGs, ours
    within 1 % of the size of GDAL's (the padding of edge tiles differs)."""
    from rio_cogeo.cogeo import cog_validate

    from ben_sen1_assets.formats.cog_writer import COG_BAND_OPTIONS, overview_shapes

    data = _bands(4, shape, seed=shape[0] + block_rows)
    ours, gdal = tmp_path / "ours.tif", tmp_path / "gdal.tif"
    _write(ours, data, block_rows, memory_stage_mb=memory_stage_mb)
    rasterio.shutil.copy(ours, gdal, driver="GTiff", **COG_BAND_OPTIONS)
    for path in (ours, gdal):
        valid, errors, warnings = cog_validate(str(path), strict=True)
        assert valid and not errors and not warnings, (path.name, errors, warnings)
        assert is_cog(path)
    with rasterio.open(ours) as a, rasterio.open(gdal) as b:
        np.testing.assert_array_equal(a.read(), data)
        assert _profile(a) == _profile(b) and a.profile["compress"] == "zstd" and a.profile["interleave"] == "band"
        assert a.tags() == b.tags() and a.tags()["scene"] == "S1B_x"
        assert a.descriptions == b.descriptions == ("b0", "b1", "b2", "b3")
        assert np.isnan(a.nodata) and a.crs.to_epsg() == 32632 and a.transform == TRANSFORM
        assert a.tags(ns="IMAGE_STRUCTURE") == b.tags(ns="IMAGE_STRUCTURE")
        assert a.tags(ns="IMAGE_STRUCTURE")["PREDICTOR"] == "3"
        overviews = a.overviews(1)
        assert overviews == b.overviews(1) and len(overviews) == len(overview_shapes(*shape))
    for level in range(len(overviews)):
        with rasterio.open(ours, overview_level=level) as a, rasterio.open(gdal, overview_level=level) as b:
            np.testing.assert_array_equal(a.read(), b.read())
    assert abs(ours.stat().st_size / gdal.stat().st_size - 1) < 0.01


def test_bigtiff_when_an_offset_would_not_fit_in_32_bits(tmp_path: Path) -> None:
    """Past the classic TIFF's 4 GB (here a limit lowered for the test), the same COG as a
    BigTIFF: GDAL reads the same pixels and tags, rio-cogeo validates it."""
    from rio_cogeo.cogeo import cog_validate

    from ben_sen1_assets.formats import cog_tiles

    data = _bands(3, (1100, 1300), seed=11)
    _write(tmp_path / "classic.tif", data, 256)
    limit = cog_tiles.CLASSIC_TIFF_LIMIT
    cog_tiles.CLASSIC_TIFF_LIMIT = 1 << 20
    try:
        _write(tmp_path / "big.tif", data, 256)
    finally:
        cog_tiles.CLASSIC_TIFF_LIMIT = limit
    assert (tmp_path / "classic.tif").read_bytes()[:4] == b"II*\x00"
    assert (tmp_path / "big.tif").read_bytes()[:4] == b"II+\x00"
    valid, errors, warnings = cog_validate(str(tmp_path / "big.tif"), strict=True)
    assert valid and not errors and not warnings, (errors, warnings)
    with rasterio.open(tmp_path / "big.tif") as big, rasterio.open(tmp_path / "classic.tif") as classic:
        np.testing.assert_array_equal(big.read(), data)
        assert _profile(big) == _profile(classic) and big.tags() == classic.tags() and np.isnan(big.nodata)
        assert big.descriptions == classic.descriptions and big.overviews(1) == classic.overviews(1) == [2, 4]
        for level in range(2):
            with rasterio.open(tmp_path / "big.tif", overview_level=level) as a, \
                    rasterio.open(tmp_path / "classic.tif", overview_level=level) as b:
                np.testing.assert_array_equal(a.read(), b.read())


def test_without_nodata_gdal_reports_none(tmp_path: Path) -> None:
    from ben_sen1_assets.formats.cog_writer import CogWriter

    data = np.arange(2 * 600 * 700, dtype="float32").reshape(2, 600, 700)
    with CogWriter(UPath(tmp_path / "c.tif"), 600, 700, 2, "float32", 32632, TRANSFORM, nodata=None) as w:
        w.write(data)
    with rasterio.open(tmp_path / "c.tif") as src:
        assert src.nodata is None
        np.testing.assert_array_equal(src.read(), data)


def test_an_incomplete_level_is_not_assembled(tmp_path: Path) -> None:
    from ben_sen1_assets.formats.cog_tiles import EncodedLevel, assemble, encode_tile

    level = EncodedLevel((600, 700), 2, 512, None, "level0")
    level.write(np.zeros((2, 512, 700), np.float32), lambda tiles: [encode_tile(t) for t in tiles])
    with open(tmp_path / "x.tif", "wb") as out, pytest.raises(ValueError, match="not complete"):
        assemble(out, [level], {})
    with pytest.raises(ValueError, match="past the height"):
        level.write(np.zeros((2, 100, 700), np.float32), lambda tiles: [encode_tile(t) for t in tiles])


def test_the_same_pixels_as_gdal_encoding_the_staged_image(tmp_path: Path) -> None:
    """The same blocks through the writer's two encoders: GDAL encoding the staged image at the
    end (``encode_tiles=False``, the peer) and the tiles encoded as they come: the same pixels at
    every level, the same profile, tags and descriptions."""
    data = _bands(4, (1500, 1300), seed=13)
    _write(tmp_path / "gdal.tif", data, 400, encode_tiles=False)
    _write(tmp_path / "tiles.tif", data, 400, encode_tiles=True)
    with rasterio.open(tmp_path / "gdal.tif") as a, rasterio.open(tmp_path / "tiles.tif") as b:
        assert _profile(a) == _profile(b) and a.tags() == b.tags() and a.descriptions == b.descriptions
        assert a.overviews(1) == b.overviews(1) == [2, 4]
    for kw in ({}, {"overview_level": 0}, {"overview_level": 1}):
        with rasterio.open(tmp_path / "gdal.tif", **kw) as a, rasterio.open(tmp_path / "tiles.tif", **kw) as b:
            np.testing.assert_array_equal(a.read(), b.read())


def test_tiles_are_encoded_as_they_come_for_several_float_bands_only(tmp_path: Path) -> None:
    from ben_sen1_assets.formats.cog_writer import CogWriter

    for count, dtype, nodata in ((1, "float32", float("nan")), (3, "uint8", 0)):
        with pytest.raises(ValueError, match="several float bands only"):
            CogWriter(UPath(tmp_path / "c.tif"), 100, 100, count, dtype, 32632, TRANSFORM, nodata=nodata,
                      encode_tiles=True)
        writer = CogWriter(UPath(tmp_path / "c.tif"), 100, 100, count, dtype, 32632, TRANSFORM, nodata=nodata)
        assert not writer.encodes_tiles  # GDAL encodes them
        writer.abort()
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("shape", [(512, 512), (256, 384)])
def test_a_tile_holds_the_bytes_libtiff_predicts(tmp_path: Path, shape: tuple[int, int]) -> None:
    """One tile's floating-point predictor output (before the codec) equals libtiff's: GDAL
    writes the same tile with ZSTD + PREDICTOR=3, and both frames decompress to the same bytes."""
    from numcodecs import Zstd

    from ben_sen1_assets.formats.cog_tiles import encode_tile

    tile = _bands(1, shape, seed=9)[0]
    tile[5, 7] = -tile[5, 7]  # negative values: the sign bit in the first plane
    path = tmp_path / "libtiff.tif"
    with rasterio.open(path, "w", driver="GTiff", width=shape[1], height=shape[0], count=1, dtype="float32",
                       tiled=True, blockxsize=shape[1], blockysize=shape[0], compress="zstd", zstd_level=1,
                       predictor=3, crs="EPSG:32632", transform=TRANSFORM) as dst:
        dst.write(tile, 1)
    with rasterio.open(path) as src:
        offset = int(src.get_tag_item("BLOCK_OFFSET_0_0", "TIFF", bidx=1))
        size = int(src.get_tag_item("BLOCK_SIZE_0_0", "TIFF", bidx=1))
    libtiff = path.read_bytes()[offset : offset + size]
    assert Zstd().decode(encode_tile(tile)) == Zstd().decode(libtiff)
