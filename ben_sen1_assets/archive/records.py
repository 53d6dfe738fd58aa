"""Product records shared by every catalogue, and Sentinel-1 product names.

A catalogue client (CDSE, ASF, DHuS, local folder) turns its own answer into
:class:`ProductRecord` values, so everything downstream (selection, product store, downloads)
sees one shape whatever the source.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Literal

from shapely.geometry.base import BaseGeometry

from .errors import ProductNameError

Mission = Literal["S1A", "S1B", "S1C", "S1D"]
PassDirection = Literal["ASCENDING", "DESCENDING"]
Source = Literal["cdse", "asf", "dhus", "local"]

SOURCES: tuple[str, ...] = ("cdse", "asf", "dhus", "local")
PASS_DIRECTIONS: tuple[str, ...] = ("ASCENDING", "DESCENDING")

# ESA naming convention (Sentinel-1 Product Specification, S1-RS-MDA-52-7441, §"Product naming"):
# MMM_BB_TTTR_LFPP_YYYYMMDDTHHMMSS_YYYYMMDDTHHMMSS_OOOOOO_DDDDDD_CCCC[.SAFE]
_NAME_RE = re.compile(
    r"^(?P<mission>S1[A-D])_"
    r"(?P<mode>IW|EW|WV|S[1-6]|EN|AN|N[1-6]|Z[1-6I])_"
    r"(?P<product_type>GRD|SLC|RAW|OCN|ETA)(?P<resolution>[FHM_])_"
    r"(?P<level>[0-2])(?P<product_class>[SAN])(?P<polarisation>SH|SV|DH|DV|HH|HV|VV|VH)_"
    r"(?P<start>\d{8}T\d{6})_(?P<stop>\d{8}T\d{6})_"
    r"(?P<absolute_orbit>\d{6})_(?P<datatake_id>[0-9A-F]{6})_(?P<unique_id>[0-9A-F]{4})"
    r"(?P<cog>_COG)?$"
)

_POLARISATION_CODES: dict[str, tuple[str, ...]] = {
    "DV": ("VV", "VH"),
    "DH": ("HH", "HV"),
    "SV": ("VV",),
    "SH": ("HH",),
    "VV": ("VV",),
    "HH": ("HH",),
    "VH": ("VH",),
    "HV": ("HV",),
}

# Relative orbit = (absolute - offset) mod 175 + 1 (175 orbits per 12-day repeat cycle).
# S1A/S1B: ESA's formulas (DOMAIN.md §4). S1C: offset 172, as used by MintPy
# (insarlab/MintPy mintpy/geometry/orbit.py, 2025) and consistent with CDSE's STAC item
# S1C_IW_GRDH_1SDV_20250327T154419_..._001628_002981_53D2 (absolute 1628, sat:relative_orbit 57);
# tested against recorded catalogue values.
_RELATIVE_ORBIT_OFFSET: dict[str, int] = {"S1A": 73, "S1B": 27, "S1C": 172}


def relative_orbit(mission: str, absolute_orbit: int) -> int:
    """Relative orbit (track, 1…175) of a Sentinel-1 absolute orbit number.

    Raises :class:`ValueError` for a mission whose offset is unknown (S1D): take the relative
    orbit from the catalogue attribute instead.
    """
    try:
        offset = _RELATIVE_ORBIT_OFFSET[mission]
    except KeyError:
        raise ValueError(
            f"relative orbit of mission {mission!r} is unknown; expected one of "
            f"{sorted(_RELATIVE_ORBIT_OFFSET)} (take it from the catalogue)"
        ) from None
    return (int(absolute_orbit) - offset) % 175 + 1


def parse_polarisations(value: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """``"VV&VH"`` / ``"VV+VH"`` / ``"VV VH"`` / ``("VV", "VH")`` -> ``("VV", "VH")``."""
    if isinstance(value, str):
        parts = re.split(r"[&+,\s/]+", value.strip().upper())
    else:
        parts = [str(p).strip().upper() for p in value]
    parts = [p for p in parts if p]
    bad = [p for p in parts if p not in ("VV", "VH", "HH", "HV")]
    if not parts or bad:
        raise ValueError(f"polarisations {value!r}: expected VV, VH, HH, HV joined by '&' or '+'")
    return tuple(parts)


def _utc(ts: str) -> datetime:
    return datetime.strptime(ts, "%Y%m%dT%H%M%S").replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class S1ProductName:
    """The fields of a Sentinel-1 product name (ESA naming convention)."""

    name: str  # without .SAFE / .zip
    mission: str
    mode: str
    product_type: str  # GRD, SLC, RAW, OCN
    resolution: str  # F, H, M or _
    level: int
    product_class: str  # S standard, A annotation
    polarisation_code: str  # DV, DH, SV, SH, ...
    start: datetime
    stop: datetime
    absolute_orbit: int
    datatake_id: str  # 6 hex digits
    unique_id: str  # 4 hex digits
    cog: bool = False

    @property
    def polarisations(self) -> tuple[str, ...]:
        return _POLARISATION_CODES[self.polarisation_code]

    @property
    def relative_orbit(self) -> int:
        return relative_orbit(self.mission, self.absolute_orbit)

    @property
    def is_iw_grdh(self) -> bool:
        return self.mode == "IW" and self.product_type == "GRD" and self.resolution == "H"


def strip_product_suffix(name: str) -> str:
    """Drop a trailing ``.zip``, ``.SAFE`` or ``.SAFE.zip`` (and any directory part)."""
    base = name.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    for suffix in (".zip", ".SAFE"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
    return base


def parse_product_name(name: str) -> S1ProductName:
    """Parse a Sentinel-1 product name (with or without ``.SAFE`` / ``.zip``).

    Raises :class:`ProductNameError` naming the string and the expected pattern.
    """
    if not isinstance(name, str):
        raise ProductNameError(f"product name must be a string, got {type(name).__name__}")
    base = strip_product_suffix(name)
    m = _NAME_RE.match(base)
    if m is None:
        raise ProductNameError(
            f"{name!r} is not a Sentinel-1 product name; expected "
            "MMM_BB_TTTR_LFPP_YYYYMMDDTHHMMSS_YYYYMMDDTHHMMSS_OOOOOO_DDDDDD_CCCC "
            "(e.g. S1A_IW_GRDH_1SDV_20170613T165043_20170613T165108_017013_01C5A9_8C1E)"
        )
    g = m.groupdict()
    try:
        start, stop = _utc(g["start"]), _utc(g["stop"])
    except ValueError as exc:
        raise ProductNameError(f"{name!r}: invalid start/stop time ({exc})") from None
    if stop < start:
        raise ProductNameError(f"{name!r}: stop time {g['stop']} is before start time {g['start']}")
    return S1ProductName(
        name=base,
        mission=g["mission"],
        mode=g["mode"],
        product_type=g["product_type"],
        resolution=g["resolution"],
        level=int(g["level"]),
        product_class=g["product_class"],
        polarisation_code=g["polarisation"],
        start=start,
        stop=stop,
        absolute_orbit=int(g["absolute_orbit"]),
        datatake_id=g["datatake_id"],
        unique_id=g["unique_id"],
        cog=g["cog"] is not None,
    )


@dataclass(frozen=True)
class ProductRecord:
    """One Sentinel-1 product as a catalogue describes it.

    ``checksums`` maps an upper-case algorithm name (``MD5``, ``BLAKE3``) to a lower-case hex
    digest; ``download_url`` is an URL (http/https/s3) or a local path; ``size`` is the size of
    the downloadable file in bytes, ``None`` when the catalogue does not say.
    """

    name: str
    provider_id: str
    start: datetime
    stop: datetime
    mission: str
    absolute_orbit: int
    relative_orbit: int
    pass_direction: str
    polarisations: tuple[str, ...]
    footprint: BaseGeometry
    size: int | None
    checksums: Mapping[str, str] = field(default_factory=dict)
    download_url: str = ""
    source: str = "local"

    def __post_init__(self) -> None:
        parsed = parse_product_name(self.name)  # raises ProductNameError
        if parsed.name != self.name:
            object.__setattr__(self, "name", parsed.name)
        for attr in ("start", "stop"):
            value = getattr(self, attr)
            if not isinstance(value, datetime) or value.tzinfo is None:
                raise ValueError(f"{self.name}: {attr} must be a timezone-aware datetime, got {value!r}")
            object.__setattr__(self, attr, value.astimezone(timezone.utc))
        if self.pass_direction not in PASS_DIRECTIONS:
            raise ValueError(
                f"{self.name}: pass_direction {self.pass_direction!r}, expected one of {PASS_DIRECTIONS}"
            )
        if self.source not in SOURCES:
            raise ValueError(f"{self.name}: source {self.source!r}, expected one of {SOURCES}")
        if not 1 <= int(self.relative_orbit) <= 175:
            raise ValueError(f"{self.name}: relative_orbit {self.relative_orbit}, expected 1..175")
        if self.size is not None and int(self.size) < 0:
            raise ValueError(f"{self.name}: size {self.size} is negative")
        object.__setattr__(self, "polarisations", tuple(self.polarisations))
        object.__setattr__(
            self, "checksums", {str(k).upper(): str(v).lower() for k, v in dict(self.checksums).items()}
        )

    def __hash__(self) -> int:  # checksums is a dict: hash on the identity fields only
        return hash((self.source, self.provider_id, self.name))

    @property
    def product_name(self) -> S1ProductName:
        """The parsed product name."""
        return parse_product_name(self.name)


class Catalog(abc.ABC):
    """A searchable archive of Sentinel-1 IW GRDH products."""

    source: str

    @abc.abstractmethod
    def search(
        self,
        footprint_wgs84: BaseGeometry,
        start: datetime,
        end: datetime,
        polarisation: str = "VV&VH",
    ) -> list[ProductRecord]:
        """IW GRDH products intersecting ``footprint_wgs84`` (lon/lat) sensed in [start, end]."""


def check_search_window(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """Validate a search window and return it in UTC (naive datetimes are taken as UTC)."""
    out = []
    for label, value in (("start", start), ("end", end)):
        if not isinstance(value, datetime):
            raise TypeError(f"search {label} must be a datetime, got {type(value).__name__}")
        out.append(value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc))
    if out[1] <= out[0]:
        raise ValueError(f"search window end {out[1].isoformat()} is not after start {out[0].isoformat()}")
    return out[0], out[1]


def check_footprint(footprint_wgs84: BaseGeometry) -> BaseGeometry:
    """Validate a lon/lat search geometry (non-empty, valid, inside [-180,180]×[-90,90])."""
    if not isinstance(footprint_wgs84, BaseGeometry):
        raise TypeError(f"footprint must be a shapely geometry, got {type(footprint_wgs84).__name__}")
    if footprint_wgs84.is_empty or not footprint_wgs84.is_valid:
        raise ValueError("search footprint is empty or invalid")
    minx, miny, maxx, maxy = footprint_wgs84.bounds
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        raise ValueError(
            f"search footprint bounds {footprint_wgs84.bounds} are not lon/lat degrees (WGS84)"
        )
    return footprint_wgs84
