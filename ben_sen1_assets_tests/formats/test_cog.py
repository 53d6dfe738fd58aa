"""COG writing: the COG layout (GDAL's COG driver; band-interleaved for several float bands),
plain GeoTIFFs converted, finished COGs copied as they are."""

import time
from pathlib import Path

import numpy as np
import pytest
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


def test_is_cog_checks_the_layout_of_a_band_interleaved_file(tmp_path: Path) -> None:
    """A tiled, band-interleaved GeoTIFF with overviews is not a COG when its overviews come after
    the data (GDAL appends them to the file); rio-cogeo's validator (peer) agrees both ways."""
    from rasterio.enums import Resampling
    from rio_cogeo.cogeo import cog_validate

    appended = tmp_path / "appended.tif"
    with rasterio.open(appended, "w", driver="GTiff", width=1100, height=1100, count=2, dtype="float32",
                       crs="EPSG:32633", transform=TRANSFORM, tiled=True, interleave="band", compress="zstd") as dst:
        dst.write(_speckled((2, 1100, 1100)))
        dst.build_overviews([2, 4], Resampling.average)
    assert not is_cog(appended) and not cog_validate(str(appended), strict=True)[0]
    write_cog(read_raster(appended), UPath(tmp_path / "cog.tif"))
    assert is_cog(tmp_path / "cog.tif") and cog_validate(str(tmp_path / "cog.tif"), strict=True)[0]


# ------------------------------------------------------------------ CogWriter (written once)

def _speckled(shape, seed=3) -> np.ndarray:
    """dB-like float32 bands with NaN borders and holes (what the chain writes)."""
    rng = np.random.default_rng(seed)
    data = (10 * np.log10(rng.gamma(4.4, 0.05 / 4.4, size=shape))).astype("float32")
    data[:, :37] = np.nan
    data[:, :, -11:] = np.nan
    data[:, 300:340, 200:260] = np.nan
    data[:, 500, 500] = np.nan
    return data


@pytest.mark.parametrize("in_memory", [False, True])
def test_cog_writer_output_is_a_valid_cog(tmp_path: Path, in_memory: bool) -> None:
    """rio-cogeo's validator (the reference check of the COG layout) accepts the output, its
    tiles encoded as they came (several float bands) and kept on disk or in memory; the staging
    folder is removed once the COG is published."""
    from rio_cogeo.cogeo import cog_validate

    from ben_sen1_assets.formats.cog_writer import CogWriter

    data = _speckled((2, 1301, 1107))
    # 15.13 MB staged (1301 × 1107, 651 × 554 and 326 × 277 px, 2 float32 bands)
    with CogWriter(UPath(tmp_path / "c.tif"), 1301, 1107, 2, "float32", 32632, TRANSFORM, band_names=("VV", "VH"),
                   tags={"a": "1"}, memory_stage_mb=16 if in_memory else 15) as w:
        assert w.staged_in_memory == in_memory
        for r in range(0, 1301, 300):
            w.write(data[:, r : r + 300])
        w.tags["b"] = "2"
        assert w.encodes_tiles and (w._stage is None) == in_memory
        stage = Path(w._stage) if not in_memory else None
        if not in_memory:  # one file of encoded tiles per band and level, in the staging folder
            assert sorted(p.name for p in stage.iterdir()) == [f"level{k}.b{b}" for k in range(3) for b in range(2)]
    valid, errors, warnings = cog_validate(str(tmp_path / "c.tif"), strict=True)
    assert valid and not errors and not warnings, (errors, warnings)
    with rasterio.open(tmp_path / "c.tif") as src:
        np.testing.assert_array_equal(src.read(), data)  # lossless, bit for bit
        assert src.descriptions == ("VV", "VH") and src.tags()["a"] == "1" and src.tags()["b"] == "2"
        assert src.crs.to_epsg() == 32632 and src.transform == TRANSFORM
        structure = src.tags(ns="IMAGE_STRUCTURE")
        # several float bands: band-interleaved (GDAL 3.10 writes its LAYOUT=COG hint for pixel
        # interleave only: the layout is what cog_validate checked above, and is_cog below)
        assert structure["INTERLEAVE"] == "BAND" and structure["COMPRESSION"] == "ZSTD" and structure["PREDICTOR"] == "3"
        assert is_cog(tmp_path / "c.tif")
        assert src.block_shapes == [(512, 512)] * 2
        assert src.overviews(1) == [2, 4]  # 1301 → 651 → 326 px
    assert not list(tmp_path.glob(".*"))  # no staging file left beside the output
    if in_memory:
        return
    for _ in range(600):  # the private staging folder is removed after publishing, in the background
        if not stage.exists():
            break
        time.sleep(0.05)
    assert not stage.exists()


