"""The code location: assembles assets, checks, resources, jobs, automation and sensors."""

from __future__ import annotations

import warnings

import dagster as dg

# partitioned asset checks and backfill policies are preview/beta in 1.13; used knowingly
warnings.filterwarnings("ignore", category=dg.PreviewWarning)
warnings.filterwarnings("ignore", category=dg.BetaWarning)

from ben_sen1_assets.automation import automation_sensor
from ben_sen1_assets.assets.bigearthnet_export import bigearthnet_export
from ben_sen1_assets.assets.bigearthnet_lmdb import bigearthnet_lmdb
from ben_sen1_assets.assets.dataset_statistics import dataset_statistics
from ben_sen1_assets.assets.gdal_vrts import gdal_vrts
from ben_sen1_assets.assets.stac_catalog import stac_catalog
from ben_sen1_assets.assets.mosaics import mosaics
from ben_sen1_assets.assets.patches import patches
from ben_sen1_assets.assets.preprocessed_s1 import preprocessed_s1
from ben_sen1_assets.assets.s1s2_mapping import s1s2_mapping
from ben_sen1_assets.assets.raw_s1_safe import raw_s1_safe
from ben_sen1_assets.assets.s1_product_selection import s1_product_selection
from ben_sen1_assets.assets.tile_footprints import tile_footprints
from ben_sen1_assets.checks import ASSET_CHECKS
from ben_sen1_assets.executors import executor_for
from ben_sen1_assets.jobs import datasets_job, tile_job
from ben_sen1_assets.partitions import SETTINGS
from ben_sen1_assets.resources.io_managers import (
    CogIOManagerFactory,
    GeoParquetIOManagerFactory,
    ZarrIOManagerFactory,
)
from ben_sen1_assets.resources.archives import ProductStoreResource, S1CatalogResource
from ben_sen1_assets.resources.outputs import MosaicRulesResource
from ben_sen1_assets.resources.processing import SarProcessingResource
from ben_sen1_assets.resources.selection import SelectionRulesResource
from ben_sen1_assets.resources.tile_catalog import TileCatalogResource
from ben_sen1_assets.sensors import new_products_sensor


def storage_resources(base_path: str, storage_options: dict) -> dict:
    """The three IO managers, all on one base path (a folder or an fsspec URL)."""
    return {
        "geoparquet_io_manager": GeoParquetIOManagerFactory(base_path=base_path, storage_options=storage_options),
        "zarr_io_manager": ZarrIOManagerFactory(base_path=base_path, storage_options=storage_options),
        "cog_io_manager": CogIOManagerFactory(base_path=base_path, storage_options=storage_options),
    }


def s1_catalog_resource(provider: str) -> S1CatalogResource:
    """The catalog of the provider in force; credentials only from environment variables."""
    if provider == "cdse":
        return S1CatalogResource(
            provider="cdse", username=dg.EnvVar("CDSE_USERNAME"), password=dg.EnvVar("CDSE_PASSWORD")
        )
    if provider == "asf":
        return S1CatalogResource(provider="asf", earthdata_token=dg.EnvVar("EARTHDATA_TOKEN"))
    if provider == "dhus":
        return S1CatalogResource(
            provider="dhus", dhus_url=dg.EnvVar("DHUS_URL"),
            username=dg.EnvVar("DHUS_USERNAME"), password=dg.EnvVar("DHUS_PASSWORD"),
        )
    return S1CatalogResource(
        provider="local", local_folder=SETTINGS.archive, build_demo_archive=SETTINGS.is_embedded_default
    )


def sar_processing_resource() -> SarProcessingResource:
    """Copernicus GLO-30 for real runs; the embedded default uses the shipped Rome SRTM sample."""
    if SETTINGS.is_embedded_default:
        return SarProcessingResource(dem_kind="demo")
    return SarProcessingResource(dem_kind="glo30", dem_store=str(SETTINGS.home / "dem"))


RESOURCES = {
    "tile_catalog": TileCatalogResource(catalog=SETTINGS.catalog),
    "s1_catalog": s1_catalog_resource(SETTINGS.provider),
    # the demo's repeat passes are one 12-day cycle apart, and its products are small crops with
    # valid pixels up to their edges (no GRD border): a wider window, a narrower margin
    "selection_rules": SelectionRulesResource(max_days=13, footprint_margin_m=500)
    if SETTINGS.is_embedded_default
    else SelectionRulesResource(),
    "sar_processing": sar_processing_resource(),
    "mosaic_rules": MosaicRulesResource(),
    "product_store": ProductStoreResource(base_path=SETTINGS.product_store, storage_options=SETTINGS.storage_options),
    **storage_resources(SETTINGS.storage, SETTINGS.storage_options),
}

ASSETS = [
    tile_footprints, s1_product_selection, raw_s1_safe, preprocessed_s1, mosaics, patches,
    s1s2_mapping, bigearthnet_export, bigearthnet_lmdb, stac_catalog,
    gdal_vrts, dataset_statistics,
]

defs = dg.Definitions(
    assets=ASSETS,
    asset_checks=ASSET_CHECKS,
    resources=RESOURCES,
    jobs=[tile_job, datasets_job],
    sensors=[new_products_sensor, automation_sensor],
    executor=executor_for(SETTINGS.executor),
)
