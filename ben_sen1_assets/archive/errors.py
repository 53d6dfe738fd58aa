"""Exceptions of the archive layer (catalogues, product store, downloads).

Messages name the product / URL / field and what was expected; they never carry credentials.
"""

from __future__ import annotations


class ArchiveError(Exception):
    """Base class of every error raised by ``ben_sen1_assets.archive``."""


class ProductNameError(ArchiveError, ValueError):
    """A string is not a valid Sentinel-1 product name."""


class CatalogError(ArchiveError):
    """A catalogue answered with something that cannot be used (HTTP error, bad JSON, bad field)."""


class AuthError(ArchiveError):
    """Login or token refresh failed, or the server kept refusing the credentials."""


class DownloadError(ArchiveError):
    """A download did not end in a complete, verified file."""


class ChecksumMismatchError(DownloadError):
    """The downloaded bytes do not match the catalogue's size or checksum."""


class LockTimeoutError(ArchiveError):
    """Another run holds the product's lock for longer than we were willing to wait."""
