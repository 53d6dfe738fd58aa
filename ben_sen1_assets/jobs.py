"""Jobs: one run builds one tile partition end to end."""

import dagster as dg

TILE_ASSETS = dg.AssetSelection.groups("sentinel1")

tile_job = dg.define_asset_job(
    "tile_job",
    selection=TILE_ASSETS,
    description="Build one S2 tile partition end to end (footprints to patches) with its checks.",
    tags={"ben_sen1/pipeline": "s1-patches"},
)


datasets_job = dg.define_asset_job(
    "datasets_job",
    selection=dg.AssetSelection.groups("datasets"),
    description="Cross-tile outputs over every materialized tile: the S1-S2 mapping and the BigEarthNet export.",
)


def tile_run_tags(partition_key: str) -> dict[str, str]:
    """Run tags naming the tile, so runs can be filtered and limited per tile in the UI."""
    mgrs, date = partition_key.split("_", 1)
    return {"ben_sen1/tile": mgrs, "ben_sen1/s2_date": date}
