"""The tile catalog in force, as a resource the UI shows and a run can configure."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from ben_sen1_assets.grid.catalog import TileCatalog, TileEntry
from ben_sen1_assets.partitions import load_tile_catalog
from ben_sen1_assets.settings import load_settings


class TileCatalogResource(dg.ConfigurableResource):
    """Which S2 products (tiles, sensing times, patches in scope) the code location builds."""

    catalog: str = Field(
        default="demo",
        description="'demo' (embedded default), 'bigearthnet' (the 125 products) or a CSV path",
    )

    def load(self) -> TileCatalog:
        return load_tile_catalog(load_settings({"BEN_SEN1_CATALOG": self.catalog}))

    def entry(self, partition_key: str) -> TileEntry:
        return self.load().get(partition_key)
