"""Open a Sentinel-1 IW GRD SAFE product: a folder or a zip, local or any fsspec URL.

Nothing is extracted: XML members are read one by one; measurement pixels are read by window
through GDAL (``/vsizip/`` for local zips, a plain path for local folders, rasterio's fsspec
``opener`` otherwise).

>>> product = open_safe("S1A_…_8255.zip")                       # or a .SAFE folder, or
>>> product = open_safe("s3://bucket/S1A_…_8255.zip", storage_options={...})
>>> product.available_polarisations                              # ('VV', 'VH')
>>> ann = product.annotation("VV"); cal = product.calibration("VV"); noise = product.noise("VV")
>>> dn = product.read_measurement("VV", Window(col_off, row_off, width, height))
"""

from __future__ import annotations

import os
import posixpath
import zipfile
import zlib
from typing import Any

import fsspec
from fsspec.core import has_magic
import numpy as np
import rasterio
from fsspec.implementations.local import LocalFileSystem
from fsspec.implementations.zip import ZipFileSystem
from rasterio.windows import Window

from .annotation import ProductAnnotation, parse_annotation
from .errors import MissingFileError, SafeError, SafeFormatError, UnsupportedProductError, WindowError
from .luts import CalibrationLut, NoiseLut, parse_calibration, parse_noise
from .manifest import Manifest, ManifestFile, parse_manifest

#: file kinds a polarisation needs for radiometry/geometry (the measurement is checked separately).
METADATA_KINDS = ("annotation", "calibration", "noise")

_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError)


def check_window(window: Window, shape: tuple[int, int], source: str) -> Window:
    """Return ``window`` with integer offsets/sizes, or raise WindowError if it leaves ``shape``."""
    row_off, col_off = window.row_off, window.col_off
    height, width = window.height, window.width
    if any(float(v) != int(v) for v in (row_off, col_off, height, width)):
        raise WindowError(f"{source}: window {window} must have integer offsets and sizes")
    row_off, col_off, height, width = int(row_off), int(col_off), int(height), int(width)
    lines, samples = shape
    if (
        height <= 0
        or width <= 0
        or row_off < 0
        or col_off < 0
        or row_off + height > lines
        or col_off + width > samples
    ):
        raise WindowError(
            f"{source}: window rows {row_off}..{row_off + height - 1}, columns "
            f"{col_off}..{col_off + width - 1} is empty or outside the image "
            f"({lines} lines × {samples} samples)"
        )
    return Window(col_off, row_off, width, height)


