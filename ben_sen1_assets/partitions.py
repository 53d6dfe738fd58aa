"""The partition set: one static partition per S2 product of the tile catalog in force.

Keys are ``<MGRS tile>_<YYYYMMDD>`` (e.g. ``33UUP_20170613``). Which catalog is in force is a
setting (``BEN_SEN1_CATALOG``: ``demo`` by default, ``bigearthnet``, or a CSV path); a malformed
catalog fails here, at load time, with the row and field named.
"""

from __future__ import annotations

import dagster as dg

from ben_sen1_assets.grid.catalog import (
    TileCatalog,
    load_bigearthnet_catalog,
    load_catalog_file,
    load_demo_catalog,
)
from ben_sen1_assets.settings import Settings, load_settings


def load_tile_catalog(settings: Settings) -> TileCatalog:
    if settings.catalog == "demo":
        return load_demo_catalog()
    if settings.catalog == "bigearthnet":
        return load_bigearthnet_catalog()
    return load_catalog_file(settings.catalog)


SETTINGS = load_settings()
TILE_CATALOG = load_tile_catalog(SETTINGS)

tile_partitions = dg.StaticPartitionsDefinition(list(TILE_CATALOG.keys()))
