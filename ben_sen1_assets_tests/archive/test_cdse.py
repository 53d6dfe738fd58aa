"""CDSE OData client against a loopback server serving recorded (and documented-format) answers."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
from shapely.geometry import Polygon, box

from ben_sen1_assets.archive.cdse import (
    CdseCatalog,
    CdseCredentials,
    CdseTokenProvider,
    product_to_record,
)
from ben_sen1_assets.archive.download import Downloader, RetryPolicy
from ben_sen1_assets.archive.errors import AuthError, CatalogError
from ben_sen1_assets.archive.records import relative_orbit
from ben_sen1_assets.archive.store import ProductStore

from .conftest import DATA

CDSE = DATA / "cdse_odata"
RECORDED_HOST = "https://catalogue.dataspace.copernicus.eu"


def _query(request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(request["path"]).query, keep_blank_values=True).items()}


def _pages_route(srv_holder):
    """Serve CDSETool's 5 recorded pages; rewrite their nextLink host to this server (server side)."""
    pages = [json.loads((CDSE / f"cdsetool_s1_odata_page_{i}.json").read_text()) for i in range(1, 6)]

    def route(h, _body):
        q = {k: v[0] for k, v in parse_qs(urlsplit(h.path).query).items()}
        page = copy.deepcopy(pages[int(q.get("$skip", 0)) // 10])
        if "@odata.nextLink" in page:
            page["@odata.nextLink"] = page["@odata.nextLink"].replace(RECORDED_HOST, srv_holder[0].url)
        h.send_json(page)

    return route


def test_paging_follows_recorded_next_links(loopback):
    holder = []
    srv = loopback(_pages_route(holder))
    holder.append(srv)
    cat = CdseCatalog(base_url=f"{srv.url}/odata/v1", page_size=10)
    recorded_filter = (
        "Collection/Name eq 'SENTINEL-1' and ContentDate/Start gt 2014-04-05T00:00:00.000Z "
        "and ContentDate/Start lt 2014-04-14T00:00:00.000000Z"
    )
    items = list(cat.iter_products(recorded_filter))
    assert len(items) == 47 == json.loads((CDSE / "cdsetool_s1_odata_page_1.json").read_text())["@odata.count"]
    assert len({i["Id"] for i in items}) == 47
    assert len(srv.requests) == 5
    first = _query(srv.requests[0])
    assert first["$filter"] == recorded_filter and first["$top"] == "10" and first["$expand"] == "Attributes"
    # requests 2..5 are exactly the recorded nextLinks (host rewritten by the server)
    for i, req in enumerate(srv.requests[1:], start=1):
        link = json.loads((CDSE / f"cdsetool_s1_odata_page_{i}.json").read_text())["@odata.nextLink"]
        assert req["path"] == link[len(RECORDED_HOST):]
    # search() drops everything that is not IW_GRDH_1S (these are AUX files), following the links
    holder_srv_requests = len(srv.requests)
    assert cat.search(box(0, 0, 1, 1), datetime(2014, 4, 5), datetime(2014, 4, 14)) == []
    assert len(srv.requests) - holder_srv_requests == 5


def test_search_builds_the_filter_and_maps_recorded_grdh_products(loopback):
    body = (CDSE / "earth_extractor_s1_iw_grdh_3products.json").read_bytes()
    srv = loopback(lambda h, _b: h.send_json(body))
    cat = CdseCatalog(base_url=f"{srv.url}/odata/v1", download_base="https://dl.example/odata/v1", page_size=50)
    aoi = Polygon([(7, 46), (10, 46), (10, 48), (7, 48), (7, 46)])
    records = cat.search(aoi, datetime(2016, 11, 15, tzinfo=timezone.utc), datetime(2016, 11, 30, tzinfo=timezone.utc))

    assert len(srv.requests) == 1
    q = _query(srv.requests[0])
    f = q["$filter"]
    assert "Collection/Name eq 'SENTINEL-1'" in f
    assert "ContentDate/Start ge 2016-11-15T00:00:00.000Z" in f and "ContentDate/Start le 2016-11-30T00:00:00.000Z" in f
    assert "OData.CSC.Intersects(area=geography'SRID=4326;POLYGON((7 46, 10 46, 10 48, 7 48, 7 46))')" in f
    assert (
        "Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' and "
        "att/OData.CSC.StringAttribute/Value eq 'IW_GRDH_1S')" in f
    )
    assert "att/Name eq 'polarisationChannels' and att/OData.CSC.StringAttribute/Value eq 'VV&VH'" in f
    assert q["$top"] == "50" and q["$expand"] == "Attributes" and q["$orderby"] == "ContentDate/Start asc"

    assert [r.name for r in records] == [
        "S1A_IW_GRDH_1SDV_20161119T170709_20161119T170734_014014_01695F_0275",
        "S1A_IW_GRDH_1SDV_20161121T054245_20161121T054310_014036_016A10_DA15",
        "S1A_IW_GRDH_1SDV_20161128T053501_20161128T053526_014138_016D3F_6808",
    ]
    r0 = records[0]
    assert r0.provider_id == "a07ea1c1-f46b-5e0a-9e8a-ffe11b1abc2d" and r0.source == "cdse"
    assert r0.start == datetime(2016, 11, 19, 17, 7, 9, 166000, tzinfo=timezone.utc)
    assert r0.stop == datetime(2016, 11, 19, 17, 7, 34, 164000, tzinfo=timezone.utc)
    assert (r0.mission, r0.absolute_orbit, r0.pass_direction, r0.polarisations) == ("S1A", 14014, "ASCENDING", ("VV", "VH"))
    assert [r.relative_orbit for r in records] == [117, 139, 66]  # the catalogue's relativeOrbitNumber
    assert all(r.relative_orbit == relative_orbit("S1A", r.absolute_orbit) for r in records)
    assert [r.pass_direction for r in records] == ["ASCENDING", "DESCENDING", "DESCENDING"]
    assert r0.footprint.bounds == pytest.approx((9.031395, 46.924618, 12.88131, 48.819859))
    assert r0.size is None and r0.checksums == {}  # 2023 recording: ContentLength 0, Checksum []
    assert r0.download_url == "https://dl.example/odata/v1/Products(a07ea1c1-f46b-5e0a-9e8a-ffe11b1abc2d)/$value"


def test_footprint_string_fallback_and_bad_products():
    item = json.loads((CDSE / "earth_extractor_s1_iw_grdh_3products.json").read_text())["value"][1]
    ref = product_to_record(item)
    item2 = dict(item, GeoFootprint=None)
    assert product_to_record(item2).footprint.equals(ref.footprint)
    with pytest.raises(CatalogError, match="no GeoFootprint/Footprint"):
        product_to_record(dict(item, GeoFootprint=None, Footprint=None))
    with pytest.raises(CatalogError, match="not a Sentinel-1 product name"):
        product_to_record(dict(item, Name="S1A_AUX_INS_V20140406T010000_G20140409T142540.SAFE"))


def _current_format_products(product) -> list[dict]:
    """Today's CDSE field set on the recorded GRDH products (documented format, generated here):
    ``ContentLength`` > 0 and ``Checksum`` [MD5, BLAKE3] as in CDSETool's 2025/26 recording, plus
    a ``_COG`` duplicate (productType IW_GRDH_1S-COG) that the client must drop."""
    items = json.loads((CDSE / "earth_extractor_s1_iw_grdh_3products.json").read_text())["value"]
    out = []
    for i, item in enumerate(items):
        item = copy.deepcopy(item)
        item.pop("Assets", None)
        item["ContentLength"] = product.size
        item["Checksum"] = [
            {"Value": product.md5, "Algorithm": "MD5", "ChecksumDate": "2025-10-10T17:56:17.610209Z"},
            {"Value": product.blake3, "Algorithm": "BLAKE3", "ChecksumDate": "2025-10-10T17:56:17.631542Z"},
        ]
        out.append(item)
        if i == 0:
            cog = copy.deepcopy(item)
            cog["Id"] = "00000000-0000-0000-0000-00000000c0c0"
            cog["Name"] = item["Name"].replace(".SAFE", "_COG.SAFE")
            for a in cog["Attributes"]:
                if a["Name"] == "productType":
                    a["Value"] = "IW_GRDH_1S-COG"
            out.append(cog)
    return out


def test_skip_paging_and_cog_duplicates_dropped(loopback, product):
    items = _current_format_products(product)

    def route(h, _b):
        q = {k: v[0] for k, v in parse_qs(urlsplit(h.path).query).items()}
        skip, top = int(q.get("$skip", 0)), int(q["$top"])
        h.send_json({"@odata.context": "$metadata#Products(Attributes())", "value": items[skip : skip + top]})

    srv = loopback(route)
    records = CdseCatalog(base_url=f"{srv.url}/odata/v1", page_size=2).search(
        box(7, 46, 10, 48), datetime(2016, 11, 15), datetime(2016, 11, 30)
    )
    assert [_query(r).get("$skip") for r in srv.requests] == [None, "2", "4"]
    assert len(records) == 3 and not any(r.name.endswith("_COG") for r in records)
    assert records[0].checksums == {"MD5": product.md5, "BLAKE3": product.blake3}
    assert records[0].size == product.size


def test_catalogue_http_error_is_clear(loopback):
    srv = loopback(lambda h, _b: h.send_json({"detail": "Invalid filter"}, status=400))
    with pytest.raises(CatalogError, match="HTTP 400.*Invalid filter"):
        CdseCatalog(base_url=srv.url).search(box(7, 46, 10, 48), datetime(2016, 11, 15), datetime(2016, 11, 30))


# -- Keycloak token endpoint (nothing recorded: responses in the documented OpenID Connect format)
class Identity:
    def __init__(self, loopback, user="alice@example.org", password="pa55-w0rd!"):
        self.user, self.password = user, password
        self.n = 0
        self.srv = loopback(self.route)
        self.url = self.srv.url

    def route(self, h, body):
        assert h.path == "/auth/realms/CDSE/protocol/openid-connect/token"
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        ok = form.get("client_id") == "cdse-public" and (
            (form.get("grant_type") == "password" and form.get("username") == self.user and form.get("password") == self.password)
            or (form.get("grant_type") == "refresh_token" and form.get("refresh_token", "").startswith("refresh-"))
        )
        if not ok:
            h.send_json({"error": "invalid_grant", "error_description": "Invalid user credentials"}, status=401)
            return
        self.n += 1
        h.send_json({
            "access_token": f"access-{self.n}", "expires_in": 600, "refresh_expires_in": 3600,
            "refresh_token": f"refresh-{self.n}", "token_type": "Bearer", "not-before-policy": 0,
            "session_state": "x", "scope": "AUDIENCE_PUBLIC openid email profile user-context",
        })

    def grants(self):
        return [parse_qs(r["body"].decode())["grant_type"][0] for r in self.srv.requests]


def test_token_login_refresh_before_expiry_and_on_demand(loopback):
    idp = Identity(loopback)
    now = [1000.0]
    tp = CdseTokenProvider(CdseCredentials(idp.user, idp.password), identity_url=idp.url, clock=lambda: now[0], margin=60)
    assert tp() == "access-1"
    now[0] += 500
    assert tp() == "access-1"  # still valid for > 60 s
    now[0] += 60  # 40 s left < margin: refresh with the refresh token
    assert tp() == "access-2"
    assert tp(force_refresh=True) == "access-3"
    now[0] += 5000  # refresh token expired too: log in again
    assert tp() == "access-4"
    assert idp.grants() == ["password", "refresh_token", "refresh_token", "password"]


def test_failed_login_never_shows_the_password(loopback, caplog):
    caplog.set_level("DEBUG")
    idp = Identity(loopback)
    creds = CdseCredentials(idp.user, "wrong-pa55word-xyz")
    assert "wrong-pa55word-xyz" not in repr(creds) and "wrong-pa55word-xyz" not in str(creds)
    tp = CdseTokenProvider(creds, identity_url=idp.url)
    with pytest.raises(AuthError) as err:
        tp()
    text = str(err.value) + repr(err.value) + repr(tp)
    assert "wrong-pa55word-xyz" not in text and "invalid_grant" in text and "HTTP 401" in text
    assert err.value.__cause__ is None and err.value.__context__ is None  # no chained request objects
    assert "wrong-pa55word-xyz" not in caplog.text


def test_credentials_from_env(monkeypatch):
    monkeypatch.setenv("CDSE_USERNAME", "u")
    monkeypatch.delenv("CDSE_PASSWORD", raising=False)
    with pytest.raises(AuthError, match="CDSE_PASSWORD is not set"):
        CdseCredentials.from_env()


def test_search_download_with_token_refresh_into_the_store(tmp_path, loopback, product, product_server):
    """Catalogue -> record -> store.fetch with a CDSE token that the zipper refuses once (401)."""
    items = _current_format_products(product)[:1]
    items[0]["Name"] = f"{product.name}.SAFE"  # the served zip is this product
    cat_srv = loopback(lambda h, _b: h.send_json({"value": items}))
    idp = Identity(loopback)
    zipper = product_server(token="access-2")  # the first token is "expired" for the zipper
    cat = CdseCatalog(base_url=f"{cat_srv.url}/odata/v1", download_base=f"{zipper.server.url}/odata/v1")
    (rec,) = cat.search(box(7, 46, 10, 48), datetime(2016, 11, 15), datetime(2016, 11, 30))
    tp = CdseTokenProvider(CdseCredentials(idp.user, idp.password), identity_url=idp.url)
    store = ProductStore(tmp_path / "store")
    path = store.fetch(rec, Downloader(auth=tp, policy=RetryPolicy(backoff=0.01)))
    assert path.read_bytes() == product.data
    assert [r["path"] for r in zipper.requests] == [f"/odata/v1/Products({rec.provider_id})/$value"] * 2
    assert [r["headers"]["Authorization"] for r in zipper.requests] == ["Bearer access-1", "Bearer access-2"]
    assert idp.grants() == ["password", "refresh_token"]
