import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
import rasterio
import shapely

from ben_sen1_assets.grid import (
    PATCH_SIZE_PX,
    GridError,
    PatchNameError,
    parse_s1_patch_name,
    parse_s2v1_patch_name,
    parse_s2v2_patch_id,
    patch_bounds,
    patch_grid,
    patch_ul,
    patch_window,
    patches_in_aoi,
    s1_patch_name,
    s2v1_patch_name,
    s2v2_patch_id,
    tile_grid,
)

# --- patch grid -------------------------------------------------------------------------------


def test_domain_patch_examples():
    assert patch_ul("33UUP", 61, 39) == (373200, 5353200)
    assert patch_ul(tile_grid("29UPU"), 36, 85) == (643200, 5798040)
    assert patch_bounds("29UPU", 36, 85) == (643200, 5796840, 644400, 5798040)


def test_patch_grid_counts_and_geometry():
    t = tile_grid("34VER")
    g = patch_grid(t)
    assert len(g) == 91 * 91 == 8281
    assert g["x"].dtype == np.int8 and g["y"].dtype == np.int8
    assert g.crs.to_epsg() == t.epsg
    assert set(g["x"]) == set(range(91)) and set(g["y"]) == set(range(91))
    assert (g.geometry.area == 1200.0**2).all()
    # last whole patch ends 60 m (6 px) before the tile's edge: 91*120 = 10920 <= 10980 < 92*120
    last = g[(g.x == 90) & (g.y == 90)].geometry.iloc[0]
    assert last.bounds == (t.ulx + 108000, t.uly - 109200, t.ulx + 109200, t.uly - 108000)
    assert shapely.box(*t.bounds).contains(g.geometry.union_all())
    w = patch_grid(t, wgs84=True)
    assert w.crs.to_epsg() == 4326 and len(w) == 8281


def test_patch_window_matches_transform():
    t = tile_grid("33UUP")
    w = patch_window(61, 39)
    assert (w.col_off, w.row_off, w.width, w.height) == (61 * 120, 39 * 120, 120, 120)
    ul = t.transform @ (w.col_off, w.row_off)
    assert ul == patch_ul(t, 61, 39)
    assert PATCH_SIZE_PX == 120


@pytest.mark.parametrize("x, y", [(91, 0), (0, 91), (-1, 0), (1.5, 2), (True, 3)])
def test_patch_index_out_of_range(x, y):
    with pytest.raises(GridError, match="0..90"):
        patch_ul("33UUP", x, y)
    with pytest.raises(GridError):
        patch_window(x, y)


def test_patches_in_aoi_within_vs_intersects():
    t = tile_grid("33UUP")
    # AOI = exactly patches 10..12 x 20..21 (in UTM), slightly shrunk: within selects the
    # ones fully inside, intersects all touched ones
    import pyproj

    tr = pyproj.Transformer.from_crs(t.epsg, 4326, always_xy=True)
    l, b, r, top = patch_bounds(t, 10, 20)[0], patch_bounds(t, 12, 21)[1], patch_bounds(t, 12, 21)[2], patch_bounds(t, 10, 20)[3]
    ring = shapely.box(l - 5, b - 5, r + 5, top + 5).exterior.segmentize(50)
    lon, lat = tr.transform(*np.asarray(ring.coords).T)
    aoi = shapely.Polygon(np.column_stack([lon, lat]))
    inside = patches_in_aoi(t, aoi, "within")
    assert sorted(inside) == sorted((x, y) for x in (10, 11, 12) for y in (20, 21))
    touching = patches_in_aoi(t, aoi, "intersects")
    assert sorted(touching) == sorted((x, y) for x in range(9, 14) for y in range(19, 23))
    with pytest.raises(GridError):
        patches_in_aoi(t, aoi, "overlaps")


# --- names ------------------------------------------------------------------------------------


