"""Checks of `mosaics`: the provenance band agrees with the selection (blocking)."""

import dagster as dg

from ben_sen1_assets.assets.mosaics import mosaics, patch_choice
from ben_sen1_assets.partitions import tile_partitions
from ben_sen1_assets.resources.tile_catalog import TileCatalogResource
from ben_sen1_assets.types import GeoDataFrame, TileRaster


def provenance_problems(provenance, selected: set[str], choice: dict) -> tuple[list[str], list[str]]:
    """Problems of a mosaic's ``PatchProvenance`` against the selection: products it names that
    were not selected, and (rule ``closest_per_patch``) patches with pixels from another product
    than the one ``choice`` ((x, y) → product) chose. Returns (all problems, mixed patches)."""
    problems = [f"provenance names {name}, which the selection did not choose"
                for name in provenance.products if name not in selected]
    mixed = []
    if provenance.rule == "closest_per_patch":
        for (x, y), counts in sorted(provenance.pixels.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            wanted = choice.get((x, y))
            others = {name: n for name, n in counts.items() if name != wanted}
            if others:
                mixed.append(f"{x}_{y}: {sum(others.values())} px from {', '.join(sorted(others))}, "
                             f"chosen {wanted or 'none'}")
    return problems + mixed, mixed


@dg.asset_check(
    asset=mosaics, blocking=True, partitions_def=tile_partitions,
    additional_ins={"s1_product_selection": dg.AssetIn("s1_product_selection")},
)
def mosaic_provenance(
    context: dg.AssetCheckExecutionContext, mosaics: TileRaster, s1_product_selection: GeoDataFrame,
    tile_catalog: TileCatalogResource,
) -> dg.AssetCheckResult:
    """The provenance band names only selected products, and under rule `closest_per_patch`
    every pixel of a patch in scope comes from the product the selection chose for that patch
    (the product its S1 patch name will carry)."""
    from ben_sen1_assets.outputs.provenance import patch_provenance

    entry = tile_catalog.entry(context.partition_key)
    provenance = patch_provenance(mosaics, list(entry.patches))
    problems, mixed = provenance_problems(
        provenance, set(s1_product_selection["name"]), patch_choice(s1_product_selection))
    shares = provenance.shares()
    return dg.AssetCheckResult(
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "rule": provenance.rule,
            "n_patches": len(provenance.pixels),
            "n_patches_mixed": len(mixed),
            "no_data_pixels": sum(provenance.no_data.values()),
            "shares_percent": dg.MetadataValue.json({k: round(100.0 * v, 2) for k, v in shares.items()}),
            "problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in problems[:200]) or "none"),
        },
    )
