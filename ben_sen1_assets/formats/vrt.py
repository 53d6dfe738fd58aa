"""GDAL VRT files over rasters on one grid: a file GDAL/QGIS open as one raster.

A VRT is GDAL's documented XML description of a virtual raster (https://gdal.org/drivers/raster/vrt.html).
Here each VRT band reads one band of one source file (paths relative to the VRT, so the folder can
be copied or uploaded), placed by its offset on a common grid, with its name
(``Description``), unit (``UnitType``) and nodata. A band may have another data type than its
source: a ``ComplexSource`` with the source's ``NODATA`` leaves no-data pixels at the VRT band's
own nodata, so a float provenance band with NaN can be exposed as Int16 with nodata -1.
"""

from __future__ import annotations

import math
import posixpath
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from affine import Affine

__all__ = ["VrtBand", "vrt_xml"]

_GDAL_TYPES = {"float32": "Float32", "float64": "Float64", "int16": "Int16", "uint16": "UInt16",
               "int32": "Int32", "uint8": "Byte"}


@dataclass(frozen=True)
class VrtBand:
    """One VRT band: band ``band`` (1-based) of ``source`` (a path relative to the VRT)."""

    source: str
    band: int
    description: str
    source_transform: Affine
    source_shape: tuple[int, int]  # rows, cols
    source_dtype: str = "float32"
    dtype: str = "float32"
    unit: str | None = None
    nodata: float | None = float("nan")
    source_nodata: float | None = float("nan")


def _fmt(v: float) -> str:
    return "nan" if isinstance(v, float) and math.isnan(v) else repr(v) if isinstance(v, float) else str(v)


def vrt_xml(bands: list[VrtBand], crs_wkt: str, transform: Affine, shape: tuple[int, int]) -> str:
    """The VRT document of ``bands`` on the grid ``transform``/``shape`` (rows, cols).

    Every source must lie on that grid (same pixel size, whole-pixel offset).
    """
    rows, cols = shape
    root = ET.Element("VRTDataset", rasterXSize=str(cols), rasterYSize=str(rows))
    ET.SubElement(root, "SRS", dataAxisToSRSAxisMapping="1,2").text = crs_wkt
    ET.SubElement(root, "GeoTransform").text = ", ".join(
        repr(float(v)) for v in (transform.c, transform.a, transform.b, transform.f, transform.d, transform.e))
    for i, b in enumerate(bands, start=1):
        st = b.source_transform
        if (st.a, st.e, st.b, st.d) != (transform.a, transform.e, transform.b, transform.d):
            raise ValueError(f"{b.source}: pixel size {st.a, st.e} differs from the VRT grid's {transform.a, transform.e}")
        xoff = (st.c - transform.c) / transform.a
        yoff = (st.f - transform.f) / transform.e
        if abs(xoff - round(xoff)) > 1e-6 or abs(yoff - round(yoff)) > 1e-6:
            raise ValueError(f"{b.source}: not on the VRT grid (offset {xoff}, {yoff} px)")
        band = ET.SubElement(root, "VRTRasterBand", dataType=_GDAL_TYPES[b.dtype], band=str(i))
        ET.SubElement(band, "Description").text = b.description
        if b.nodata is not None:
            ET.SubElement(band, "NoDataValue").text = _fmt(b.nodata)
        if b.unit:
            ET.SubElement(band, "UnitType").text = b.unit
        complex_ = b.dtype != b.source_dtype or b.source_nodata is not None
        src = ET.SubElement(band, "ComplexSource" if complex_ else "SimpleSource")
        ET.SubElement(src, "SourceFilename", relativeToVRT="1").text = posixpath.normpath(b.source)
        ET.SubElement(src, "SourceBand").text = str(b.band)
        srows, scols = b.source_shape
        ET.SubElement(src, "SourceProperties", RasterXSize=str(scols), RasterYSize=str(srows),
                      DataType=_GDAL_TYPES[b.source_dtype], BlockXSize=str(min(scols, 512)),
                      BlockYSize=str(min(srows, 512)))
        ET.SubElement(src, "SrcRect", xOff="0", yOff="0", xSize=str(scols), ySize=str(srows))
        ET.SubElement(src, "DstRect", xOff=str(round(xoff)), yOff=str(round(yoff)), xSize=str(scols), ySize=str(srows))
        if complex_ and b.source_nodata is not None:
            ET.SubElement(src, "NODATA").text = _fmt(b.source_nodata)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode") + "\n"
