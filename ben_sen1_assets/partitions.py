"""The partition set: one static partition per S2 product of the tile catalog in force.

Keys are ``<MGRS tile>_<YYYYMMDD>`` (e.g. ``33UUP_20170613``). Which catalog is in force is a
setting (``BEN_SEN1_CATALOG``: ``demo`` by default, ``bigearthnet``, or a CSV path); a malformed
user catalog fails here, at load time, with the row and field named. Loading reads only the
keys of the shipped catalogs; their entries (patches in scope, AOIs) load when a run asks.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import dagster as dg

from ben_sen1_assets.grid.catalog import catalog_keys
from ben_sen1_assets.settings import Settings, load_settings

if TYPE_CHECKING:
    from ben_sen1_assets.grid.catalog import TileCatalog


def load_tile_catalog(settings: Settings) -> TileCatalog:
    """The whole catalog in force (entries with their patches in scope)."""
    from ben_sen1_assets.grid.catalog import load_bigearthnet_catalog, load_catalog_file, load_demo_catalog

    if settings.catalog == "demo":
        return load_demo_catalog()
    if settings.catalog == "bigearthnet":
        return load_bigearthnet_catalog()
    return load_catalog_file(settings.catalog)


SETTINGS = load_settings()

tile_partitions = dg.StaticPartitionsDefinition(catalog_keys(SETTINGS.catalog))


@lru_cache(maxsize=1)
def tile_catalog() -> TileCatalog:
    """The catalog in force, loaded on first use."""
    return load_tile_catalog(SETTINGS)


def __getattr__(name: str):
    # `TILE_CATALOG` stays importable, loaded on first use rather than with the code location
    if name == "TILE_CATALOG":
        return tile_catalog()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# One run per tile for every tile stage, however many tiles a backfill covers. The stages share
# the policy, so a backfill (or an automation tick) builds a tile's whole chain in one run; a tile
# that fails stops its own run only; each stage's blocking checks are evaluated per partition
# (Dagster 1.13 records a partitioned check's result only for single-partition steps); and the
# per-tile stores (GeoParquet, COG, Zarr) are written one partition at a time.
TILE_BACKFILL_POLICY = dg.BackfillPolicy.multi_run(max_partitions_per_run=1)
