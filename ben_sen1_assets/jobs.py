"""Jobs, and the tags that name a run's tile: one run builds one tile partition end to end."""

import dagster as dg

from ben_sen1_assets.partitions import tile_partitions

TILE_ASSETS = dg.AssetSelection.groups("sentinel1")
TILE_TAG = "ben_sen1/tile"
DATE_TAG = "ben_sen1/s2_date"


def tile_run_tags(partition_key: str) -> dict[str, str]:
    """Run tags naming the tile and the S2 date, so runs can be filtered (and limited per tile
    with ``tag_concurrency_limits``) in the UI."""
    mgrs, date = partition_key.split("_", 1)
    return {TILE_TAG: mgrs, DATE_TAG: date}


def run_partition(tags: dict[str, str]) -> str | None:
    """The one partition a run builds, from its tags: ``dagster/partition``, or a partition range
    of one key (what asset backfills give runs under a one-partition ``BackfillPolicy``)."""
    if "dagster/partition" in tags:
        return tags["dagster/partition"]
    start, end = tags.get("dagster/asset_partition_range_start"), tags.get("dagster/asset_partition_range_end")
    return start if start is not None and start == end else None


def tag_tile_run(context: dg.AssetExecutionContext) -> None:
    """Give the run its tile tags if whatever launched it did not (the UI's Materialize button,
    an asset backfill, declarative automation): every run of a partition carries them. Runs of
    ``tile_job`` are tagged when they are created (its partitioned config), sensors' runs by their
    run requests; this catches the others at their first step."""
    key = run_partition(context.run.tags)
    if key is None:  # unpartitioned, or a run over several tiles
        return
    tags = tile_run_tags(key)
    if any(context.run.tags.get(key) != value for key, value in tags.items()):
        context.instance.add_run_tags(context.run.run_id, tags)


# the partitioned config only carries the tags: the tile job needs no run config
tile_job_config = dg.PartitionedConfig(
    partitions_def=tile_partitions,
    run_config_for_partition_key_fn=lambda _key: {},
    tags_for_partition_key_fn=tile_run_tags,
)

tile_job = dg.define_asset_job(
    "tile_job",
    selection=TILE_ASSETS,
    config=tile_job_config,
    description="Build one S2 tile partition end to end (footprints to patches) with its checks.",
    tags={"ben_sen1/pipeline": "s1-patches"},
)


datasets_job = dg.define_asset_job(
    "datasets_job",
    selection=dg.AssetSelection.groups("datasets"),
    description="Cross-tile outputs over every materialized tile: the S1-S2 mapping, the BigEarthNet export "
    "(TorchGeo layout, LMDB of safetensors), band statistics, GDAL VRTs and the STAC catalog.",
)