def test_name_round_trips():
    t0 = datetime(2017, 6, 13, 16, 50, 43, tzinfo=timezone.utc)
    n = s1_patch_name("S1A", t0, "33UUP", 61, 39)
    assert n == "S1A_IW_GRDH_1SDV_20170613T165043_33UUP_61_39"
    p = parse_s1_patch_name(n)
    assert (p.mission, p.start_time, p.mgrs, p.x, p.y) == ("S1A", t0, "33UUP", 61, 39)
    # aware non-UTC times are converted; naive = UTC
    assert s1_patch_name("S1B", t0.astimezone(timezone(timedelta(hours=2))), "33UUP", 0, 0).endswith(
        "20170613T165043_33UUP_0_0"
    )
    assert s2v1_patch_name("S2B_MSIL2A_20180502T93039", 82, 28) == "S2B_MSIL2A_20180502T93039_82_28"
    v1 = parse_s2v1_patch_name("S2B_MSIL2A_20180502T093039_82_28")
    assert (v1.prefix, v1.mission, v1.x, v1.y) == ("S2B_MSIL2A_20180502T093039", "S2B", 82, 28)
    v2 = s2v2_patch_id("S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP", 6, 7)
    assert v2 == "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_06_07"
    q = parse_s2v2_patch_id(v2)
    assert (q.prefix, q.relative_orbit, q.mgrs, q.x, q.y) == (
        "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP", 22, "33UUP", 6, 7)
    assert q.sensing_time == datetime(2017, 6, 13, 10, 10, 31, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "parser, bad",
    [
        (parse_s1_patch_name, "S1A_IW_GRDH_1SDV_20170613T165043_33UUP_61"),
        (parse_s1_patch_name, "S1A_IW_GRDH_1SDV_20170613T165043_33UUP_91_0"),
        (parse_s1_patch_name, "S1A_IW_GRDH_1SDV_20171313T165043_33UUP_1_0"),
        (parse_s1_patch_name, "S1A_IW_SLC__1SDV_20170613T165043_33UUP_1_0"),
        (parse_s2v1_patch_name, "S2A_MSIL1C_20170613T101031_1_2"),
        (parse_s2v1_patch_name, "S2A_MSIL2A_20170613T101031_1_2_3"),
        (parse_s2v2_patch_id, "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_6_7"),
        (parse_s2v2_patch_id, "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_06_97"),
    ],
)
def test_malformed_names(parser, bad):
    with pytest.raises(PatchNameError) as exc:
        parser(bad)
    assert repr(bad) in str(exc.value)


# --- the real BigEarthNet example patches -----------------------------------------------------


def _examples(examples_dir, kind):
    return sorted(p for p in (examples_dir / f"BigEarthNet-{kind}-Example").iterdir() if p.is_dir())


def test_real_s1_example_patches(examples_dir):
    dirs = _examples(examples_dir, "S1")
    assert len(dirs) == 6
    for d in dirs:
        name = d.name
        p = parse_s1_patch_name(name)
        t = tile_grid(p.mgrs)
        with rasterio.open(d / f"{name}_VV.tif") as ds:
            assert ds.shape == (120, 120) and ds.res == (10.0, 10.0)
            assert ds.crs.to_epsg() == t.epsg
            assert (ds.transform.c, ds.transform.f) == patch_ul(t, p.x, p.y)
        meta = json.loads((d / f"{name}_labels_metadata.json").read_text())
        c = meta["coordinates"]
        left, bottom, right, top = patch_bounds(t, p.x, p.y)
        assert (c["ulx"], c["uly"], c["lrx"], c["lly"]) == (left, top, right, bottom)
        # the S1 name's time is the start time of the source scene; x_y equal the S2 partner's
        assert meta["scene_source"].startswith(f"{p.mission}_IW_GRDH_1SDV_{p.start_time:%Y%m%dT%H%M%S}_")
        assert datetime.fromisoformat(meta["acquisition_time"]).replace(tzinfo=timezone.utc) == p.start_time
        assert s1_patch_name(p.mission, p.start_time, p.mgrs, p.x, p.y) == name
        s2 = parse_s2v1_patch_name(meta["corresponding_s2_patch"])
        assert (s2.x, s2.y) == (p.x, p.y)


def test_real_s2_example_patches(examples_dir):
    dirs = _examples(examples_dir, "S2")
    assert len(dirs) == 6
    for d in dirs:
        p = parse_s2v1_patch_name(d.name)
        meta = json.loads((d / f"{d.name}_labels_metadata.json").read_text())
        mgrs_id = meta["tile_source"].split("_")[5][1:]
        t = tile_grid(mgrs_id)
        with rasterio.open(d / f"{d.name}_B01.tif") as ds:  # 60 m band, same upper-left
            assert ds.crs.to_epsg() == t.epsg
            assert (ds.transform.c, ds.transform.f) == patch_ul(t, p.x, p.y)
            assert ds.transform.a * ds.width == 1200
        c = meta["coordinates"]
        assert (c["ulx"], c["uly"], c["lrx"], c["lry"]) == (
            patch_bounds(t, p.x, p.y)[0], patch_bounds(t, p.x, p.y)[3],
            patch_bounds(t, p.x, p.y)[2], patch_bounds(t, p.x, p.y)[1])
        assert s2v1_patch_name(p.prefix, p.x, p.y) == d.name