class SafeProduct:
    """An opened SAFE product. Use :func:`open_safe` to create one."""

    def __init__(
        self,
        fs: fsspec.AbstractFileSystem,
        root: str,
        source: str,
        manifest: Manifest,
        existing: set[str],
        gdal_root: str | None,
        handle: Any = None,
    ) -> None:
        self._fs = fs
        self._root = root
        self.source = source
        self.manifest = manifest
        self._existing = existing
        self._gdal_root = gdal_root
        self._handle = handle
        self._cache: dict[tuple[str, str], Any] = {}

    # -- identity ---------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """Product name without ``.SAFE``."""
        return self.manifest.product_name

    @property
    def polarisations(self) -> tuple[str, ...]:
        """Polarisations the manifest lists (some may lack files)."""
        return self.manifest.polarisations

    @property
    def available_polarisations(self) -> tuple[str, ...]:
        """Listed polarisations whose annotation, calibration and noise files are all present."""
        return tuple(
            p for p in self.polarisations
            if all(self._exists(kind, p) for kind in METADATA_KINDS)
        )

    @property
    def missing_files(self) -> tuple[ManifestFile, ...]:
        """Files the manifest lists that are absent from the product."""
        return tuple(f for f in self.manifest.files if f.href not in self._existing)

    def has_measurement(self, polarisation: str) -> bool:
        """Whether the measurement TIFF of ``polarisation`` is present."""
        return self._exists("measurement", polarisation)

    # -- files ------------------------------------------------------------------------------
    def _exists(self, kind: str, polarisation: str) -> bool:
        try:
            return self.manifest.file(kind, polarisation).href in self._existing
        except KeyError:
            return False

    def _file(self, kind: str, polarisation: str) -> ManifestFile:
        pol = polarisation.upper()
        if pol not in self.polarisations:
            raise MissingFileError(
                f"{self.source}: polarisation {pol} not in this product "
                f"(manifest lists {', '.join(self.polarisations)})"
            )
        try:
            entry = self.manifest.file(kind, pol)
        except KeyError:
            raise MissingFileError(
                f"{self.source}: manifest.safe lists no {kind} file for polarisation {pol}"
            ) from None
        if entry.href not in self._existing:
            raise MissingFileError(
                f"{self.source}: {entry.href} ({kind}, polarisation {pol}) is listed in "
                f"manifest.safe but missing from the product"
            )
        return entry

    def read_bytes(self, href: str) -> bytes:
        """Bytes of a member, ``href`` relative to the SAFE root (e.g. ``annotation/….xml``)."""
        if href not in self._existing:
            raise MissingFileError(f"{self.source}: {href} is missing from the product")
        try:
            with self._fs.open(posixpath.join(self._root, href), "rb") as f:
                return f.read()
        except _READ_ERRORS as exc:
            raise SafeFormatError(f"{self.source}: cannot read {href} ({exc})") from exc

    def _parsed(self, kind: str, polarisation: str, parser):
        key = (kind, polarisation.upper())
        if key not in self._cache:
            entry = self._file(kind, polarisation)
            self._cache[key] = parser(self.read_bytes(entry.href), f"{self.source}/{entry.href}")
        return self._cache[key]

    # -- metadata ---------------------------------------------------------------------------
    def annotation(self, polarisation: str) -> ProductAnnotation:
        """Product annotation (geometry, timing, orbit, GCPs, SR/GR polynomials) of a polarisation."""
        ann = self._parsed("annotation", polarisation, parse_annotation)
        if ann.mode != "IW" or ann.product_type != "GRD":
            raise UnsupportedProductError(
                f"{ann.source}: annotation says {ann.mode} {ann.product_type}; only IW GRD is supported"
            )
        return ann

    def calibration(self, polarisation: str) -> CalibrationLut:
        """Calibration LUTs (sigmaNought, betaNought, gamma, dn) of a polarisation."""
        return self._parsed("calibration", polarisation, parse_calibration)

    def noise(self, polarisation: str) -> NoiseLut:
        """Thermal noise LUTs of a polarisation (either layout)."""
        return self._parsed("noise", polarisation, parse_noise)

    # -- measurement ------------------------------------------------------------------------
    @property
    def measurements_read_by_gdal(self) -> bool:
        """Whether GDAL reads the measurement TIFFs by itself (a local folder, or a local zip as
        ``/vsizip/``), not through an fsspec opener (which supports fewer read modes)."""
        return self._gdal_root is not None

    def measurement_path(self, polarisation: str) -> str:
        """Path of the measurement TIFF: a GDAL path for local folders/zips (``/vsizip/…``),
        else the path inside the fsspec filesystem (opened with rasterio's ``opener``)."""
        entry = self._file("measurement", polarisation)
        if self._gdal_root is not None:
            return posixpath.join(self._gdal_root, entry.href)
        return posixpath.join(self._root, entry.href)

    def open_measurement(self, polarisation: str) -> rasterio.DatasetReader:
        """A rasterio dataset of the measurement TIFF (caller closes it)."""
        path = self.measurement_path(polarisation)
        try:
            if self._gdal_root is not None:
                return rasterio.open(path)
            return rasterio.open(path, opener=self._fs)
        except rasterio.errors.RasterioIOError as exc:
            raise SafeFormatError(f"{self.source}: cannot open {path} ({exc})") from exc

    def read_measurement(self, polarisation: str, window: Window | None = None) -> np.ndarray:
        """DN (uint16, shape (height, width)) of ``window`` (whole image if None)."""
        shape = self.annotation(polarisation).shape
        window = check_window(window or Window(0, 0, shape[1], shape[0]), shape, self.source)
        entry = self._file("measurement", polarisation)
        with self.open_measurement(polarisation) as ds:
            if (ds.height, ds.width) != shape:
                raise SafeFormatError(
                    f"{self.source}: {entry.href} is {ds.height}×{ds.width} pixels but the "
                    f"annotation says {shape[0]}×{shape[1]}"
                )
            try:
                return ds.read(1, window=window)
            except rasterio.errors.RasterioIOError as exc:
                raise SafeFormatError(f"{self.source}: cannot read {entry.href} ({exc})") from exc

    # -- lifetime ---------------------------------------------------------------------------
    def close(self) -> None:
        """Release the underlying file handle (zips)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> "SafeProduct":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SafeProduct({self.name!r}, polarisations={self.available_polarisations})"


def _find_safe_root(fs: fsspec.AbstractFileSystem, base: str, source: str) -> str:
    """Folder inside ``base`` that holds ``manifest.safe`` (base itself, or one ``*.SAFE`` below)."""
    base = base.rstrip("/")
    if fs.isfile(posixpath.join(base, "manifest.safe")):
        return base
    candidates = [
        p for p in fs.glob(posixpath.join(base, "*", "manifest.safe")) if p.rstrip("/")
    ]
    if len(candidates) != 1:
        raise SafeFormatError(
            f"{source}: expected one manifest.safe (in the folder or one *.SAFE sub-folder), "
            f"found {len(candidates)}"
        )
    return posixpath.dirname(candidates[0])


def open_safe(urlpath: str | os.PathLike, storage_options: dict | None = None) -> SafeProduct:
    """Open a SAFE product: a ``.SAFE`` folder (or its ``manifest.safe``), a ``.zip``, local or URL.

    URLs go through fsspec (``s3://…zip``, ``zip://*/manifest.safe::file:///…zip``, …) with
    ``storage_options``. Raises SafeError subclasses: MissingFileError, SafeFormatError (corrupt
    zip, malformed XML), UnsupportedProductError (not IW GRD).
    """
    source = os.fspath(urlpath)
    storage_options = storage_options or {}
    try:
        fs, path = fsspec.core.url_to_fs(source, **storage_options)
    except (ValueError, ImportError, zipfile.BadZipFile, OSError) as exc:
        raise SafeFormatError(f"{source}: cannot open ({exc})") from exc
    if has_magic(path):  # e.g. "zip://*/manifest.safe::file:///….zip"
        matches = fs.glob(path)
        if len(matches) != 1:
            raise SafeFormatError(f"{source}: pattern matches {len(matches)} paths, expected one")
        path = matches[0]
    if path.endswith("manifest.safe"):
        path = posixpath.dirname(path)
    try:
        exists = fs.exists(path)
    except _READ_ERRORS as exc:
        raise SafeFormatError(f"{source}: cannot open ({exc})") from exc
    if not exists:
        raise MissingFileError(f"{source}: no such product (file or folder)")
    handle = None
    zip_path: str | None = None
    if path.lower().endswith(".zip") and not isinstance(fs, ZipFileSystem):
        try:
            handle = fs.open(path, "rb")
            zfs = ZipFileSystem(fo=handle)
        except _READ_ERRORS as exc:
            if handle is not None:
                handle.close()
            raise SafeFormatError(f"{source}: not a readable zip archive, truncated or corrupt ({exc})") from exc
        outer_local = isinstance(fs, LocalFileSystem)
        if outer_local:
            zip_path = path
        fs, path = zfs, ""
    else:
        outer_local = isinstance(fs, LocalFileSystem)
    try:
        root = _find_safe_root(fs, path, source)
        existing = {
            posixpath.relpath(p, root) if root else p.lstrip("/")
            for p in fs.find(root)
        }
        name = posixpath.basename(root.rstrip("/")) or posixpath.basename(source.rstrip("/"))
        if "manifest.safe" not in existing:
            raise MissingFileError(f"{source}: manifest.safe is missing")
        with fs.open(posixpath.join(root, "manifest.safe"), "rb") as f:
            data = f.read()
        manifest_source = source if source.endswith("manifest.safe") else f"{source}/manifest.safe"
        manifest = parse_manifest(data, manifest_source, name)
    except SafeError:
        if handle is not None:
            handle.close()
        raise
    except _READ_ERRORS as exc:
        if handle is not None:
            handle.close()
        raise SafeFormatError(f"{source}: cannot read product ({exc})") from exc
    if zip_path is not None:
        gdal_root = posixpath.join(f"/vsizip/{zip_path}", root)
    elif outer_local:
        gdal_root = root
    else:
        gdal_root = None
    return SafeProduct(fs, root, source, manifest, existing, gdal_root, handle)
