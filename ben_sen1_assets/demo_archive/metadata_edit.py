"""Edit real Sentinel-1 metadata XMLs into a demo product: crop, time shift, identity, polarisation.

These functions only *rewrite* elements of ESA's XMLs (lxml, formatting kept); reading the
product model is the project's SAFE reader's job (``ben_sen1_assets.sar``).

Cropping keeps every interpolated quantity identical: the project (and xarray-sentinel) interpolate
the geolocation grid, calibration and noise vectors bilinearly (piecewise linear in line and in
pixel). A cropped grid keeps all original nodes inside the crop, shifted by the crop offset, and
gets new nodes *exactly on the crop border*, whose values are the original bilinear interpolation
there. A piecewise-bilinear field restricted to a sub-rectangle is again piecewise bilinear on the
union of the nodes, so values at any (line, pixel) of the crop equal the original's at
(line + row_off, pixel + col_off) up to the printed precision. The geolocation grid is rebuilt as
10 × 21 evenly spaced nodes over the crop (like a real product's), with the nodes nearest to the
original grid lines snapped onto them so the original kinks are kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from lxml import etree

from .geometry import GcpGrid

SPEED_OF_LIGHT = 299_792_458.0
_ISO = re.compile(rb"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?")
_PARSER = etree.XMLParser(remove_blank_text=False)


@dataclass(frozen=True)
class Crop:
    """A GRD window in the source product's coordinates (rows = lines, cols = samples)."""

    row_off: int
    col_off: int
    nrows: int
    ncols: int

    @property
    def last_row(self) -> int:
        return self.row_off + self.nrows - 1

    @property
    def last_col(self) -> int:
        return self.col_off + self.ncols - 1


# -- times ---------------------------------------------------------------------------------------
def format_time(t: np.datetime64) -> str:
    """ESA annotation time format, microseconds: ``2021-12-23T05:11:22.594441``."""
    return str(np.datetime64(t, "us"))


def shift_times(data: bytes, delta: np.timedelta64) -> bytes:
    """Shift every ISO-8601 timestamp in an XML by ``delta`` (keeps each one's decimals)."""
    if delta == np.timedelta64(0, "us"):
        return data

    def repl(m: re.Match) -> bytes:
        frac = m.group(2) or b""
        t = np.datetime64(m.group(1).decode() + frac.decode(), "ns") + delta
        text = str(np.datetime64(t, "ns"))
        base, _, f = text.partition(".")
        f = (f + "000000000")[: max(len(frac) - 1, 0)]
        return (base + ("." + f if frac else "")).encode()

    return _ISO.sub(repl, data)


def parse(data: bytes) -> etree._Element:
    return etree.fromstring(data, _PARSER)


