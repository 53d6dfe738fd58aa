"""Write the parts of a SAFE product: measurement GeoTIFF with GCPs, manifest, zip.

Measurement TIFFs are written as ESA writes IW GRD ones: uncompressed uint16, one image line per
strip, BigTIFF (the manifest sizes of the real samples fit exactly
``780 + 10080 (210 GCP tie points) + 16 × lines + 2 × lines × samples`` bytes, i.e. 8-byte strip
offsets and byte counts for one-line strips), the annotation's geolocation grid points as GeoTIFF
GCPs (pixel = ``pixel``, line = ``line``, x = longitude, y = latitude, z = height) in EPSG:4326.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import rasterio
from lxml import etree
from rasterio.control import GroundControlPoint
from rasterio.crs import CRS

from . import metadata_edit as xe

#: fixed timestamp of every zip entry (the ZIP epoch): identical bytes for identical contents.
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)
MANIFEST_NS = {
    "xfdu": "urn:ccsds:schema:xfdu:1",
    "safe": "http://www.esa.int/safe/sentinel-1.0",
    "s1": "http://www.esa.int/safe/sentinel-1.0/sentinel-1",
    "s1sarl1": "http://www.esa.int/safe/sentinel-1.0/sentinel-1/sar/level-1",
    "gml": "http://www.opengis.net/gml",
}


def md5_file(path: Path, chunk: int = 16 << 20) -> str:
    """MD5 hex digest of a file (what the manifest's ``checksum checksumName="MD5"`` holds)."""
    h = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


class MeasurementWriter:
    """Context manager writing a measurement TIFF by row blocks (atomic: temp name, then rename)."""

    def __init__(self, path: Path, shape: tuple[int, int], gcps: list[GroundControlPoint], mission: str,
                 ipf: str, processing_time: str) -> None:
        self.path = Path(path)
        self.tmp = self.path.with_name(self.path.name + ".part")
        self.shape = shape
        self.gcps = gcps
        self.tags = {
            "TIFFTAG_IMAGEDESCRIPTION": f"Sentinel-1{mission[-1]} IW GRD HR L1 (SIMULATED PIXELS, ben_sen1_assets demo)",
            "TIFFTAG_SOFTWARE": f"Sentinel-1 IPF {ipf}",
            "TIFFTAG_DATETIME": processing_time,
        }

    def __enter__(self) -> "MeasurementWriter":
        lines, samples = self.shape
        self.ds = rasterio.open(
            self.tmp, "w", driver="GTiff", width=samples, height=lines, count=1, dtype="uint16",
            tiled=False, blockysize=1, compress="none", BIGTIFF="YES", interleave="band",
            gcps=self.gcps, crs=CRS.from_epsg(4326),
        )
        self.ds.update_tags(**self.tags)
        return self

    def write(self, row0: int, block: np.ndarray) -> None:
        from rasterio.windows import Window

        self.ds.write(block, 1, window=Window(0, row0, block.shape[1], block.shape[0]))

    def __exit__(self, exc_type, exc, tb) -> None:
        self.ds.close()
        if exc_type is None:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)


def gcps_from_annotation(ann_root) -> list[GroundControlPoint]:
    """GeoTIFF GCPs from an annotation's ``geolocationGridPoint`` list (values as written)."""
    out = []
    for k, p in enumerate(ann_root.iterfind("geolocationGrid/geolocationGridPointList/geolocationGridPoint")):
        out.append(
            GroundControlPoint(
                row=float(p.findtext("line")), col=float(p.findtext("pixel")),
                x=float(p.findtext("longitude")), y=float(p.findtext("latitude")), z=float(p.findtext("height")),
                id=str(k + 1),
            )
        )
    return out


