import ast
import math
import warnings
from pathlib import Path

import mgrs
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
from rasterio.crs import CRS

from ben_sen1_assets.data.bigearthnet import derive
from ben_sen1_assets.grid import GridError, TileGrid, tile_grid

ROWS = "ABCDEFGHJKLMNPQRSTUV"
BANDS = "CDEFGHJKLMNPQRSTUVWX"


def _reference_sw_corner(tile: str) -> tuple[float, float]:
    """Independent oracle: the MGRS 100 km square's SW corner from the lettering definition
    (column sets A-H / J-R / S-Z by zone mod 3, row letters offset by 5 in even zones), the
    2000 km row ambiguity resolved with pyproj so the square touches the latitude band."""
    zone, band, col, row = int(tile[:2]), tile[2], tile[3], tile[4]
    cols = ["STUVWXYZ", "ABCDEFGH", "JKLMNPQR"][zone % 3]
    e = (cols.index(col) + 1) * 100_000.0
    n_mod = ((ROWS.index(row) - (5 if zone % 2 == 0 else 0)) % 20) * 100_000.0
    lo = -80.0 + 8 * BANDS.index(band)
    hi = 84.0 if band == "X" else lo + 8
    north = band >= "N"
    tr = pyproj.Transformer.from_crs((32600 if north else 32700) + zone, 4326, always_xy=True)
    hits = []
    for k in range(6):
        n = n_mod + 2_000_000.0 * k
        xs = np.linspace(e, e + 100_000, 11)
        _, lat_b = tr.transform(xs, np.full(11, n))
        _, lat_t = tr.transform(xs, np.full(11, n + 100_000))
        if max(lat_t) > lo and min(lat_b) < hi:
            hits.append(n)
    assert len(hits) == 1, (tile, hits)
    return e, hits[0]


def _expected_ul(e: float, n: float) -> tuple[float, float]:
    return math.floor(e / 60) * 60.0, math.ceil((n + 100_000) / 60) * 60.0


def test_all_bigearthnet_tiles_match_shipped_bounds_exactly(shipped_data):
    with (shipped_data / "bigearthnet" / "tiles.csv").open("rb") as f:
        tiles = pd.read_csv(f)
    per_tile = tiles.drop_duplicates("mgrs")
    assert len(per_tile) == 56
    for r in per_tile.itertuples():
        t = tile_grid(r.mgrs)
        assert t.epsg == r.epsg, r.mgrs
        assert t.bounds == (r.ulx, r.lry, r.lrx, r.uly), r.mgrs
    # every product of a tile carries the same bounds
    assert (tiles.groupby("mgrs")[["ulx", "uly", "lrx", "lry", "epsg"]].nunique() == 1).all().all()


def test_derivation_copies_bounds_from_source_not_from_grid_rule(tmp_path, shipped_data):
    # the script must not use our own rule: it does not import ben_sen1_assets.grid ...
    tree = ast.parse(Path(derive.__file__).read_text())
    imported = {
        n.module if isinstance(n, ast.ImportFrom) else a.name
        for n in ast.walk(tree)
        if isinstance(n, (ast.Import, ast.ImportFrom))
        for a in (n.names if isinstance(n, ast.Import) else [n])
    }
    assert not any(m and m.startswith("ben_sen1_assets") for m in imported)
    # ... and copies whatever the source says (here deliberately wrong values)
    with (shipped_data / "bigearthnet" / "tiles.csv").open("rb") as f:
        t = pd.read_csv(f).head(3)
    src = pd.DataFrame(
        {
            "l1c_product_name": t["l1c_name"],
            "mgrs_tile": t["mgrs"],
            "sensing_time": t["sensing_time"].str.removesuffix("Z"),
            "s2_relative_orbit": t["s2_relative_orbit"],
            "v1_patch_prefixes": t["v1_prefixes"] + ":1",
            "v2_patch_prefix": t["v2_prefix"],
            "cdse_id": t["cdse_id"],
            "epsg": 32601,
            "ulx": [1, 2, 3],
            "uly": [4, 5, 6],
            "lrx": [7, 8, 9],
            "lry": [10, 11, 12],
            "n_patches_v1": 1,
            "n_patches_v2": 1,
            "in_reben": True,
            "country_v2": "X:1",
            "countries_of_mgrs_tile_v2": "X",
        }
    )
    src.to_csv(tmp_path / "bigearthnet_s2_tiles.csv", index=False)
    out = derive.derive_tiles(tmp_path)
    assert out["ulx"].tolist() == [1, 2, 3] and out["lry"].tolist() == [10, 11, 12]
    assert set(out["epsg"]) == {32601}