def serialise(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8") + b"\n"


def _set(root, path: str, value) -> None:
    for el in root.iterfind(path):
        el.text = str(value)


def set_header(root, *, start: np.datetime64 | None = None, stop: np.datetime64 | None = None,
               absolute_orbit: int | None = None, datatake_id: int | None = None,
               polarisation: str | None = None, image_number: str | None = None) -> None:
    """Rewrite ``adsHeader`` fields (annotation, calibration, noise, rfi XMLs)."""
    if start is not None:
        _set(root, "adsHeader/startTime", format_time(start))
    if stop is not None:
        _set(root, "adsHeader/stopTime", format_time(stop))
    if absolute_orbit is not None:
        _set(root, "adsHeader/absoluteOrbitNumber", absolute_orbit)
    if datatake_id is not None:
        _set(root, "adsHeader/missionDataTakeId", datatake_id)
    if polarisation is not None:
        _set(root, "adsHeader/polarisation", polarisation.upper())
    if image_number is not None:
        _set(root, "adsHeader/imageNumber", image_number)


# -- 1-D piecewise-linear crop helpers -----------------------------------------------------------
def crop_nodes(nodes: np.ndarray, first: int, last: int) -> np.ndarray:
    """Original nodes strictly inside (first, last) plus the two border positions (source coords)."""
    inside = nodes[(nodes > first) & (nodes < last)]
    return np.concatenate([[first], inside, [last]]).astype(np.int64)


def _interp_rows(x_new: np.ndarray, x: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Linear interpolation along axis 0 (linear extrapolation beyond the ends)."""
    x = x.astype(np.float64)
    idx = np.clip(np.searchsorted(x, x_new, side="right") - 1, 0, len(x) - 2)
    t = (x_new - x[idx]) / (x[idx + 1] - x[idx])
    t = t.reshape((-1,) + (1,) * (values.ndim - 1))
    return values[idx] * (1 - t) + values[idx + 1] * t


def _times_to_s(times: list[str], epoch: np.datetime64) -> np.ndarray:
    return (np.array(times, dtype="datetime64[ns]") - epoch).astype(np.int64) / 1e9


def _s_to_time(seconds: float, epoch: np.datetime64) -> str:
    return format_time(epoch + np.timedelta64(int(round(seconds * 1e9)), "ns"))


def _fmt(values, fmt: str) -> str:
    return " ".join(format(float(v), fmt) for v in values)


def _ints(values) -> str:
    return " ".join(str(int(v)) for v in values)


# -- product annotation --------------------------------------------------------------------------
def even_nodes(n_nodes: int, size: int, knots: np.ndarray) -> np.ndarray:
    """``n_nodes`` evenly spaced integer nodes over [0, size-1], with the interior ``knots`` (crop
    coordinates) snapped onto their nearest interior node."""
    n_nodes = max(2, min(n_nodes, size))
    nodes = np.rint(np.linspace(0, size - 1, n_nodes)).astype(np.int64)
    for k in knots:
        if 0 < k < size - 1 and n_nodes > 2:
            i = 1 + int(np.argmin(np.abs(nodes[1:-1] - k)))
            nodes[i] = k
    nodes = np.unique(nodes)
    return nodes


def crop_geolocation_grid(root, grid: GcpGrid, epoch: np.datetime64, crop: Crop,
                          n_lines: int = 10, n_pixels: int = 21) -> None:
    """Replace ``geolocationGrid`` by a 10 × 21 grid over the crop (values from the original grid)."""
    lines = even_nodes(n_lines, crop.nrows, grid.lines - crop.row_off)
    pixels = even_nodes(n_pixels, crop.ncols, grid.pixels - crop.col_off)
    L, P = np.meshgrid(lines, pixels, indexing="ij")
    src_l = L + crop.row_off
    src_p = P + crop.col_off
    vals = {name: grid.interpolate(name, src_l, src_p) for name in GcpGrid.FIELDS}
    plist = root.find("geolocationGrid/geolocationGridPointList")
    template = plist.find("geolocationGridPoint")
    indent = template.tail
    for el in list(plist):
        plist.remove(el)
    plist.text = plist.text  # keep indentation before first point
    for a in range(L.shape[0]):
        for b in range(L.shape[1]):
            pt = etree.fromstring(etree.tostring(template))
            pt.find("azimuthTime").text = _s_to_time(vals["azimuth_time"][a, b], epoch)
            pt.find("slantRangeTime").text = f"{vals['slant_range_time'][a, b]:.15e}"
            pt.find("line").text = str(int(L[a, b]))
            pt.find("pixel").text = str(int(P[a, b]))
            for tag, name in (("latitude", "latitude"), ("longitude", "longitude"), ("height", "height"),
                              ("incidenceAngle", "incidence_angle"), ("elevationAngle", "elevation_angle")):
                pt.find(tag).text = f"{vals[name][a, b]:.15e}"
            pt.tail = indent
            plist.append(pt)
    plist[-1].tail = template.tail.rsplit("  ", 1)[0] if template.tail else None
    plist.set("count", str(L.size))


def _poly_shift(coeffs: np.ndarray, shift: float) -> np.ndarray:
    """Coefficients of q(x) = p(x + shift), p(x) = Σ c_i x^i."""
    from numpy.polynomial import polynomial as P

    out = np.zeros_like(coeffs)
    base = np.array([1.0])
    step = np.array([shift, 1.0])
    for c in coeffs:
        out[: base.size] += c * base
        base = P.polymul(base, step)
    return out


def crop_coordinate_conversion(root, crop: Crop, range_spacing: float) -> float:
    """Re-origin the SR/GR polynomials at the crop's first sample (gr0 stays 0, as ESA writes it).

    Ground range in the crop is g' = g − col_off·Δr. grsr: sr(g') = p(g' + g_off). srgr:
    g'(sr) = q(sr − sr0' + (sr0' − sr0)) − g_off, with sr0' = slant range of the new first sample.
    Returns the two-way slant range time of the crop's first sample (mean over the sets).
    """
    g_off = crop.col_off * range_spacing
    times = []
    for cc in root.iterfind("coordinateConversion/coordinateConversionList/coordinateConversion"):
        gr0 = float(cc.findtext("gr0"))
        if gr0 != 0.0:
            raise ValueError("coordinateConversion gr0 != 0 is not supported")
        sr0 = float(cc.findtext("sr0"))
        grsr = np.array(cc.findtext("grsrCoefficients").split(), dtype=np.float64)
        srgr = np.array(cc.findtext("srgrCoefficients").split(), dtype=np.float64)
        new_grsr = _poly_shift(grsr, g_off)
        new_sr0 = float(new_grsr[0])
        new_srgr = _poly_shift(srgr, new_sr0 - sr0)
        new_srgr[0] -= g_off
        cc.find("sr0").text = f"{new_sr0:.15e}"
        tau = 2.0 * new_sr0 / SPEED_OF_LIGHT
        cc.find("slantRangeTime").text = f"{tau:.15e}"
        cc.find("grsrCoefficients").text = _fmt(new_grsr, ".15e")
        cc.find("srgrCoefficients").text = _fmt(new_srgr, ".15e")
        times.append(tau)
    return float(np.mean(times))


def crop_swath_bounds(root, crop: Crop) -> None:
    """Clip and shift ``swathMerging`` bounds; drop swaths outside the crop."""
    mlist = root.find("swathMerging/swathMergeList")
    if mlist is None:
        return
    for merge in list(mlist):
        blist = merge.find("swathBoundsList")
        for b in list(blist):
            fl, ll = int(b.findtext("firstAzimuthLine")), int(b.findtext("lastAzimuthLine"))
            fs, ls = int(b.findtext("firstRangeSample")), int(b.findtext("lastRangeSample"))
            fl, ll = max(fl, crop.row_off), min(ll, crop.last_row)
            fs, ls = max(fs, crop.col_off), min(ls, crop.last_col)
            if fl > ll or fs > ls:
                blist.remove(b)
                continue
            b.find("firstAzimuthLine").text = str(fl - crop.row_off)
            b.find("lastAzimuthLine").text = str(ll - crop.row_off)
            b.find("firstRangeSample").text = str(fs - crop.col_off)
            b.find("lastRangeSample").text = str(ls - crop.col_off)
        blist.set("count", str(len(blist)))
        if len(blist) == 0:
            mlist.remove(merge)
    mlist.set("count", str(len(mlist)))


def crop_annotation(root, grid: GcpGrid, epoch: np.datetime64, crop: Crop, first_line_time: np.datetime64,
                    azimuth_time_interval: float, range_spacing: float) -> tuple[np.datetime64, np.datetime64]:
    """Crop a product annotation in place; returns the crop's (first, last) line times."""
    t0 = first_line_time + np.timedelta64(int(round(crop.row_off * azimuth_time_interval * 1e9)), "ns")
    t1 = t0 + np.timedelta64(int(round((crop.nrows - 1) * azimuth_time_interval * 1e9)), "ns")
    info = root.find("imageAnnotation/imageInformation")
    info.find("productFirstLineUtcTime").text = format_time(t0)
    info.find("productLastLineUtcTime").text = format_time(t1)
    info.find("numberOfLines").text = str(crop.nrows)
    info.find("numberOfSamples").text = str(crop.ncols)
    tau = crop_coordinate_conversion(root, crop, range_spacing)
    info.find("slantRangeTime").text = f"{tau:.15e}"
    crop_geolocation_grid(root, grid, epoch, crop)
    crop_swath_bounds(root, crop)
    set_header(root, start=t0, stop=t1)
    return t0, t1


# -- calibration ---------------------------------------------------------------------------------
def crop_calibration(root, crop: Crop, t0: np.datetime64, t1: np.datetime64) -> None:
    """Crop calibration vectors: bilinear-consistent border vectors at crop lines 0 / last and
    border pixels at crop samples 0 / last."""
    vlist = root.find("calibrationVectorList")
    vecs = list(vlist.iterfind("calibrationVector"))
    names = [el.tag for el in vecs[0] if el.tag not in ("azimuthTime", "line", "pixel")]
    lines = np.array([int(v.findtext("line")) for v in vecs])
    pixels = np.array(vecs[0].findtext("pixel").split(), dtype=np.int64)
    epoch = np.datetime64(vecs[0].findtext("azimuthTime"), "ns")
    az = _times_to_s([v.findtext("azimuthTime") for v in vecs], epoch)
    data = {n: np.array([v.findtext(n).split() for v in vecs], dtype=np.float64) for n in names}
    new_lines = crop_nodes(lines, crop.row_off, crop.last_row)
    new_pixels = crop_nodes(pixels, crop.col_off, crop.last_col)
    new_az = _interp_rows(new_lines.astype(float), lines, az)
    cropped = {}
    for n, v in data.items():
        rows = _interp_rows(new_lines.astype(float), lines, v)  # (k, m)
        cropped[n] = _interp_rows(new_pixels.astype(float), pixels, rows.T).T  # (k, m')
    template = vecs[0]
    for v in vecs:
        vlist.remove(v)
    for k, line in enumerate(new_lines):
        el = etree.fromstring(etree.tostring(template))
        el.find("azimuthTime").text = _s_to_time(new_az[k], epoch)
        el.find("line").text = str(int(line - crop.row_off))
        px = el.find("pixel")
        px.text = _ints(new_pixels - crop.col_off)
        px.set("count", str(new_pixels.size))
        for n in names:
            e = el.find(n)
            e.text = _fmt(cropped[n][k], ".6e")
            e.set("count", str(new_pixels.size))
        el.tail = template.tail
        vlist.append(el)
    vlist.set("count", str(len(new_lines)))
    set_header(root, start=t0, stop=t1)


# -- noise ---------------------------------------------------------------------------------------
def _noise_range_at(pixels: np.ndarray, values: np.ndarray, at: np.ndarray) -> np.ndarray:
    return _interp_rows(at.astype(float), pixels, values)


def crop_noise(root, crop: Crop, t0: np.datetime64, t1: np.datetime64) -> None:
    """Crop range noise vectors (per-vector pixel grids) and azimuth noise blocks."""
    rlist = root.find("noiseRangeVectorList")
    lut_tag = "noiseRangeLut"
    vec_tag = "noiseRangeVector"
    if rlist is None:  # IPF < 2.9 layout
        rlist, lut_tag, vec_tag = root.find("noiseVectorList"), "noiseLut", "noiseVector"
    vecs = list(rlist.iterfind(vec_tag))
    lines = np.array([int(v.findtext("line")) for v in vecs])
    epoch = np.datetime64(vecs[0].findtext("azimuthTime"), "ns")
    az = _times_to_s([v.findtext("azimuthTime") for v in vecs], epoch)
    pix = [np.array(v.findtext("pixel").split(), dtype=np.int64) for v in vecs]
    val = [np.array(v.findtext(lut_tag).split(), dtype=np.float64) for v in vecs]
    new_lines = crop_nodes(lines, crop.row_off, crop.last_row)
    template = vecs[0]
    for v in vecs:
        rlist.remove(v)
    for line in new_lines:
        k = int(np.clip(np.searchsorted(lines, line, side="right") - 1, 0, len(lines) - 2))
        exact = line == lines[k] or line == lines[k + 1]
        if line == lines[k + 1]:
            k += 1
        if exact:
            grid = crop_nodes(pix[k], crop.col_off, crop.last_col)
            values = _noise_range_at(pix[k], val[k], grid)
            t_az = az[k]
        else:
            t = (line - lines[k]) / (lines[k + 1] - lines[k])
            union = np.union1d(pix[k], pix[k + 1])
            grid = crop_nodes(union, crop.col_off, crop.last_col)
            values = (1 - t) * _noise_range_at(pix[k], val[k], grid) + t * _noise_range_at(pix[k + 1], val[k + 1], grid)
            t_az = (1 - t) * az[k] + t * az[k + 1]
        el = etree.fromstring(etree.tostring(template))
        el.find("azimuthTime").text = _s_to_time(t_az, epoch)
        el.find("line").text = str(int(line - crop.row_off))
        px = el.find("pixel")
        px.text = _ints(grid - crop.col_off)
        px.set("count", str(grid.size))
        lut = el.find(lut_tag)
        lut.text = _fmt(values, ".6e")
        lut.set("count", str(grid.size))
        el.tail = template.tail
        rlist.append(el)
    rlist.set("count", str(len(new_lines)))

    alist = root.find("noiseAzimuthVectorList")
    if alist is not None:
        for blk in list(alist):
            fl, ll = int(blk.findtext("firstAzimuthLine")), int(blk.findtext("lastAzimuthLine"))
            fs, ls = int(blk.findtext("firstRangeSample")), int(blk.findtext("lastRangeSample"))
            fl2, ll2 = max(fl, crop.row_off), min(ll, crop.last_row)
            fs2, ls2 = max(fs, crop.col_off), min(ls, crop.last_col)
            if fl2 > ll2 or fs2 > ls2:
                alist.remove(blk)
                continue
            bl = np.array(blk.findtext("line").split(), dtype=np.int64)
            bv = np.array(blk.findtext("noiseAzimuthLut").split(), dtype=np.float64)
            if bl.size == 1:
                nl, nv = np.array([fl2]), bv
            else:
                nl = crop_nodes(bl, fl2, ll2)
                nv = _interp_rows(nl.astype(float), bl, bv)
            blk.find("firstAzimuthLine").text = str(fl2 - crop.row_off)
            blk.find("lastAzimuthLine").text = str(ll2 - crop.row_off)
            blk.find("firstRangeSample").text = str(fs2 - crop.col_off)
            blk.find("lastRangeSample").text = str(ls2 - crop.col_off)
            e = blk.find("line")
            e.text = _ints(nl - crop.row_off)
            e.set("count", str(nl.size))
            e = blk.find("noiseAzimuthLut")
            e.text = _fmt(nv, ".6e")
            e.set("count", str(nl.size))
        alist.set("count", str(len(alist)))
    set_header(root, start=t0, stop=t1)
