"""DEM sources: local GeoTIFF in any CRS, Copernicus GLO-30 (S3 on moto, cached), constant, gaps."""

from __future__ import annotations

import logging

import numpy as np
import pyproj
import pytest
import rasterio
from affine import Affine
from rasterio.warp import Resampling, calculate_default_transform, reproject
from scipy import ndimage

from ben_sen1_assets.sar.dem import (
    ConstantDem,
    DemError,
    DemGapError,
    DemTileMissingError,
    Glo30Dem,
    LocalDem,
    glo30_tile_name,
    glo30_tiles_for,
)
from ben_sen1_assets.sar.geocoding import RasterGrid

from .geometry_fixtures import ROME_DEM

UTM33 = pyproj.CRS.from_epsg(32633)


def _rome():
    with rasterio.open(ROME_DEM) as ds:
        return ds.read(1), ds.transform, ds.profile


def _utm_grid(size: int = 400, res: float = 10.0, centre=(12.5, 42.0)) -> RasterGrid:
    """An S2-like 10 m UTM 33N grid (corner on whole metres) centred on ``centre``."""
    x, y = pyproj.Transformer.from_crs(4326, UTM33, always_xy=True).transform(*centre)
    half = size * res / 2
    return RasterGrid(UTM33, Affine(res, 0, round(x - half), 0, -res, round(y + half)), (size, size))


def _reference_on(grid: RasterGrid) -> np.ndarray:
    """rasterio.warp.reproject (bilinear) of the Rome DEM onto ``grid``: the peer reference."""
    raw, transform, profile = _rome()
    out = np.full(grid.shape, np.nan, np.float32)
    reproject(raw.astype(np.float32), out, src_transform=transform, src_crs="EPSG:4326", src_nodata=profile["nodata"],
              dst_transform=grid.transform, dst_crs=UTM33, dst_nodata=np.nan, resampling=Resampling.bilinear)
    return out


def test_local_dem_states_datum_and_reads_its_own_grid_exactly():
    dem = LocalDem(ROME_DEM)
    assert dem.vertical_datum == "EGM96"  # from EPSG:9707 = WGS84 + EGM96 height
    raw, transform, _ = _rome()
    out = dem.read(RasterGrid(pyproj.CRS.from_epsg(4326), transform, raw.shape))
    assert out.heights.dtype == np.float32 and out.vertical_datum == "EGM96"
    np.testing.assert_array_equal(out.heights, raw.astype(np.float32))


def test_local_dem_in_another_crs(tmp_path):
    """The Rome DEM reprojected to UTM 33N (30 m, bilinear) and read back onto the DEM's own
    lon/lat grid: heights agree with the original within 1.5 m mean / 25 m max (two bilinear
    resamplings of 30 m terrain with 5–115 m relief)."""
    raw, transform, profile = _rome()
    dst_t, w, h = calculate_default_transform("EPSG:4326", UTM33, raw.shape[1], raw.shape[0],
                                              *rasterio.transform.array_bounds(*raw.shape, transform), resolution=30)
    utm = np.full((h, w), -9999, np.float32)
    reproject(raw.astype(np.float32), utm, src_transform=transform, src_crs="EPSG:4326", src_nodata=-32768,
              dst_transform=dst_t, dst_crs=UTM33, dst_nodata=-9999, resampling=Resampling.bilinear)
    path = tmp_path / "rome_utm33.tif"
    with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=1, dtype="float32",
                       crs=UTM33.to_wkt(), transform=dst_t, nodata=-9999) as ds:
        ds.write(utm, 1)
    with pytest.raises(DemError, match="vertical_datum"):
        LocalDem(path)  # a 2-D CRS does not say which heights these are
    dem = LocalDem(path, vertical_datum="EGM96")
    inner = RasterGrid(pyproj.CRS.from_epsg(4326), transform @ Affine.translation(20, 20), (320, 320))
    back = dem.read(inner).heights
    d = np.abs(back - raw[20:340, 20:340])
    assert d.mean() < 1.5 and d.max() < 25, (d.mean(), d.max())
    # and onto a 10 m UTM grid it equals rasterio's own reprojection of the same file
    grid = _utm_grid(300)
    np.testing.assert_allclose(LocalDem(ROME_DEM).read(grid).heights, _reference_on(grid), atol=1e-3)


