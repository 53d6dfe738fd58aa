"""DHuS client (sentinelsat, unmodified) against a loopback server serving recorded DHuS answers."""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime, timezone
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from shapely.geometry import Polygon

from ben_sen1_assets.archive.dhus import DhusCatalog, DhusCredentials
from ben_sen1_assets.archive.errors import AuthError
from ben_sen1_assets.archive.records import relative_orbit

from .conftest import DATA

DHUS = DATA / "scihub_dhus"
RECORDED = "https://apihub.copernicus.eu/apihub/"
USER, PASSWORD = "hub-user", "hub-pa55w0rd-secret"


def _hub(loopback):
    holder = []

    def route(h, _body):
        auth = h.headers.get("Authorization", "")
        if auth != "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode():
            h.send_json({"error": {"code": 401, "message": "Unauthorized"}}, status=401)
            return
        base = holder[0].url + "/apihub/"
        path = urlsplit(h.path).path
        if path == "/apihub/search":
            feed = json.loads((DHUS / "dhus_search_iw_grdh_3rows.json").read_text())
            # the recording is the first 3-row page of a 10000-result query; served here as the
            # complete answer, so its total is set to the 3 rows it holds
            feed["feed"]["opensearch:totalResults"] = str(len(feed["feed"]["entry"]))
            h.send_json(json.dumps(feed).replace(RECORDED, base))
            return
        m = re.fullmatch(r"/apihub/odata/v1/Products\('([0-9a-f-]+)'\)", path)
        if m and (DHUS / f"dhus_odata_product_{m.group(1)}.json").exists():
            h.send_json((DHUS / f"dhus_odata_product_{m.group(1)}.json").read_text().replace(RECORDED, base))
            return
        h.send_json({"error": {"code": 404, "message": "not found"}}, status=404)

    srv = loopback(route)
    holder.append(srv)
    return srv


AOI = Polygon([(-30, 37), (-26, 37), (-26, 39), (-30, 39), (-30, 37)])


def test_search_query_and_records(loopback):
    srv = _hub(loopback)
    cat = DhusCatalog(f"{srv.url}/apihub/", DhusCredentials(USER, PASSWORD))
    assert PASSWORD not in repr(cat)
    records = cat.search(AOI, datetime(2023, 3, 1, tzinfo=timezone.utc), datetime(2023, 3, 31, tzinfo=timezone.utc))
    assert len(srv.requests) == 1
    q = unquote(parse_qs(urlsplit(srv.requests[0]["path"]).query)["q"][0])
    assert 'beginPosition:["2023-03-01T00:00:00Z" TO "2023-03-31T00:00:00Z"]' in q
    assert 'footprint:"Intersects(POLYGON ((-30 37, -26 37, -26 39, -30 39, -30 37)))"' in q
    assert 'producttype:"GRD"' in q and 'sensoroperationalmode:"IW"' in q and 'polarisationmode:"VV VH"' in q
    assert 'platformname:"Sentinel-1"' in q

    assert len(records) == 3
    r = next(r for r in records if r.provider_id == "753c29d7-42c4-4ff9-a962-bfb4219816c6")
    assert r.name == "S1A_IW_GRDH_1SDV_20230310T075746_20230310T075811_047579_05B6B2_8312" and r.source == "dhus"
    assert (r.absolute_orbit, r.relative_orbit, r.pass_direction) == (47579, 82, "DESCENDING")
    assert all(x.relative_orbit == relative_orbit(x.mission, x.absolute_orbit) for x in records)
    assert r.start == datetime(2023, 3, 10, 7, 57, 46, 67000, tzinfo=timezone.utc)
    assert r.polarisations == ("VV", "VH") and r.footprint.geom_type == "Polygon"
    assert r.footprint.bounds == pytest.approx((-30.02804, 37.054382, -26.823713, 38.955353))
    assert r.size is None and r.checksums == {}

    # size and MD5 from the OData v2 entry, download URL on the hub
    full = cat.complete(r)
    assert full.size == 841709916 and full.checksums == {"MD5": "69bdce1998ccc02f56193290d38322e9"}
    assert full.download_url == f"{srv.url}/apihub/odata/v1/Products('753c29d7-42c4-4ff9-a962-bfb4219816c6')/$value"
    assert srv.requests[-1]["path"] == "/apihub/odata/v1/Products('753c29d7-42c4-4ff9-a962-bfb4219816c6')?$format=json"
    d = cat.downloader()
    assert d.session.auth == (USER, PASSWORD) and PASSWORD not in repr(d)


def test_refused_login_is_an_auth_error_without_the_password(loopback):
    srv = _hub(loopback)
    cat = DhusCatalog(f"{srv.url}/apihub/", DhusCredentials(USER, "wrong-secret-123"))
    with pytest.raises(AuthError) as err:
        cat.search(AOI, datetime(2023, 3, 1), datetime(2023, 3, 31))
    assert "wrong-secret-123" not in str(err.value) + repr(err.value) and "401" in str(err.value)
    assert err.value.__cause__ is None and err.value.__suppress_context__
