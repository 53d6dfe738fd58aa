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

from ben_sen1_assets._lazy import lazy_exports

# each public name and its submodule, imported on first use (see ben_sen1_assets._lazy)
_EXPORTS = {
    "DownloadProgress": "download",
    "Downloader": "download",
    "DownloadResult": "download",
    "RetryPolicy": "download",
    "StaticBearer": "download",
    "file_checksums": "download",
    "ArchiveError": "errors",
    "AuthError": "errors",
    "CatalogError": "errors",
    "ChecksumMismatchError": "errors",
    "DownloadError": "errors",
    "LockTimeoutError": "errors",
    "ProductNameError": "errors",
    "Catalog": "records",
    "ProductRecord": "records",
    "S1ProductName": "records",
    "parse_product_name": "records",
    "relative_orbit": "records",
    "ProductStore": "store",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "ArchiveError", "AuthError", "CatalogError", "ChecksumMismatchError", "DownloadError",
    "LockTimeoutError", "ProductNameError", "Catalog", "ProductRecord", "S1ProductName",
    "parse_product_name", "relative_orbit", "DownloadProgress", "Downloader", "DownloadResult",
    "RetryPolicy", "StaticBearer", "file_checksums", "ProductStore",
]
