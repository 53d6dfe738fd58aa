"""Sentinel-1 archives: catalogue clients, the shared product store and verified downloads.

No Dagster here: the resources in ``ben_sen1_assets.resources`` wrap these classes.

- records:   :class:`ProductRecord`, :func:`parse_product_name`, :func:`relative_orbit`, :class:`Catalog`
- cdse:      :class:`CdseCatalog`, :class:`CdseTokenProvider`, :class:`CdseCredentials`
- asf:       :class:`AsfCatalog` (asf_search)
- dhus:      :class:`DhusCatalog` (sentinelsat), :class:`DhusCredentials`
- download:  :class:`Downloader`, :class:`RetryPolicy`, :class:`DownloadProgress`, :class:`StaticBearer`
- store:     :class:`ProductStore`
- errors:    :class:`ArchiveError` and subclasses
"""

from .download import DownloadProgress, Downloader, DownloadResult, RetryPolicy, StaticBearer, file_checksums
from .errors import (
    ArchiveError,
    AuthError,
    CatalogError,
    ChecksumMismatchError,
    DownloadError,
    LockTimeoutError,
    ProductNameError,
)
from .records import Catalog, ProductRecord, S1ProductName, parse_product_name, relative_orbit
from .store import ProductStore

__all__ = [
    "ArchiveError", "AuthError", "CatalogError", "ChecksumMismatchError", "DownloadError",
    "LockTimeoutError", "ProductNameError", "Catalog", "ProductRecord", "S1ProductName",
    "parse_product_name", "relative_orbit", "DownloadProgress", "Downloader", "DownloadResult",
    "RetryPolicy", "StaticBearer", "file_checksums", "ProductStore",
]
