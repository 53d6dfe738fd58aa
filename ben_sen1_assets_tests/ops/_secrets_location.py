"""The project's definitions with the CDSE endpoints on a loopback server (``TEST_CDSE_URL``).

Everything else is wired by the project from the environment exactly as in a deployment: asset
storage and product store on S3 (``BEN_SEN1_STORAGE``, ``BEN_SEN1_PRODUCT_STORE``,
``BEN_SEN1_STORAGE_OPTIONS``; keys from the ``AWS_*`` variables), CDSE credentials through
``dg.EnvVar``. Only what a loopback server cannot provide is replaced: the endpoints, and the
demo's selection rules and DEM (the demo products are small crops; no Copernicus DEM offline).
"""

from __future__ import annotations

import os

import dagster as dg

from ben_sen1_assets import definitions as project
from ben_sen1_assets.demo_archive.dem import demo_dem_config
from ben_sen1_assets.resources.archives import S1CatalogResource
from ben_sen1_assets.resources.processing import SarProcessingResource
from ben_sen1_assets.resources.selection import SelectionRulesResource

URL = os.environ["TEST_CDSE_URL"]
dem = demo_dem_config()
# as definitions.s1_catalog_resource("cdse") wires it (credentials through dg.EnvVar), loopback URLs
catalog = S1CatalogResource(
    provider="cdse", username=dg.EnvVar("CDSE_USERNAME"), password=dg.EnvVar("CDSE_PASSWORD"),
    cdse_catalogue_url=f"{URL}/odata/v1", cdse_download_url=f"{URL}/odata/v1", cdse_identity_url=URL,
)

defs = dg.Definitions(
    assets=project.ASSETS,
    asset_checks=project.ASSET_CHECKS,
    resources={
        **project.RESOURCES,
        "s1_catalog": catalog,
        "selection_rules": SelectionRulesResource(max_days=13, footprint_margin_m=500),
        "sar_processing": SarProcessingResource(dem_kind=dem.kind, dem_path=dem.path,
                                                dem_vertical_datum=dem.vertical_datum, dem_fill=dem.fill),
    },
    jobs=[project.tile_job],
    executor=project.executor_for(project.SETTINGS.executor),
)