def test_gap_policies(tmp_path):
    big = _utm_grid(size=1000, res=20.0)  # 20 km: wider than the 11 km Rome DEM
    with pytest.raises(DemGapError, match="fill='nearest'"):
        LocalDem(ROME_DEM).read(big)
    ref = _reference_on(big)
    # GDAL's warpers (WarpedVRT vs reproject) may differ on the DEM's edge pixels: compare
    # 2 px away from the edge, on either side
    core = ndimage.binary_erosion(np.isfinite(ref), iterations=2)
    outside = ~ndimage.binary_dilation(np.isfinite(ref), iterations=2)
    assert core.sum() > 1000 and outside.sum() > 1000
    zero = LocalDem(ROME_DEM, fill="constant:0").read(big).heights
    assert np.all(zero[outside] == 0) and np.allclose(zero[core], ref[core], atol=1.0)
    near = LocalDem(ROME_DEM, fill="nearest").read(big).heights
    assert np.all(np.isfinite(near)) and np.allclose(near[core], ref[core], atol=1.0)
    assert 5 <= near[outside].min() and near[outside].max() <= 115  # copied from the DEM's heights
    # a nodata hole inside the DEM is a gap too
    raw, transform, profile = _rome()
    holed = raw.copy()
    holed[150:170, 150:170] = profile["nodata"]
    path = tmp_path / "holed.tif"
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(holed, 1)
    own = RasterGrid(pyproj.CRS.from_epsg(4326), transform, raw.shape)
    with pytest.raises(DemGapError, match="have no DEM height"):
        LocalDem(path).read(own)
    with pytest.raises(DemError, match="fill policy"):
        LocalDem(ROME_DEM, fill="zero")


def test_read_grown_halo_beyond_the_dem():
    """A window inside the Rome DEM with a halo reaching past it: the window equals a plain read
    (the peer reprojection away from the DEM's edge), the halo's gaps stay NaN under
    fill='error' (no exception: terrain outside the window only shades or folds onto it) and
    are filled under 'nearest' (flagged as filled); a gap inside the window still raises."""
    from rasterio.windows import Window

    big = _utm_grid(size=1200, res=10.0)  # 12 km: wider than the ~11 km Rome DEM
    ref = _reference_on(big)
    ok = ndimage.binary_erosion(np.isfinite(ref), iterations=3)
    r0 = 525  # mid-height; the first column where a 200 × 150 window lies wholly inside the DEM
    c0 = next(c for c in range(1000) if ok[r0 : r0 + 150, c : c + 200].all())
    window = Window(c0, r0, 200, 150)
    halo_rows, halo_cols = 32, 64
    heights, filled, datum = LocalDem(ROME_DEM).read_grown(big, window, halo_rows, halo_cols)
    assert heights.shape == (150 + 64, 200 + 128) and datum == "EGM96"
    inner = heights[32:-32, 64:-64]
    # GDAL approximates the warp transformation within 0.01 DEM px over the warped extent:
    # another extent moves heights by a few cm on slopes
    np.testing.assert_allclose(inner, LocalDem(ROME_DEM).read(big, window).heights, atol=0.1)
    grown = RasterGrid(UTM33, big.transform @ Affine.translation(c0 - 64, r0 - 32), heights.shape)
    expected = _reference_on(grown)
    core = ndimage.binary_erosion(np.isfinite(expected), iterations=2)
    assert (~np.isfinite(heights)).sum() > 1000 and not filled.any()  # halo past the DEM: NaN
    np.testing.assert_allclose(heights[core], expected[core], atol=1e-3)
    near, near_filled, _ = LocalDem(ROME_DEM, fill="nearest").read_grown(big, window, halo_rows, halo_cols)
    assert np.isfinite(near).all() and np.array_equal(near_filled, ~np.isfinite(heights))
    outside = Window(5, 5, 50, 50)  # the grid's corner lies outside the DEM
    with pytest.raises(DemGapError, match="have no DEM height"):
        LocalDem(ROME_DEM).read_grown(big, outside, 16, 16)


