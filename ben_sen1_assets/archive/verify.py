"""Verification of a Sentinel-1 product before it enters the product store.

A product is accepted only when all of this holds (checked once, on ingestion, then recorded):

1. It is a zip: its first bytes are a zip local header. Anything else (an HTML page, a JSON or
   XML error) is described by what it says (title, ``detail``/``message`` fields), so the error
   carries the server's message.
2. The central directory reads, and every member's bytes match their CRC-32 (each member is read
   in full).
3. No member name is absolute, climbs out with ``..``, holds a backslash or a NUL, or occurs
   twice; no member is a symbolic link, device, FIFO or socket (Unix mode bits of the central
   directory). Such a zip is rejected naming the members.
4. The layout is SAFE: one top folder ``<name>.SAFE/`` (the expected product name when given)
   holding ``manifest.safe``.
5. ``manifest.safe`` parses (an IW GRD product) and every file it lists is present with the listed
   size and MD5.

The outcome, :class:`Verification`, is what the store records beside the product.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import posixpath
import re
import stat
import time
import zipfile
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .errors import InvalidProductError

#: bumped when the checks change (a record of an older verifier is verified again)
VERIFIER_VERSION = 1

ZIP_MAGIC = b"PK\x03\x04"
_CHUNK = 1 << 20
_MAX_LISTED = 8  # problems named in one message


@dataclass(frozen=True)
class Verification:
    """What was verified of one product (kept as JSON beside it in the store)."""

    name: str
    size: int  # bytes of the zip
    members: int  # zip members read (CRC checked)
    md5_checked: int  # members whose MD5 matched the manifest
    polarisations: tuple[str, ...]
    verified_at: float  # Unix time
    verifier: int = VERIFIER_VERSION

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "polarisations": list(self.polarisations)}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> "Verification":
        d = json.loads(text)
        return cls(
            name=str(d["name"]), size=int(d["size"]), members=int(d["members"]),
            md5_checked=int(d["md5_checked"]), polarisations=tuple(d["polarisations"]),
            verified_at=float(d["verified_at"]), verifier=int(d.get("verifier", 0)),
        )


# -- what a body that is not a zip says -----------------------------------------------------------
def _squash(text: str, limit: int = 240) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _json_message(obj: Any) -> str | None:
    if isinstance(obj, dict):
        for key in ("detail", "message", "error_description", "error", "title", "Message", "Error", "errors"):
            if key in obj and obj[key] not in (None, "", [], {}):
                inner = _json_message(obj[key])
                return inner if inner is not None else _squash(str(obj[key]))
        return None
    if isinstance(obj, list) and obj:
        return _json_message(obj[0])
    if isinstance(obj, (str, int, float)):
        return _squash(str(obj))
    return None


def describe_content(head: bytes, content_type: str | None = None) -> str | None:
    """None when ``head`` (the first bytes, up to ~64 KiB) starts like a zip; otherwise what the
    body is and what it says, e.g. ``an HTML page ('Maintenance': 'back at 14:00')``."""
    if head.startswith(ZIP_MAGIC):
        return None
    ctype = (content_type or "").split(";")[0].strip().lower()
    if not head:
        return "an empty body"
    text = head.decode("utf-8", errors="replace")
    stripped = text.lstrip().lower()
    if "html" in ctype or stripped.startswith(("<!doctype html", "<html")) or "<body" in stripped[:4096]:
        title = re.search(r"<title[^>]*>(.*?)</title>", text, re.I | re.S)
        heading = re.search(r"<h1[^>]*>(.*?)</h1>", text, re.I | re.S)
        body = re.sub(r"<(script|style|head|title|h1)[^>]*>.*?</\1>", " ", text, flags=re.I | re.S)
        body = html.unescape(re.sub(r"<[^>]+>", " ", body))
        parts = [html.unescape(_squash(re.sub(r"<[^>]+>", " ", m.group(1)), 120)) for m in (title, heading) if m]
        words = _squash(body, 200)
        said = "; ".join(dict.fromkeys(p for p in parts + [words] if p))
        return f"an HTML page ({said!r})" if said else "an HTML page"
    if "json" in ctype or stripped.startswith(("{", "[")):
        try:
            message = _json_message(json.loads(text))
        except ValueError:
            message = _squash(text, 200)
        return f"a JSON document ({message!r})" if message else "a JSON document"
    if "xml" in ctype or stripped.startswith("<"):
        code = re.search(r"<Code>(.*?)</Code>", text, re.S)
        message = re.search(r"<Message>(.*?)</Message>", text, re.S)
        said = " ".join(_squash(m.group(1), 160) for m in (code, message) if m) or _squash(re.sub(r"<[^>]+>", " ", text), 200)
        return f"an XML document ({said!r})" if said else "an XML document"
    if ctype.startswith("text/") or all(32 <= b < 127 or b in (9, 10, 13) for b in head[:256]):
        return f"text ({_squash(text, 200)!r})"
    return f"not a zip archive (first bytes {head[:8].hex(' ')}, expected {ZIP_MAGIC.hex(' ')})"


# -- member checks ---------------------------------------------------------------------------------
def _unsafe_name(name: str) -> str | None:
    if "\x00" in name:
        return "holds a NUL character"
    if "\\" in name:
        return "holds a backslash"
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "is absolute"
    if ".." in name.split("/"):
        return "climbs out of the product ('..')"
    return None


def _special_kind(info: zipfile.ZipInfo) -> str | None:
    if info.create_system != 3:  # mode bits are Unix ones only when made on Unix
        return None
    mode = info.external_attr >> 16
    if not mode:
        return None
    for test, kind in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return None


def _listing(problems: list[str]) -> str:
    shown = "; ".join(problems[:_MAX_LISTED])
    more = len(problems) - _MAX_LISTED
    return shown + (f"; and {more} more" if more > 0 else "")


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[int, str]:
    """Read a member to its end (zipfile checks its CRC-32 there): (bytes, MD5 hex)."""
    h = hashlib.md5()
    n = 0
    with zf.open(info) as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            n += len(chunk)
    return n, h.hexdigest()


def verify_product_zip(path: str | os.PathLike, expected_name: str | None = None, *, label: str | None = None) -> Verification:
    """Verify a product zip (see the module docstring); raise :class:`InvalidProductError` naming
    the file (``label``, default its name), the member and what was expected, or return the
    :class:`Verification`."""
    from ..sar.errors import SafeError
    from ..sar.manifest import parse_manifest

    path = Path(path)
    source = label or path.name
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(64 * 1024)
    except OSError as exc:
        raise InvalidProductError(f"{source}: cannot read ({exc.strerror or exc})") from None
    what = describe_content(head)
    if what is not None:
        raise InvalidProductError(f"{source}: not a product zip but {what}")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        raise InvalidProductError(f"{source}: not a readable zip archive, truncated or corrupt ({exc})") from None
    with zf:
        infos = zf.infolist()
        problems: list[str] = []
        seen: set[str] = set()
        for info in infos:
            reason = _unsafe_name(info.filename)
            if reason is None and info.filename in seen:
                reason = "occurs twice"
            seen.add(info.filename)
            kind = _special_kind(info)
            if reason:
                problems.append(f"{info.filename!r} {reason}")
            if kind:
                problems.append(f"{info.filename!r} is {kind}")
        if problems:
            raise InvalidProductError(f"{source}: unsafe zip members: {_listing(problems)}")

        tops = {info.filename.split("/", 1)[0] for info in infos}
        if len(tops) != 1 or not next(iter(tops)).endswith(".SAFE"):
            raise InvalidProductError(
                f"{source}: expected one top folder <product>.SAFE/, found {sorted(tops)[:_MAX_LISTED]}"
            )
        top = next(iter(tops))
        safe_name = top[: -len(".SAFE")]
        if expected_name is not None and safe_name != expected_name:
            raise InvalidProductError(f"{source}: holds {top}, expected {expected_name}.SAFE")
        by_name = {info.filename: info for info in infos}
        manifest_member = f"{top}/manifest.safe"
        if manifest_member not in by_name:
            raise InvalidProductError(f"{source}: {manifest_member} is missing")
        try:
            manifest_bytes = zf.read(manifest_member)
            manifest = parse_manifest(manifest_bytes, f"{source}/{manifest_member}", safe_name)
        except SafeError as exc:
            raise InvalidProductError(str(exc)) from None
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise InvalidProductError(f"{source}: cannot read {manifest_member} ({exc})") from None

        listed = {posixpath.normpath(f"{top}/{f.href}"): f for f in manifest.files}
        for member, entry in listed.items():
            if member not in by_name:
                problems.append(f"{entry.href} is listed in manifest.safe but missing")
        md5_checked = 0
        for info in infos:
            if info.is_dir():
                continue
            try:
                n, md5 = _read_member(zf, info)
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as exc:
                problems.append(f"{info.filename}: unreadable ({exc})")
                continue
            entry = listed.get(posixpath.normpath(info.filename))
            if entry is None:
                continue
            if entry.size is not None and n != entry.size:
                problems.append(f"{entry.href}: {n} bytes, manifest.safe says {entry.size}")
            elif entry.md5 and md5 != entry.md5.lower():
                problems.append(f"{entry.href}: MD5 {md5}, manifest.safe says {entry.md5.lower()}")
            elif entry.md5:
                md5_checked += 1
        if problems:
            raise InvalidProductError(f"{source}: {_listing(problems)}")
    return Verification(
        name=safe_name, size=size, members=len(infos), md5_checked=md5_checked,
        polarisations=tuple(manifest.polarisations), verified_at=time.time(),
    )
