"""Small helpers to pull typed values out of ElementTree XML, with errors naming file and field."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np

from .errors import SafeFormatError


def parse_xml(data: bytes, source: str) -> ET.Element:
    """Parse XML bytes; a malformed document raises SafeFormatError naming ``source``."""
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        raise SafeFormatError(f"{source}: malformed XML ({exc})") from exc


def strip_namespaces(root: ET.Element) -> ET.Element:
    """Drop ``{uri}`` prefixes from tags in place (manifest.safe mixes several namespaces)."""
    for el in root.iter():
        if isinstance(el.tag, str) and el.tag.startswith("{"):
            el.tag = el.tag.split("}", 1)[1]
    return root


def find(el: ET.Element, path: str, source: str) -> ET.Element:
    found = el.find(path)
    if found is None:
        raise SafeFormatError(f"{source}: missing element {path!r} under <{el.tag}>")
    return found


def text(el: ET.Element, path: str, source: str) -> str:
    found = find(el, path, source)
    if found.text is None or not found.text.strip():
        raise SafeFormatError(f"{source}: element {path!r} under <{el.tag}> is empty")
    return found.text.strip()


def opt_text(el: ET.Element, path: str) -> str | None:
    found = el.find(path)
    if found is None or found.text is None:
        return None
    return found.text.strip()


def number(el: ET.Element, path: str, source: str, kind: type = float) -> float | int:
    raw = text(el, path, source)
    try:
        return kind(float(raw)) if kind is int else kind(raw)
    except ValueError as exc:
        raise SafeFormatError(
            f"{source}: element {path!r} = {raw!r} is not a {kind.__name__}"
        ) from exc


def array(el: ET.Element, path: str, source: str, dtype: type = np.float64) -> np.ndarray:
    """A whitespace-separated list; checks the ``count`` attribute when present."""
    found = find(el, path, source)
    raw = (found.text or "").split()
    try:
        values = np.array(raw, dtype=np.float64).astype(dtype)
    except ValueError as exc:
        raise SafeFormatError(f"{source}: element {path!r} holds non-numeric values") from exc
    count = found.get("count")
    if count is not None and int(count) != values.size:
        raise SafeFormatError(
            f"{source}: element {path!r} has count={count} but {values.size} values"
        )
    return values


def time(el: ET.Element, path: str, source: str) -> np.datetime64:
    raw = text(el, path, source)
    try:
        return np.datetime64(raw.rstrip("Z"), "ns")
    except ValueError as exc:
        raise SafeFormatError(f"{source}: element {path!r} = {raw!r} is not a UTC time") from exc