def test_constant_dem_only_when_asked():
    grid = _utm_grid(10)
    out = ConstantDem(120.5, vertical_datum="EGM96").read(grid)
    assert out.vertical_datum == "EGM96" and np.all(out.heights == np.float32(120.5))
    assert ConstantDem(0.0).vertical_datum == "ellipsoid"
    with pytest.raises(DemError):
        ConstantDem(float("nan"))


def test_glo30_tile_names():
    assert glo30_tile_name(41, 12) == "Copernicus_DSM_COG_10_N41_00_E012_00_DEM"
    assert glo30_tile_name(-26, 32) == "Copernicus_DSM_COG_10_S26_00_E032_00_DEM"
    assert glo30_tile_name(-1, -1) == "Copernicus_DSM_COG_10_S01_00_W001_00_DEM"
    names = [n for _, _, n in glo30_tiles_for((11.5, 41.2, 13.01, 42.0))]
    assert names == [glo30_tile_name(41, 11), glo30_tile_name(41, 12), glo30_tile_name(41, 13)]
    # a bound exactly on a degree line does not pull in the next tile
    assert [n for _, _, n in glo30_tiles_for((12.0, 41.0, 13.0, 42.0))] == [glo30_tile_name(41, 12)]


# ------------------------------------------------------------------ GLO-30 on a moto S3 server

TILE = "Copernicus_DSM_COG_10_N41_00_E012_00_DEM"


@pytest.fixture(scope="module")
def moto_endpoint():
    """One moto S3 server on 127.0.0.1 for this module."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture()
def glo30_bucket(moto_endpoint, tmp_path):
    """moto S3 on 127.0.0.1 with bucket copernicus-dem-30m holding one GLO-30-named COG.

    The tile is the Rome DEM (its own extent only, float32, EPSG:4326 like GLO-30) written as a
    COG under the real key layout ``<name>/<name>.tif``; real GLO-30 tiles span 1°×1°.
    """
    import boto3

    endpoint = moto_endpoint
    raw, transform, profile = _rome()
    cog = tmp_path / "cog.tif"
    with rasterio.open(cog, "w", driver="COG", width=raw.shape[1], height=raw.shape[0], count=1,
                       dtype="float32", crs="EPSG:4326", transform=transform, nodata=-32767.0) as ds:
        ds.write(np.where(raw == profile["nodata"], -32767.0, raw).astype(np.float32), 1)
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="eu-central-1",
                      aws_access_key_id="test", aws_secret_access_key="test")
    # a fresh bucket per test (moto's state is per process: only touch our own bucket)
    if "copernicus-dem-30m" in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        for obj in s3.list_objects_v2(Bucket="copernicus-dem-30m").get("Contents", []):
            s3.delete_object(Bucket="copernicus-dem-30m", Key=obj["Key"])
        s3.delete_bucket(Bucket="copernicus-dem-30m")
    s3.create_bucket(Bucket="copernicus-dem-30m", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    # public-read like the real bucket: our client reads anonymously
    s3.upload_file(str(cog), "copernicus-dem-30m", f"{TILE}/{TILE}.tif", ExtraArgs={"ACL": "public-read"})
    return endpoint, s3


def _glo30(endpoint, store, **kw) -> Glo30Dem:
    return Glo30Dem(store, url="s3://copernicus-dem-30m",
                    storage_options={"anon": True, "client_kwargs": {"endpoint_url": endpoint}}, **kw)


def _tile_gets(caplog) -> int:
    """GET requests for the tile in moto's server log (werkzeug)."""
    return sum(1 for r in caplog.records if "GET /copernicus-dem-30m/" + TILE in r.getMessage())


