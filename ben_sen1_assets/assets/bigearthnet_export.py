"""bigearthnet_export: the patches in the BigEarthNet-S1 v1.0 and v2.0 folder layouts, on request."""

import dagster as dg

from ben_sen1_assets.assets.metadata import OWNERS
from ben_sen1_assets.partitions import SETTINGS
from ben_sen1_assets.types import PatchStores


class ExportConfig(dg.Config):
    min_valid_fraction: float = 1.0
    only_bigearthnet: bool = False


@dg.asset(
    group_name="datasets",
    kinds={"geotiff", "json"},
    owners=OWNERS,
    tags={"stage": "datasets"},
    ins={"patches": dg.AssetIn(metadata={"allow_missing_partitions": True})},
    code_version="1",
)
def bigearthnet_export(
    context: dg.AssetExecutionContext, config: ExportConfig, patches: PatchStores
) -> dg.MaterializeResult:
    """Every materialized tile's patches as BigEarthNet-S1 folders, readable by existing
    BigEarthNet readers (TorchGeo among them).

    v1.0 layout: `BigEarthNet-S1-v1.0/<S1 patch>/<S1 patch>_{VV,VH}.tif` (120 × 120 float32, the
    tile's UTM CRS) + `<S1 patch>_labels_metadata.json` with the v1 keys (labels of the paired
    BigEarthNet patch where known, else []); v2.0 layout: `BigEarthNet-S1/<scene>/<S1 patch>/`.
    Only complete patches by default (`min_valid_fraction`). Not part of the tile job: run it
    when a dataset release is wanted.
    """
    from upath import UPath

    from ben_sen1_assets.outputs.export import export_bigearthnet_v1, export_bigearthnet_v2

    root = UPath(SETTINGS.storage, **SETTINGS.storage_options) / "exports"
    stores = [patches[key] for key in sorted(patches)]
    v1 = export_bigearthnet_v1(stores, root / "BigEarthNet-S1-v1.0", min_valid_fraction=config.min_valid_fraction,
                               only_bigearthnet=config.only_bigearthnet)
    v2 = export_bigearthnet_v2(stores, root / "BigEarthNet-S1", min_valid_fraction=config.min_valid_fraction,
                               only_bigearthnet=config.only_bigearthnet)
    return dg.MaterializeResult(
        metadata={
            "n_tiles": len(stores),
            "n_patches_v1": len(v1),
            "n_patches_v2": len(v2),
            "v1_root": dg.MetadataValue.path(str(root / "BigEarthNet-S1-v1.0")),
            "v2_root": dg.MetadataValue.path(str(root / "BigEarthNet-S1")),
        }
    )
