"""Small helpers to pull typed values out of the products' XML (lxml's ElementTree API), with
errors naming file and field.

lxml parses a product's ≈ 6 MB of annotation, calibration and noise XML three times faster than
the standard library's ElementTree (≈ 12 vs 34 ms): a fixed cost of every product opened.
Reading the values out of the trees cost more than that: with each element's children looked up
once (:class:`Children`) and each list text converted once per document (``array``'s memo),
annotation + calibration of VV and VH take ≈ 45 ms (≈ 105 ms with an ``el.find`` per field and a
conversion per list), the two noise files ≈ 23 ms (≈ 33 ms).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import numpy as np

from .errors import SafeFormatError

if TYPE_CHECKING:
    from lxml.etree import _Element as Element

_parsers = threading.local()  # an lxml parser is not safe to share between threads


def _parser():
    from lxml import etree

    parser = getattr(_parsers, "parser", None)
    if parser is None:
        # a product is untrusted input: no entity expansion, no DTD or network access, lxml's
        # limits on depth and text size kept (huge_tree off); comments are not elements
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                                 remove_comments=True, remove_pis=True)
        _parsers.parser = parser
    return parser


def parse_xml(data: bytes, source: str) -> Element:
    """Parse XML bytes; a malformed document raises SafeFormatError naming ``source``."""
    from lxml import etree

    try:
        return etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise SafeFormatError(f"{source}: malformed XML ({exc})") from exc


def strip_namespaces(root: Element) -> Element:
    """Drop ``{uri}`` prefixes from tags in place (manifest.safe mixes several namespaces)."""
    for el in root.iter():
        if isinstance(el.tag, str) and el.tag.startswith("{"):
            el.tag = el.tag.split("}", 1)[1]
    return root


class Children:
    """``el``'s direct children by tag, looked up once: stands in for ``el`` in this module's
    functions when many fields of one element are read (a geolocation grid point's 9, a
    calibration vector's 7). lxml's ``el.find(tag)`` walks its path machinery on every call
    (≈ 4 µs; ≈ 0.6 µs here, the children gathered once included).

    ``find`` returns what ``el.find`` returns: for a plain name, the first child of that name or
    None (a plain name matches children without a namespace only, as the dict's keys); for
    ``a/b``, the first ``b`` under any ``a``, i.e. under the only ``a`` when there is exactly one
    (an orbit vector's ``position/x``); any other path goes to ``el.find``.
    """

    __slots__ = ("tag", "_el", "_first", "_only")

    def __init__(self, el: Element) -> None:
        first: dict = {}
        for child in el:
            first.setdefault(child.tag, child)  # the first one wins, as with el.find
        self.tag = el.tag
        self._el = el
        self._first = first
        self._only: dict | None = None  # made when first needed: most elements have no a/b read

    def find(self, path: str) -> Element | None:
        if path.isidentifier():
            return self._first.get(path)
        head, _, tail = path.partition("/")
        if head.isidentifier() and tail.isidentifier():
            only = self._only_child(head)
            if only is not None:
                return only.find(tail)
        return self._el.find(path)

    def _only_child(self, tag: str) -> Children | None:
        """The children of the only child named ``tag``; None if there is none or several."""
        if self._only is None:
            self._only = {}
        if tag not in self._only:
            named = [child for child in self._el if child.tag == tag]
            self._only[tag] = Children(named[0]) if len(named) == 1 else None
        return self._only[tag]


def find(el: Element, path: str, source: str) -> Element:
    found = el.find(path)
    if found is None:
        raise SafeFormatError(f"{source}: missing element {path!r} under <{el.tag}>")
    return found


def text(el: Element, path: str, source: str) -> str:
    raw = find(el, path, source).text  # lxml builds a new str on each .text: read it once
    stripped = raw.strip() if raw is not None else ""
    if not stripped:
        raise SafeFormatError(f"{source}: element {path!r} under <{el.tag}> is empty")
    return stripped


def opt_text(el: Element, path: str) -> str | None:
    found = el.find(path)
    if found is None or found.text is None:
        return None
    return found.text.strip()


def number(el: Element, path: str, source: str, kind: type = float) -> float | int:
    raw = text(el, path, source)
    try:
        return kind(float(raw)) if kind is int else kind(raw)
    except (ValueError, OverflowError) as exc:  # OverflowError: an integer field holding inf or 1e400
        raise SafeFormatError(
            f"{source}: element {path!r} = {raw!r} is not a {kind.__name__}"
        ) from exc


def array(el: Element, path: str, source: str, dtype: type = np.float64, memo: dict | None = None) -> np.ndarray:
    """A whitespace-separated list; checks the ``count`` attribute when present.

    ``memo``, a dict the caller keeps for one document, holds the values of texts already
    converted: a calibration file's vectors repeat their lists word for word (in every product
    seen, each of the 5 lists has one text for all 27 vectors). The array returned is new.
    """
    found = find(el, path, source)
    raw = found.text or ""
    floats = memo.get(raw) if memo is not None else None
    if floats is None:
        try:
            floats = np.array(raw.split(), dtype=np.float64)
        except ValueError as exc:
            raise SafeFormatError(f"{source}: element {path!r} holds non-numeric values") from exc
        if memo is not None:
            memo[raw] = floats
    values = floats.astype(dtype)  # a copy: the memo's array is never handed out
    count = found.get("count")
    if count is not None and int(count) != values.size:
        raise SafeFormatError(
            f"{source}: element {path!r} has count={count} but {values.size} values"
        )
    return values


def time(el: Element, path: str, source: str) -> np.datetime64:
    raw = text(el, path, source)
    try:
        return np.datetime64(raw.rstrip("Z"), "ns")
    except ValueError as exc:
        raise SafeFormatError(f"{source}: element {path!r} = {raw!r} is not a UTC time") from exc
