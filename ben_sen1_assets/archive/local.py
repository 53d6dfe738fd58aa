"""A catalogue over a folder of Sentinel-1 SAFE products (``.SAFE`` folders and/or ``.zip``), on
the local disk or behind any fsspec URL (``s3://bucket/archive``, ...).

Scan depth: the folder itself and its immediate sub-folders (``root/X.SAFE``, ``root/X.zip``,
``root/<sub>/X.SAFE``, ``root/<sub>/X.zip``); nothing deeper, and names starting with ``.`` are
ignored. Each product's ``manifest.safe`` is read with the project's SAFE reader
(:func:`ben_sen1_assets.sar.safe.open_safe`); the polarisations recorded are those whose
annotation, calibration and noise files are actually present (``available_polarisations``; with
``require_measurement=True`` the measurement TIFF must be present too), not what the manifest
lists.

Zips get their size and MD5. Both, with the record read from the manifest, are cached in a JSON
index (default ``<root>/.ben_sen1_assets_index.json``) keyed by the zip's path relative to the
root and validated by its size and modification time, so a rescan of a large archive neither
re-hashes nor re-opens unchanged zips. ``.SAFE`` folders are not cached (their manifest is read
again on each scan, which is cheap; their size is the sum of their files, no checksum). The index
is written atomically and only when it changed; if it cannot be written (read-only archive) that
is reported in ``problems`` and the scan still succeeds.

A product that cannot be read (corrupt zip, missing or malformed manifest, a name that is not a
Sentinel-1 product name) is skipped and listed in ``problems`` with the reason; so is the second
copy of a product present twice (the zip is kept: it has a checksum).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import posixpath
import stat
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

import fsspec
import numpy as np
import shapely
import shapely.affinity
from fsspec.implementations.local import LocalFileSystem
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry
from upath import UPath

from ..formats.atomic import atomic_file
from ..sar.errors import SafeError
from ..sar.safe import open_safe
from .errors import ArchiveError, CatalogError, CatalogUnavailableError, StorageError
from .records import (
    Catalog,
    ProductRecord,
    check_footprint,
    check_search_window,
    parse_polarisations,
)

__all__ = [
    "INDEX_NAME",
    "LocalCatalog",
    "LocalScan",
    "ScanProblem",
    "footprint_from_manifest",
    "read_product_record",
]

logger = logging.getLogger(__name__)

INDEX_NAME = ".ben_sen1_assets_index.json"
INDEX_VERSION = 1
_CHUNK = 8 * 1024 * 1024
# keys of fsspec info() dicts that carry a modification stamp, by backend (local, s3, gcs, ...)
_MTIME_KEYS = ("mtime", "LastModified", "last_modified", "updated", "created", "ETag", "etag")


@dataclass(frozen=True)
class ScanProblem:
    """A product (or the index) the scan could not use, and why."""

    path: str
    reason: str


@dataclass(frozen=True)
class LocalScan:
    """The outcome of one scan: records (sorted by start, name), problems, and work counters."""

    records: tuple[ProductRecord, ...]
    problems: tuple[ScanProblem, ...]
    n_read: int  # manifests opened during this scan
    n_hashed: int  # zips whose MD5 was computed during this scan
    n_from_index: int  # zips taken from the index unchanged


def footprint_from_manifest(lonlat: np.ndarray) -> Polygon | MultiPolygon:
    """The manifest footprint ring (lon, lat) as a polygon; a ring crossing ±180° (longitude span
    > 180°) becomes a MultiPolygon split at the antimeridian (RFC 7946 style)."""
    ring = np.asarray(lonlat, dtype=np.float64).reshape(-1, 2)
    lon = ring[:, 0]
    if lon.max() - lon.min() <= 180.0:
        return shapely.make_valid(Polygon(ring)).normalize()
    east = ring.copy()
    east[:, 0] = np.where(lon < 0, lon + 360.0, lon)
    poly = shapely.make_valid(Polygon(east))
    inside = poly.intersection(shapely.box(-180.0, -90.0, 180.0, 90.0))
    outside = shapely.affinity.translate(poly.difference(shapely.box(-180.0, -90.0, 180.0, 90.0)), xoff=-360.0)
    parts = [p for g in (inside, outside) for p in shapely.get_parts(g) if p.geom_type == "Polygon"]
    return MultiPolygon(parts).normalize()


def _datetime(value: np.datetime64) -> datetime:
    return datetime.fromisoformat(str(np.datetime64(value, "us"))).replace(tzinfo=timezone.utc)


def read_product_record(
    urlpath: str | os.PathLike,
    storage_options: dict | None = None,
    *,
    size: int | None = None,
    checksums: Mapping[str, str] | None = None,
    download_url: str | None = None,
    provider_id: str | None = None,
    require_measurement: bool = False,
) -> ProductRecord:
    """A :class:`ProductRecord` (``source="local"``) from a product's manifest, read with the SAFE
    reader. Polarisations = those whose metadata files (and, with ``require_measurement``, the
    measurement TIFF) are present. Raises SafeError (unreadable product) or ArchiveError."""
    url = os.fspath(urlpath)
    with open_safe(url, storage_options) as product:
        m = product.manifest
        pols = product.available_polarisations
        if require_measurement:
            pols = tuple(p for p in pols if product.has_measurement(p))
        if not pols:
            raise CatalogError(
                f"{url}: no polarisation has its annotation, calibration, noise"
                f"{' and measurement' if require_measurement else ''} files (manifest lists "
                f"{'&'.join(m.polarisations)})"
            )
        try:
            return ProductRecord(
                name=m.product_name,
                provider_id=provider_id or url,
                start=_datetime(m.start_time),
                stop=_datetime(m.stop_time),
                mission=m.mission,
                absolute_orbit=int(m.absolute_orbit),
                relative_orbit=int(m.relative_orbit),
                pass_direction=m.pass_direction,
                polarisations=pols,
                footprint=footprint_from_manifest(m.footprint),
                size=size,
                checksums=dict(checksums or {}),
                download_url=download_url or url,
                source="local",
            )
        except ValueError as exc:  # ProductNameError or a bad field
            raise CatalogError(f"{url}/manifest.safe: {exc}") from None


def _record_to_json(r: ProductRecord) -> dict[str, Any]:
    return {
        "name": r.name, "start": r.start.isoformat(), "stop": r.stop.isoformat(), "mission": r.mission,
        "absolute_orbit": r.absolute_orbit, "relative_orbit": r.relative_orbit,
        "pass_direction": r.pass_direction, "polarisations": list(r.polarisations),
        "footprint": shapely.to_wkt(r.footprint, rounding_precision=-1),
    }


def _record_from_json(d: Mapping[str, Any], *, size: int, md5: str, url: str, provider_id: str) -> ProductRecord:
    return ProductRecord(
        name=d["name"], provider_id=provider_id, start=datetime.fromisoformat(d["start"]),
        stop=datetime.fromisoformat(d["stop"]), mission=d["mission"],
        absolute_orbit=int(d["absolute_orbit"]), relative_orbit=int(d["relative_orbit"]),
        pass_direction=d["pass_direction"], polarisations=tuple(d["polarisations"]),
        footprint=shapely.from_wkt(d["footprint"]), size=size, checksums={"MD5": md5},
        download_url=url, source="local",
    )


def _local_kind(path: str) -> str:
    """"file", "directory", or what else a local archive entry is (e.g. "a dangling symbolic link")."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "a dangling symbolic link" if os.path.islink(path) else "vanished during the scan"
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "directory"
    for test, kind in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "not a regular file"