@pytest.mark.parametrize(
    "mgrs_id, ul",
    [("33UUP", (300000, 5400000)), ("29UPU", (600000, 5900040)), ("34VER", (499980, 7100040))],
)
def test_domain_examples(mgrs_id, ul):
    t = tile_grid(mgrs_id)
    assert (t.ulx, t.uly) == ul
    assert t.bounds == (ul[0], ul[1] - 109800, ul[0] + 109800, ul[1])
    assert t.shape == (10980, 10980) and t.width_m == 109800
    assert t.transform.a == 10 and t.transform.e == -10
    assert (t.transform.c, t.transform.f) == ul
    assert t.transform @ (10980, 10980) == (t.lrx, t.lry)
    assert t.crs == CRS.from_epsg(t.epsg)


def test_svalbard_tile_matches_esa_kml_value():
    # ESA S2 tiling-grid KML geometry of 33XVP, quoted in SAR-ARD/s1ard issue #38:
    # POLYGON ((399960 9400020, 399960 9290220, 509760 9290220, 509760 9400020, ...))
    t = tile_grid("33XVP")
    assert (t.ulx, t.uly, t.lrx) == (399960, 9400020, 509760) and t.epsg == 32633


@pytest.mark.parametrize(
    "mgrs_id, epsg",
    [
        ("36KWD", 32736),  # southern hemisphere
        ("55HBU", 32755),
        ("01CCV", 32701),
        ("23MKS", 32723),  # just south of the equator
        ("32VNM", 32632),  # 32V
        ("32VKM", 32632),  # 32V extended west (Norway exception)
        ("31VEJ", 32631),  # 31V square rejected by GeoTrans (exception), geometry still defined
        ("33XWG", 32633),  # Svalbard
        ("31XEA", 32631),
        ("37XEA", 32637),
        ("32XNG", 32632),  # Svalbard exception zone (no MGRS 32X), geometry still defined
        ("33UUP", 32633),
        ("60XWG", 32660),
    ],
)
def test_corner_and_epsg_against_independent_mgrs_definition(mgrs_id, epsg):
    t = tile_grid(mgrs_id)
    assert t.epsg == epsg
    assert (t.ulx, t.uly) == _expected_ul(*_reference_sw_corner(mgrs_id))


@pytest.mark.parametrize("mgrs_id", ["36KWD", "55HBU", "23MKS", "34VER", "33TTG", "01KFB"])
def test_tile_centre_maps_back_to_tile_id(mgrs_id):
    # independent path: pyproj to lon/lat, then mgrs' geodetic->MGRS conversion
    t = tile_grid(mgrs_id)
    lon, lat = pyproj.Transformer.from_crs(t.epsg, 4326, always_xy=True).transform(*t.centre)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert mgrs.MGRS().toMGRS(lat, lon, MGRSPrecision=0) == mgrs_id


def test_southern_corner_from_pyproj_transform_of_mgrs_corner():
    # geodetic SW corner from mgrs, projected with pyproj into EPSG:32736 (false northing 10^7)
    lat, lon = mgrs.MGRS().toLatLon("36KWD0000000000")
    e, n = pyproj.Transformer.from_crs(4326, 32736, always_xy=True).transform(lon, lat)
    assert abs(e - 500000.5) < 0.01 and abs(n - 7800000.5) < 0.01
    t = tile_grid("36KWD")
    assert (t.ulx, t.uly) == _expected_ul(math.floor(e), math.floor(n)) == (499980, 7900020)


