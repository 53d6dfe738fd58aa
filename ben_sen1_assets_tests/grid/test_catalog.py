import csv
import json
from datetime import datetime, timezone

import pandas as pd
import pyproj
import pytest
import rasterio
import shapely

from ben_sen1_assets.grid.patches import patches_in_aoi
from ben_sen1_assets.grid import patch_bounds, tile_grid
from ben_sen1_assets.grid.catalog import (
    CatalogError,
    TileCatalog,
    TileEntry,
    bigearthnet_labels_v2,
    bigearthnet_patch_table,
    load_bigearthnet_catalog,
    load_catalog_file,
    load_demo_catalog,
)

ROME_AOI = "POLYGON((12.45 41.95, 12.55 41.95, 12.55 42.05, 12.45 42.05, 12.45 41.95))"


def _write(tmp_path, rows, header=("mgrs", "sensing_time", "patches", "aoi_wkt", "name")):
    p = tmp_path / "cat.csv"
    with p.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return p


# --- BigEarthNet ------------------------------------------------------------------------------


def test_bigearthnet_catalog_has_125_unique_keys(shipped_data):
    cat = load_bigearthnet_catalog()
    assert len(cat) == 125 and len(set(cat.keys())) == 125
    with (shipped_data / "bigearthnet" / "tiles.csv").open("rb") as f:
        tiles = pd.read_csv(f)
    assert sorted(cat.keys()) == sorted(tiles["partition_key"])
    e = cat.get("33UUP_20170613")
    assert e.mgrs == "33UUP" and e.epsg == 32633
    assert e.sensing_time == datetime(2017, 6, 13, 10, 10, 31, tzinfo=timezone.utc)
    assert e.l1c_name == "S2A_MSIL1C_20170613T101031_N0205_R022_T33UUP_20170613T101608"
    assert e.cdse_id == "f602623e-fd82-5a53-ba09-b05ce085e40c"
    assert e.source == "bigearthnet" and e.aoi_wgs84 is None
    assert sum(x.n_patches for x in cat) == 590_326  # all v1 patches
    assert dict(zip(tiles["partition_key"], tiles["n_patches_v1"]))["33UUP_20170613"] == e.n_patches
    with pytest.raises(CatalogError, match="'33UUP_20990101' not in catalog bigearthnet"):
        cat.get("33UUP_20990101")


def test_bigearthnet_patch_table_against_reben_sample_rows(examples_dir):
    sample = pd.read_csv(examples_dir / "reben_metadata_sample.csv")
    checked = 0
    labels = set(bigearthnet_labels_v2())
    assert len(labels) == 19
    for key_tile, rows in sample.groupby(sample["patch_id"].str.extract(r"_T(\w{5})_")[0]):
        tables = {}
        for r in rows.itertuples():
            key = f"{key_tile}_{r.s2v1_name.split('_')[2][:8]}"
            table = tables.setdefault(key, bigearthnet_patch_table(key))
            row = table[table["s2v1_name"] == r.s2v1_name]
            assert len(row) == 1, r.s2v1_name
            row = row.iloc[0]
            assert row["v2_patch_id"] == r.patch_id
            assert row["s1_name_official"] == r.s1_name
            assert set(row["labels_v2"]) == set(r.labels.split("|")) <= labels
            assert row["split"] == r.split
            assert bool(row["contains_seasonal_snow"]) == r.contains_seasonal_snow
            assert row["country"] == r.country
            checked += 1
    assert checked == 100


def test_bigearthnet_patch_table_matches_real_example_pairs(examples_dir):
    # the official S1 partner of the example S2 patches is the example S1 patch
    for d in (examples_dir / "BigEarthNet-S1-Example").iterdir():
        if not d.is_dir():
            continue
        meta = json.loads((d / f"{d.name}_labels_metadata.json").read_text())
        s2 = meta["corresponding_s2_patch"]
        mgrs_id = d.name.split("_")[5]
        cat = load_bigearthnet_catalog()
        keys = [k for k in cat.keys() if k.startswith(mgrs_id + "_" + s2.split("_")[2][:8])]
        assert len(keys) == 1
        t = bigearthnet_patch_table(keys[0])
        row = t[t["s2v1_name"] == s2].iloc[0]
        if row["s1_name_official"] is not None:
            assert row["s1_name_official"] == d.name


