"""The code location: assembles assets, checks, resources, jobs, schedules and sensors."""

from __future__ import annotations

import warnings

import dagster as dg

# partitioned asset checks and backfill policies are preview/beta in 1.13; used knowingly
warnings.filterwarnings("ignore", category=dg.PreviewWarning)
warnings.filterwarnings("ignore", category=dg.BetaWarning)

from ben_sen1_assets import checks  # noqa: E402
from ben_sen1_assets.assets.tile_footprints import tile_footprints
from ben_sen1_assets.executors import executor_for
from ben_sen1_assets.jobs import tile_job
from ben_sen1_assets.partitions import SETTINGS
from ben_sen1_assets.resources.io_managers import (
    CogIOManagerFactory,
    GeoParquetIOManagerFactory,
    ZarrIOManagerFactory,
)
from ben_sen1_assets.resources.tile_catalog import TileCatalogResource
from ben_sen1_assets.schedules import missing_tiles_schedule


def storage_resources(base_path: str, storage_options: dict) -> dict:
    """The three IO managers, all on one base path (a folder or an fsspec URL)."""
    return {
        "geoparquet_io_manager": GeoParquetIOManagerFactory(base_path=base_path, storage_options=storage_options),
        "zarr_io_manager": ZarrIOManagerFactory(base_path=base_path, storage_options=storage_options),
        "cog_io_manager": CogIOManagerFactory(base_path=base_path, storage_options=storage_options),
    }


RESOURCES = {
    "tile_catalog": TileCatalogResource(catalog=SETTINGS.catalog),
    **storage_resources(SETTINGS.storage, SETTINGS.storage_options),
}

ASSETS = [tile_footprints]
ASSET_CHECKS = dg.load_asset_checks_from_modules([checks])

defs = dg.Definitions(
    assets=ASSETS,
    asset_checks=ASSET_CHECKS,
    resources=RESOURCES,
    jobs=[tile_job],
    schedules=[missing_tiles_schedule],
    executor=executor_for(SETTINGS.executor),
)
