"""Copernicus Data Space Ecosystem (CDSE): OData catalogue search, login tokens, download URLs.

Search needs no login. Downloads (``<download_base>/Products(<Id>)/$value``) need a bearer token
from CDSE's Keycloak (``grant_type=password``, ``client_id=cdse-public``); :class:`CdseTokenProvider`
logs in, refreshes before expiry with ``grant_type=refresh_token`` and on demand after a 401, and is
the ``auth`` callable a :class:`~.download.Downloader` takes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

import requests
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from .credentials import Credentials
from .download import redact_url
from .errors import AuthError, AuthUnavailableError, CatalogError, CatalogUnavailableError, ProductNameError
from .records import (
    Catalog,
    ProductRecord,
    check_footprint,
    check_search_window,
    parse_polarisations,
    parse_product_name,
    relative_orbit,
)

logger = logging.getLogger(__name__)

CATALOGUE_URL = "https://catalogue.dataspace.copernicus.eu/odata/v1"
DOWNLOAD_URL = "https://zipper.dataspace.copernicus.eu/odata/v1"
IDENTITY_URL = "https://identity.dataspace.copernicus.eu"
TOKEN_PATH = "/auth/realms/CDSE/protocol/openid-connect/token"
CLIENT_ID = "cdse-public"
MAX_SKIP = 10_000  # the catalogue refuses larger $skip values
TRANSIENT_STATUS = {408, 425, 429, 500, 502, 503, 504}  # worth trying again later


# -- credentials and tokens --------------------------------------------------------------------
class CdseCredentials(Credentials):
    """CDSE user name and password (``from_env()`` reads CDSE_USERNAME / CDSE_PASSWORD)."""

    env_user = "CDSE_USERNAME"
    env_password = "CDSE_PASSWORD"


class CdseTokenProvider:
    """Bearer tokens for CDSE downloads: login, refresh before expiry, refresh on demand.

    ``provider()`` returns a token valid for at least ``margin`` seconds;
    ``provider(force_refresh=True)`` gets a new one (after a 401). Thread-safe.
    """

    def __init__(
        self,
        credentials: CdseCredentials,
        *,
        identity_url: str = IDENTITY_URL,
        session: requests.Session | None = None,
        timeout: float = 30.0,
        margin: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._credentials = credentials
        self.token_url = identity_url.rstrip("/") + TOKEN_PATH
        self.session = session or requests.Session()
        self.timeout = timeout
        self.margin = margin
        self.clock = clock
        self._lock = threading.Lock()
        self._access: str | None = None
        self._access_expires = 0.0
        self._refresh: str | None = None
        self._refresh_expires = 0.0

    def __repr__(self) -> str:
        return f"CdseTokenProvider(username=***, token_url={self.token_url!r})"

    def __call__(self, force_refresh: bool = False) -> str:
        with self._lock:
            now = self.clock()
            if self._access is not None and not force_refresh and now < self._access_expires - self.margin:
                return self._access
            if self._refresh is not None and now < self._refresh_expires - 5:
                try:
                    self._grant({"grant_type": "refresh_token", "refresh_token": self._refresh})
                    return self._access  # type: ignore[return-value]
                except AuthError as exc:
                    logger.info("CDSE token refresh refused (%s); logging in again", exc)
            self._grant(
                {
                    "grant_type": "password",
                    "username": self._credentials.username,
                    "password": self._credentials.password,
                }
            )
            return self._access  # type: ignore[return-value]

    def _grant(self, data: dict[str, str]) -> None:
        grant = data["grant_type"]
        data = {**data, "client_id": CLIENT_ID}
        now = self.clock()
        try:
            resp = self.session.post(self.token_url, data=data, timeout=self.timeout)
        except requests.RequestException as exc:
            # never chain the request exception: its repr may hold the form body
            raise AuthUnavailableError(
                f"CDSE {grant} grant: cannot reach {redact_url(self.token_url)} ({type(exc).__name__})"
            ) from None
        if resp.status_code != 200:
            detail = ""
            try:
                body = resp.json()
                detail = f": {body.get('error', '')} {body.get('error_description', '')}".rstrip()
            except ValueError:
                pass
            # the user name is not said: it identifies an account, like the password
            cls = AuthUnavailableError if resp.status_code in TRANSIENT_STATUS else AuthError
            raise cls(
                f"CDSE {grant} grant (CDSE_USERNAME/CDSE_PASSWORD) refused by "
                f"{redact_url(self.token_url)} (HTTP {resp.status_code}{detail})"
            )
        try:
            body = resp.json()
            self._access = body["access_token"]
            self._access_expires = now + float(body.get("expires_in", 600))
            self._refresh = body.get("refresh_token")
            self._refresh_expires = now + float(body.get("refresh_expires_in", 3600))
        except (ValueError, KeyError, TypeError):
            raise AuthError(f"CDSE {grant} grant: {redact_url(self.token_url)} answered without an access_token") from None
        logger.info("CDSE %s grant: new access token valid for %.0f s", grant, self._access_expires - now)


# -- catalogue ---------------------------------------------------------------------------------
def _odata_time(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _wkt(geom: BaseGeometry) -> str:
    text = shapely.to_wkt(geom, rounding_precision=6, trim=True)
    return text.replace("POLYGON ((", "POLYGON((").replace("MULTIPOLYGON (((", "MULTIPOLYGON(((")


def _string_attr(name: str, value: str) -> str:
    return (
        "Attributes/OData.CSC.StringAttribute/any(att:att/Name eq "
        f"'{name}' and att/OData.CSC.StringAttribute/Value eq '{value}')"
    )


def build_filter(
    footprint_wgs84: BaseGeometry,
    start: datetime,
    end: datetime,
    *,
    product_type: str = "IW_GRDH_1S",
    polarisation: str | None = "VV&VH",
) -> str:
    """The OData ``$filter`` for IW GRDH products intersecting a lon/lat geometry in [start, end]."""
    start, end = check_search_window(start, end)
    check_footprint(footprint_wgs84)
    parts = [
        "Collection/Name eq 'SENTINEL-1'",
        f"ContentDate/Start ge {_odata_time(start)}",
        f"ContentDate/Start le {_odata_time(end)}",
        f"OData.CSC.Intersects(area=geography'SRID=4326;{_wkt(footprint_wgs84)}')",
        _string_attr("productType", product_type),
    ]
    if polarisation:
        parts.append(_string_attr("polarisationChannels", "&".join(parse_polarisations(polarisation))))
    return " and ".join(parts)


def _attributes(item: dict[str, Any]) -> dict[str, Any]:
    return {a.get("Name"): a.get("Value") for a in item.get("Attributes") or [] if isinstance(a, dict)}


def _footprint(item: dict[str, Any], name: str) -> BaseGeometry:
    geo = item.get("GeoFootprint")
    if isinstance(geo, dict) and geo.get("coordinates"):
        return shape(geo)
    text = item.get("Footprint")
    if isinstance(text, str) and "POLYGON" in text.upper():
        wkt = text.split(";", 1)[-1].strip().rstrip("'")
        return shapely.from_wkt(wkt)
    raise CatalogError(f"CDSE product {name}: no GeoFootprint/Footprint polygon")


def _time(value: Any, field: str, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise CatalogError(f"CDSE product {name}: {field} {value!r} is not an ISO 8601 time") from None
    # catalogue times are UTC; some (ASF SearchAPI) omit the zone
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def product_to_record(item: dict[str, Any], download_base: str = DOWNLOAD_URL) -> ProductRecord:
    """One OData product JSON (with ``$expand=Attributes``) -> :class:`ProductRecord`."""
    raw_name = item.get("Name")
    pid = item.get("Id")
    if not raw_name or not pid:
        raise CatalogError(f"CDSE product without Name/Id: {str(item)[:200]}")
    try:
        parsed = parse_product_name(raw_name)
    except ProductNameError as exc:
        raise CatalogError(f"CDSE product {pid}: {exc}") from None
    attrs = _attributes(item)
    dates = item.get("ContentDate") or {}
    absolute = int(attrs.get("orbitNumber") or parsed.absolute_orbit)
    rel = attrs.get("relativeOrbitNumber")
    direction = str(attrs.get("orbitDirection") or "").upper()
    if direction not in ("ASCENDING", "DESCENDING"):
        raise CatalogError(f"CDSE product {raw_name}: orbitDirection {attrs.get('orbitDirection')!r}")
    pols = attrs.get("polarisationChannels")
    size = item.get("ContentLength")
    checksums = {
        str(c["Algorithm"]).upper(): str(c["Value"]).lower()
        for c in item.get("Checksum") or []
        if isinstance(c, dict) and c.get("Algorithm") and c.get("Value")
    }
    return ProductRecord(
        name=parsed.name,
        provider_id=str(pid),
        start=_time(dates.get("Start") or attrs.get("beginningDateTime"), "ContentDate/Start", raw_name),
        stop=_time(dates.get("End") or attrs.get("endingDateTime"), "ContentDate/End", raw_name),
        mission=parsed.mission,
        absolute_orbit=absolute,
        relative_orbit=int(rel) if rel is not None else relative_orbit(parsed.mission, absolute),
        pass_direction=direction,
        polarisations=parse_polarisations(pols) if pols else parsed.polarisations,
        footprint=_footprint(item, raw_name),
        # ContentLength 0 was the catalogue's "unknown" until 2024
        size=int(size) if size else None,
        checksums=checksums,
        download_url=f"{download_base.rstrip('/')}/Products({pid})/$value",
        source="cdse",
    )


class CdseCatalog(Catalog):
    """Search the CDSE OData catalogue for Sentinel-1 IW GRDH products."""

    source = "cdse"

    def __init__(
        self,
        *,
        base_url: str = CATALOGUE_URL,
        download_base: str = DOWNLOAD_URL,
        product_type: str = "IW_GRDH_1S",
        page_size: int = 100,
        session: requests.Session | None = None,
        timeout: float = 60.0,
    ) -> None:
        if not 1 <= page_size <= 1000:
            raise ValueError(f"page_size {page_size}: expected 1..1000 (the catalogue's $top limit)")
        self.base_url = base_url.rstrip("/")
        self.download_base = download_base.rstrip("/")
        self.product_type = product_type
        self.page_size = page_size
        self.session = session or requests.Session()
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"CdseCatalog(base_url={self.base_url!r}, product_type={self.product_type!r})"

    def _get(self, url: str, params: dict[str, Any] | None) -> dict[str, Any]:
        try:
            resp = self.session.get(url, params=params, timeout=self.timeout)
        except requests.RequestException as exc:
            raise CatalogUnavailableError(f"CDSE catalogue {redact_url(url)}: {type(exc).__name__}") from None
        if resp.status_code != 200:
            cls = CatalogUnavailableError if resp.status_code in TRANSIENT_STATUS else CatalogError
            raise cls(f"CDSE catalogue {redact_url(url)}: HTTP {resp.status_code}: {resp.text[:300]}")
        try:
            body = resp.json()
        except ValueError:
            raise CatalogError(f"CDSE catalogue {redact_url(url)}: answer is not JSON: {resp.text[:200]!r}") from None
        if not isinstance(body, dict) or not isinstance(body.get("value"), list):
            raise CatalogError(f"CDSE catalogue {redact_url(url)}: no 'value' list in the answer")
        return body

    def iter_products(self, odata_filter: str, *, orderby: str = "ContentDate/Start asc") -> Iterator[dict[str, Any]]:
        """Raw product JSONs of a ``$filter``, all pages (``@odata.nextLink`` if given, else ``$skip``)."""
        url = f"{self.base_url}/Products"
        params: dict[str, Any] | None = {
            "$filter": odata_filter,
            "$orderby": orderby,
            "$top": self.page_size,
            "$expand": "Attributes",
        }
        skip = 0
        while True:
            body = self._get(url, params)
            page = body["value"]
            yield from page
            next_link = body.get("@odata.nextLink")
            if next_link:
                url, params = next_link, None
                continue
            if len(page) < self.page_size or params is None:
                return
            skip += self.page_size
            if skip > MAX_SKIP:
                raise CatalogError(
                    f"CDSE catalogue: more than {MAX_SKIP} results; narrow the search window or footprint"
                )
            params = {**params, "$skip": skip}

    def search(
        self,
        footprint_wgs84: BaseGeometry,
        start: datetime,
        end: datetime,
        polarisation: str = "VV&VH",
    ) -> list[ProductRecord]:
        """IW GRDH (``productType`` IW_GRDH_1S, never the ``_COG`` copies) products, oldest first.

        OData's productType is ``IW_GRDH_1S`` for S1A, S1B and S1C alike (CDSE's *STAC*
        ``product:type`` appends ``_B``/``_C`` per platform; not used here). Not checked against a
        recorded S1C OData answer: none was available.
        """
        odata_filter = build_filter(
            footprint_wgs84, start, end, product_type=self.product_type, polarisation=polarisation
        )
        records: dict[str, ProductRecord] = {}
        for item in self.iter_products(odata_filter):
            name = str(item.get("Name", ""))
            ptype = _attributes(item).get("productType")
            if name.removesuffix(".SAFE").endswith("_COG") or (ptype and ptype != self.product_type):
                logger.debug("CDSE: skipping %s (productType %s)", name, ptype)
                continue
            rec = product_to_record(item, self.download_base)
            records.setdefault(rec.name, rec)
        return sorted(records.values(), key=lambda r: (r.start, r.name))
