"""The product store: raw Sentinel-1 products keyed by product name, shared by all tiles.

``ProductStore("/data/s1")`` or ``ProductStore("s3://bucket/prefix", {"endpoint_url": ...})``
(credentials from the provider chain: ``AWS_*`` variables, never options).
Products live at ``<base>/<name>.zip``. Only complete, verified products are ever at that path:

- local: bytes go to ``<base>/.partial/<name>.zip.part`` (same file system, reused to resume a
  download), are verified there, then ``os.replace``-d into place (atomic);
- object storage: bytes go to a local staging folder, are verified there, then uploaded to the
  final key (a PUT is atomic: readers see the whole object or none).

Verified means: the catalogue's size and checksums when known, and the whole product
(:func:`.verify.verify_product_zip`: zip integrity, safe member names, SAFE layout, every
member's size and MD5 against ``manifest.safe``). The outcome is recorded at
``<base>/.verified/<name>.json`` before the product is published; :meth:`ProductStore.has` needs
both. A zip found at the final path without a current record is verified once and recorded, or
moved to ``<base>/.rejected/`` and fetched again.

A folder or bucket that is missing or refuses writes raises :class:`StorageError` at once.

A per-product lock (``<base>/.locks/<name>.lock``, see :mod:`.locks`) makes sure that two runs
(threads, processes or machines) that need the same product fetch it once: the second waits for
the first and then finds the product present.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import fsspec
from fsspec.implementations.local import LocalFileSystem
from upath import UPath

from .download import Downloader, ProgressCallback, verify_file
from .errors import (
    ArchiveError,
    ChecksumMismatchError,
    DownloadError,
    InvalidProductError,
    ProductNotFoundError,
    StorageError,
)
from .locks import FileLock, ObjectLock
from .records import ProductRecord, parse_product_name, strip_product_suffix
from ..formats.staging import temp_sibling
from .verify import VERIFIER_VERSION, Verification, verify_product_zip

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
            with self._storage("create its folder"):
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

    def _record_key(self, name: str) -> str:
        return f"{self.root}/.verified/{self._name(name)}.json"

    def verification(self, name: str) -> Verification | None:
        """The record of the product's verification on ingestion, if it is current (same size as
        the stored zip, same verifier version); None otherwise."""
        key = self._key(name)
        record_key = self._record_key(name)
        if not self.is_local:
            self.fs.invalidate_cache(key)
            self.fs.invalidate_cache(record_key)
        try:
            record = Verification.from_json(self.fs.cat_file(record_key))
            size = self.fs.size(key)
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return None
        if record.verifier != VERIFIER_VERSION or record.size != size or record.name != self._name(name):
            return None
        return record

    def has(self, name: str) -> bool:
        """True when the complete product is in the store and its verification is recorded."""
        return self.verification(name) is not None

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
        """Delete a product and its record (e.g. found corrupt later)."""
        for key in (self._record_key(name), self._key(name)):
            if self.fs.exists(key):
                self.fs.rm_file(key)

    @contextlib.contextmanager
    def _storage(self, doing: str) -> Iterator[None]:
        """Turn the file system's refusals (permissions, read-only, no bucket, full disk) into
        :class:`StorageError` naming the store and what it was doing: retrying cannot fix them."""
        hint = "check that the folder or bucket exists and is writable (BEN_SEN1_PRODUCT_STORE)"
        try:
            yield
        except (PermissionError, NotADirectoryError, IsADirectoryError, FileNotFoundError, FileExistsError) as exc:
            raise StorageError(f"product store {self.base}: cannot {doing}: {_why(exc)}; {hint}") from None
        except OSError as exc:
            if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT):
                raise StorageError(f"product store {self.base}: cannot {doing}: {_why(exc)}; {hint}") from None
            raise

    # -- locking ----------------------------------------------------------------------------
    def lock(self, name: str) -> FileLock | ObjectLock:
        """The (not yet acquired) cross-process lock of one product."""
        name = self._name(name)
        kw = dict(stale_after=self.lock_stale_after, heartbeat=self.lock_heartbeat, poll=self.lock_poll)
        if self.is_local:
            return FileLock(Path(self.root) / ".locks" / f"{name}.lock", **kw)
        return ObjectLock(self.fs, f"{self.root}/.locks/{name}.lock", **kw)

    # -- writing ----------------------------------------------------------------------------
    def _write_record(self, verification: Verification) -> None:
        key = self._record_key(verification.name)
        data = verification.to_json().encode()
        if self.is_local:
            Path(key).parent.mkdir(parents=True, exist_ok=True)
            tmp = temp_sibling(Path(key))
            tmp.write_bytes(data)
            os.replace(tmp, key)
        else:
            self.fs.pipe_file(key, data)
            self.fs.invalidate_cache(key)

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

    def _adopt_or_reject(self, name: str) -> UPath | None:
        """A zip at the final path without a current record (stored before verification existed,
        or its record was lost): verify it now; keep it if valid, else move it to ``.rejected/``."""
        key = self._key(name)
        if not self.fs.isfile(key):
            return None
        if self.is_local:
            local = Path(key)
        else:
            local = self.staging_path(name).with_suffix(".check")
            local.parent.mkdir(parents=True, exist_ok=True)
            self.fs.get_file(key, str(local))
        try:
            verification = verify_product_zip(local, name)
        except InvalidProductError as exc:
            aside = f"{self.root}/.rejected/{name}.{int(time.time())}{self.suffix}"
            logger.warning("%s: the stored copy is invalid (%s); moved to %s and fetching again", name, exc, aside)
            if self.is_local:
                Path(aside).parent.mkdir(parents=True, exist_ok=True)
                os.replace(key, aside)
            else:
                self.fs.mv(key, aside)
            return None
        finally:
            if not self.is_local:
                local.unlink(missing_ok=True)
        self._write_record(verification)
        logger.info("%s: stored copy verified (%d members, %d MD5s) and recorded", name, verification.members,
                    verification.md5_checked)
        return self.path_for(name)

    def ensure(self, name: str, produce: Callable[[Path], Verification | None]) -> UPath:
        """Return the product's path, calling ``produce(partial_path)`` under the lock if absent.

        ``produce`` must leave a complete file at ``partial_path`` (or raise); it may return the
        file's :class:`Verification`, else the store verifies it (:func:`verify_product_zip`).
        Only then is the verification recorded and the product published at its final path.
        """
        name = self._name(name)
        if self.has(name):
            return self.path_for(name)
        lock = self.lock(name)
        with self._storage("take the product lock"):
            lock.acquire(self.lock_timeout)
        try:
            if self.has(name):  # another run fetched it while we waited
                logger.info("%s: fetched by another run meanwhile", name)
                return self.path_for(name)
            with self._storage("check the stored copy"):
                adopted = self._adopt_or_reject(name)
            if adopted is not None:
                return adopted
            part = self.staging_path(name)
            with self._storage("create the staging folder"):
                part.parent.mkdir(parents=True, exist_ok=True)
            verification = produce(part)
            if verification is None:
                try:
                    verification = verify_product_zip(part, name)
                except InvalidProductError:
                    part.unlink(missing_ok=True)
                    raise
            if lock.lost:
                raise DownloadError(f"{name}: lost the product lock during the download; not publishing")
            with self._storage("publish the product"):
                self._write_record(verification)
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
        name = self._name(record.name)

        def produce(part: Path) -> Verification | None:
            if scheme in ("http", "https"):
                if downloader is None:
                    raise ArchiveError(f"{record.name}: an HTTP product needs a Downloader")
                result = downloader.download_to(
                    ref, part, size=record.size, checksums=record.checksums, name=record.name, progress=progress,
                    validate=lambda p: verify_product_zip(p, name, label=f"{name}.zip"),
                )
                return result.validation  # type: ignore[return-value]
            # a local path / file:// / another fsspec URL (e.g. a mounted archive): copy and verify
            src = ref[len("file://"):] if scheme == "file" else ref
            copy_product(src, part, name)
            problem, _ = verify_file(part, record.size, record.checksums)
            if problem is not None:
                part.unlink(missing_ok=True)
                raise ChecksumMismatchError(f"{record.name}: copy of {strip_product_suffix(src)} failed: {problem}")
            try:
                return verify_product_zip(part, name, label=src)
            except InvalidProductError:
                part.unlink(missing_ok=True)
                raise

        return self.ensure(record.name, produce)


def copy_product(src: str, part: Path, name: str) -> None:
    """Copy a product zip, or zip a ``.SAFE`` folder, from an archive into ``part``.

    A missing source is :class:`ProductNotFoundError`; a source that is not a regular file or
    folder (a FIFO, a device, a dangling link), and a folder holding links or special files, are
    :class:`InvalidProductError` naming them (reading a FIFO would block for ever).
    """
    fs, path = fsspec.core.url_to_fs(src)
    local = isinstance(fs, LocalFileSystem)
    if local:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            kind = "a dangling symbolic link" if os.path.islink(path) else None
            if kind:
                raise InvalidProductError(f"{src}: is {kind}, not a product") from None
            raise ProductNotFoundError(f"{src}: the archive no longer holds this product (no such file)") from None
        except PermissionError as exc:
            raise StorageError(f"{src}: cannot read the archive's copy ({_why(exc)})") from None
        if stat.S_ISDIR(st.st_mode):
            _zip_safe_folder(Path(path), part, name)
            return
        if not stat.S_ISREG(st.st_mode):
            raise InvalidProductError(f"{src}: is {_file_kind(st.st_mode)}, not a product file")
    elif fs.isdir(path):
        raise InvalidProductError(f"{src}: products in folders are copied from local archives only; zip it")
    try:
        with fs.open(path, "rb") as fin, open(part, "wb") as fout:
            shutil.copyfileobj(fin, fout, 8 * 1024 * 1024)
    except FileNotFoundError:
        raise ProductNotFoundError(f"{src}: the archive no longer holds this product (no such file)") from None
    except PermissionError as exc:
        raise StorageError(f"{src}: cannot read the archive's copy ({_why(exc)})") from None


def _file_kind(mode: int) -> str:
    for test, kind in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link")):
        if test(mode):
            return kind
    return "not a regular file"


def _zip_safe_folder(folder: Path, part: Path, name: str) -> None:
    """Zip ``<name>.SAFE/`` like ESA's zips (measurements stored, XML deflated); links and special
    files inside are refused, naming them."""
    import zipfile

    problems = []
    files = []
    for root, dirs, names in os.walk(folder, followlinks=False):
        for entry in sorted(dirs) + sorted(names):
            p = Path(root) / entry
            st = os.lstat(p)
            if stat.S_ISDIR(st.st_mode):
                continue
            if not stat.S_ISREG(st.st_mode):
                problems.append(f"{p.relative_to(folder)} is {_file_kind(st.st_mode)}")
            else:
                files.append(p)
    if problems:
        raise InvalidProductError(f"{folder}: refused to copy: {'; '.join(problems[:8])}")
    top = f"{name}.SAFE"
    with zipfile.ZipFile(part, "w", allowZip64=True) as zf:
        for p in sorted(files):
            rel = p.relative_to(folder).as_posix()
            stored = rel.startswith("measurement/")
            zf.write(p, f"{top}/{rel}", compress_type=zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED)


def _why(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _same_device(a: Path, b: Path) -> bool:
    try:
        return a.stat().st_dev == b.stat().st_dev
    except OSError:
        return False
