"""Checks of `tile_footprints`."""

import dagster as dg

from ben_sen1_assets.assets.tile_footprints import tile_footprints
from ben_sen1_assets.partitions import tile_partitions
from ben_sen1_assets.types import GeoDataFrame

# the densified footprint is a polygon through points of the square: its area is the square's
# to well within this fraction, and its corners return to the UTM corners within this distance
AREA_TOLERANCE = 1e-3
CORNER_TOLERANCE_M = 1.0


@dg.asset_check(asset=tile_footprints, blocking=True, partitions_def=tile_partitions)
def tile_geometry(tile_footprints: GeoDataFrame) -> dg.AssetCheckResult:
    """The tile footprint is one valid polygon that maps back onto the tile's 109.8 km UTM square,
    in the UTM zone of its MGRS id, and every patch in scope is a whole patch of the grid."""
    import geopandas as gpd
    from pyproj import CRS

    from ben_sen1_assets.grid.patches import N_PATCHES_PER_SIDE
    from ben_sen1_assets.grid.tile import TILE_WIDTH_M

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
            "area_error_percent": round(100.0 * float(area_error), 4),
            "corner_error_m": round(float(corner_error), 3),
            "n_patches_in_scope": len(patches),
        },
    )
