"""bigearthnet_lmdb: the exported patches as BigEarthNet v2's LMDB of safetensors (ConfigILM, rico-hdl)."""

import dagster as dg

from ben_sen1_assets.assets.metadata import OWNERS
from ben_sen1_assets.types import PatchStores


@dg.asset(
    group_name="datasets",
    kinds={"lmdb", "safetensors"},
    owners=OWNERS,
    tags={"stage": "datasets"},
    deps=["bigearthnet_export"],
    ins={"patches": dg.AssetIn(metadata={"allow_missing_partitions": True})},
    code_version="1",
)
def bigearthnet_lmdb(context: dg.AssetExecutionContext, patches: PatchStores) -> dg.MaterializeResult:
    """The patches of the export's `metadata.parquet` (+ the snow/cloud table) as one LMDB,
    `<storage>/exports/BigEarthNet-S1.lmdb`: key = S1 patch name, value = safetensors
    `{"VV", "VH"}` float32 120 × 120 dB, the layout rico-hdl encodes BigEarthNet v2 in and
    ConfigILM's `BENv2DataSet` reads (with `metadata_parquet` and
    `metadata_snow_cloud_parquet` = the export's two tables). Built after the export's blocking
    load check passed."""
    from ben_sen1_assets.assets.bigearthnet_export import export_root
    from ben_sen1_assets.outputs.lmdb_export import LMDB_DIR, metadata_s1_names, write_bigearthnet_lmdb

    root = export_root()
    names = metadata_s1_names(root)
    n = write_bigearthnet_lmdb([patches[k] for k in sorted(patches)], names, root / LMDB_DIR)
    size = (root / LMDB_DIR).fs.du((root / LMDB_DIR).path)
    context.log.info(f"{n} patches in {root / LMDB_DIR}")
    return dg.MaterializeResult(metadata={
        "n_patches": n,
        "dagster/row_count": n,
        "size_mb": round(size / 1e6, 1),
        "path": dg.MetadataValue.path(str(root / LMDB_DIR)),
        "configilm": dg.MetadataValue.md(
            f'`BENv2DataSet(data_dirs={{"images_lmdb": "{root / LMDB_DIR}", '
            f'"metadata_parquet": "{root / "metadata.parquet"}", "metadata_snow_cloud_parquet": '
            f'"{root / "metadata_for_patches_with_snow_cloud_or_shadow.parquet"}"}}, img_size=(2, 120, 120))`'
        ),
    })
