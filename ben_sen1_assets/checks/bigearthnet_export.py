"""Checks of `bigearthnet_export`: the export root loads through TorchGeo as written (blocking)."""

import dagster as dg

from ben_sen1_assets.assets.bigearthnet_export import bigearthnet_export


@dg.asset_check(asset=bigearthnet_export, blocking=True)
def export_loads_in_torchgeo() -> dg.AssetCheckResult:
    """One sample of the export loads the way a user loads it: TorchGeo's
    `BigEarthNetV2(root, bands="s1")` and `BigEarthNet(root, bands="s1")` on the export root
    (a local mirror of that sample's files when the storage is an object store), as a
    2 × 120 × 120 image with the label vector of the metadata's reBEN labels."""
    from ben_sen1_assets.assets.bigearthnet_export import export_root
    from ben_sen1_assets.outputs.errors import OutputError
    from ben_sen1_assets.outputs.loader_check import load_one_sample

    try:
        facts = load_one_sample(export_root())
    except (OutputError, OSError, KeyError, ValueError) as exc:
        return dg.AssetCheckResult(passed=False, metadata={"error": dg.MetadataValue.text(str(exc))})
    return dg.AssetCheckResult(
        passed=True,
        metadata={k: (round(v, 3) if isinstance(v, float) else v) for k, v in facts.items()
                  if not isinstance(v, list)} | {"image_shape": str(tuple(facts["image_shape"]))},
    )