@pytest.mark.parametrize(
    "bad, fragment",
    [
        ("33UIP", "malformed"),
        ("3UU", "malformed"),
        ("33UUPX", "malformed"),
        ("", "malformed"),
        ("99UUP", "zone 99"),
        ("00UUP", "zone 0"),
        ("33VUU", "outside latitude band V"),
        ("33UUN", "not a valid 100 km square"),
        ("33YUP", "malformed"),
    ],
)
def test_bad_ids(bad, fragment):
    with pytest.raises(GridError) as exc:
        tile_grid(bad)
    assert fragment in str(exc.value)
    assert repr(bad) in str(exc.value)


def test_t_prefix_and_case_accepted():
    assert tile_grid("T33uup") == tile_grid("33UUP") == TileGrid("33UUP", 32633, 300000.0, 5400000.0)


@pytest.mark.parametrize("mgrs_id", ["33UUP", "36KWD", "34VER", "33XWG"])
def test_footprint_follows_utm_square(mgrs_id):
    t = tile_grid(mgrs_id)
    fp = t.footprint_wgs84(densify_m=1000)
    assert fp.geom_type == "Polygon" and fp.is_valid
    tr = pyproj.Transformer.from_crs(t.epsg, 4326, always_xy=True)
    assert fp.contains(shapely.Point(tr.transform(*t.centre)))
    # points on the edges, between densification vertices: on the boundary within ~1 cm
    rng = np.random.default_rng(0)
    s = rng.uniform(0, 109800, 40)
    left, bottom, right, top = t.bounds
    xs = np.concatenate([left + s[:10], np.full(10, right), left + s[20:30], np.full(10, left)])
    ys = np.concatenate([np.full(10, top), bottom + s[10:20], np.full(10, bottom), bottom + s[30:]])
    lon, lat = tr.transform(xs, ys)
    d = shapely.distance(fp.boundary, shapely.points(lon, lat))
    assert d.max() < 2e-6  # degrees (< 25 cm): chords of 1 km follow the curved edges
    # points 50 m inside are inside, 50 m outside are outside
    lon_in, lat_in = tr.transform([left + 50, right - 50], [top - 50, bottom + 50])
    lon_out, lat_out = tr.transform([left - 50, right + 50], [top + 50, bottom - 50])
    assert fp.contains(shapely.points(lon_in, lat_in)).all()
    assert not fp.intersects(shapely.points(lon_out, lat_out)).any()


def test_footprint_antimeridian_split_and_unwrapped():
    t = tile_grid("60XWG")  # zone 60 square reaching past 180°E
    fp = t.footprint_wgs84()
    assert fp.geom_type == "MultiPolygon" and len(fp.geoms) == 2
    minx, _, maxx, _ = fp.bounds
    assert minx == -180 and maxx == 180
    raw = t.footprint_wgs84(split_antimeridian=False)
    assert raw.geom_type == "Polygon" and raw.bounds[2] > 180
    # a point east of the antimeridian, in the tile, is inside the split footprint
    tr = pyproj.Transformer.from_crs(t.epsg, 4326, always_xy=True)
    lon, lat = tr.transform(t.lrx - 1000, t.centre[1])
    assert lon < 0 and fp.contains(shapely.Point(lon, lat))
    lon, lat = tr.transform(t.ulx + 1000, t.centre[1])
    assert lon > 0 and fp.contains(shapely.Point(lon, lat))


def test_window_for_bounds():
    t = tile_grid("33UUP")
    w = t.window_for_bounds(300005, 5399000, 301000, 5400000)
    assert (w.col_off, w.row_off, w.width, w.height) == (0, 0, 100, 100)
