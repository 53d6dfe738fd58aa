"""Product selection: synthetic records whose footprints are built from the patch geometry of
real tiles (so the right answer is known by construction), and the real sample manifests
against the demo tiles."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from importlib.resources import files

import numpy as np
import pyproj
import pytest
import shapely
from shapely.geometry import MultiPolygon, Polygon

from ben_sen1_assets.archive.local import read_product_record
from ben_sen1_assets.archive.records import ProductRecord, relative_orbit
from ben_sen1_assets.archive.selection import (
    PATCH_COLUMNS,
    PRODUCT_COLUMNS,
    SelectionConfig,
    SelectionError,
    select_products,
)
from ben_sen1_assets.grid.catalog import TileEntry, load_demo_catalog
from ben_sen1_assets.grid.tile import tile_grid

UTC = timezone.utc
P = 1200.0  # patch side, m
N = 91
T0 = datetime(2017, 6, 13, 10, 0, 0, tzinfo=UTC)
MARGIN = 2000.0  # the default footprint_margin_m, restated so the constructions below are explicit
PAD = MARGIN + 100.0  # outer edges of synthetic footprints sit this far outside the tile
ALL = [(x, y) for y in range(N) for x in range(N)]


def entry(mgrs: str = "33UUP", patches=None, sensing: datetime = T0) -> TileEntry:
    t = tile_grid(mgrs)
    return TileEntry(
        partition_key=f"{mgrs}_{sensing:%Y%m%d}", mgrs=mgrs, sensing_time=sensing, l1c_name=None,
        cdse_id=None, epsg=t.epsg, patches_in_scope=patches, aoi_wgs84=None, source="test",
    )


def rect(mgrs: str, x0: float, y0: float, x1: float, y1: float, pad=(0, 0, 0, 0)) -> Polygon:
    """UTM rectangle from patch-index coordinates (x right, y down), ``pad`` = (left, top, right,
    bottom) metres added outward."""
    t = tile_grid(mgrs)
    pl, pt, pr, pb = pad
    return shapely.box(t.ulx + P * x0 - pl, t.uly - P * y1 - pb, t.ulx + P * x1 + pr, t.uly - P * y0 + pt)


def to_wgs84(poly_utm, epsg: int):
    tr = pyproj.Transformer.from_crs(epsg, 4326, always_xy=True)
    return shapely.transform(
        shapely.segmentize(poly_utm, 500.0), lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1]))
    )


_uid = iter(range(0x1000, 0xFFFF))


def rec(
    days: float,
    footprint_wgs84,
    *,
    mission: str = "S1A",
    absolute_orbit: int = 17013,
    datatake: int | None = None,
    seconds: int = 0,
    pols: tuple[str, ...] = ("VV", "VH"),
    kind: str = "IW_GRDH_1SDV",
    cog: bool = False,
    source: str = "cdse",
    uid: int | None = None,
    pass_direction: str = "DESCENDING",
) -> ProductRecord:
    start = (T0 + timedelta(days=days, seconds=seconds)).replace(microsecond=0)
    stop = start + timedelta(seconds=25)
    uid = next(_uid) if uid is None else uid
    datatake = 0x010000 + next(_uid) if datatake is None else datatake  # unique unless given
    name = (
        f"{mission}_{kind}_{start:%Y%m%dT%H%M%S}_{stop:%Y%m%dT%H%M%S}_"
        f"{absolute_orbit:06d}_{datatake:06X}_{uid:04X}" + ("_COG" if cog else "")
    )
    return ProductRecord(
        name=name, provider_id=f"{source}-{name}", start=start, stop=stop, mission=mission,
        absolute_orbit=absolute_orbit, relative_orbit=relative_orbit(mission, absolute_orbit),
        pass_direction=pass_direction, polarisations=pols, footprint=footprint_wgs84, size=1_700_000_000,
        checksums={"MD5": "0" * 32}, download_url=f"https://example.invalid/{name}", source=source,
    )


def full(mgrs: str = "33UUP"):
    return to_wgs84(rect(mgrs, 0, 0, N, N, (PAD,) * 4), tile_grid(mgrs).epsg)


def rows(y0: int, y1: int, xs=range(N)) -> set:
    return {(x, y) for y in range(y0, y1) for x in xs}


# -- closest_per_patch ------------------------------------------------------------------------------
def test_closest_in_time_wins_and_filters():
    a = rec(+1.0, full())
    b = rec(-0.5, full())
    only_vv = rec(+0.1, full(), pols=("VV",), kind="IW_GRDH_1SSV")
    cog = rec(+0.05, full(), cog=True)
    grdm = rec(+0.02, full(), kind="IW_GRDM_1SDV")
    slc = rec(+0.01, full(), kind="IW_SLC__1SDV")
    ew = rec(+0.03, full(), kind="EW_GRDH_1SDV")
    res = select_products([a, b, only_vv, cog, grdm, slc, ew], entry())
    assert res.product_names == (b.name,)
    assert res.patch_product == {xy: b.name for xy in ALL}
    assert res.uncovered == () and res.coverage_fraction == 1.0
    assert res.products[0].delta_t_days == pytest.approx(-0.5)
    assert res.products[0].patches == tuple(ALL)
    reasons = {j.name: j.reason for j in res.rejected}
    assert set(reasons) == {only_vv.name, cog.name, grdm.name, slc.name, ew.name}
    assert "lacks polarisation(s) VH" in reasons[only_vv.name]
    assert "_COG" in reasons[cog.name]
    assert "not an IW GRDH" in reasons[grdm.name] and "not an IW GRDH" in reasons[slc.name]
    assert res.n_candidates == 2  # a and b
    summary = res.summary()
    assert summary["n_products"] == 1 and summary["coverage_fraction"] == 1.0 and summary["n_rejected"] == 5
    assert summary["max_abs_delta_t_days"] == pytest.approx(0.5) and summary["rule"] == "closest_per_patch"
    assert json.loads(json.dumps(summary)) == summary


def test_straddling_patch_goes_to_a_product_covering_it_whole():
    # one datatake, two consecutive slices meeting in the middle of patch row 31 (y = 31.5);
    # another product 2 days earlier covers everything
    seam = 31.5
    s1 = rec(0.1, to_wgs84(rect("33UUP", 0, 0, N, seam, (PAD, PAD, PAD, 0)), 32633), datatake=0x01C5A9)
    s2 = rec(0.1, to_wgs84(rect("33UUP", 0, seam, N, N, (PAD, 0, PAD, PAD)), 32633), seconds=25, datatake=0x01C5A9)
    far = rec(-2.0, full(), absolute_orbit=16984, datatake=0x01C4B2)
    res = select_products([s1, s2, far], entry())
    expected = {**{xy: s1.name for xy in rows(0, 31)}, **{xy: far.name for xy in rows(31, 32)},
                **{xy: s2.name for xy in rows(32, N)}}
    assert res.patch_product == expected
    assert res.uncovered == ()
    # rows 30 and 32 lie 600 m from the seam, within the 2000 m margin: the seam of one datatake is
    # not shrunk, only the strip's outer edges are
    assert res.patch_product[(45, 30)] == s1.name and res.patch_product[(45, 32)] == s2.name


def test_margin_applies_to_edges_between_different_datatakes():
    seam = 31.5
    s1 = rec(0.1, to_wgs84(rect("33UUP", 0, 0, N, seam, (PAD, PAD, PAD, 0)), 32633), datatake=0x01C5A9)
    s2 = rec(0.1, to_wgs84(rect("33UUP", 0, seam, N, N, (PAD, 0, PAD, PAD)), 32633), seconds=25,
             datatake=0x01C5AA)
    far = rec(-2.0, full(), absolute_orbit=16984, datatake=0x01C4B2)
    res = select_products([s1, s2, far], entry())
    # patches whose edge is < 2000 m from y = 31.5: rows 29 (1800 m) .. 33 (1800 m)
    assert {xy for xy, n in res.patch_product.items() if n == far.name} == rows(29, 34)
    assert {xy for xy, n in res.patch_product.items() if n == s1.name} == rows(0, 29)
    assert {xy for xy, n in res.patch_product.items() if n == s2.name} == rows(34, N)


def test_nothing_beyond_max_days():
    late = rec(+6.01, full())
    early_left = rec(-5.99, to_wgs84(rect("33UUP", 0, 0, 45, N, (PAD, PAD, MARGIN + 600, PAD)), 32633))
    res = select_products([late, early_left], entry(), SelectionConfig(max_days=6))
    assert res.product_names == (early_left.name,)
    assert set(res.patch_product) == rows(0, N, range(45))
    assert set(res.uncovered) == rows(0, N, range(45, N))
    (rej,) = res.rejected
    assert rej.name == late.name and "+6.01 d" in rej.reason and "max_days=6" in rej.reason
    wider = select_products([late, early_left], entry(), SelectionConfig(max_days=7))
    assert {xy for xy, n in wider.patch_product.items() if n == late.name} == rows(0, N, range(45, N))


def test_uncovered_patches_and_margin():
    # right footprint edge exactly on the x = 45 patch border, no padding: with the 2000 m margin
    # columns 43 (right edge 1200 m from it) and 44 (0 m) are not covered
    left = rec(0.3, to_wgs84(rect("33UUP", 0, 0, 45, N, (PAD, PAD, 0, PAD)), 32633))
    res = select_products([left], entry())
    assert set(res.patch_product) == rows(0, N, range(43))
    assert set(res.uncovered) == rows(0, N, range(43, N))
    assert res.coverage_fraction == pytest.approx(43 * 91 / 8281)
    no_margin = select_products([left], entry(), SelectionConfig(footprint_margin_m=0))
    assert set(no_margin.patch_product) == rows(0, N, range(45))


def test_scope_subset_and_empty_input():
    scope = ((61, 39), (0, 0), (90, 90))
    half = rec(0.3, to_wgs84(rect("33UUP", 0, 0, 70, N, (PAD, PAD, PAD, PAD)), 32633))
    res = select_products([half], entry(patches=scope))
    assert res.patches_in_scope == ((0, 0), (61, 39), (90, 90))  # y-major
    assert res.patch_product == {(0, 0): half.name, (61, 39): half.name}
    assert res.uncovered == ((90, 90),)
    empty = select_products([], entry(patches=scope))
    assert empty.products == () and empty.uncovered == empty.patches_in_scope
    assert empty.coverage_fraction == 0.0
    assert len(empty.to_geodataframe()) == 0 and list(empty.to_geodataframe().columns) == [*PRODUCT_COLUMNS, "geometry"]


# -- per_orbit ------------------------------------------------------------------------------------
def test_per_orbit_one_pass_per_relative_orbit_slices_together():
    cfg = SelectionConfig(rule="per_orbit")
    # relative orbit 141 (S1A abs 17013): two consecutive slices meeting at y = 45
    a1 = rec(-0.3, to_wgs84(rect("33UUP", 0, 0, N, 45, (PAD, PAD, PAD, 0)), 32633), datatake=0x01C5A9)
    a2 = rec(-0.3, to_wgs84(rect("33UUP", 0, 45, N, N, (PAD, 0, PAD, PAD)), 32633), seconds=25, datatake=0x01C5A9)
    # a third slice of that datatake far south of the tile
    a3 = rec(-0.3, to_wgs84(rect("33UUP", 0, 200, N, 300), 32633), seconds=50, datatake=0x01C5A9)
    # same relative orbit 141, S1B six days later, covering all: not chosen (farther in time)
    b = rec(+5.7, full(), mission="S1B", absolute_orbit=6467, datatake=0x00B1C2)
    # relative orbit 44: covers the western 30 columns
    c = rec(+2.0, to_wgs84(rect("33UUP", 0, 0, 30, N, (PAD, PAD, 0, PAD)), 32633),
            absolute_orbit=17091, datatake=0x01C9F0, pass_direction="ASCENDING")
    # relative orbit 68, east of the tile
    d = rec(+1.0, to_wgs84(rect("33UUP", 100, 0, 150, N), 32633), absolute_orbit=17115, datatake=0x01CA10)
    assert (relative_orbit("S1A", 17013), relative_orbit("S1B", 6467), relative_orbit("S1A", 17091)) == (141, 141, 44)
    records = [a1, a2, a3, b, c, d]
    res = select_products(records, entry(), cfg)
    assert res.product_names == (a1.name, a2.name, c.name)  # sorted by start
    assert res.uncovered == ()  # the seam at y = 45 is covered by the union of the pass
    assert res.patch_product == {}
    served = {p.name: set(p.patches) for p in res.products}
    assert served[a1.name] == rows(0, 45)
    assert served[a2.name] == rows(45, N)
    # c's east edge (x = 30, no padding) shrinks 2000 m: overlaps columns 0..28
    assert served[c.name] == rows(0, N, range(29))
    assert res.patch_sources[(0, 0)] == tuple(sorted((a1.name, c.name)))
    assert res.patch_sources[(60, 60)] == (a2.name,)
    assert {p.relative_orbit for p in res.products} == {141, 44}
    rejected = {j.name for j in res.rejected}
    assert rejected == {a3.name, d.name}  # do not intersect the tile
    table = res.patch_table()
    assert len(table) == 8281 + 29 * 91  # one row per (patch, serving product)
    assert table["covered"].all()
    # with only S1B's pass on orbit 141 the rule takes it (one pass per relative orbit)
    res_b = select_products([b, c], entry(), cfg)
    assert res_b.product_names == (c.name, b.name)


def test_per_orbit_reports_uncovered():
    c = rec(+2.0, to_wgs84(rect("33UUP", 0, 0, 30, N, (PAD, PAD, 0, PAD)), 32633))
    res = select_products([c], entry(), SelectionConfig(rule="per_orbit"))
    assert set(res.uncovered) == rows(0, N, range(28, N))  # x=28 overlaps but is not whole
    table = res.patch_table()
    assert set(zip(table.x[table["product"].isna()], table.y[table["product"].isna()])) == rows(0, N, range(29, N))


# -- geometry edge cases ----------------------------------------------------------------------------
def test_footprint_from_the_neighbouring_utm_zone():
    # 32TQM (UTM 32) lies past 12°E, beyond its zone's east edge; the product footprint is built
    # from patch geometry of 33TTG (UTM 33). Oracle: 32TQM patch corners transformed point-wise
    # to UTM 33 and tested against the rectangle there (a different path than the code's).
    src = rect("33TTG", 20, 10, 70, 80)
    fp = to_wgs84(src, 32633)
    assert fp.bounds[0] < 12.0 < fp.bounds[2]
    r = rec(0.0, fp)
    res = select_products([r], entry("32TQM"), SelectionConfig(footprint_margin_m=0))
    t = tile_grid("32TQM")
    to33 = pyproj.Transformer.from_crs(32632, 32633, always_xy=True)
    inner, outer = src.buffer(-2.0, join_style="mitre"), src.buffer(2.0, join_style="mitre")
    surely_in, surely_out = set(), set()
    for x, y in ALL:
        cx = t.ulx + P * np.array([x, x + 1, x + 1, x])
        cy = t.uly - P * np.array([y, y, y + 1, y + 1])
        pts = shapely.points(np.column_stack(to33.transform(cx, cy)))
        if shapely.contains(inner, pts).all():
            surely_in.add((x, y))
        elif not shapely.contains(outer, pts).all():
            surely_out.add((x, y))
    covered = set(res.patch_product)
    assert len(surely_in) > 1000 and len(surely_out) > 1000
    assert surely_in <= covered
    assert not (surely_out & covered)
    assert len(covered - surely_in) <= len(ALL) - len(surely_in) - len(surely_out)


@pytest.mark.parametrize("split", [True, False])
def test_footprint_across_the_antimeridian(split):
    # 01KAB straddles ±180°; a product box 179.0°E .. 176.0°W, 18.0°S .. 15.5°S contains it
    lon0, lon1, lat0, lat1 = 179.0, -176.0, -18.0, -15.5
    if split:
        fp = MultiPolygon([shapely.box(lon0, lat0, 180.0, lat1), shapely.box(-180.0, lat0, lon1, lat1)])
    else:  # as a manifest lists it: one ring whose longitudes jump at ±180°
        fp = Polygon([(lon0, lat0), (lon1, lat0), (lon1, lat1), (lon0, lat1)])
    r = rec(0.2, fp)
    res = select_products([r], entry("01KAB"))
    assert res.uncovered == () and set(res.patch_product) == set(ALL)
    gdf = res.to_geodataframe()
    assert gdf.geometry.iloc[0].equals(fp)


def test_determinism_ties_and_duplicates():
    seam = 31.5
    s1 = rec(0.1, to_wgs84(rect("33UUP", 0, 0, N, seam, (PAD, PAD, PAD, 0)), 32633), datatake=0x01C5A9)
    s2 = rec(0.1, to_wgs84(rect("33UUP", 0, seam, N, N, (PAD, 0, PAD, PAD)), 32633), seconds=25, datatake=0x01C5A9)
    # S1B: its name sorts after the S1A twins', so only the "earlier first" rule makes it win the tie
    far = rec(-2.0, full(), mission="S1B", absolute_orbit=6000, datatake=0x00A1B2)
    # two reprocessings of one scene: same start, unique ids 0002 and 0001 -> the smaller name wins
    twin_b = rec(+2.0, full(), absolute_orbit=17042, datatake=0x01C6A0, uid=0x0002)
    twin_a = rec(+2.0, full(), absolute_orbit=17042, datatake=0x01C6A0, uid=0x0001)
    # -2.0 d and +2.0 d tie on |Δt|: the earlier one (far) wins
    # the same product from ASF and CDSE: the CDSE record is kept
    asf_far = replace(far, source="asf", provider_id="asf-1", checksums={})
    records = [s1, s2, far, twin_b, twin_a, asf_far]
    ref = select_products(records, entry())
    assert ref.product_names == (far.name, s1.name, s2.name)
    assert next(p for p in ref.products if p.name == far.name).record.source == "cdse"
    assert any(j.name == far.name and j.source == "asf" and "duplicate" in j.reason for j in ref.rejected)
    no_far = select_products([s1, s2, twin_b, twin_a], entry())
    assert set(no_far.patch_product.values()) == {s1.name, s2.name, twin_a.name}
    rng = random.Random(7)
    for cfg in (SelectionConfig(), SelectionConfig(rule="per_orbit")):
        base = select_products(records, entry(), cfg)
        for _ in range(4):
            shuffled = records[:]
            rng.shuffle(shuffled)
            other = select_products(shuffled, entry(), cfg)
            assert other.patch_product == base.patch_product
            assert other.patch_sources == base.patch_sources
            assert other.rejected == base.rejected
            assert other.to_geodataframe().equals(base.to_geodataframe())


# -- outputs -----------------------------------------------------------------------------------------
def test_geodataframe_and_patch_table():
    left = rec(-0.25, to_wgs84(rect("33UUP", 0, 0, 45, N, (PAD, PAD, MARGIN + 600, PAD)), 32633))
    right = rec(+0.75, to_wgs84(rect("33UUP", 45, 0, N, N, (MARGIN + 600, PAD, PAD, PAD)), 32633),
                absolute_orbit=17020, datatake=0x01C5F0, source="asf")
    res = select_products([right, left], entry(patches=((61, 39), (3, 4), (44, 4))))
    gdf = res.to_geodataframe()
    assert list(gdf.columns) == [*PRODUCT_COLUMNS, "geometry"] and gdf.crs.to_epsg() == 4326
    assert list(gdf["name"]) == [left.name, right.name]
    row = gdf.iloc[1]
    assert row["patches"] == "61_39" and row["n_patches"] == 1 and row["source"] == "asf"
    assert gdf.iloc[0]["patches"] == "3_4;44_4"
    assert json.loads(row["checksums"]) == {"MD5": "0" * 32}
    assert row["delta_t_days"] == pytest.approx(0.75) and row["rule"] == "closest_per_patch"
    assert row["polarisations"] == "VV&VH" and row["size"] == 1_700_000_000
    assert row["relative_orbit"] == relative_orbit("S1A", 17020) and row["pass_direction"] == "DESCENDING"
    assert row["start"] == right.start and row.geometry.equals(right.footprint)
    table = res.patch_table()
    assert list(table.columns) == [*PATCH_COLUMNS, "geometry"] and table.crs.to_epsg() == 32633
    t61 = table[(table.x == 61) & (table.y == 39)].iloc[0]
    # DOMAIN.md §2, verified on real files: 33UUP 61_39 upper-left = (373200, 5353200)
    assert t61.geometry.bounds == (373200.0, 5352000.0, 374400.0, 5353200.0)
    assert t61["product"] == right.name and t61["delta_t_days"] == pytest.approx(0.75)
    back = res.patch_table(wgs84=True).to_crs(32633)
    assert np.allclose(shapely.get_coordinates(back.geometry), shapely.get_coordinates(table.geometry), atol=1e-3)


def test_bad_config_and_input():
    with pytest.raises(SelectionError, match="rule"):
        SelectionConfig(rule="nearest")
    with pytest.raises(SelectionError, match="max_days"):
        SelectionConfig(max_days=-1)
    with pytest.raises(SelectionError, match="polarisations"):
        SelectionConfig(polarisations=("VX",))
    assert SelectionConfig(polarisations="VV&VH").polarisations == ("VV", "VH")
    with pytest.raises(SelectionError, match="TileEntry"):
        select_products([], "33UUP")
    with pytest.raises(SelectionError, match="ProductRecord"):
        select_products([{"name": "x"}], entry())


# -- real metadata ---------------------------------------------------------------------------------
SAMPLES = files("ben_sen1_assets") / "data" / "s1_samples"
S1B_ROME = "S1B_IW_GRDH_1SDV_20211223T051122_20211223T051147_030148_039993_5371"


@pytest.fixture(scope="module")
def sample_records():
    paths = sorted(p for p in SAMPLES.iterdir() if p.name.endswith(".SAFE"))
    assert len(paths) == 4
    return [read_product_record(str(p)) for p in paths]


@pytest.mark.parametrize("rule", ["closest_per_patch", "per_orbit"])
@pytest.mark.parametrize("key", ["32TQM_20211223", "33TTG_20211223"])
def test_real_manifests_against_demo_tiles(sample_records, key, rule):
    demo = load_demo_catalog()[key]
    # the S1B sample ships VV files only: select on VV
    res = select_products(sample_records, demo, SelectionConfig(rule=rule, polarisations=("VV",)))
    # the demo scope is the Rome DEM extent, which the sample README places at GRD lines
    # 7470-8685, samples 21640-22630 of 16705 x 26102: well inside the S1B footprint
    assert res.product_names == (S1B_ROME,)
    assert res.uncovered == () and len(res.patches_in_scope) == demo.n_patches > 40
    expected_dt = (datetime(2021, 12, 23, 5, 11, 22, 594441, tzinfo=UTC) - demo.sensing_time).total_seconds() / 86400
    assert res.products[0].delta_t_days == pytest.approx(expected_dt, abs=1e-6)
    assert res.products[0].relative_orbit == 22 and res.products[0].pass_direction == "DESCENDING"
    others = {j.name: j.reason for j in res.rejected}
    assert len(others) == 3 and all("max_days" in r or "does not intersect" in r for r in others.values())
    # with the default VV+VH the S1B sample is rejected: its VH files are absent
    dflt = select_products(sample_records, demo, SelectionConfig(rule=rule))
    assert dflt.products == () and dflt.coverage_fraction == 0.0
    assert "lacks polarisation(s) VH" in {j.name: j.reason for j in dflt.rejected}[S1B_ROME]