def test_patch_table_none_for_unknown_key():
    assert bigearthnet_patch_table("33TTG_20211223") is None


# --- demo -------------------------------------------------------------------------------------


def test_demo_catalog_patches_inside_rome_dem(shipped_data):
    cat = load_demo_catalog()
    # the Rome rows; 31TEL (France, ascending, flat simulated terrain) is checked below
    assert cat.keys() == ["32TQM_20211223", "33TTG_20211223", "31TEL_20210809"]
    rome = [e for e in cat if e.sensing_time.date().isoformat() == "2021-12-23"]
    with rasterio.open(shipped_data / "dem" / "Rome-30m-DEM.tif") as ds:
        dem = shapely.box(*ds.bounds)
        assert ds.crs.to_epsg() in (9707, 4326) and ds.shape == (360, 360)
    assert [e.mgrs for e in rome] == ["32TQM", "33TTG"]
    for e in rome:
        t = tile_grid(e.mgrs)
        assert e.epsg == t.epsg and e.source == "demo" and "demo" in e.name
        # the tile square contains the whole DEM area
        to_utm = pyproj.Transformer.from_crs(4326, t.epsg, always_xy=True)
        ring = dem.exterior.segmentize(0.001)
        xs, ys = to_utm.transform(*zip(*ring.coords))
        assert shapely.box(*t.bounds).contains(shapely.Polygon(zip(xs, ys)))
        # patches in scope: all whole patches fully inside the DEM extent, and only those
        to_ll = pyproj.Transformer.from_crs(t.epsg, 4326, always_xy=True)
        inside = set()
        for x in range(91):
            for y in range(91):
                b = patch_bounds(t, x, y)
                lon, lat = to_ll.transform([b[0], b[2], b[2], b[0]], [b[1], b[1], b[3], b[3]])
                if all(dem.contains(shapely.Point(a, c)) for a, c in zip(lon, lat)):
                    inside.add((x, y))
        assert set(e.patches_in_scope) == inside
        assert 20 <= len(inside) <= 80
    assert [e.n_patches for e in cat] == [48, 45, 46]


# --- user CSV validation ----------------------------------------------------------------------


def test_user_catalog_ok(tmp_path):
    p = _write(
        tmp_path,
        [
            ["33UUP", "2017-06-13T10:10:31Z", "61_39;0_0", "", "mine"],
            ["33TTG", "2021-12-23 10:00:00", "", ROME_AOI, ""],
            ["36KWD", "2020-01-02T23:30:00-02:00", "", "", ""],
        ],
    )
    cat = load_catalog_file(p)
    assert isinstance(cat, TileCatalog)
    assert cat.keys() == ["33UUP_20170613", "33TTG_20211223", "36KWD_20200103"]
    a = cat.get("33UUP_20170613")
    assert isinstance(a, TileEntry) and a.patches_in_scope == ((0, 0), (61, 39)) and a.name == "mine"
    b = cat.get("33TTG_20211223")
    assert b.aoi_wgs84 is not None and len(b.patches_in_scope) > 40
    c = cat.get("36KWD_20200103")
    assert c.patches_in_scope is None and c.n_patches == 8281 and c.epsg == 32736
    assert c.sensing_time == datetime(2020, 1, 3, 1, 30, tzinfo=timezone.utc)
    assert c.source == str(p)


