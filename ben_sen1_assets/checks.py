"""Asset checks: each stage's output is checked before the next one trusts it."""


import dagster as dg
import geopandas as gpd
from pyproj import CRS

import json


from ben_sen1_assets.archive.download import file_checksums
import numpy as np
import xarray as xr

from ben_sen1_assets.assets.patches import patches
from ben_sen1_assets.assets.raw_s1_safe import raw_s1_safe
from ben_sen1_assets.assets.s1_product_selection import s1_product_selection
from ben_sen1_assets.assets.tile_footprints import tile_footprints
from ben_sen1_assets.resources.archives import ProductStoreResource
from ben_sen1_assets.resources.selection import SelectionRulesResource
from ben_sen1_assets.resources.tile_catalog import TileCatalogResource
from ben_sen1_assets.sar.errors import SafeError
from ben_sen1_assets.sar.safe import open_safe
from ben_sen1_assets.grid.patches import N_PATCHES_PER_SIDE
from ben_sen1_assets.grid.tile import TILE_WIDTH_M
from ben_sen1_assets.partitions import tile_partitions

# the densified footprint is a polygon through points of the square: its area is the square's
# to well within this fraction, and its corners return to the UTM corners within this distance
AREA_TOLERANCE = 1e-3
CORNER_TOLERANCE_M = 1.0


@dg.asset_check(asset=tile_footprints, blocking=True, partitions_def=tile_partitions)
def tile_geometry(tile_footprints: gpd.GeoDataFrame) -> dg.AssetCheckResult:
    """The tile footprint is one valid polygon that maps back onto the tile's 109.8 km UTM square,
    in the UTM zone of its MGRS id, and every patch in scope is a whole patch of the grid."""
    problems: list[str] = []
    if len(tile_footprints) != 1:
        problems.append(f"expected 1 row, found {len(tile_footprints)}")
    row = tile_footprints.iloc[0]
    geometry = row.geometry
    if geometry is None or geometry.is_empty or not geometry.is_valid:
        problems.append("footprint polygon is empty or invalid")
    crs = CRS.from_epsg(int(row.epsg))
    zone = crs.utm_zone
    if zone is None or int(zone[:-1]) != int(row.mgrs[:2]):
        problems.append(f"EPSG {row.epsg} is not a UTM CRS of zone {row.mgrs[:2]}")
    utm = gpd.GeoSeries([geometry], crs="EPSG:4326").to_crs(crs).iloc[0]
    area_error = abs(utm.area / TILE_WIDTH_M**2 - 1.0)
    if area_error > AREA_TOLERANCE:
        problems.append(f"footprint area differs from the tile square by {area_error:.2%}")
    corner_error = max(
        abs(a - b) for a, b in zip(utm.bounds, (row.ulx, row.lry, row.lrx, row.uly), strict=True)
    )
    if corner_error > CORNER_TOLERANCE_M:
        problems.append(f"footprint bounds are {corner_error:.2f} m off the UTM bounds")
    if abs((row.lrx - row.ulx) - TILE_WIDTH_M) > 0 or abs((row.uly - row.lry) - TILE_WIDTH_M) > 0:
        problems.append("UTM bounds are not a 109,800 m square")
    patches = [p for p in str(row.patches_in_scope).split(";") if p]
    bad = [p for p in patches if not all(0 <= int(v) < N_PATCHES_PER_SIDE for v in p.split("_"))]
    if bad:
        problems.append(f"patches outside the 91 × 91 grid: {bad[:10]}")
    if not patches:
        problems.append("no patch in scope")
    return dg.AssetCheckResult(
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in problems) or "none"),
            "area_error": float(area_error),
            "corner_error_m": float(corner_error),
            "n_patches_in_scope": len(patches),
        },
    )


@dg.asset_check(
    asset=s1_product_selection, blocking=True, partitions_def=tile_partitions,
    additional_ins={"tile_footprints": dg.AssetIn("tile_footprints")},
)
def patch_coverage(
    s1_product_selection: gpd.GeoDataFrame, tile_footprints: gpd.GeoDataFrame, selection_rules: SelectionRulesResource
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
            "coverage_fraction": float(fraction),
            "min_coverage": float(selection_rules.min_coverage),
            "n_products": len(s1_product_selection),
            "n_uncovered": len(uncovered),
            "uncovered_patches": dg.MetadataValue.text(";".join(uncovered) or "none"),
        },
    )


@dg.asset_check(asset=raw_s1_safe, blocking=True, partitions_def=tile_partitions)
def products_verified(raw_s1_safe: gpd.GeoDataFrame, product_store: ProductStoreResource) -> dg.AssetCheckResult:
    """Every stored product was verified on ingestion (its record is in the store), matches its
    catalog checksums, its manifest reads, and the polarisations it was chosen for are present."""
    store = product_store.store()
    options = store.storage_options
    problems: list[str] = []
    for _, row in raw_s1_safe.iterrows():
        path = row["store_path"]
        expected = json.loads(row["checksums"])
        try:
            if store.verification(row["name"]) is None:
                problems.append(f"{row['name']}: no record of its verification on ingestion in {store.base}")
            if expected:
                actual = file_checksums(path, tuple(expected), options)
                for algorithm, value in expected.items():
                    if actual.get(algorithm) != value:
                        problems.append(f"{row['name']}: {algorithm} {actual.get(algorithm)} != catalog {value}")
            with open_safe(path, options) as product:
                missing = set(str(row["polarisations"]).split("&")) - set(product.available_polarisations)
                if missing:
                    problems.append(f"{row['name']}: polarisations {sorted(missing)} missing")
        except (OSError, SafeError) as exc:
            problems.append(f"{row['name']}: {exc}")
    return dg.AssetCheckResult(
        passed=not problems and len(raw_s1_safe) > 0,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "n_products": len(raw_s1_safe),
            "problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in problems) or "none"),
        },
    )


PATCH_PX = 120
# BigEarthNet-S1 v1.0 patches span VV −24.8 … +6.7 dB and VH −37.3 … −6.4 dB; allow the
# extremes of real scenes (water, noise floor at −50 dB, bright urban targets) but no more
PLAUSIBLE_DB = (-50.0, 30.0)
MIN_FINITE_FRACTION = 0.99


@dg.asset_check(asset=patches, blocking=True, partitions_def=tile_partitions)
def patch_shape_dtype(patches: xr.Dataset) -> dg.AssetCheckResult:
    """`backscatter` is (patch, band, y, x) = (n, [VV, VH], 120, 120) float32, one chunk per patch."""
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
    context: dg.AssetCheckExecutionContext, patches: xr.Dataset, tile_catalog: TileCatalogResource
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
def finite_fraction(patches: xr.Dataset) -> dg.AssetCheckResult:
    """At least 99 % of the pixels are finite (the rest: no valid data in any product)."""
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
def plausible_db(patches: xr.Dataset) -> dg.AssetCheckResult:
    """Finite values lie within −50 … +30 dB, and the VV median above the VH median."""
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
