"""Atomic writes to a local folder or an object store, through universal_pathlib paths.

A reader must never find a half-written output at its final path. Everything is first written to
a private local staging location and only then published (temporary names carry their owner
process, so that the next writer removes what a killed one left: :mod:`.staging`):

* local files: ``os.replace`` of a sibling temporary file (atomic on POSIX);
* local folders (Zarr): the staged folder is renamed into place; an older version is moved aside
  first and deleted afterwards;
* object stores (``s3://``, ``gs://`` ...): one object is one PUT (a multipart upload becomes
  visible only when it completes); a folder is uploaded with its root metadata file written
  *last* and the old root metadata deleted *first*, so a store without its root ``zarr.json`` is
  not a Zarr store and readers refuse it instead of reading a mixture.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from upath import UPath

from .staging import new_dir, temp_sibling

LOCAL_PROTOCOLS = ("", "file", "local")


def is_local(path: UPath) -> bool:
    return path.protocol in LOCAL_PROTOCOLS


def local_path(path: UPath) -> Path:
    return Path(path.path)


@contextlib.contextmanager
def atomic_file(path: UPath, suffix: str = "") -> Iterator[Path]:
    """Yield a local temporary file path; on success publish it at ``path``.

    On any exception the temporary file is removed and ``path`` is left as it was.
    """
    if is_local(path):
        final = local_path(path)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_sibling(final, "tmp", suffix)
        try:
            yield tmp
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        return

    stage = new_dir("ben_sen1_stage_")
    try:
        tmp = stage / f"{path.name}{suffix}"
        yield tmp
        path.fs.put_file(str(tmp), path.path)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


@contextlib.contextmanager
def atomic_directory(path: UPath, root_file: str = "zarr.json") -> Iterator[Path]:
    """Yield a local temporary folder; on success publish it as the folder ``path``.

    ``root_file`` is the file whose presence makes the folder readable (Zarr v3: ``zarr.json``);
    on object stores it is removed before and uploaded after everything else.
    """
    if is_local(path):
        final = local_path(path)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_sibling(final, "tmp")
        try:
            yield tmp
            if final.exists():
                old = temp_sibling(final, "old")
                os.replace(final, old)
                os.replace(tmp, final)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return

    stage = new_dir("ben_sen1_stage_")
    try:
        tmp = stage / path.name
        yield tmp
        _publish_directory(tmp, path, root_file)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _publish_directory(local_dir: Path, path: UPath, root_file: str) -> None:
    fs = path.fs
    base = path.path.rstrip("/")
    root_key = f"{base}/{root_file}"
    if fs.exists(root_key):
        fs.rm(root_key)  # invalidate the old version first
    files = sorted(p for p in local_dir.rglob("*") if p.is_file())
    new_keys = set()
    root_local = local_dir / root_file
    for file in files:
        if file == root_local:
            continue
        key = f"{base}/{file.relative_to(local_dir).as_posix()}"
        fs.put_file(str(file), key)
        new_keys.add(key)
    # objects of an older version that the new one does not have
    if fs.exists(base):
        for key in fs.find(base):
            key = key.rstrip("/")
            if key not in new_keys and key != root_key:
                fs.rm(key)
    if root_local.exists():
        fs.put_file(str(root_local), root_key)
    fs.invalidate_cache(base)
