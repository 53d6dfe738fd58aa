"""Exceptions of the archive layer (catalogues, product store, downloads).

Messages name the product / URL / field and what was expected; they never carry credentials.

Each class says whether retrying later can help (``transient``): connection failures, timeouts,
HTTP 429 and 5xx are transient; refused credentials, unknown products, missing or unwritable
folders and buckets, invalid products and a spent download budget are not, and fail at once.
:func:`is_transient` applies the same rule to any exception.
"""

from __future__ import annotations


class ArchiveError(Exception):
    """Base class of every error raised by ``ben_sen1_assets.archive``."""

    #: True when the same request may succeed later (the server or network was unavailable)
    transient: bool = False


class ProductNameError(ArchiveError, ValueError):
    """A string is not a valid Sentinel-1 product name."""


class CatalogError(ArchiveError):
    """A catalogue answered with something that cannot be used (HTTP error, bad JSON, bad field)."""


class CatalogUnavailableError(CatalogError):
    """A catalogue could not be reached or answered 429/5xx: worth trying again later."""

    transient = True


class AuthError(ArchiveError):
    """Login or token refresh failed, or the server kept refusing the credentials."""


class AuthUnavailableError(AuthError):
    """The login service could not be reached or answered 429/5xx (the credentials were not judged)."""

    transient = True


class StorageError(ArchiveError):
    """A folder or bucket (archive, product store) is missing, not a folder, or not writable."""


class ProductNotFoundError(ArchiveError):
    """The server does not know the product (HTTP 404/410) or the archive does not hold it."""


class InvalidProductError(ArchiveError):
    """A file is not a valid Sentinel-1 SAFE product: not a zip, corrupt, unsafe member names,
    members missing or not matching the manifest's sizes and MD5s."""


class DownloadError(ArchiveError):
    """A download did not end in a complete, verified file within its budget of attempts and time."""


class ChecksumMismatchError(DownloadError, InvalidProductError):
    """The downloaded bytes do not match the catalogue's size or checksum."""


class LockTimeoutError(ArchiveError):
    """Another run holds the product's lock for longer than we were willing to wait."""

    transient = True


def is_transient(exc: BaseException) -> bool:
    """Whether retrying later may fix ``exc``: transient archive errors, connection failures and
    timeouts (``requests``, ``urllib3``, the standard library's). Anything else is not."""
    if isinstance(exc, ArchiveError):
        return exc.transient
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    try:
        import requests
    except ImportError:  # pragma: no cover - requests is a core dependency
        return False
    return isinstance(exc, (requests.ConnectionError, requests.Timeout))
