"""``manifest.safe`` of a Sentinel-1 IW GRD product: identity, timing, orbit, footprint, file map.

Times are ``numpy.datetime64[ns]`` in UTC (the manifest's times carry no zone; ESA states UTC).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from . import _xml
from .errors import SafeFormatError, UnsupportedProductError

#: absolute orbit → relative orbit (track), ESA's convention for the 175-orbit repeat cycle.
RELATIVE_ORBIT_OFFSET = {"S1A": 73, "S1B": 27}

#: manifest ``repID`` → file kind used by the reader.
FILE_KINDS = {
    "s1Level1ProductSchema": "annotation",
    "s1Level1CalibrationSchema": "calibration",
    "s1Level1NoiseSchema": "noise",
    "s1Level1MeasurementSchema": "measurement",
    "s1Level1RfiSchema": "rfi",
    "s1Level1MapOverlaySchema": "map_overlay",
    "s1Level1ProductPreviewSchema": "product_preview",
    "s1Level1QuickLookSchema": "quicklook",
}

# s1a-iw-grd-vv-20210119t031653-...-001.xml  → swath "iw", polarisation "vv"
_FILE_POL = re.compile(r"s1[a-d]-(?P<swath>[a-z0-9]+)-(?P<type>[a-z]+)-(?P<pol>hh|hv|vv|vh)-", re.I)


def relative_orbit(mission: str, absolute_orbit: int) -> int:
    """Relative orbit (1..175) from the absolute orbit: S1A ``(abs-73) % 175 + 1``, S1B ``(abs-27) % 175 + 1``."""
    try:
        offset = RELATIVE_ORBIT_OFFSET[mission]
    except KeyError:
        raise ValueError(f"no relative-orbit rule for mission {mission!r}") from None
    return (absolute_orbit - offset) % 175 + 1


@dataclass(frozen=True)
class ManifestFile:
    """One ``dataObject`` of the manifest."""

    id: str
    rep_id: str
    kind: str  # see FILE_KINDS; "other" when unknown
    polarisation: str | None  # "VV", "VH", ... for per-polarisation files
    href: str  # path relative to the SAFE root, without the leading "./"
    size: int | None
    md5: str | None


@dataclass(frozen=True)
class Manifest:
    """The parts of ``manifest.safe`` the project needs."""

    product_name: str  # e.g. "S1A_IW_GRDH_1SDV_20210119T031653_..._8255" (no ".SAFE")
    mission: str  # "S1A", "S1B", ...
    mode: str  # "IW"
    product_type: str  # "GRD"
    product_class: str | None  # "S" (standard)
    resolution: str | None  # "H" / "M" from the product name (GRDH / GRDM)
    pass_direction: str  # "ASCENDING" / "DESCENDING"
    absolute_orbit: int
    relative_orbit: int
    ipf_version: str  # e.g. "003.31"
    start_time: np.datetime64
    stop_time: np.datetime64
    footprint: np.ndarray  # (n, 2) float64, (lon, lat) vertices as listed (gml order is lat,lon)
    polarisations: tuple[str, ...]  # as listed (transmitterReceiverPolarisation)
    files: tuple[ManifestFile, ...] = field(repr=False)

    @property
    def ipf(self) -> tuple[int, ...]:
        """IPF version as a comparable tuple, e.g. ``(3, 31)``."""
        return tuple(int(p) for p in self.ipf_version.split("."))

    @property
    def footprint_polygon(self):
        """The footprint as a shapely Polygon in (lon, lat)."""
        import shapely

        return shapely.Polygon(self.footprint)

    def file(self, kind: str, polarisation: str) -> ManifestFile:
        """The listed file of ``kind`` ("annotation", "calibration", "noise", "measurement") for a polarisation."""
        pol = polarisation.upper()
        for f in self.files:
            if f.kind == kind and f.polarisation == pol:
                return f
        raise KeyError(f"{self.product_name}: manifest lists no {kind} file for polarisation {pol}")


def parse_manifest(data: bytes, source: str, product_name: str | None = None) -> Manifest:
    """Parse ``manifest.safe`` bytes. ``source`` names the file in error messages.

    ``product_name`` (the SAFE folder name) is used when given; otherwise it is left empty-derived
    from the source path. Raises UnsupportedProductError unless the product is IW GRD.
    """
    root = _xml.strip_namespaces(_xml.parse_xml(data, source))
    meta = {}
    for obj in root.iter("metadataObject"):
        meta[obj.get("ID")] = obj

    def section(name: str):
        if name not in meta:
            raise SafeFormatError(f"{source}: missing metadataObject ID={name!r}")
        return meta[name]

    platform = section("platform")
    family = _xml.text(platform, ".//platform/familyName", source)
    number = _xml.text(platform, ".//platform/number", source)
    if not family.upper().startswith("SENTINEL-1"):
        raise UnsupportedProductError(f"{source}: platform {family} {number} is not Sentinel-1")
    mission = f"S1{number.upper()}"
    mode = _xml.text(platform, ".//instrumentMode/mode", source)

    info = section("generalProductInformation")
    product_type = _xml.text(info, ".//productType", source)
    product_class = _xml.opt_text(info, ".//productClass")
    if mode != "IW" or product_type != "GRD":
        raise UnsupportedProductError(
            f"{source}: product is {mode} {product_type} (instrumentMode/mode={mode!r}, "
            f"productType={product_type!r}); only IW GRD products are supported"
        )
    polarisations = tuple(
        (e.text or "").strip().upper() for e in info.iter("transmitterReceiverPolarisation")
    )
    if not polarisations:
        raise SafeFormatError(f"{source}: no transmitterReceiverPolarisation listed")

    orbit = section("measurementOrbitReference")
    absolute_orbit = int(_xml.text(orbit, ".//orbitNumber[@type='start']", source))
    listed_relative = int(_xml.text(orbit, ".//relativeOrbitNumber[@type='start']", source))
    pass_direction = _xml.text(orbit, ".//extension//pass", source).upper()
    if mission in RELATIVE_ORBIT_OFFSET:
        computed = relative_orbit(mission, absolute_orbit)
        if computed != listed_relative:
            raise SafeFormatError(
                f"{source}: relativeOrbitNumber={listed_relative} disagrees with absolute orbit "
                f"{absolute_orbit} (expected {computed} for {mission})"
            )

    processing = section("processing")
    software = processing.find(".//facility/software")
    if software is None or not software.get("version"):
        raise SafeFormatError(f"{source}: missing processing/facility/software@version (IPF)")
    ipf_version = software.get("version")

    period = section("acquisitionPeriod")
    start_time = _xml.time(period, ".//startTime", source)
    stop_time = _xml.time(period, ".//stopTime", source)

    frames = section("measurementFrameSet")
    coords = _xml.text(frames, ".//footPrint/coordinates", source)
    try:
        latlon = np.array([[float(v) for v in p.split(",")] for p in coords.split()])
    except ValueError as exc:
        raise SafeFormatError(f"{source}: footPrint/coordinates {coords!r} unreadable") from exc
    footprint = latlon[:, ::-1].copy()

    files = []
    for obj in root.iter("dataObject"):
        rep_id = obj.get("repID", "")
        loc = obj.find(".//fileLocation")
        if loc is None or not loc.get("href"):
            raise SafeFormatError(f"{source}: dataObject {obj.get('ID')!r} has no fileLocation href")
        href = loc.get("href").removeprefix("./")
        stream = obj.find("byteStream")
        size = int(stream.get("size")) if stream is not None and stream.get("size") else None
        md5 = _xml.opt_text(obj, ".//checksum")
        match = _FILE_POL.search(href.rsplit("/", 1)[-1])
        files.append(
            ManifestFile(
                id=obj.get("ID", ""),
                rep_id=rep_id,
                kind=FILE_KINDS.get(rep_id, "other"),
                polarisation=match.group("pol").upper() if match else None,
                href=href,
                size=size,
                md5=md5,
            )
        )

    if product_name is None:
        product_name = ""
    product_name = product_name.removesuffix(".SAFE")
    resolution = None
    m = re.match(r"S1[A-D]_[A-Z0-9]{2}_GRD(?P<res>[FHM])_", product_name)
    if m:
        resolution = m.group("res")
    return Manifest(
        product_name=product_name,
        mission=mission,
        mode=mode,
        product_type=product_type,
        product_class=product_class,
        resolution=resolution,
        pass_direction=pass_direction,
        absolute_orbit=absolute_orbit,
        relative_orbit=listed_relative,
        ipf_version=ipf_version,
        start_time=start_time,
        stop_time=stop_time,
        footprint=footprint,
        polarisations=polarisations,
        files=tuple(files),
    )