@pytest.mark.parametrize(("block_rows", "memory_stage_mb"), [(1, 256), (7, 0), (256, 256), (4000, 0)])
def test_cog_writer_overviews_equal_gdal_average(tmp_path: Path, block_rows: int, memory_stage_mb: float) -> None:
    """Our overviews equal GDAL's AVERAGE overviews of the same full-resolution image (peer), for
    any block height (odd blocks carry their last row to the next one), staged in memory or on disk."""
    from rasterio.enums import Resampling

    from ben_sen1_assets.formats.cog_writer import CogWriter, overview_shapes

    data = _speckled((2, 1100, 1024), seed=5)
    with CogWriter(UPath(tmp_path / "ours.tif"), 1100, 1024, 2, "float32", 32632, TRANSFORM,
                   memory_stage_mb=memory_stage_mb) as w:
        for r in range(0, 1100, block_rows):
            w.write(data[:, r : r + block_rows])
    gdal = tmp_path / "gdal.tif"
    with rasterio.open(gdal, "w", driver="GTiff", width=1024, height=1100, count=2, dtype="float32", crs="EPSG:32632",
                       transform=TRANSFORM, nodata=float("nan"), tiled=True) as dst:
        dst.write(data)
        dst.build_overviews([2, 4], Resampling.average)
    assert overview_shapes(1100, 1024) == [(550, 512), (275, 256)]
    for level, shape in enumerate(overview_shapes(1100, 1024)):
        with rasterio.open(tmp_path / "ours.tif", overview_level=level) as a, rasterio.open(gdal, overview_level=level) as b:
            x, y = a.read(), b.read()
        assert x.shape[1:] == y.shape[1:] == shape
        assert np.array_equal(np.isnan(x), np.isnan(y))
        np.testing.assert_allclose(x, y, rtol=2e-7, atol=0, equal_nan=True)  # float32 rounding of the mean


def test_cog_writer_publishes_nothing_on_error(tmp_path: Path) -> None:
    from ben_sen1_assets.formats.cog_writer import CogWriter

    target = tmp_path / "out.tif"
    with pytest.raises(ValueError, match="of shape"):
        with CogWriter(UPath(target), 100, 100, 2, "float32", 32632, TRANSFORM) as w:
            w.write(np.zeros((2, 50, 100), "float32"))
            w.write(np.zeros((2, 50, 99), "float32"))
    with pytest.raises(ValueError, match="50 of 100 rows"):
        with CogWriter(UPath(target), 100, 100, 1, "float32", 32632, TRANSFORM) as w:
            w.write(np.zeros((1, 50, 100), "float32"))
    assert not list(tmp_path.iterdir())


