"""Product annotation (``annotation/s1?-iw-grd-<pol>-….xml``): image geometry and timing.

Conventions (stable; the geocoding code relies on them):

- Absolute times are ``numpy.datetime64[ns]``, UTC, as written in the annotation.
  Use :func:`seconds_since` for float seconds relative to a chosen epoch (e.g. ``first_line_time``).
- ``slant_range_time`` values are two-way times in seconds.
- Image coordinates: ``line`` (azimuth, row, 0 = first line), ``pixel``/``sample`` (range, column,
  0 = first sample), both 0-based at pixel centres, as in the annotation.
- Positions/velocities are ECEF (WGS84, "Earth Fixed" frame) in metres and metres/second.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import _xml
from .errors import SafeFormatError


def seconds_since(times: np.ndarray | np.datetime64, epoch: np.datetime64) -> np.ndarray:
    """Float64 seconds from ``epoch`` to ``times`` (datetime64[ns])."""
    delta = np.asarray(times, dtype="datetime64[ns]") - np.datetime64(epoch, "ns")
    return delta.astype(np.int64) / 1e9


@dataclass(frozen=True)
class OrbitStateVectors:
    """Annotation orbit: ``time`` (n,) datetime64[ns]; ``position``/``velocity`` (n, 3) float64 ECEF."""

    time: np.ndarray
    position: np.ndarray
    velocity: np.ndarray
    frame: str = "Earth Fixed"


@dataclass(frozen=True)
class GeolocationGrid:
    """Geolocation grid points (usually 210 = 10 azimuth × 21 range), flat arrays in file order.

    ``line``/``pixel`` int64; ``latitude``/``longitude`` degrees; ``height`` metres above the WGS84
    ellipsoid; ``incidence_angle``/``elevation_angle`` degrees; ``azimuth_time`` datetime64[ns];
    ``slant_range_time`` two-way seconds.
    """

    line: np.ndarray
    pixel: np.ndarray
    latitude: np.ndarray
    longitude: np.ndarray
    height: np.ndarray
    incidence_angle: np.ndarray
    elevation_angle: np.ndarray
    azimuth_time: np.ndarray
    slant_range_time: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        """(number of distinct lines, number of distinct pixels) of the grid."""
        return (np.unique(self.line).size, np.unique(self.pixel).size)

    def as_2d(self, name: str) -> np.ndarray:
        """Field ``name`` reshaped to ``self.shape`` (rows = lines, columns = pixels).

        Points are sorted by (line, pixel) first; requires a complete rectangular grid.
        """
        order = np.lexsort((self.pixel, self.line))
        return np.asarray(getattr(self, name))[order].reshape(self.shape)


@dataclass(frozen=True)
class CoordinateConversion:
    """Slant-range ↔ ground-range polynomials, one set per ``azimuth_time`` (m sets).

    ``slant_range_time`` (m,) two-way s; ``sr0`` (m,) m; ``srgr_coefficients`` (m, k): ground range
    = Σ c_i (sr − sr0)^i, i.e. slant range (m) → ground range (m); ``gr0`` (m,) m;
    ``grsr_coefficients`` (m, k): slant range = Σ c_i (gr − gr0)^i. Ground range in metres from the
    first sample (``pixel × range_pixel_spacing``).
    """

    azimuth_time: np.ndarray
    slant_range_time: np.ndarray
    sr0: np.ndarray
    srgr_coefficients: np.ndarray
    gr0: np.ndarray
    grsr_coefficients: np.ndarray


@dataclass(frozen=True)
class SwathBounds:
    """One ``swathMerging/swathMergeList/swathMerge/swathBoundsList/swathBounds`` entry (inclusive)."""

    swath: str
    azimuth_time: np.datetime64
    first_line: int
    last_line: int
    first_sample: int
    last_sample: int


@dataclass(frozen=True)
class ProductAnnotation:
    """Geometry and timing of one polarisation of an IW GRD product."""

    source: str  # product/path of the XML, for messages
    mission: str
    polarisation: str
    mode: str
    product_type: str
    start_time: np.datetime64  # adsHeader/startTime
    stop_time: np.datetime64  # adsHeader/stopTime
    absolute_orbit: int
    pass_direction: str  # "ASCENDING" / "DESCENDING" (upper-cased from productInformation/pass)
    platform_heading: float  # degrees
    radar_frequency: float  # Hz
    range_sampling_rate: float  # Hz
    number_of_lines: int
    number_of_samples: int
    first_line_time: np.datetime64  # imageInformation/productFirstLineUtcTime
    last_line_time: np.datetime64  # imageInformation/productLastLineUtcTime
    azimuth_time_interval: float  # s between lines
    slant_range_time: float  # two-way s, near range (first sample)
    range_pixel_spacing: float  # m
    azimuth_pixel_spacing: float  # m
    incidence_angle_mid_swath: float  # degrees
    ellipsoid_semi_major_axis: float  # m
    ellipsoid_semi_minor_axis: float  # m
    orbit: OrbitStateVectors = field(repr=False)
    geolocation_grid: GeolocationGrid = field(repr=False)
    coordinate_conversion: CoordinateConversion = field(repr=False)
    swath_bounds: tuple[SwathBounds, ...] = field(repr=False)

    @property
    def shape(self) -> tuple[int, int]:
        """(lines, samples) of the measurement image."""
        return (self.number_of_lines, self.number_of_samples)

    def line_time(self, line: np.ndarray | float) -> np.ndarray:
        """Azimuth time (datetime64[ns]) of (fractional) lines: first_line_time + line × interval."""
        ns = np.rint(np.asarray(line, dtype=np.float64) * self.azimuth_time_interval * 1e9)
        return self.first_line_time + ns.astype("timedelta64[ns]")


def _orbit(root, source: str) -> OrbitStateVectors:
    vectors = root.findall("generalAnnotation/orbitList/orbit")
    if not vectors:
        raise SafeFormatError(f"{source}: generalAnnotation/orbitList has no orbit entries")
    vectors = [_xml.Children(v) for v in vectors]
    times = np.array([_xml.time(v, "time", source) for v in vectors], dtype="datetime64[ns]")
    pos = np.array([[_xml.number(v, f"position/{a}", source) for a in "xyz"] for v in vectors])
    vel = np.array([[_xml.number(v, f"velocity/{a}", source) for a in "xyz"] for v in vectors])
    frame = _xml.opt_text(vectors[0], "frame") or "Earth Fixed"
    return OrbitStateVectors(time=times, position=pos, velocity=vel, frame=frame)


def _geolocation_grid(root, source: str) -> GeolocationGrid:
    points = root.findall("geolocationGrid/geolocationGridPointList/geolocationGridPoint")
    if not points:
        raise SafeFormatError(f"{source}: geolocationGrid has no geolocationGridPoint")
    points = [_xml.Children(p) for p in points]  # 9 fields read from each point

    def col(name: str, kind=float):
        return np.array([_xml.number(p, name, source, kind) for p in points])

    return GeolocationGrid(
        line=col("line", int).astype(np.int64),
        pixel=col("pixel", int).astype(np.int64),
        latitude=col("latitude"),
        longitude=col("longitude"),
        height=col("height"),
        incidence_angle=col("incidenceAngle"),
        elevation_angle=col("elevationAngle"),
        azimuth_time=np.array([_xml.time(p, "azimuthTime", source) for p in points], dtype="datetime64[ns]"),
        slant_range_time=col("slantRangeTime"),
    )


def _coordinate_conversion(root, source: str) -> CoordinateConversion:
    sets = root.findall("coordinateConversion/coordinateConversionList/coordinateConversion")
    if not sets:
        raise SafeFormatError(f"{source}: coordinateConversion list is empty")
    sets = [_xml.Children(s) for s in sets]
    srgr = [_xml.array(s, "srgrCoefficients", source) for s in sets]
    grsr = [_xml.array(s, "grsrCoefficients", source) for s in sets]
    if len({c.size for c in srgr + grsr}) != 1:
        raise SafeFormatError(f"{source}: coordinateConversion polynomials differ in degree")
    return CoordinateConversion(
        azimuth_time=np.array([_xml.time(s, "azimuthTime", source) for s in sets], dtype="datetime64[ns]"),
        slant_range_time=np.array([_xml.number(s, "slantRangeTime", source) for s in sets]),
        sr0=np.array([_xml.number(s, "sr0", source) for s in sets]),
        srgr_coefficients=np.stack(srgr),
        gr0=np.array([_xml.number(s, "gr0", source) for s in sets]),
        grsr_coefficients=np.stack(grsr),
    )


def _swath_bounds(root, source: str) -> tuple[SwathBounds, ...]:
    out = []
    for merge in root.findall("swathMerging/swathMergeList/swathMerge"):
        swath = _xml.text(merge, "swath", source)
        for b in map(_xml.Children, merge.findall("swathBoundsList/swathBounds")):
            out.append(
                SwathBounds(
                    swath=swath,
                    azimuth_time=_xml.time(b, "azimuthTime", source),
                    first_line=_xml.number(b, "firstAzimuthLine", source, int),
                    last_line=_xml.number(b, "lastAzimuthLine", source, int),
                    first_sample=_xml.number(b, "firstRangeSample", source, int),
                    last_sample=_xml.number(b, "lastRangeSample", source, int),
                )
            )
    return tuple(out)


def parse_annotation(data: bytes, source: str) -> ProductAnnotation:
    """Parse a product annotation XML (bytes). ``source`` names the file in error messages."""
    root = _xml.parse_xml(data, source)
    if root.tag != "product":
        raise SafeFormatError(f"{source}: root element is <{root.tag}>, expected <product>")
    hdr = _xml.Children(_xml.find(root, "adsHeader", source))
    info = _xml.Children(_xml.find(root, "generalAnnotation/productInformation", source))
    img = _xml.Children(_xml.find(root, "imageAnnotation/imageInformation", source))
    proc = root.find("imageAnnotation/processingInformation")
    a_axis = _xml.number(proc, "ellipsoidSemiMajorAxis", source) if proc is not None and proc.find("ellipsoidSemiMajorAxis") is not None else 6378137.0
    b_axis = _xml.number(proc, "ellipsoidSemiMinorAxis", source) if proc is not None and proc.find("ellipsoidSemiMinorAxis") is not None else 6356752.314245
    return ProductAnnotation(
        source=source,
        mission=_xml.text(hdr, "missionId", source),
        polarisation=_xml.text(hdr, "polarisation", source).upper(),
        mode=_xml.text(hdr, "mode", source),
        product_type=_xml.text(hdr, "productType", source),
        start_time=_xml.time(hdr, "startTime", source),
        stop_time=_xml.time(hdr, "stopTime", source),
        absolute_orbit=_xml.number(hdr, "absoluteOrbitNumber", source, int),
        pass_direction=_xml.text(info, "pass", source).upper(),
        platform_heading=_xml.number(info, "platformHeading", source),
        radar_frequency=_xml.number(info, "radarFrequency", source),
        range_sampling_rate=_xml.number(info, "rangeSamplingRate", source),
        number_of_lines=_xml.number(img, "numberOfLines", source, int),
        number_of_samples=_xml.number(img, "numberOfSamples", source, int),
        first_line_time=_xml.time(img, "productFirstLineUtcTime", source),
        last_line_time=_xml.time(img, "productLastLineUtcTime", source),
        azimuth_time_interval=_xml.number(img, "azimuthTimeInterval", source),
        slant_range_time=_xml.number(img, "slantRangeTime", source),
        range_pixel_spacing=_xml.number(img, "rangePixelSpacing", source),
        azimuth_pixel_spacing=_xml.number(img, "azimuthPixelSpacing", source),
        incidence_angle_mid_swath=_xml.number(img, "incidenceAngleMidSwath", source),
        ellipsoid_semi_major_axis=a_axis,
        ellipsoid_semi_minor_axis=b_axis,
        orbit=_orbit(root, source),
        geolocation_grid=_geolocation_grid(root, source),
        coordinate_conversion=_coordinate_conversion(root, source),
        swath_bounds=_swath_bounds(root, source),
    )
