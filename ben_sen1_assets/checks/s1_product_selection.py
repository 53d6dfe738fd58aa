"""Checks of `s1_product_selection`."""

import dagster as dg

from ben_sen1_assets.assets.s1_product_selection import s1_product_selection
from ben_sen1_assets.partitions import tile_partitions
from ben_sen1_assets.resources.selection import SelectionRulesResource
from ben_sen1_assets.types import GeoDataFrame


@dg.asset_check(
    asset=s1_product_selection, blocking=True, partitions_def=tile_partitions,
    additional_ins={"tile_footprints": dg.AssetIn("tile_footprints")},
)
def patch_coverage(
    s1_product_selection: GeoDataFrame, tile_footprints: GeoDataFrame, selection_rules: SelectionRulesResource
) -> dg.AssetCheckResult:
    """The chosen products cover the patches in scope (at least `min_coverage` of them, default
    all); the metadata names every uncovered patch."""
    scope = [p for p in str(tile_footprints.iloc[0].patches_in_scope).split(";") if p]
    covered = {p for patches in s1_product_selection["patches"] for p in str(patches).split(";") if p}
    uncovered = [p for p in scope if p not in covered]
    fraction = 1.0 if not scope else (len(scope) - len(uncovered)) / len(scope)
    return dg.AssetCheckResult(
        passed=bool(fraction >= selection_rules.min_coverage and len(s1_product_selection) > 0),
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "coverage_percent": round(100.0 * float(fraction), 2),
            "min_coverage_percent": round(100.0 * float(selection_rules.min_coverage), 2),
            "n_products": len(s1_product_selection),
            "n_uncovered": len(uncovered),
            "uncovered_patches": dg.MetadataValue.text(";".join(uncovered) or "none"),
        },
    )