def test_cog_writer_categorical_band_overviews_take_the_top_left_pixel(tmp_path: Path) -> None:
    """A band of codes/bits (``categorical``) is not averaged: each overview level holds the
    top-left pixel of every 2 × 2 cell of the level below; the other bands are still averaged."""
    from ben_sen1_assets.formats.cog_writer import CogWriter, overview_shapes

    data = _speckled((2, 1100, 1024), seed=7)
    data[1] = np.random.default_rng(7).integers(0, 128, size=(1100, 1024)).astype("float32")  # bit masks
    with CogWriter(UPath(tmp_path / "c.tif"), 1100, 1024, 2, "float32", 32632, TRANSFORM, categorical=(1,)) as w:
        for r in range(0, 1100, 333):  # odd block heights: the carried row keeps the pattern
            w.write(data[:, r : r + 333])
    expected = data[1]
    for level, shape in enumerate(overview_shapes(1100, 1024)):
        expected = expected[::2, ::2]
        with rasterio.open(tmp_path / "c.tif", overview_level=level) as src:
            codes, means = src.read(2), src.read(1)
        assert codes.shape == shape
        np.testing.assert_array_equal(codes, expected)
        assert np.nanmax(means) < 10 and not np.array_equal(means, np.round(means))  # dB means, not picks


@pytest.mark.parametrize("memory_stage_mb", [0, 256])
def test_cog_writer_error_in_its_thread_is_raised_and_nothing_is_published(tmp_path: Path,
                                                                           memory_stage_mb: float) -> None:
    """Blocks are staged in the writer's thread: a failure there (here: a staged level closed
    under it) is raised by the next call, and no output appears, nor staging files (on disk or
    in memory). One float band: GDAL stages and encodes it."""
    from ben_sen1_assets.formats.cog_writer import CogWriter

    target = tmp_path / "out.tif"
    with pytest.raises(Exception, match="closed"):
        with CogWriter(UPath(target), 1100, 1024, 1, "float32", 32632, TRANSFORM, memory_stage_mb=memory_stage_mb) as w:
            assert not w.encodes_tiles
            stage = w._stage
            staged = [level.dataset.name for level in w._levels]
            w._levels[1].dataset.close()
            w.write(np.zeros((1, 550, 1024), "float32"))
            w.write(np.zeros((1, 550, 1024), "float32"))
    assert not list(tmp_path.iterdir()) and (stage is None) == bool(memory_stage_mb)
    if stage is not None:
        assert not stage.exists()
    for name in staged:
        with pytest.raises(rasterio.errors.RasterioIOError):
            rasterio.open(name)


def test_cog_writer_error_while_encoding_tiles_is_raised_and_nothing_is_published(tmp_path: Path) -> None:
    """Several float bands, tiles encoded into the staging folder: a failure in the writer's
    thread (a band's file of encoded tiles closed under it) is raised by the next call; no output
    appears and the staging folder is removed."""
    from ben_sen1_assets.formats.cog_writer import CogWriter

    target = tmp_path / "out.tif"
    with pytest.raises(ValueError, match="closed file"):
        with CogWriter(UPath(target), 1100, 1024, 2, "float32", 32632, TRANSFORM, memory_stage_mb=0) as w:
            stage = w._stage
            w._levels[0].segments[1]._file.close()
            w.write(np.zeros((2, 550, 1024), "float32"))
            w.write(np.zeros((2, 550, 1024), "float32"))
    assert not list(tmp_path.iterdir()) and stage is not None and not stage.exists()


def test_cog_writer_stages_in_memory_up_to_its_budget(tmp_path: Path) -> None:
    """The same COG, bit for bit, staged in memory or on disk; the budget counts every level."""
    from ben_sen1_assets.formats.cog_writer import CogWriter

    data = _speckled((3, 1100, 1024), seed=9)
    # 1100 × 1024 + 550 × 512 + 275 × 256 px × 3 bands × 4 bytes = 17.74 MB staged
    for name, budget, in_memory in [("disk.tif", 17.7, False), ("memory.tif", 17.8, True)]:
        with CogWriter(UPath(tmp_path / name), 1100, 1024, 3, "float32", 32632, TRANSFORM,
                       memory_stage_mb=budget) as w:
            assert w.staged_in_memory == in_memory and (w._stage is None) == in_memory
            for r in range(0, 1100, 256):
                w.write(data[:, r : r + 256])
    assert (tmp_path / "memory.tif").read_bytes() == (tmp_path / "disk.tif").read_bytes()
