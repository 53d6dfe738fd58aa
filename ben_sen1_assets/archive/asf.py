"""Alaska Satellite Facility (ASF) search through ``asf_search`` (which queries NASA CMR).

Search needs no login. Downloads of ``record.download_url`` (``datapool.asf.alaska.edu``) need a
NASA Earthdata login: pass ``Downloader(auth=StaticBearer(<Earthdata user token>))``; the datapool
redirects to a signed URL and ``requests`` drops the Authorization header on that redirect.

``host`` (default ``cmr.earthdata.nasa.gov``) and ``session`` are configurable: asf_search always
speaks HTTPS to ``host``, so tests run it against a loopback HTTPS server with its own certificate.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

import asf_search
import requests
import shapely
from asf_search.constants import INTERNAL
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from .errors import CatalogError, CatalogUnavailableError, ProductNameError
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


def _time(value: Any, field: str, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise CatalogError(f"ASF product {name}: {field} {value!r} is not an ISO 8601 time") from None
    # catalogue times are UTC; some (ASF SearchAPI) omit the zone
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def product_to_record(properties: dict[str, Any], geometry: dict[str, Any]) -> ProductRecord:
    """asf_search product ``properties`` + GeoJSON ``geometry`` -> :class:`ProductRecord`."""
    scene = properties.get("sceneName") or ""
    try:
        parsed = parse_product_name(scene)
    except ProductNameError as exc:
        raise CatalogError(f"ASF product {properties.get('fileID')}: {exc}") from None
    direction = str(properties.get("flightDirection") or "").upper()
    if direction not in ("ASCENDING", "DESCENDING"):
        raise CatalogError(f"ASF product {scene}: flightDirection {properties.get('flightDirection')!r}")
    absolute = int(properties.get("orbit") or parsed.absolute_orbit)
    path = properties.get("pathNumber")
    pols = properties.get("polarization")
    size = properties.get("bytes")
    md5 = properties.get("md5sum")
    if not geometry or not geometry.get("coordinates"):
        raise CatalogError(f"ASF product {scene}: no footprint geometry")
    url = properties.get("url")
    if not url:
        raise CatalogError(f"ASF product {scene}: no download url")
    return ProductRecord(
        name=parsed.name,
        provider_id=str(properties.get("fileID") or scene),
        start=_time(properties.get("startTime"), "startTime", scene),
        stop=_time(properties.get("stopTime"), "stopTime", scene),
        mission=parsed.mission,
        absolute_orbit=absolute,
        relative_orbit=int(path) if path is not None else relative_orbit(parsed.mission, absolute),
        pass_direction=direction,
        polarisations=parse_polarisations(pols) if pols else parsed.polarisations,
        footprint=shape(geometry),
        size=int(size) if size else None,
        checksums={"MD5": str(md5).lower()} if md5 else {},
        download_url=str(url),
        source="asf",
    )


class AsfCatalog(Catalog):
    """Search ASF's Sentinel-1 archive (full S1A/S1B/S1C record) for IW GRD_HD products."""

    source = "asf"

    def __init__(
        self,
        *,
        host: str = INTERNAL.CMR_HOST,
        session: requests.Session | None = None,
        max_results: int | None = None,
        report_errors: bool = False,
    ) -> None:
        self.host = host
        self.session = session if session is not None else asf_search.ASFSession()
        self.max_results = max_results
        self.report_errors = report_errors

    def __repr__(self) -> str:
        return f"AsfCatalog(host={self.host!r})"

    def search(
        self,
        footprint_wgs84: BaseGeometry,
        start: datetime,
        end: datetime,
        polarisation: str = "VV&VH",
    ) -> list[ProductRecord]:
        """IW GRDH products (``processingLevel=GRD_HD``, ``beamMode=IW``) intersecting the footprint."""
        start, end = check_search_window(start, end)
        check_footprint(footprint_wgs84)
        # asf_search posts failed searches (with the search options) to ASF unless told not to
        asf_search.REPORT_ERRORS = self.report_errors
        opts = asf_search.ASFSearchOptions(host=self.host, session=self.session)
        kwargs: dict[str, Any] = dict(
            platform=asf_search.PLATFORM.SENTINEL1,
            processingLevel=asf_search.PRODUCT_TYPE.GRD_HD,
            beamMode=asf_search.BEAMMODE.IW,
            intersectsWith=shapely.to_wkt(footprint_wgs84, rounding_precision=6, trim=True),
            start=start,
            end=end,
            opts=opts,
        )
        if polarisation:
            kwargs["polarization"] = "+".join(parse_polarisations(polarisation))
        if self.max_results is not None:
            kwargs["maxResults"] = self.max_results
        try:
            results = asf_search.geo_search(**kwargs)
        except (asf_search.ASFSearch5xxError, requests.ConnectionError, requests.Timeout) as exc:
            raise CatalogUnavailableError(f"ASF search via {self.host}: {type(exc).__name__}: {exc}") from None
        except (asf_search.ASFError, requests.RequestException) as exc:
            raise CatalogError(f"ASF search via {self.host}: {type(exc).__name__}: {exc}") from None
        records: dict[str, ProductRecord] = {}
        for product in results:
            props = dict(product.properties)
            scene = props.get("sceneName") or ""
            try:
                if not parse_product_name(scene).is_iw_grdh:
                    continue
            except ProductNameError:
                logger.debug("ASF: skipping %r (not an S1 product name)", scene)
                continue
            rec = product_to_record(props, product.geometry)
            records.setdefault(rec.name, rec)
        return sorted(records.values(), key=lambda r: (r.start, r.name))
