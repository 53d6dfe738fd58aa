"""ASF client (asf_search, unmodified) against a loopback HTTPS server speaking CMR's umm_json."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from urllib.parse import parse_qs

import asf_search
import pytest
from shapely.geometry import Polygon

from ben_sen1_assets.archive.asf import AsfCatalog, product_to_record
from ben_sen1_assets.archive.errors import CatalogError
from ben_sen1_assets.archive.records import relative_orbit

from .conftest import DATA

# asf_search 14.1 calls shapely.ops.transform (deprecated in shapely 2.1): not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:The 'shapely.ops.transform:DeprecationWarning")

ASF = DATA / "asf"
RECORD = json.loads((ASF / "asf_search_S1B_IW_GRDH_GRD_HD_product_with_cmr_umm.json").read_text())


def _session(ca_file: str) -> asf_search.ASFSession:
    s = asf_search.ASFSession()
    s.verify = ca_file
    s.trust_env = False  # REQUESTS_CA_BUNDLE / proxies from the environment would override verify
    return s


def _cmr(items, status=200):
    # CMR's umm_json envelope (documented format: hits, took, items[{meta, umm}]) around the
    # recorded granule; nothing of the envelope was recorded
    def route(h, _body):
        if status != 200:
            h.send_json({"errors": ["Internal error"]}, status=status)
            return
        h.send_json({"hits": len(items), "took": 12, "items": items}, headers={"CMR-Hits": str(len(items))})

    return route


AOI = Polygon([(-149.5, 64.2), (-146.0, 64.1), (-145.5, 65.6), (-149.0, 65.8), (-149.5, 64.2)])


def test_search_sends_the_right_cmr_query_and_maps_the_record(loopback, loopback_tls):
    ctx, ca = loopback_tls
    srv = loopback(_cmr([{"meta": RECORD["meta"], "umm": RECORD["umm"]}]), ssl_context=ctx)
    cat = AsfCatalog(host=f"127.0.0.1:{srv.port}", session=_session(ca))
    records = cat.search(AOI, datetime(2021, 11, 1, tzinfo=timezone.utc), datetime(2021, 11, 20, tzinfo=timezone.utc))

    assert len(srv.requests) == 1
    req = srv.requests[0]
    assert req["method"] == "POST" and req["path"] == "/search/granules.umm_json"
    form = parse_qs(req["body"].decode())
    assert {"SENTINEL-1A_DP_GRD_HIGH", "SENTINEL-1B_DP_GRD_HIGH", "SENTINEL-1C_DP_GRD_HIGH"} <= set(form["shortName"])
    assert "string,BEAM_MODE,IW" in form["attribute[]"]
    assert any(a.startswith("string,POLARIZATION,VV+VH") for a in form["attribute[]"])
    assert form["temporal"] == ["2021-11-01T00:00:00Z,2021-11-20T00:00:00Z,"]
    polygon = [float(v) for v in form["polygon"][0].split(",")]
    sent = Polygon(list(zip(polygon[::2], polygon[1::2])))
    assert sent.symmetric_difference(AOI).area < 1e-9  # the AOI itself (asf_search may reorient it)

    (r,) = records
    assert r.name == "S1B_IW_GRDH_1SDV_20211110T032039_20211110T032104_029520_0385E6_60DB"
    assert r.source == "asf" and r.provider_id == r.name + "-GRD_HD"
    assert (r.mission, r.absolute_orbit, r.relative_orbit) == ("S1B", 29520, 94)
    assert r.relative_orbit == relative_orbit("S1B", 29520)
    assert r.pass_direction == "ASCENDING"  # UMM ASCENDING_DESCENDING
    assert r.polarisations == ("VV", "VH")
    assert r.start == datetime(2021, 11, 10, 3, 20, 39, tzinfo=timezone.utc)
    assert r.stop == datetime(2021, 11, 10, 3, 21, 4, tzinfo=timezone.utc)
    assert r.size == 885840896 and r.checksums == {"MD5": "ae94d5f09bb00118e2c1429de067fad4"}
    assert r.download_url == (
        "https://datapool.asf.alaska.edu/GRD_HD/SB/S1B_IW_GRDH_1SDV_20211110T032039_20211110T032104_029520_0385E6_60DB.zip"
    )
    assert r.footprint.bounds == pytest.approx((-150.149414, 63.992542, -144.131241, 65.926117))


def test_cmr_server_error_is_a_catalog_error(loopback, loopback_tls, monkeypatch):
    ctx, ca = loopback_tls
    srv = loopback(_cmr([], status=400), ssl_context=ctx)
    cat = AsfCatalog(host=f"127.0.0.1:{srv.port}", session=_session(ca))
    with pytest.raises(CatalogError, match="ASF search via 127.0.0.1"):
        cat.search(AOI, datetime(2021, 11, 1), datetime(2021, 11, 20))
    assert asf_search.REPORT_ERRORS is False  # nothing was posted to ASF's error endpoint
    assert all(r["path"].startswith("/search/") for r in srv.requests)


def test_searchapi_geojson_features_map_and_relative_orbits_agree():
    """ASF SearchAPI features (real, S1B 2019): pathNumber equals the S1B formula."""
    feats = json.loads((ASF / "searchapi_platform_SB_GRD_HD_subset.geojson").read_text())["features"]
    grd = [f for f in feats if f["properties"]["processingLevel"] == "GRD_HD"]
    assert len(grd) == 3
    for f in grd:
        props = dict(f["properties"], sceneName=f["properties"]["granuleName"], fileID=f["properties"]["fileName"])
        rec = product_to_record(props, f["geometry"])
        assert rec.relative_orbit == int(f["properties"]["pathNumber"]) == relative_orbit("S1B", rec.absolute_orbit)
        assert rec.checksums["MD5"] == f["properties"]["md5sum"] and rec.size == int(f["properties"]["bytes"])


def test_missing_flight_direction_is_a_clear_error():
    props = dict(RECORD["properties"], flightDirection=None)
    with pytest.raises(CatalogError, match="flightDirection None"):
        product_to_record(props, RECORD["geometry"])
