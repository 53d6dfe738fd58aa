"""Exceptions raised by the SAFE reader and the SAR core.

Every message names the file (product, then path inside it), the field and what was expected.
"""

from __future__ import annotations


class SafeError(Exception):
    """Base class: a Sentinel-1 SAFE product cannot be read or used as asked."""


class SafeFormatError(SafeError):
    """A file of the product is unreadable: corrupt/truncated zip, malformed XML, missing field."""


class MissingFileError(SafeError, FileNotFoundError):
    """A file the manifest lists (or the product needs) is absent."""


class UnsupportedProductError(SafeError):
    """The product is not a Sentinel-1 IW GRD product."""


class WindowError(SafeError, ValueError):
    """A pixel window lies (partly) outside the image."""
