"""Product names, relative orbits (against recorded catalogue values) and product records."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from shapely.geometry import box

from ben_sen1_assets.archive.download import DownloadProgress, ProgressThrottle
from ben_sen1_assets.archive.errors import ProductNameError
from ben_sen1_assets.archive.records import (
    ProductRecord,
    parse_polarisations,
    parse_product_name,
    relative_orbit,
)

from .conftest import DATA

NAME = "S1A_IW_GRDH_1SDV_20170613T165043_20170613T165108_017013_01C5A9_8C1E"


def test_parse_name_fields():
    p = parse_product_name(NAME + ".SAFE")
    assert p.name == NAME
    assert (p.mission, p.mode, p.product_type, p.resolution, p.level, p.product_class, p.polarisation_code) == (
        "S1A", "IW", "GRD", "H", 1, "S", "DV")
    assert p.start == datetime(2017, 6, 13, 16, 50, 43, tzinfo=timezone.utc)
    assert p.stop == datetime(2017, 6, 13, 16, 51, 8, tzinfo=timezone.utc)
    assert (p.absolute_orbit, p.datatake_id, p.unique_id) == (17013, "01C5A9", "8C1E")
    assert p.polarisations == ("VV", "VH") and p.is_iw_grdh and not p.cog
    assert parse_product_name(f"/data/{NAME}.zip").name == NAME
    assert parse_product_name(f"{NAME}.SAFE.zip").name == NAME
    cog = parse_product_name(NAME + "_COG.SAFE")
    assert cog.cog and cog.name == NAME + "_COG"
    assert parse_product_name("S1B_IW_GRDH_1SSH_20190524T062124_20190524T062142_016382_01ED74_46BB").polarisations == ("HH",)


@pytest.mark.parametrize(
    "bad, why",
    [
        ("S1A_IW_GRDH_1SDV_20170613T165043_20170613T165108_017013_01C5A9", "not a Sentinel-1 product name"),
        ("S2A_MSIL2A_20180502T093039_N9999_R136_T35VNL", "not a Sentinel-1 product name"),
        ("S1A_AUX_INS_V20140406T010000_G20140409T142540.SAFE", "not a Sentinel-1 product name"),
        ("S1A_IW_GRDH_1SDV_20171313T165043_20171313T165108_017013_01C5A9_8C1E", "invalid start/stop time"),
        ("S1A_IW_GRDH_1SDV_20170613T165108_20170613T165043_017013_01C5A9_8C1E", "stop time .* before start"),
        ("s1a_iw_grdh_1sdv_20170613t165043_20170613t165108_017013_01c5a9_8c1e", "not a Sentinel-1 product name"),
    ],
)
def test_malformed_names_are_clear_errors(bad, why):
    with pytest.raises(ProductNameError, match=why):
        parse_product_name(bad)
    with pytest.raises(ValueError):  # ProductNameError is a ValueError too
        parse_product_name(bad)


def test_relative_orbit_s1a_matches_cdse_records():
    items = json.loads((DATA / "cdse_odata" / "earth_extractor_s1_iw_grdh_3products.json").read_text())["value"]
    for item in items:
        attrs = {a["Name"]: a["Value"] for a in item["Attributes"]}
        assert relative_orbit("S1A", attrs["orbitNumber"]) == attrs["relativeOrbitNumber"]


def test_relative_orbit_s1b_matches_asf_records():
    feats = json.loads((DATA / "asf" / "searchapi_platform_SB_GRD_HD_subset.geojson").read_text())["features"]
    pairs = {(int(f["properties"]["orbit"]), int(f["properties"]["pathNumber"])) for f in feats}
    assert pairs
    for absolute, path in pairs:
        assert relative_orbit("S1B", absolute) == path
    rec = json.loads((DATA / "asf" / "asf_search_S1B_IW_GRDH_GRD_HD_product_with_cmr_umm.json").read_text())
    assert relative_orbit("S1B", rec["properties"]["orbit"]) == rec["properties"]["pathNumber"] == 94


def test_relative_orbit_s1c_matches_cdse_stac_item():
    (path,) = (DATA / "cdse_stac").glob("*S1C*.json")
    props = json.loads(path.read_text())["properties"]
    assert relative_orbit("S1C", props["sat:absolute_orbit"]) == props["sat:relative_orbit"] == 57


def test_relative_orbit_range_and_unknown_mission():
    assert {relative_orbit("S1A", n) for n in range(1, 1000)} == set(range(1, 176))
    with pytest.raises(ValueError, match="S1D"):
        relative_orbit("S1D", 100)


def test_parse_polarisations():
    assert parse_polarisations("VV&VH") == ("VV", "VH") == parse_polarisations("vv+vh") == parse_polarisations(["VV", "VH"])
    with pytest.raises(ValueError, match="expected VV, VH, HH, HV"):
        parse_polarisations("VV&XX")


def _rec(**kw):
    base = dict(
        name=NAME + ".SAFE", provider_id="x", start=datetime(2017, 6, 13, 16, 50, 43, tzinfo=timezone.utc),
        stop=datetime(2017, 6, 13, 16, 51, 8, tzinfo=timezone.utc), mission="S1A", absolute_orbit=17013,
        relative_orbit=117, pass_direction="ASCENDING", polarisations=["VV", "VH"], footprint=box(0, 0, 1, 1),
        size=10, checksums={"md5": "ABC"}, download_url="https://x", source="cdse",
    )
    base.update(kw)
    return ProductRecord(**base)


def test_product_record_normalises_and_validates():
    r = _rec()
    assert r.name == NAME and r.polarisations == ("VV", "VH") and r.checksums == {"MD5": "abc"}
    assert hash(r) == hash(_rec()) and r == _rec()
    assert r.product_name.absolute_orbit == 17013
    with pytest.raises(ValueError, match="timezone-aware"):
        _rec(start=datetime(2017, 6, 13))
    with pytest.raises(ValueError, match="pass_direction 'ASC'"):
        _rec(pass_direction="ASC")
    with pytest.raises(ValueError, match="source 'scihub'"):
        _rec(source="scihub")
    with pytest.raises(ProductNameError):
        _rec(name="garbage")
    with pytest.raises(ValueError, match="relative_orbit 0"):
        _rec(relative_orbit=0)


def test_progress_throttle_every_percent_and_seconds():
    now = [0.0]
    got: list[DownloadProgress] = []
    t = ProgressThrottle(got.append, "p", 1000, every_percent=10, every_seconds=10, clock=lambda: now[0])
    for b in range(0, 1001, 10):  # 1 % steps, 0.1 s apart
        now[0] += 0.1
        t.update(b)
    assert [round(p.percent) for p in got] == list(range(0, 101, 10))
    got.clear()
    t2 = ProgressThrottle(got.append, "p", None, every_percent=10, every_seconds=10, clock=lambda: now[0])
    for i in range(30):
        now[0] += 1
        t2.update(i * 1024 * 1024)
    assert len(got) == 3 and got[0].percent is None  # unknown total: every 10 s
    assert got[-1].rate_mb_s == pytest.approx(1.0, rel=0.2)
    assert "MB/s" in str(got[-1])
