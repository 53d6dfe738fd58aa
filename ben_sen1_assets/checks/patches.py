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


@dg.asset_check(asset=patches, partitions_def=tile_partitions)
def finite_fraction(patches: PatchStore) -> dg.AssetCheckResult:
    """At least 99 % of the pixels are finite (the rest: no valid data in any product)."""
    import numpy as np

    data = patches["backscatter"].values
    fraction = float(np.isfinite(data).mean()) if data.size else 0.0
    per_patch = np.isfinite(data).mean(axis=(1, 2, 3)) if data.size else np.array([])
    incomplete = [str(p) for p, f in zip(patches["patch"].values, per_patch) if f < 1.0]
    return dg.AssetCheckResult(
        passed=fraction >= MIN_FINITE_FRACTION,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "finite_fraction": fraction,
            "n_incomplete_patches": len(incomplete),
            "incomplete_patches": dg.MetadataValue.text(";".join(incomplete[:200]) or "none"),
        },
    )


@dg.asset_check(asset=patches, partitions_def=tile_partitions)
def plausible_db(patches: PatchStore) -> dg.AssetCheckResult:
    """Finite values lie within −50 … +30 dB, and the VV median above the VH median."""
    import numpy as np

    data = patches["backscatter"].values
    finite = data[np.isfinite(data)]
    outside = int(((finite < PLAUSIBLE_DB[0]) | (finite > PLAUSIBLE_DB[1])).sum())
    vv, vh = data[:, 0], data[:, 1]
    med_vv = float(np.nanmedian(vv)) if np.isfinite(vv).any() else float("nan")
    med_vh = float(np.nanmedian(vh)) if np.isfinite(vh).any() else float("nan")
    return dg.AssetCheckResult(
        passed=bool(finite.size and outside == 0 and med_vv > med_vh),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "n_outside_range": outside,
            "range_db": f"{PLAUSIBLE_DB[0]} … {PLAUSIBLE_DB[1]}",
            "median_vv_db": med_vv,
            "median_vh_db": med_vh,
            "p1_p99_vv_db": f"{np.nanpercentile(vv, 1):.1f} … {np.nanpercentile(vv, 99):.1f}" if finite.size else "n/a",
        },
    )
