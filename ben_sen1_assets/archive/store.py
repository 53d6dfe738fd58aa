"""The product store: raw Sentinel-1 products keyed by product name, shared by all tiles.

``ProductStore("/data/s1")`` or ``ProductStore("s3://bucket/prefix", {"key": ..., ...})``.
Products live at ``<base>/<name>.zip``. Only complete, verified products are ever at that path:

- local: bytes go to ``<base>/.partial/<name>.zip.part`` (same file system), are verified there,
  then ``os.replace``-d into place (atomic);
- object storage: bytes go to a local staging folder, are verified there, then uploaded to the
  final key (a PUT is atomic: readers see the whole object or none).

A per-product lock (``<base>/.locks/<name>.lock``, see :mod:`.locks`) makes sure that two runs
(threads, processes or machines) that need the same product fetch it once: the second waits for
the first and then finds the product present.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import fsspec
from fsspec.implementations.local import LocalFileSystem
from upath import UPath

from .download import Downloader, ProgressCallback, verify_file
from .errors import ArchiveError, ChecksumMismatchError, DownloadError
from .locks import FileLock, ObjectLock
from .records import ProductRecord, parse_product_name, strip_product_suffix

logger = logging.getLogger(__name__)

_SECRET_KEYS = ("secret", "key", "token", "password", "credential")


def _redact_options(options: Mapping[str, Any]) -> dict[str, Any]:
    return {k: ("***" if any(s in k.lower() for s in _SECRET_KEYS) else v) for k, v in options.items()}


class ProductStore:
    """Raw products keyed by name on a local folder or fsspec object storage."""

    suffix = ".zip"

    def __init__(
        self,
        base: str | os.PathLike,
        storage_options: Mapping[str, Any] | None = None,
        *,
        staging_dir: str | os.PathLike | None = None,
        lock_stale_after: float = 600.0,
        lock_heartbeat: float | None = 60.0,
        lock_poll: float = 1.0,
        lock_timeout: float | None = None,
    ) -> None:
        self.storage_options = dict(storage_options or {})
        base_str = os.fspath(base)
        self.base = UPath(base_str, **self.storage_options)
        self.fs, root = fsspec.core.url_to_fs(base_str, **self.storage_options)
        self.root = root.rstrip("/")
        self.is_local = isinstance(self.fs, LocalFileSystem)
        if self.is_local:
            self.staging_dir = Path(self.root) / ".partial"
        else:
            # resumable across runs on the same machine: a stable folder per store
            default = Path(tempfile.gettempdir()) / "ben_sen1_partial" / self.root.replace("/", "_")
            self.staging_dir = Path(staging_dir) if staging_dir is not None else default
        self.lock_stale_after = lock_stale_after
        self.lock_heartbeat = lock_heartbeat
        self.lock_poll = lock_poll
        self.lock_timeout = lock_timeout
        if self.is_local:
            Path(self.root).mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"ProductStore({str(self.base)!r}, storage_options={_redact_options(self.storage_options)!r})"

    # -- paths ------------------------------------------------------------------------------
    @staticmethod
    def _name(name: str) -> str:
        return parse_product_name(name).name  # validates (ProductNameError), strips .SAFE/.zip

    def _key(self, name: str) -> str:
        return f"{self.root}/{self._name(name)}{self.suffix}"

    def path_for(self, name: str) -> UPath:
        """Final location of a product (exists only once the product is complete and verified)."""
        return self.base / f"{self._name(name)}{self.suffix}"

    def staging_path(self, name: str) -> Path:
        """Local partial file a download of ``name`` writes to (resumed if present)."""
        return self.staging_dir / f"{self._name(name)}{self.suffix}.part"

    def has(self, name: str) -> bool:
        """True when the complete, verified product is in the store."""
        key = self._key(name)
        if not self.is_local:
            self.fs.invalidate_cache(key)
        return self.fs.isfile(key)

    def names(self) -> list[str]:
        """Names of all products in the store."""
        if not self.is_local:
            self.fs.invalidate_cache(self.root)
        try:
            entries = self.fs.ls(self.root, detail=False)
        except FileNotFoundError:
            return []
        out = []
        for entry in entries:
            base = entry.rstrip("/").rsplit("/", 1)[-1]
            if base.endswith(self.suffix) and not base.startswith("."):
                out.append(base[: -len(self.suffix)])
        return sorted(out)

    def remove(self, name: str) -> None:
        """Delete a product (e.g. found corrupt later)."""
        key = self._key(name)
        if self.fs.exists(key):
            self.fs.rm_file(key)

    # -- locking ----------------------------------------------------------------------------
    def lock(self, name: str) -> FileLock | ObjectLock:
        """The (not yet acquired) cross-process lock of one product."""
        name = self._name(name)
        kw = dict(stale_after=self.lock_stale_after, heartbeat=self.lock_heartbeat, poll=self.lock_poll)
        if self.is_local:
            return FileLock(Path(self.root) / ".locks" / f"{name}.lock", **kw)
        return ObjectLock(self.fs, f"{self.root}/.locks/{name}.lock", **kw)

    # -- writing ----------------------------------------------------------------------------
    def publish(self, name: str, local_file: str | os.PathLike) -> UPath:
        """Move a verified local file into place (atomic rename locally, upload last on S3)."""
        key = self._key(name)
        local_file = Path(local_file)
        if self.is_local:
            Path(key).parent.mkdir(parents=True, exist_ok=True)
            if local_file.parent.resolve() == Path(key).parent.resolve() / ".partial" or _same_device(local_file, Path(key).parent):
                os.replace(local_file, key)
            else:  # another file system: copy beside the target, then rename
                tmp = Path(self.staging_dir) / f"{local_file.name}.copy"
                tmp.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(local_file, tmp)
                os.replace(tmp, key)
                local_file.unlink()
        else:
            self.fs.put_file(str(local_file), key)
            self.fs.invalidate_cache(key)
            local_file.unlink()
        logger.info("%s: stored at %s", name, self.path_for(name))
        return self.path_for(name)

    def ensure(self, name: str, produce: Callable[[Path], None]) -> UPath:
        """Return the product's path, calling ``produce(partial_path)`` under the lock if absent.

        ``produce`` must leave a complete, verified file at ``partial_path`` (or raise).
        """
        name = self._name(name)
        if self.has(name):
            return self.path_for(name)
        lock = self.lock(name)
        lock.acquire(self.lock_timeout)
        try:
            if self.has(name):  # another run fetched it while we waited
                logger.info("%s: fetched by another run meanwhile", name)
                return self.path_for(name)
            part = self.staging_path(name)
            part.parent.mkdir(parents=True, exist_ok=True)
            produce(part)
            if lock.lost:
                raise DownloadError(f"{name}: lost the product lock during the download; not publishing")
            return self.publish(name, part)
        finally:
            lock.release()

    def fetch(
        self,
        record: ProductRecord,
        downloader: Downloader | None = None,
        *,
        progress: ProgressCallback | None = None,
    ) -> UPath:
        """Make sure ``record``'s product is in the store (download once, verify) and return its path."""
        ref = record.download_url
        scheme = urlsplit(ref).scheme.lower()

        def produce(part: Path) -> None:
            if scheme in ("http", "https"):
                if downloader is None:
                    raise ArchiveError(f"{record.name}: an HTTP product needs a Downloader")
                downloader.download_to(
                    ref, part, size=record.size, checksums=record.checksums, name=record.name, progress=progress
                )
                return
            # a local path / file:// / another fsspec URL (e.g. a mounted archive): copy and verify
            src = ref[len("file://"):] if scheme == "file" else ref
            with fsspec.open(src, "rb") as fin, open(part, "wb") as fout:
                shutil.copyfileobj(fin, fout, 8 * 1024 * 1024)
            problem, _ = verify_file(part, record.size, record.checksums)
            if problem is not None:
                part.unlink(missing_ok=True)
                raise ChecksumMismatchError(f"{record.name}: copy of {strip_product_suffix(src)} failed: {problem}")

        return self.ensure(record.name, produce)


def _same_device(a: Path, b: Path) -> bool:
    try:
        return a.stat().st_dev == b.stat().st_dev
    except OSError:
        return False
