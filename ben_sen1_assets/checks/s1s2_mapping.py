"""Checks of `s1s2_mapping`."""

import dagster as dg

from ben_sen1_assets.assets.s1s2_mapping import s1s2_mapping
from ben_sen1_assets.types import GeoDataFrame


def _no_pairs_reason(frame) -> str:
    """Why the tiles in ``frame`` have no BigEarthNet S1↔S2 pairs, tile by tile."""
    from ben_sen1_assets.grid.catalog import bigearthnet_patch_table

    reasons = []
    for key, rows in frame.groupby("partition_key"):
        if bigearthnet_patch_table(str(key)) is None:
            reasons.append(f"{key} is not one of BigEarthNet's 125 S2 products, so its patches have no "
                           "BigEarthNet S2 patch to pair with")
        elif rows["s2v1_name"].isna().all():
            reasons.append(f"{key}: none of its {len(rows)} patches is a BigEarthNet patch")
        else:
            reasons.append(f"{key}: its BigEarthNet patches have no S1 patch name (no valid pixels)")
    return "; ".join(reasons)


@dg.asset_check(asset=s1s2_mapping)
def bigearthnet_pairs(s1s2_mapping: GeoDataFrame) -> dg.AssetCheckResult:
    """The mapping pairs patches with BigEarthNet S2 patches (`s1s2_mapping.csv`); warns, with
    the reason per tile, when no patch has a pair (e.g. the demo's tiles, which are not
    BigEarthNet products: the CSV is then empty by design)."""
    paired = s1s2_mapping[s1s2_mapping["s2v1_name"].notna() & s1s2_mapping["s1_name"].notna()]
    reason = "" if len(paired) else _no_pairs_reason(s1s2_mapping)
    return dg.AssetCheckResult(
        passed=len(paired) > 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "n_patches": len(s1s2_mapping),
            "n_bigearthnet_pairs": len(paired),
            "n_tiles": int(s1s2_mapping["partition_key"].nunique()),
            "reason": dg.MetadataValue.text(reason or "pairs found"),
        },
    )
