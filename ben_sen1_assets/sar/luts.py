"""Calibration and thermal-noise LUTs (``annotation/calibration/{calibration,noise}-….xml``).

Raw vectors as written in the files; interpolation onto pixel windows lives in ``radiometry``.
Values that would silently corrupt the radiometry fail here, naming the file, the vector, the
field and the first bad value: calibration coefficients (and the absolute calibration constant)
must be finite and > 0, vectors non-empty; range noise finite, >= 0, at most 65535² and not all
zero; azimuth noise scalings finite and in (0, 10].
Times are ``numpy.datetime64[ns]`` UTC; lines/pixels are 0-based image coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import _xml
from .errors import SafeFormatError

CALIBRATION_NAMES = ("sigmaNought", "betaNought", "gamma", "dn")
#: project names ("sigma0", ...) → LUT element names.
CALIBRATION_ALIASES = {"sigma0": "sigmaNought", "beta0": "betaNought", "gamma0": "gamma", "dn": "dn"}


@dataclass(frozen=True)
class CalibrationLut:
    """Calibration vectors: ``line`` (n,) int64, ``pixel`` (n, m) int64 and (n, m) float64 LUTs.

    The last vector's line usually lies past the last image line.
    """

    source: str
    azimuth_time: np.ndarray
    line: np.ndarray
    pixel: np.ndarray
    sigma_nought: np.ndarray = field(repr=False)
    beta_nought: np.ndarray = field(repr=False)
    gamma: np.ndarray = field(repr=False)
    dn: np.ndarray = field(repr=False)
    absolute_calibration_constant: float = 1.0

    def values(self, name: str) -> np.ndarray:
        """LUT by name: "sigma0"/"sigmaNought", "beta0"/"betaNought", "gamma0"/"gamma", "dn"."""
        key = CALIBRATION_ALIASES.get(name, name)
        attr = {"sigmaNought": "sigma_nought", "betaNought": "beta_nought", "gamma": "gamma", "dn": "dn"}
        if key not in attr:
            raise ValueError(f"unknown calibration LUT {name!r}; expected one of {sorted(CALIBRATION_ALIASES)}")
        return getattr(self, attr[key])


@dataclass(frozen=True)
class NoiseRangeVectors:
    """Range noise vectors (DN² units). Ragged: each vector has its own ``pixel`` grid.

    ``line`` (n,) int64, ``azimuth_time`` (n,) datetime64[ns], ``pixel``/``values``: tuples of n
    1-D arrays (int64 / float64). IPF ≥ 2.9: ``noiseRangeVector/noiseRangeLut``; IPF < 2.9:
    ``noiseVector/noiseLut``.
    """

    azimuth_time: np.ndarray
    line: np.ndarray
    pixel: tuple[np.ndarray, ...] = field(repr=False)
    values: tuple[np.ndarray, ...] = field(repr=False)


@dataclass(frozen=True)
class NoiseAzimuthBlock:
    """One ``noiseAzimuthVector``: azimuth noise scaling for lines/samples inside its inclusive bounds."""

    swath: str
    first_line: int
    last_line: int
    first_sample: int
    last_sample: int
    line: np.ndarray  # (k,) int64
    values: np.ndarray = field(repr=False)  # (k,) float64, dimensionless


@dataclass(frozen=True)
class NoiseLut:
    """Thermal noise of one polarisation. ``azimuth_blocks`` is empty for the old (IPF < 2.9) layout."""

    source: str
    range_vectors: NoiseRangeVectors
    azimuth_blocks: tuple[NoiseAzimuthBlock, ...]

    @property
    def legacy(self) -> bool:
        """True for the IPF < 2.9 range-only layout (``noiseVectorList``)."""
        return not self.azimuth_blocks


#: noise power above the largest DN² of a uint16 measurement cannot be the noise of that measurement
MAX_NOISE_POWER = 65535.0**2
#: azimuth noise scalings are ~1 (0.99–1.14 in real products); outside (0, 10] they make no sense
MAX_AZIMUTH_SCALING = 10.0


def _bad_values(values: np.ndarray, ok: np.ndarray, pixels: np.ndarray | None, what: str) -> str:
    """``"3 of 21 values NaN, zero or negative (first: nan at pixel 40)"``."""
    bad = np.flatnonzero(~ok)
    first = bad[0]
    where = f" at pixel {int(pixels[first])}" if pixels is not None and pixels.size == values.size else f" (index {first})"
    return f"{bad.size} of {values.size} values {what} (first: {float(values[first]):g}{where})"


def _check_calibration(vectors, line: np.ndarray, pixel: np.ndarray, luts: dict, constant: float, source: str) -> None:
    """Every calibration coefficient finite and > 0: a NaN or a zero would turn whole image areas
    into NaN or infinity, a negative one into nonsense, with no error later."""
    if not (np.isfinite(constant) and constant > 0):
        raise SafeFormatError(
            f"{source}: calibrationInformation/absoluteCalibrationConstant = {constant!r}; expected a finite value > 0"
        )
    for name in CALIBRATION_NAMES:
        values = luts[name]
        ok = np.isfinite(values) & (values > 0)
        if ok.all():
            continue
        i = int(np.flatnonzero(~ok.all(axis=1))[0])
        rows_bad = int((~ok.all(axis=1)).sum())
        raise SafeFormatError(
            f"{source}: calibrationVector[{i}] (line {int(line[i])}) {name}: "
            f"{_bad_values(values[i], ok[i], pixel[i], 'NaN, infinite, zero or negative')}"
            f"{f'; {rows_bad} of {len(vectors)} vectors affected' if rows_bad > 1 else ''}; "
            "calibration coefficients must be finite and > 0"
        )


def parse_calibration(data: bytes, source: str) -> CalibrationLut:
    """Parse a calibration XML (bytes)."""
    root = _xml.parse_xml(data, source)
    if root.tag != "calibration":
        raise SafeFormatError(f"{source}: root element is <{root.tag}>, expected <calibration>")
    constant = _xml.number(root, "calibrationInformation/absoluteCalibrationConstant", source)
    vectors = root.findall("calibrationVectorList/calibrationVector")
    if not vectors:
        raise SafeFormatError(f"{source}: calibrationVectorList has no calibrationVector")
    vectors = [_xml.Children(v) for v in vectors]
    memo: dict = {}  # the vectors repeat their lists word for word: each text converted once
    pixel = [_xml.array(v, "pixel", source, np.int64, memo) for v in vectors]
    empty = [i for i, p in enumerate(pixel) if p.size == 0]
    if empty:
        raise SafeFormatError(f"{source}: calibrationVector[{empty[0]}]/pixel is empty; expected the vector's pixel list")
    if len({p.size for p in pixel}) != 1 or any((p != pixel[0]).any() for p in pixel):
        # IW GRD calibration vectors share one pixel grid; the bilinear interpolation relies on it.
        raise SafeFormatError(f"{source}: calibration vectors do not share one pixel grid")
    luts = {}
    for name in CALIBRATION_NAMES:
        rows = [_xml.array(v, name, source, memo=memo) for v in vectors]
        if any(r.size != pixel[0].size for r in rows):
            raise SafeFormatError(f"{source}: {name} length differs from its pixel list")
        luts[name] = np.stack(rows)
    line = np.array([_xml.number(v, "line", source, int) for v in vectors], dtype=np.int64)
    if np.any(np.diff(line) <= 0) or np.any(np.diff(pixel[0]) <= 0):
        raise SafeFormatError(f"{source}: calibration vector lines/pixels are not increasing")
    _check_calibration(vectors, line, np.stack(pixel), luts, float(constant), source)
    return CalibrationLut(
        source=source,
        azimuth_time=np.array([_xml.time(v, "azimuthTime", source) for v in vectors], dtype="datetime64[ns]"),
        line=line,
        pixel=np.stack(pixel),
        sigma_nought=luts["sigmaNought"],
        beta_nought=luts["betaNought"],
        gamma=luts["gamma"],
        dn=luts["dn"],
        absolute_calibration_constant=float(constant),
    )


def parse_noise(data: bytes, source: str) -> NoiseLut:
    """Parse a noise XML (bytes), either layout (IPF ≥ 2.9 range+azimuth, or IPF < 2.9 range only)."""
    root = _xml.parse_xml(data, source)
    if root.tag != "noise":
        raise SafeFormatError(f"{source}: root element is <{root.tag}>, expected <noise>")
    vectors = root.findall("noiseRangeVectorList/noiseRangeVector")
    lut_tag = "noiseRangeLut"
    if not vectors:
        vectors = root.findall("noiseVectorList/noiseVector")
        lut_tag = "noiseLut"
    if not vectors:
        raise SafeFormatError(
            f"{source}: neither noiseRangeVectorList/noiseRangeVector nor noiseVectorList/noiseVector found"
        )
    pixels, values = [], []
    vector_tag = vectors[0].tag
    vectors = [_xml.Children(v) for v in vectors]
    memo: dict = {}  # IPF ≥ 2.9 range vectors repeat their pixel list
    for i, v in enumerate(vectors):
        p = _xml.array(v, "pixel", source, np.int64, memo)
        x = _xml.array(v, lut_tag, source)
        if p.size != x.size or p.size == 0:
            raise SafeFormatError(f"{source}: {vector_tag}[{i}] {lut_tag} has {x.size} values for {p.size} pixels")
        if np.any(np.diff(p) <= 0):
            raise SafeFormatError(f"{source}: noise vector pixels are not increasing")
        # noise power in DN²: finite, not negative, not above the largest DN² of the image
        ok = np.isfinite(x) & (x >= 0) & (x <= MAX_NOISE_POWER)
        if not ok.all():
            raise SafeFormatError(
                f"{source}: {vector_tag}[{i}] {lut_tag}: "
                f"{_bad_values(x, ok, p, f'NaN, infinite, negative or above {MAX_NOISE_POWER:.4g} (65535²)')}; "
                "noise power must be finite, >= 0 and below the largest DN²"
            )
        pixels.append(p)
        values.append(x)
    if not any(x.any() for x in values):
        raise SafeFormatError(
            f"{source}: every {lut_tag} value of the {len(values)} vectors is 0: no thermal noise information; "
            "process with thermal_noise=False to use this product without noise removal"
        )
    line = np.array([_xml.number(v, "line", source, int) for v in vectors], dtype=np.int64)
    if np.any(np.diff(line) <= 0):
        raise SafeFormatError(f"{source}: noise range vector lines are not increasing")
    range_vectors = NoiseRangeVectors(
        azimuth_time=np.array([_xml.time(v, "azimuthTime", source) for v in vectors], dtype="datetime64[ns]"),
        line=line,
        pixel=tuple(pixels),
        values=tuple(values),
    )
    blocks = []
    for k, b in enumerate(map(_xml.Children, root.findall("noiseAzimuthVectorList/noiseAzimuthVector"))):
        bl = _xml.array(b, "line", source, np.int64)
        bv = _xml.array(b, "noiseAzimuthLut", source)
        if bl.size != bv.size or bl.size == 0:
            raise SafeFormatError(f"{source}: noiseAzimuthVector[{k}] noiseAzimuthLut has {bv.size} values for {bl.size} lines")
        ok = np.isfinite(bv) & (bv > 0) & (bv <= MAX_AZIMUTH_SCALING)
        if not ok.all():
            raise SafeFormatError(
                f"{source}: noiseAzimuthVector[{k}] noiseAzimuthLut: "
                f"{_bad_values(bv, ok, None, f'NaN, infinite, <= 0 or above {MAX_AZIMUTH_SCALING:g}')}; "
                "azimuth noise scalings are dimensionless factors near 1"
            )
        blocks.append(
            NoiseAzimuthBlock(
                swath=_xml.opt_text(b, "swath") or "",
                first_line=_xml.number(b, "firstAzimuthLine", source, int),
                last_line=_xml.number(b, "lastAzimuthLine", source, int),
                first_sample=_xml.number(b, "firstRangeSample", source, int),
                last_sample=_xml.number(b, "lastRangeSample", source, int),
                line=bl,
                values=bv,
            )
        )
    return NoiseLut(source=source, range_vectors=range_vectors, azimuth_blocks=tuple(blocks))
