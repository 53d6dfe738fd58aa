"""Sentinel-1 archives as resources: the catalog to search and the shared product store.

Which catalog is a setting (``BEN_SEN1_PROVIDER``: ``local`` by default, ``cdse``, ``asf``,
``dhus``). Credentials reach these resources only through ``dg.EnvVar`` (see
``definitions.py``); the archive classes redact them from every repr, log line and error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import Field, PrivateAttr, field_validator

from ben_sen1_assets.settings import PROVIDERS, check_no_credentials

if TYPE_CHECKING:  # the archive clients (requests, asf_search, ...) load when first used
    from ben_sen1_assets.archive import Catalog, Downloader, ProductStore, RetryPolicy
    from ben_sen1_assets.archive.credentials import Credentials


class S1CatalogResource(dg.ConfigurableResource):
    """Where Sentinel-1 IW GRDH products are searched and downloaded from."""

    provider: str = Field(default="local", description="local | cdse | asf | dhus")
    local_folder: str = Field(default="", description="folder (or fsspec URL) of SAFE folders/zips: provider 'local'")
    build_demo_archive: bool = Field(
        default=False, description="build the simulated demo products into local_folder first (embedded default)"
    )
    cdse_catalogue_url: str = "https://catalogue.dataspace.copernicus.eu/odata/v1"
    cdse_download_url: str = "https://zipper.dataspace.copernicus.eu/odata/v1"
    cdse_identity_url: str = "https://identity.dataspace.copernicus.eu"
    asf_host: str = "cmr.earthdata.nasa.gov"
    dhus_url: str = ""
    username: str | None = Field(default=None, description="from an environment variable (dg.EnvVar)")
    password: str | None = Field(default=None, description="from an environment variable (dg.EnvVar)")
    earthdata_token: str | None = Field(default=None, description="ASF downloads: Earthdata bearer token (dg.EnvVar)")
    # the download budget of one product (see archive.download.RetryPolicy); then a clear error
    max_attempts: int = Field(default=8, description="download: consecutive failed requests without progress")
    max_requests: int = Field(default=60, description="download: requests in all per product")
    max_seconds: float = Field(default=6 * 3600.0, description="download: wall time per product, waits included")
    max_restarts: int = Field(default=2, description="download: downloads from zero after a failed verification")
    backoff_s: float = Field(default=2.0, description="download: first wait after a failure (doubles each time)")
    max_backoff_s: float = Field(default=120.0, description="download: longest wait between attempts")
    max_retry_after_s: float = Field(default=900.0, description="download: longest Retry-After honoured")
    connect_timeout_s: float = Field(default=30.0, description="download: connection timeout")
    read_timeout_s: float = Field(default=120.0, description="download: no byte for this long ends a request")

    _catalog: Any = PrivateAttr(default=None)

    def _credentials(self) -> Credentials | None:
        from ben_sen1_assets.archive.credentials import Credentials

        if self.username and self.password:
            return Credentials(self.username, self.password)
        return None

    def catalog(self) -> Catalog:
        if self._catalog is not None:
            return self._catalog
        if self.provider == "local":
            from ben_sen1_assets.archive.local import LocalCatalog

            if self.build_demo_archive:
                from ben_sen1_assets.demo_archive import build_demo_archive

                build_demo_archive(self.local_folder)
            catalog: Catalog = LocalCatalog(self.local_folder)
        elif self.provider == "cdse":
            from ben_sen1_assets.archive.cdse import CdseCatalog

            catalog = CdseCatalog(base_url=self.cdse_catalogue_url, download_base=self.cdse_download_url)
        elif self.provider == "asf":
            from ben_sen1_assets.archive.asf import AsfCatalog

            catalog = AsfCatalog(host=self.asf_host)
        elif self.provider == "dhus":
            from ben_sen1_assets.archive.dhus import DhusCatalog

            if not self.dhus_url:
                raise dg.DagsterInvariantViolationError("provider 'dhus' needs dhus_url (the hub's /dhus/ URL)")
            catalog = DhusCatalog(self.dhus_url, self._credentials())
        else:
            raise dg.DagsterInvariantViolationError(f"provider {self.provider!r}: expected one of {PROVIDERS}")
        self._catalog = catalog
        return catalog

    def retry_policy(self) -> RetryPolicy:
        """The download budget of one product."""
        from ben_sen1_assets.archive import RetryPolicy

        return RetryPolicy(
            max_attempts=self.max_attempts, max_requests=self.max_requests, max_seconds=self.max_seconds,
            max_restarts=self.max_restarts, backoff=self.backoff_s, max_backoff=self.max_backoff_s,
            max_retry_after=self.max_retry_after_s, connect_timeout=self.connect_timeout_s,
            read_timeout=self.read_timeout_s,
        )

    def downloader(self) -> Downloader | None:
        """The HTTP downloader for this provider (None for a local folder: products are copied)."""
        from ben_sen1_assets.archive import Downloader
        from ben_sen1_assets.archive.errors import AuthError

        policy = self.retry_policy()
        if self.provider == "local":
            return None
        if self.provider == "cdse":
            from ben_sen1_assets.archive.cdse import CdseCredentials, CdseTokenProvider

            credentials = self._credentials()
            if credentials is None:
                raise AuthError("CDSE downloads need CDSE_USERNAME and CDSE_PASSWORD in the environment")
            auth = CdseTokenProvider(CdseCredentials(credentials.username, credentials.password),
                                     identity_url=self.cdse_identity_url)
            return Downloader(auth=auth, policy=policy)
        if self.provider == "asf":
            from ben_sen1_assets.archive.download import StaticBearer

            if not self.earthdata_token:
                raise AuthError("ASF downloads need EARTHDATA_TOKEN in the environment")
            return Downloader(auth=StaticBearer(self.earthdata_token), policy=policy)
        catalog = self.catalog()
        return catalog.downloader(policy)  # type: ignore[attr-defined]


class ProductStoreResource(dg.ConfigurableResource):
    """The shared store of raw products, keyed by product name, for all tiles."""

    base_path: str = Field(description="folder or fsspec URL (s3://bucket/products)")
    storage_options: dict = Field(default={}, description="fsspec options, e.g. endpoint_url; no credentials")

    @field_validator("storage_options")
    @classmethod
    def _no_credentials(cls, options: dict) -> dict:
        # resource config is stored in every run's snapshot in the instance: never a secret
        check_no_credentials(options, "storage_options of the product store")
        return options
    lock_timeout_s: float | None = Field(default=None, description="give up waiting for another run's download")

    def store(self) -> ProductStore:
        from ben_sen1_assets.archive import ProductStore

        return ProductStore(self.base_path, self.storage_options, lock_timeout=self.lock_timeout_s)
