"""Checks of `patches`: the patch store's layout (blocking), count, finite fraction and dB range."""

import dagster as dg

from ben_sen1_assets.assets.patches import patches
from ben_sen1_assets.partitions import tile_partitions
from ben_sen1_assets.resources.tile_catalog import TileCatalogResource
from ben_sen1_assets.types import PatchStore

PATCH_PX = 120
# BigEarthNet-S1 v1.0 patches span VV −24.8 … +6.7 dB and VH −37.3 … −6.4 dB; allow the
# extremes of real scenes (water, noise floor at −50 dB, bright urban targets) but no more
PLAUSIBLE_DB = (-50.0, 30.0)
MIN_FINITE_FRACTION = 0.99
PATCH_BATCH = 500  # patches read at once (~58 MB)
MEDIAN_SAMPLE = 1000  # patches the VV/VH medians are taken over


@dg.asset_check(asset=patches, blocking=True, partitions_def=tile_partitions)
def patch_shape_dtype(patches: PatchStore) -> dg.AssetCheckResult:
    """`backscatter` is (patch, band, y, x) = (n, [VV, VH], 120, 120) float32, one chunk per patch."""
    import numpy as np

    var = patches["backscatter"]
    chunks = tuple(var.encoding.get("chunks") or ())
    ok = (
        var.dims == ("patch", "band", "y", "x")
        and var.shape[1:] == (2, PATCH_PX, PATCH_PX)
        and var.dtype == np.float32
        and list(patches["band"].values) == ["VV", "VH"]
        and chunks == (1, 2, PATCH_PX, PATCH_PX)
    )
    return dg.AssetCheckResult(
        passed=bool(ok),
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"dims": str(var.dims), "shape": str(var.shape), "dtype": str(var.dtype), "chunks": str(chunks)},
    )


@dg.asset_check(asset=patches, partitions_def=tile_partitions)
def patch_count(
    context: dg.AssetCheckExecutionContext, patches: PatchStore, tile_catalog: TileCatalogResource
) -> dg.AssetCheckResult:
    """As many patches as the catalog puts in scope, and exactly those."""
    entry = tile_catalog.entry(context.partition_key)
    expected = {f"{x}_{y}" for x, y in entry.patches}
    found = {str(p) for p in patches["patch"].values}
    return dg.AssetCheckResult(
        passed=found == expected,
        metadata={
            "n_patches": len(found),
            "n_in_scope": len(expected),
            "missing": dg.MetadataValue.text(";".join(sorted(expected - found)) or "none"),
        },
    )


def patch_batches(store, size: int = PATCH_BATCH):
    """``(names, values)`` of ``size`` patches at a time from a patch store (``values``:
    (n, band, y, x) dB): a whole tile's 8,281 patches are ~1 GB, a batch ~58 MB."""
    var = store["backscatter"]
    for start in range(0, store.sizes["patch"], size):
        part = slice(start, start + size)
        yield [str(p) for p in store["patch"].values[part]], var.isel(patch=part).values


@dg.asset_check(asset=patches, partitions_def=tile_partitions)
def finite_fraction(patches: PatchStore) -> dg.AssetCheckResult:
    """At least 99 % of the pixels are finite (the rest: no valid data in any product)."""
    import numpy as np

    finite = total = 0
    incomplete: list[str] = []
    for names, values in patch_batches(patches):
        ok = np.isfinite(values)
        finite, total = finite + int(ok.sum()), total + ok.size
        incomplete += [name for name, f in zip(names, ok.mean(axis=(1, 2, 3))) if f < 1.0]
    fraction = finite / total if total else 0.0
    return dg.AssetCheckResult(
        passed=fraction >= MIN_FINITE_FRACTION,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "finite_percent": round(100.0 * fraction, 3),
            "n_incomplete_patches": len(incomplete),
            "incomplete_patches": dg.MetadataValue.text(";".join(incomplete[:200]) or "none"),
        },
    )


@dg.asset_check(asset=patches, partitions_def=tile_partitions)
def plausible_db(patches: PatchStore) -> dg.AssetCheckResult:
    """Finite values lie within −50 … +30 dB (every pixel), and the VV median is above the VH
    median (over up to 1,000 patches spread over the tile)."""
    import numpy as np

    from ben_sen1_assets.previews.thumbnails import sample_indices

    outside = n_finite = 0
    for _, values in patch_batches(patches):
        finite = values[np.isfinite(values)]
        n_finite += finite.size
        outside += int(((finite < PLAUSIBLE_DB[0]) | (finite > PLAUSIBLE_DB[1])).sum())
    sample = patches["backscatter"].isel(patch=sample_indices(patches.sizes["patch"], MEDIAN_SAMPLE)).values
    vv, vh = sample[:, 0], sample[:, 1]
    med_vv = float(np.nanmedian(vv)) if np.isfinite(vv).any() else float("nan")
    med_vh = float(np.nanmedian(vh)) if np.isfinite(vh).any() else float("nan")
    return dg.AssetCheckResult(
        passed=bool(n_finite and outside == 0 and med_vv > med_vh),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "n_outside_range": outside,
            "range_db": f"{PLAUSIBLE_DB[0]} … {PLAUSIBLE_DB[1]}",
            "median_vv_db": round(med_vv, 2),
            "median_vh_db": round(med_vh, 2),
            "p1_p99_vv_db": f"{np.nanpercentile(vv, 1):.1f} … {np.nanpercentile(vv, 99):.1f}" if n_finite else "n/a",
            "n_patches_for_medians": int(sample.shape[0]),
        },
    )
