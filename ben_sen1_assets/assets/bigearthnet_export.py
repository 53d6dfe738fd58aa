"""bigearthnet_export: the patches as a BigEarthNet dataset root that TorchGeo opens as written."""

import dagster as dg

from ben_sen1_assets.assets.metadata import OWNERS, table
from ben_sen1_assets.partitions import SETTINGS
from ben_sen1_assets.types import PatchStores


class ExportConfig(dg.Config):
    min_valid_fraction: float = 1.0
    only_bigearthnet: bool = False


def export_root():
    """``<storage>/exports``: the root to give TorchGeo's BigEarthNet loaders."""
    from upath import UPath

    return UPath(SETTINGS.storage, **SETTINGS.storage_options) / "exports"


SPLIT_COLUMNS = [
    ("split", "string", "reBEN split name (v1 file: bigearthnet-<train|val|test>.csv)"),
    ("n_patches", "int", "patches"),
    ("n_labelled", "int", "patches with reBEN 19-class labels"),
    ("n_flagged_snow_cloud", "int", "in metadata_for_patches_with_snow_cloud_or_shadow.parquet"),
]


@dg.asset(
    group_name="datasets",
    kinds={"geotiff", "parquet", "csv"},
    owners=OWNERS,
    tags={"stage": "datasets"},
    ins={"patches": dg.AssetIn(metadata={"allow_missing_partitions": True})},
    code_version="2",
)
def bigearthnet_export(
    context: dg.AssetExecutionContext, config: ExportConfig, patches: PatchStores
) -> dg.MaterializeResult:
    """Every materialized tile's patches as a BigEarthNet dataset root (`<storage>/exports`) that
    TorchGeo's `BigEarthNet(root, bands="s1")` and `BigEarthNetV2(root, bands="s1")` open as written.

    v1.0: `BigEarthNet-S1-v1.0/<S1 patch>/<S1 patch>_{VV,VH}.tif` (120 × 120 float32 dB, the tile's
    UTM CRS) + `_labels_metadata.json`, and `bigearthnet-{train,val,test}.csv`. v2.0 (reBEN):
    `BigEarthNet-S1/<scene>/<S1 patch>/`, `metadata.parquet` (reBEN columns; labels where reBEN
    has them, [] elsewhere), `metadata_for_patches_with_snow_cloud_or_shadow.parquet`,
    `Reference_Maps/` (CLC no-data 999: no CLC raster offline). Splits: reBEN's, else whole
    10 × 10-patch blocks hashed per MGRS tile (50/25/25). Only complete patches by default
    (`min_valid_fraction`). Not part of the tile job: run it when a dataset release is wanted.
    """
    from ben_sen1_assets.outputs.bigearthnet_layout import SPLITS, export_bigearthnet

    root = export_root()
    stores = [patches[key] for key in sorted(patches)]
    summary = export_bigearthnet(stores, root, min_valid_fraction=config.min_valid_fraction,
                                 only_bigearthnet=config.only_bigearthnet)
    rec = summary.records
    flagged = rec["contains_seasonal_snow"] | rec["contains_cloud_or_shadow"]
    rows = [
        {
            "split": s, "n_patches": int((rec["split"] == s).sum()),
            "n_labelled": int(((rec["split"] == s) & (rec["labels"].map(len) > 0)).sum()),
            "n_flagged_snow_cloud": int(((rec["split"] == s) & flagged).sum()),
        }
        for s in SPLITS
    ]
    context.log.info(f"exported {len(summary.v1_names)} patches of {len(stores)} tiles to {root}")
    return dg.MaterializeResult(
        metadata={
            "n_tiles": len(stores),
            "n_patches_v1": len(summary.v1_names),
            "n_patches_v2": len(summary.v2_names),
            "splits": table(rows, SPLIT_COLUMNS),
            "root": dg.MetadataValue.path(str(root)),
            "torchgeo": dg.MetadataValue.md(
                f'`BigEarthNetV2(root="{root}", bands="s1")` · `BigEarthNet(root="{root}", bands="s1")`'
            ),
        }
    )
