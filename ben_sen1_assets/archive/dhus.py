"""DHuS-based hubs (collaborative ground segments, mirrors) through ``sentinelsat``.

SciHub itself closed in 2023; the same DHuS software still runs national mirrors, whose
archives are regional and often rolling. Search: OpenSearch (``producttype:GRD``,
``sensoroperationalmode:IW``, footprint intersects, ``beginPosition`` window). The OpenSearch
answer has no exact size and no checksum: :meth:`DhusCatalog.complete` fetches them from the
hub's OData v2 product entry (``ContentLength``, MD5 ``Checksum``) right before a download.
Downloads use HTTP Basic auth: take the :class:`~.download.Downloader` from
:meth:`DhusCatalog.downloader`.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timezone
from typing import Any

import requests
import shapely
from sentinelsat import SentinelAPI
from sentinelsat.exceptions import SentinelAPIError
from shapely.geometry.base import BaseGeometry

from .credentials import Credentials
from .download import Downloader, RetryPolicy, redact_url
from .errors import AuthError, CatalogError, CatalogUnavailableError, ProductNameError
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


class DhusCredentials(Credentials):
    """DHuS hub user name and password (``from_env()`` reads DHUS_USERNAME / DHUS_PASSWORD)."""

    env_user = "DHUS_USERNAME"
    env_password = "DHUS_PASSWORD"


def _utc(value: Any, field: str, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise CatalogError(f"DHuS product {name}: {field} {value!r} is not a time")
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)  # DHuS times are UTC


def entry_to_record(uuid: str, props: dict[str, Any]) -> ProductRecord:
    """One sentinelsat-parsed OpenSearch entry -> :class:`ProductRecord` (size/checksum unknown)."""
    title = props.get("identifier") or props.get("title") or ""
    try:
        parsed = parse_product_name(title)
    except ProductNameError as exc:
        raise CatalogError(f"DHuS product {uuid}: {exc}") from None
    direction = str(props.get("orbitdirection") or "").upper()
    if direction not in ("ASCENDING", "DESCENDING"):
        raise CatalogError(f"DHuS product {title}: orbitdirection {props.get('orbitdirection')!r}")
    wkt = props.get("footprint")
    if not wkt:
        raise CatalogError(f"DHuS product {title}: no footprint")
    footprint = shapely.from_wkt(wkt)
    if footprint.geom_type == "MultiPolygon" and len(footprint.geoms) == 1:
        footprint = footprint.geoms[0]
    absolute = int(props.get("orbitnumber") or parsed.absolute_orbit)
    rel = props.get("relativeorbitnumber")
    pols = props.get("polarisationmode")
    return ProductRecord(
        name=parsed.name,
        provider_id=uuid,
        start=_utc(props.get("beginposition"), "beginposition", title),
        stop=_utc(props.get("endposition"), "endposition", title),
        mission=parsed.mission,
        absolute_orbit=absolute,
        relative_orbit=int(rel) if rel is not None else relative_orbit(parsed.mission, absolute),
        pass_direction=direction,
        polarisations=parse_polarisations(pols) if pols else parsed.polarisations,
        footprint=footprint,
        size=None,
        checksums={},
        download_url=str(props.get("link") or ""),
        source="dhus",
    )


class DhusCatalog(Catalog):
    """Search a DHuS hub (``api_url`` e.g. ``https://<mirror>/dhus/``) with sentinelsat."""

    source = "dhus"

    def __init__(
        self,
        api_url: str,
        credentials: Credentials | None = None,
        *,
        timeout: float = 60.0,
        page_size: int = 100,
    ) -> None:
        self._credentials = credentials
        user, password = (credentials.username, credentials.password) if credentials else (None, None)
        self.api_url = api_url
        self._api = SentinelAPI(user, password, api_url, show_progressbars=False, timeout=timeout)
        self._api.page_size = page_size

    def __repr__(self) -> str:
        return f"DhusCatalog(api_url={redact_url(self.api_url)!r}, credentials={'***' if self._credentials else None})"

    def _call(self, what: str, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SentinelAPIError as exc:
            status = getattr(getattr(exc, "response", None), "status_code", None)
            # the message only: exc.response holds the request with the Basic auth header
            msg = str(getattr(exc, "msg", "") or "").strip()[:300]
            if status in (401, 403):
                raise AuthError(f"DHuS {what} at {redact_url(self.api_url)}: HTTP {status} (credentials refused)") from None
            cls = CatalogUnavailableError if status in (408, 425, 429, 500, 502, 503, 504) else CatalogError
            raise cls(f"DHuS {what} at {redact_url(self.api_url)}: HTTP {status}: {msg}") from None
        except requests.RequestException as exc:
            raise CatalogUnavailableError(f"DHuS {what} at {redact_url(self.api_url)}: {type(exc).__name__}") from None

    def search(
        self,
        footprint_wgs84: BaseGeometry,
        start: datetime,
        end: datetime,
        polarisation: str = "VV&VH",
    ) -> list[ProductRecord]:
        """IW GRDH products (OpenSearch ``producttype:GRD sensoroperationalmode:IW``), oldest first."""
        start, end = check_search_window(start, end)
        check_footprint(footprint_wgs84)
        keywords: dict[str, Any] = {
            "platformname": "Sentinel-1",
            "producttype": "GRD",
            "sensoroperationalmode": "IW",
        }
        if polarisation:
            keywords["polarisationmode"] = " ".join(parse_polarisations(polarisation))
        products = self._call(
            "search",
            self._api.query,
            area=shapely.to_wkt(footprint_wgs84, rounding_precision=6, trim=True),
            date=(start, end),  # sentinelsat writes them as YYYY-MM-DDThh:mm:ssZ (UTC here)
            **keywords,
        )
        records: dict[str, ProductRecord] = {}
        for uuid, props in products.items():
            title = props.get("identifier") or props.get("title") or ""
            try:
                if not parse_product_name(title).is_iw_grdh:  # GRD also matches GRDM/GRDF
                    continue
            except ProductNameError:
                continue
            rec = entry_to_record(uuid, props)
            records.setdefault(rec.name, rec)
        return sorted(records.values(), key=lambda r: (r.start, r.name))

    def complete(self, record: ProductRecord) -> ProductRecord:
        """The record with exact size, MD5 and download URL from the hub's OData product entry."""
        info = self._call("product info", self._api.get_product_odata, record.provider_id)
        checksums = {k.upper(): str(v).lower() for k, v in info.items() if k.lower() in ("md5", "sha3-256", "sha256")}
        return dataclasses.replace(
            record, size=int(info["size"]), checksums=checksums, download_url=str(info.get("url") or record.download_url)
        )

    def downloader(self, policy: RetryPolicy = RetryPolicy(), **kwargs: Any) -> Downloader:
        """A :class:`Downloader` whose session sends this hub's HTTP Basic credentials."""
        session = requests.Session()
        if self._credentials is not None:
            session.auth = (self._credentials.username, self._credentials.password)
        return Downloader(session=session, policy=policy, **kwargs)
