"""s1s2_mapping: the S1↔S2 patch pairs over every materialized tile (CSV as BigEarthNet-MM, GeoParquet)."""

import dagster as dg

from ben_sen1_assets.assets.metadata import OWNERS, column_schema
from ben_sen1_assets.automation import datasets_condition
from ben_sen1_assets.partitions import SETTINGS
from ben_sen1_assets.types import GeoDataFrame, PatchStores

COLUMNS = {
    "partition_key": "MGRS_YYYYMMDD of the S2 product", "mgrs": "MGRS tile", "epsg": "UTM CRS of the tile",
    "x": "patch column (0..90)", "y": "patch row from the top (0..90)",
    "s2v1_name": "paired BigEarthNet v1 S2 patch (empty outside BigEarthNet)",
    "v2_patch_id": "reBEN (v2) patch id (empty outside reBEN)", "s1_name": "S1 patch name (v1 convention)",
    "scene_source": "S1 product the patch was cut from", "acquisition_time": "its start time (UTC)",
    "valid_fraction": "share of the patch's pixels with data",
    "s1_name_bigearthnet": "the official BigEarthNet S1 patch paired with it (if any)",
    "geometry": "the patch's 1200 m square",
}


@dg.asset(
    io_manager_key="geoparquet_io_manager",
    group_name="datasets",
    kinds={"geopandas", "parquet", "csv"},
    owners=OWNERS,
    tags={"stage": "datasets"},
    ins={"patches": dg.AssetIn(metadata={"allow_missing_partitions": True})},
    automation_condition=datasets_condition,
    code_version="1",
)
def s1s2_mapping(context: dg.AssetExecutionContext, patches: PatchStores) -> GeoDataFrame:
    """One row per patch of every materialized tile: its S1 patch name, the paired S2 patch
    (v1 name, v2 id) where it exists in BigEarthNet, source product and WGS84 polygon.

    Also written as `s1s2_mapping.csv` beside it, the way BigEarthNet-MM ships the pairs
    (`s2v1_name,s1_name`, no header).
    """
    from upath import UPath

    from ben_sen1_assets.outputs.mapping import mapping_frame, write_s1s2_mapping_csv

    if not patches:
        raise dg.Failure("no tile has patches yet: materialize `patches` for some partitions first")
    frame = mapping_frame([patches[key] for key in sorted(patches)])
    csv_path = UPath(SETTINGS.storage, **SETTINGS.storage_options) / "s1s2_mapping.csv"
    n_pairs = write_s1s2_mapping_csv(frame, csv_path)
    context.add_output_metadata(
        {
            "n_tiles": len(patches),
            "n_patches": len(frame),
            "n_bigearthnet_pairs": n_pairs,
            "dagster/column_schema": column_schema(frame, COLUMNS),
            "csv": dg.MetadataValue.path(str(csv_path)),
        }
    )
    return frame