def test_glo30_reads_anonymously_caches_and_reuses(glo30_bucket, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="werkzeug")
    endpoint, s3 = glo30_bucket
    store = tmp_path / "store"
    grid = _utm_grid(300, centre=(12.5, 41.98))  # inside the Rome extent and tile N41 E012
    dem = _glo30(endpoint, store)
    assert dem.vertical_datum == "EGM2008"
    out = dem.read(grid)
    first_gets = _tile_gets(caplog)
    assert first_gets >= 1
    dem.read(grid)  # same instance, same store: no request at all
    assert _tile_gets(caplog) == first_gets
    np.testing.assert_allclose(out.heights, _reference_on(grid), atol=1e-3)
    cached = store / f"{TILE}.tif"
    assert cached.exists() and not list(store.glob("*.part"))
    mtime = cached.stat().st_mtime_ns
    # prove the second read is served from the store: the object is gone from the bucket
    s3.delete_object(Bucket="copernicus-dem-30m", Key=f"{TILE}/{TILE}.tif")
    again = _glo30(endpoint, store).read(grid)
    np.testing.assert_array_equal(again.heights, out.heights)
    assert _tile_gets(caplog) == first_gets
    assert cached.stat().st_mtime_ns == mtime
    # while a fresh store must fetch it, and now it is gone: N41 E012 is not open sea, but the
    # client cannot tell — a missing tile is an error unless the sea policy says otherwise
    with pytest.raises(DemTileMissingError, match=TILE):
        _glo30(endpoint, tmp_path / "fresh").read(grid)


def test_glo30_missing_tile_is_sea_only_by_policy(glo30_bucket, tmp_path):
    endpoint, _ = glo30_bucket
    sea_grid = _utm_grid(50, centre=(11.5, 41.5))  # tile N41 E011 is not in the bucket
    with pytest.raises(DemTileMissingError, match="sea='sea_level'"):
        _glo30(endpoint, tmp_path / "s1").read(sea_grid)
    out = _glo30(endpoint, tmp_path / "s2", sea="sea_level").read(sea_grid)
    assert np.all(out.heights == 0.0)
    # a present tile with no data under the grid is a DEM gap (fill policy), not sea
    outside_rome = _utm_grid(50, centre=(12.8, 41.5))
    with pytest.raises(DemGapError):
        _glo30(endpoint, tmp_path / "s3", sea="sea_level").read(outside_rome)


def test_glo30_over_https_layout_on_a_loopback_http_server(tmp_path):
    """The HTTPS form (``https://copernicus-dem-30m.s3.amazonaws.com/<name>/<name>.tif``) served by
    a plain HTTP server on 127.0.0.1 with the same key layout; a 404 is a missing (sea) tile."""
    import functools
    import http.server
    import threading

    root = tmp_path / "www"
    (root / TILE).mkdir(parents=True)
    raw, transform, profile = _rome()
    with rasterio.open(root / TILE / f"{TILE}.tif", "w", driver="COG", width=raw.shape[1], height=raw.shape[0],
                       count=1, dtype="float32", crs="EPSG:4326", transform=transform, nodata=-32767.0) as ds:
        ds.write(np.where(raw == profile["nodata"], -32767.0, raw).astype(np.float32), 1)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        grid = _utm_grid(200, centre=(12.5, 41.98))
        out = Glo30Dem(tmp_path / "store", url=url).read(grid)
        np.testing.assert_allclose(out.heights, _reference_on(grid), atol=1e-3)
        assert (tmp_path / "store" / f"{TILE}.tif").exists()
        sea = Glo30Dem(tmp_path / "store", url=url, sea="sea_level").read(_utm_grid(50, centre=(11.5, 41.5)))
        assert np.all(sea.heights == 0)
    finally:
        server.shutdown()
        server.server_close()


def test_nearest_else_constant_fill():
    from ben_sen1_assets.sar.dem import fill_gaps

    partly = np.array([[10.0, np.nan], [np.nan, np.nan]], dtype=np.float32)
    np.testing.assert_array_equal(fill_gaps(partly, "nearest_else_constant:500", "t"), np.full((2, 2), 10.0))
    empty = np.full((2, 2), np.nan, dtype=np.float32)
    np.testing.assert_array_equal(fill_gaps(empty, "nearest_else_constant:500", "t"), np.full((2, 2), 500.0))