# -- manifest ------------------------------------------------------------------------------------
def edit_manifest(
    data: bytes,
    *,
    start: np.datetime64,
    stop: np.datetime64,
    anx_shift_ms: float,
    absolute_orbit: int,
    cycle_number: int,
    datatake_id: int,
    footprint_latlon: Iterable[tuple[float, float]],
    note: str,
) -> etree._Element:
    """Apply the demo product's identity, timing, footprint and provenance note to a manifest."""
    root = xe.parse(data)
    ns = MANIFEST_NS
    for el in root.iterfind(".//safe:acquisitionPeriod/safe:startTime", ns):
        el.text = xe.format_time(start)
    for el in root.iterfind(".//safe:acquisitionPeriod/safe:stopTime", ns):
        el.text = xe.format_time(stop)
    for tag in ("s1:startTimeANX", "s1:stopTimeANX"):
        for el in root.iterfind(f".//{tag}", ns):
            el.text = f"{float(el.text) + anx_shift_ms:.6e}"
    for el in root.iterfind(".//safe:orbitReference/safe:orbitNumber", ns):
        el.text = str(absolute_orbit)
    for el in root.iterfind(".//safe:orbitReference/safe:cycleNumber", ns):
        el.text = str(cycle_number)
    for el in root.iterfind(".//s1sarl1:missionDataTakeID", ns):
        el.text = str(datatake_id)
    for el in root.iterfind(".//safe:footPrint/gml:coordinates", ns):
        el.text = " ".join(f"{lat:.6f},{lon:.6f}" for lat, lon in footprint_latlon)
    # provenance: a resource inside the top-level processing element (schema: safe:resource)
    proc = root.find(".//safe:processing", ns)
    res = etree.Element(f"{{{ns['safe']}}}resource", name=note, role="Simulated measurement data (see SIMULATED.txt)")
    proc.insert(1, res)
    res.tail = "\n            "
    root.addprevious(etree.Comment(" SIMULATED PRODUCT: " + note.replace("--", "-") + " "))
    return root


def drop_data_objects(root, keep_hrefs: set[str]) -> None:
    """Remove dataObjects (and their pointers/metadata objects) whose file is not written."""
    dropped = set()
    for obj in list(root.iter("dataObject")):
        href = obj.find(".//fileLocation").get("href").removeprefix("./")
        if href not in keep_hrefs:
            dropped.add(obj.get("ID"))
            obj.getparent().remove(obj)
    for ptr in list(root.iter("dataObjectPointer")):
        if ptr.get("dataObjectID") in dropped:
            parent = ptr.getparent()
            if parent.tag == "metadataObject" or parent.tag.endswith("contentUnit"):
                parent.getparent().remove(parent)


def set_checksums(root, checksums: dict[str, tuple[int, str]]) -> None:
    """Write ``byteStream size`` and the MD5 checksum (``href → (size, md5)``) of every listed file."""
    for obj in root.iter("dataObject"):
        href = obj.find(".//fileLocation").get("href").removeprefix("./")
        if href in checksums:
            size, md5 = checksums[href]
            obj.find("byteStream").set("size", str(size))
            obj.find(".//checksum").text = md5


def serialise_manifest(root) -> bytes:
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8") + b"\n"


# -- zip -----------------------------------------------------------------------------------------
def zip_safe(safe_dir: Path, zip_path: Path, manifest: Callable[[dict[str, tuple[int, str]]], bytes],
             stored_suffixes: tuple[str, ...] = (".tiff",)) -> None:
    """Zip ``<name>.SAFE/...`` into ``zip_path`` deterministically, reading every file once.

    Entries: all files in sorted order, then ``manifest.safe`` last (its MD5s are computed while
    the other files are copied; ``manifest(checksums)`` returns its bytes, ``checksums`` maps
    href → (size, md5)). Fixed entry times. Measurement TIFFs are STORED (no compression: fast,
    and random access through GDAL's /vsizip/; ESA deflates them), everything else is deflated
    (zlib level 6).
    """
    safe_dir = Path(safe_dir)
    tmp = zip_path.with_name(zip_path.name + ".part")
    files = sorted(p for p in safe_dir.rglob("*") if p.is_file() and p.name != "manifest.safe")
    checksums: dict[str, tuple[int, str]] = {}

    def info_for(rel: str, stored: bool) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(f"{safe_dir.name}/{rel}", date_time=ZIP_DATE_TIME)
        info.external_attr = 0o644 << 16
        info.create_system = 3
        info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
        return info

    try:
        with zipfile.ZipFile(tmp, "w", allowZip64=True) as zf:
            for p in files:
                rel = p.relative_to(safe_dir).as_posix()
                size = p.stat().st_size
                h = hashlib.md5()
                with open(p, "rb") as src, zf.open(info_for(rel, p.suffix in stored_suffixes), "w",
                                                   force_zip64=size > (1 << 31)) as dst:
                    while block := src.read(16 << 20):
                        h.update(block)
                        dst.write(block)
                checksums[rel] = (size, h.hexdigest())
            data = manifest(checksums)
            (safe_dir / "manifest.safe").write_bytes(data)
            zf.writestr(info_for("manifest.safe", False), data)
        os.replace(tmp, zip_path)
    finally:
        tmp.unlink(missing_ok=True)