def _mtime(info: Mapping[str, Any]) -> str:
    for key in _MTIME_KEYS:
        if info.get(key) not in (None, ""):
            return str(info[key])
    return ""


class LocalCatalog(Catalog):
    """Search a folder of SAFE products (see the module docstring for scan depth and the index).

    ``root``: local path or fsspec URL; ``storage_options`` go to fsspec. ``index_path``: where
    the zip index lives (default ``<root>/.ben_sen1_assets_index.json``, same storage options);
    ``use_index=False`` disables it. The folder is scanned on first use; :meth:`scan` rescans.
    """

    source = "local"

    def __init__(
        self,
        root: str | os.PathLike,
        storage_options: dict | None = None,
        *,
        index_path: str | os.PathLike | None = None,
        use_index: bool = True,
        require_measurement: bool = False,
    ) -> None:
        self.root = os.fspath(root)
        self.storage_options = dict(storage_options or {})
        try:
            self._fs, self._root = fsspec.core.url_to_fs(self.root, **self.storage_options)
        except (ValueError, ImportError) as exc:
            raise CatalogError(f"local catalogue {self.root!r}: cannot open ({exc})") from exc
        self._root = self._root.rstrip("/") or "/"
        self._local = isinstance(self._fs, LocalFileSystem)
        self.use_index = use_index
        self.require_measurement = require_measurement
        if index_path is not None:
            self.index_url = os.fspath(index_path)
        else:
            self.index_url = self._url(posixpath.join(self._root, INDEX_NAME))
        self._last: LocalScan | None = None

    def __repr__(self) -> str:
        return f"LocalCatalog({self.root!r})"

    # -- paths -------------------------------------------------------------------------------
    def _url(self, path: str) -> str:
        """What users and the reader get: a plain path for local files, else a full URL."""
        return path if self._local else self._fs.unstrip_protocol(path)

    def _rel(self, path: str) -> str:
        return posixpath.relpath(path, self._root)

    def _discover(self) -> tuple[list[dict], list[ScanProblem]]:
        """Product candidates (fsspec info dicts) in the root and its immediate sub-folders."""
        problems: list[ScanProblem] = []
        try:
            top = self._fs.ls(self._root, detail=True)
        except (FileNotFoundError, NotADirectoryError, PermissionError) as exc:
            what = {FileNotFoundError: "does not exist", NotADirectoryError: "is not a folder",
                    PermissionError: "cannot be read (permission denied)"}[type(exc)]
            raise StorageError(f"local archive {self.root!r} {what}; check BEN_SEN1_ARCHIVE") from None
        except (OSError, ValueError) as exc:
            raise CatalogUnavailableError(f"local catalogue {self.root!r}: cannot list the folder ({exc})") from exc
        if self._local and not os.path.isdir(self._root):
            raise StorageError(f"local archive {self.root!r} is not a folder; check BEN_SEN1_ARCHIVE")
        found: list[dict] = []

        def consider(info: dict, descend: bool) -> None:
            name = posixpath.basename(info["name"].rstrip("/"))
            if name.startswith("."):
                return
            if self._local:
                # links are followed; what they point to must be a file or a folder, and anything
                # else is named: a FIFO read as a zip would block the scan for ever
                kind = _local_kind(info["name"])
                if kind not in ("file", "directory"):
                    problems.append(ScanProblem(self._url(info["name"]), f"{kind}, not a product file or folder; skipped"))
                    return
                info = {**info, "type": kind}
            is_dir = info.get("type") == "directory"
            if is_dir and name.endswith(".SAFE"):
                found.append(info)
            elif not is_dir and name.lower().endswith(".zip"):
                found.append(info)
            elif is_dir and descend:
                try:
                    for sub in self._fs.ls(info["name"], detail=True):
                        consider(sub, descend=False)
                except (OSError, ValueError) as exc:
                    problems.append(ScanProblem(self._url(info["name"]), f"cannot list sub-folder ({exc})"))

        for info in top:
            consider(info, descend=True)
        found.sort(key=lambda i: i["name"])
        return found, problems

    # -- index -------------------------------------------------------------------------------
    def _index_upath(self) -> UPath:
        if "://" in self.index_url:
            return UPath(self.index_url, **self.storage_options)
        return UPath(self.index_url)

    def _load_index(self, problems: list[ScanProblem]) -> dict[str, Any]:
        path = self._index_upath()
        try:
            if not path.exists():
                return {}
            data = json.loads(path.read_text())
            if data.get("version") != INDEX_VERSION or not isinstance(data.get("entries"), dict):
                raise ValueError(f"unexpected version/layout (expected version {INDEX_VERSION})")
            return data["entries"]
        except (OSError, ValueError, AttributeError) as exc:
            problems.append(ScanProblem(self.index_url, f"index unreadable, rebuilt ({exc})"))
            return {}

    def _save_index(self, entries: dict[str, Any], problems: list[ScanProblem]) -> None:
        text = json.dumps({"version": INDEX_VERSION, "entries": entries}, indent=1, sort_keys=True)
        try:
            with atomic_file(self._index_upath()) as tmp:
                tmp.write_text(text)
        except (OSError, ValueError) as exc:
            logger.warning("local catalogue %s: cannot write index %s (%s)", self.root, self.index_url, exc)
            problems.append(ScanProblem(self.index_url, f"cannot write index ({exc})"))

    # -- scan --------------------------------------------------------------------------------
    def _md5(self, path: str) -> str:
        h = hashlib.md5()
        with self._fs.open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
        return h.hexdigest()

    def scan(self) -> LocalScan:
        """Scan the folder now (unchanged zips come from the index) and remember the result."""
        found, problems = self._discover()
        old_index = self._load_index(problems) if self.use_index else {}
        new_index: dict[str, Any] = {}
        by_name: dict[str, tuple[ProductRecord, str, bool]] = {}  # name -> (record, url, is_zip)
        n_read = n_hashed = n_cached = 0
        for info in found:
            path = info["name"].rstrip("/")
            url, rel = self._url(path), self._rel(path)
            is_zip = info.get("type") != "directory"
            try:
                if is_zip:
                    size, stamp = int(info.get("size") or 0), _mtime(info)
                    cached = old_index.get(rel)
                    if cached and cached.get("size") == size and cached.get("mtime") == stamp and stamp:
                        record = _record_from_json(cached["record"], size=size, md5=cached["md5"], url=url, provider_id=rel)
                        n_cached += 1
                        new_index[rel] = cached
                    else:
                        record = read_product_record(
                            url, self.storage_options, size=size, download_url=url, provider_id=rel,
                            require_measurement=self.require_measurement,
                        )
                        n_read += 1
                        md5 = self._md5(path)
                        n_hashed += 1
                        record = replace(record, checksums={"MD5": md5})
                        new_index[rel] = {"size": size, "mtime": stamp, "md5": md5, "record": _record_to_json(record)}
                else:
                    size = int(sum(i.get("size") or 0 for i in self._fs.find(path, detail=True).values()))
                    record = read_product_record(
                        url, self.storage_options, size=size, download_url=url, provider_id=rel,
                        require_measurement=self.require_measurement,
                    )
                    n_read += 1
            except (SafeError, ArchiveError, OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
                problems.append(ScanProblem(url, f"{type(exc).__name__}: {exc}"))
                continue
            prev = by_name.get(record.name)
            if prev is None or (is_zip and not prev[2]):
                if prev is not None:
                    problems.append(ScanProblem(prev[1], f"duplicate of {url} (product {record.name}); the zip is used"))
                by_name[record.name] = (record, url, is_zip)
            else:
                problems.append(ScanProblem(url, f"duplicate of {prev[1]} (product {record.name}); skipped"))
        if self.use_index and new_index != old_index:
            self._save_index(new_index, problems)
        records = tuple(sorted((v[0] for v in by_name.values()), key=lambda r: (r.start, r.name)))
        for p in problems:
            logger.warning("local catalogue %s: %s: %s", self.root, p.path, p.reason)
        self._last = LocalScan(records, tuple(problems), n_read, n_hashed, n_cached)
        return self._last

    @property
    def last_scan(self) -> LocalScan:
        """The latest scan (scanning now if there was none)."""
        return self._last or self.scan()

    @property
    def records(self) -> tuple[ProductRecord, ...]:
        """All readable products of the latest scan (any product type)."""
        return self.last_scan.records

    @property
    def problems(self) -> tuple[ScanProblem, ...]:
        """Products skipped by the latest scan, with reasons."""
        return self.last_scan.problems

    def search(
        self,
        footprint_wgs84: BaseGeometry,
        start: datetime,
        end: datetime,
        polarisation: str | None = "VV&VH",
    ) -> list[ProductRecord]:
        """IW GRDH products (no ``_COG``) whose footprint intersects ``footprint_wgs84`` (lon/lat),
        whose start lies in [start, end], and which hold every polarisation asked for
        (``"VV&VH"``; ``None`` or ``""``: any), oldest first."""
        start, end = check_search_window(start, end)
        area = check_footprint(footprint_wgs84)
        wanted = set(parse_polarisations(polarisation)) if polarisation else set()
        out = []
        for r in self.records:
            parsed = r.product_name
            if not parsed.is_iw_grdh or parsed.cog:
                continue
            if not start <= r.start <= end or not wanted <= set(r.polarisations):
                continue
            if r.footprint.intersects(area):
                out.append(r)
        return out
