"""Damaged copies of a real product zip, the way disks, servers and attackers damage them."""

from __future__ import annotations

import stat
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np


def members(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as zf:
        return zf.namelist()


def member(path: Path, suffix: str) -> str:
    """The one member whose name ends with ``suffix`` (e.g. ``"-001.tiff"``)."""
    (name,) = [n for n in members(path) if n.endswith(suffix)]
    return name


def rezip(
    src: Path,
    dst: Path,
    edit: Callable[[str, bytes], bytes | None] = lambda name, data: data,
    extra: list[tuple[zipfile.ZipInfo, bytes]] = (),
) -> Path:
    """Copy a zip member by member (valid CRCs, a fresh central directory), passing each member
    through ``edit`` (None drops it), then add ``extra`` members."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = edit(info.filename, zin.read(info))
            if data is not None:
                zout.writestr(info, data)
        for info, data in extra:
            zout.writestr(info, data)
    return dst


def unix_member(name: str, mode: int, data: bytes = b"") -> tuple[zipfile.ZipInfo, bytes]:
    """A member carrying Unix mode bits (e.g. ``stat.S_IFLNK | 0o777`` for a symbolic link)."""
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = mode << 16
    return info, data


SYMLINK = stat.S_IFLNK | 0o777
FIFO = stat.S_IFIFO | 0o644


def scale_tiff_rows(data: bytes, factor: float, rows: slice) -> bytes:
    """A measurement TIFF whose DN of ``rows`` are multiplied by ``factor`` in place (strip by
    strip, the file's layout and tags untouched): ×2 DN is +6 dB of backscatter."""
    from rasterio.io import MemoryFile

    out = bytearray(data)
    with MemoryFile(data) as mem, mem.open() as ds:
        assert ds.block_shapes[0][0] == 1 and ds.profile.get("compress") is None, "one uncompressed row per strip"
        for row in range(*rows.indices(ds.height)):
            offset = int(ds.get_tag_item(f"BLOCK_OFFSET_0_{row}", "TIFF", bidx=1))
            size = int(ds.get_tag_item(f"BLOCK_SIZE_0_{row}", "TIFF", bidx=1))
            dn = np.frombuffer(data, dtype="<u2", count=size // 2, offset=offset)
            out[offset : offset + size] = np.clip(dn * factor, 0, 65535).astype("<u2").tobytes()
    return bytes(out)


def rezip_consistent(src: Path, dst: Path, edit: Callable[[str, bytes], bytes | None]) -> Path:
    """Like :func:`rezip`, and ``manifest.safe`` then lists the edited members' new sizes and MD5s:
    a product that its producer made wrong, which verification cannot tell from a right one."""
    import hashlib
    import re

    changed: dict[str, tuple[int, str]] = {}

    def edit_and_note(name: str, data: bytes) -> bytes | None:
        new = edit(name, data)
        if new is not None and new != data and "/" in name:
            changed[name.split("/", 1)[1]] = (len(new), hashlib.md5(new).hexdigest())
        return new

    tmp = rezip(src, dst.with_name(dst.name + ".tmp"), edit_and_note)

    def fix_manifest(name: str, data: bytes) -> bytes:
        if not name.endswith("/manifest.safe"):
            return data
        text = data.decode()
        for rel, (size, md5) in changed.items():
            block = re.compile(
                r'(<byteStream[^>]*size=")\d+("[^>]*>\s*<fileLocation[^>]*href="\./' + re.escape(rel)
                + r'"/>\s*<checksum checksumName="MD5">)[0-9a-f]+(</checksum>)'
            )
            text, n = block.subn(rf"\g<1>{size}\g<2>{md5}\g<3>", text)
            assert n == 1, rel
        return text.encode()

    rezip(tmp, dst, fix_manifest)
    tmp.unlink()
    return dst