@pytest.mark.parametrize(
    "row, field, expected",
    [
        (["33UIP", "2020-01-01", "", "", ""], "mgrs", "MGRS"),
        (["33VUU", "2020-01-01", "", "", ""], "mgrs", "latitude band"),
        (["33UUP", "yesterday", "", "", ""], "sensing_time", "ISO 8601"),
        (["33UUP", "2020-01-01", "91_3", "", ""], "patches", "0..90"),
        (["33UUP", "2020-01-01", "3-4", "", ""], "patches", "'x_y'"),
        (["33UUP", "2020-01-01", "3_4;3_4", "", ""], "patches", "duplicate"),
        (["33UUP", "2020-01-01", "", "POLYGON((1 2, 3", ""], "aoi_wkt", "invalid WKT"),
        (["33UUP", "2020-01-01", "", "POINT(13 48)", ""], "aoi_wkt", "Polygon"),
        (["33UUP", "2020-01-01", "", ROME_AOI, ""], "aoi_wkt", "does not intersect"),
        (["33UUP", "2020-01-01", "", "POLYGON((5000 1, 5001 1, 5001 2, 5000 1))", ""], "aoi_wkt", "lon/lat"),
        (["33UUP", "2020-01-01", "", "POLYGON((12.3 48.7, 12.3001 48.7, 12.3001 48.7001, 12.3 48.7))", ""],
         "aoi_wkt", "no whole 1200 m patch"),
    ],
)
def test_user_catalog_errors_name_row_and_field(tmp_path, row, field, expected):
    p = _write(tmp_path, [["33TTG", "2021-12-23", "", "", "first"], row])
    with pytest.raises(CatalogError) as exc:
        load_catalog_file(p)
    msg = str(exc.value)
    assert str(p) in msg and "row 2 " in msg and f"field {field!r}" in msg and expected in msg


def test_user_catalog_duplicate_key(tmp_path):
    p = _write(tmp_path, [["33TTG", "2021-12-23T09:00:00Z", "", "", ""],
                          ["T33TTG", "2021-12-23T10:00:00Z", "", "", ""]])
    with pytest.raises(CatalogError) as exc:
        load_catalog_file(p)
    msg = str(exc.value)
    assert "row 2 " in msg and "duplicate partition key '33TTG_20211223' (also row 1)" in msg


def test_user_catalog_header_and_empty_errors(tmp_path):
    p = _write(tmp_path, [["33TTG", "2021-12-23"]], header=("mgrs", "sensing_date"))
    with pytest.raises(CatalogError, match=r"missing columns \['sensing_time'\], unknown columns \['sensing_date'\]"):
        load_catalog_file(p)
    p = _write(tmp_path, [], header=("mgrs", "sensing_time"))
    with pytest.raises(CatalogError, match="no data rows"):
        load_catalog_file(p)
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(CatalogError, match="empty file"):
        load_catalog_file(tmp_path / "empty.csv")
    with pytest.raises(CatalogError, match="cannot read"):
        load_catalog_file(tmp_path / "missing.csv")
    p = _write(tmp_path, [["33TTG", "2021-12-23", "x"]], header=("mgrs", "sensing_time"))
    with pytest.raises(CatalogError, match="row 1 .*extra"):
        load_catalog_file(p)


def test_patch_table_columns_and_missing_values():
    t = bigearthnet_patch_table("34VER_20170613")
    assert list(t.columns) == [
        "x", "y", "s2v1_name", "v2_patch_id", "s1_name_official", "labels_v2", "split",
        "contains_seasonal_snow", "contains_cloud_or_shadow", "country",
    ]
    assert len(t) == 6729
    missing = t[t["v2_patch_id"].map(lambda v: v is None)]
    assert len(missing) == 6729 - 6686  # v1 minus v2 counts of tiles.csv
    assert missing["s1_name_official"].map(lambda v: v is None).all()
    assert missing["split"].map(lambda v: v is None).all()
    assert missing["country"].map(lambda v: v is None).all()
    assert (missing["labels_v2"].map(len) == 0).all()
    assert missing["contains_seasonal_snow"].isna().all()
    # two v1 prefixes are used in this product (DOMAIN.md: prefixes can differ within a tile)
    assert t["s2v1_name"].str.rsplit("_", n=2).str[0].nunique() == 2


def test_demo_catalog_france_row_is_ascending_flat_terrain_scope():
    entry = load_demo_catalog().get("31TEL_20210809")
    assert entry.epsg == 32631 and "FLAT" in entry.name and "demo" in entry.name
    # its scope: the whole patches inside its AOI (a small area of the Massif Central)
    assert entry.patches_in_scope and set(entry.patches_in_scope) == set(
        patches_in_aoi(entry.tile, entry.aoi_wgs84, predicate="within")
    )
