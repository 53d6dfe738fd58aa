"""Choose the Sentinel-1 products that feed one Sentinel-2 product (a tile at a sensing time).

Two rules, chosen by :class:`SelectionConfig`:

``closest_per_patch`` (default; what the published BigEarthNet-S1 v1.0 did, DOMAIN.md §4)
    Each patch in scope comes from exactly one product: among the products whose *valid*
    footprint contains the whole patch and whose start lies within ``±max_days`` of the S2
    sensing time, the one closest in time. A patch straddling a slice border therefore goes to
    another product that covers it whole, even if that one is farther in time.

``per_orbit`` (the original BigEarthNet-Sen1 creation scripts)
    For every relative orbit, the pass (all slices of one datatake) closest in time within
    ``±max_days``, keeping only the slices that overlap the patches in scope. Patches are served
    by every chosen product that overlaps them (the scripts averaged all passes); a patch is
    covered when the union of the chosen valid footprints contains it whole.

Geometry is done in the tile's UTM CRS: product footprints (lon/lat) are unwrapped around the
zone's central meridian (so footprints crossing the antimeridian or a zone edge work), densified
every 0.01° and transformed with pyproj. The *valid* footprint of a product is its footprint
shrunk by ``footprint_margin_m`` to stay off the invalid GRD borders (border noise, far-range
zero fill, the straight-edge approximation of the 4-corner footprint); slices of the same
datatake are shrunk as one strip, so the seam between consecutive slices is not cut away.

Tie-breaks (deterministic whatever the input order): smaller ``|Δt|``, then the earlier product
(S1 before S2), then the product name; records with the same product name from several
catalogues are merged, preferring the source order ``local, cdse, asf, dhus``, then provider id.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from shapely.geometry.base import BaseGeometry

from ..grid.catalog import TileEntry
from ..grid.patches import PATCH_SIZE_M, check_patch_index
from ..grid.tile import TileGrid
from .errors import ArchiveError, ProductNameError
from .records import SOURCES, Catalog, ProductRecord, parse_polarisations

__all__ = [
    "RULES",
    "SelectionError",
    "SelectionConfig",
    "ChosenProduct",
    "Rejection",
    "SelectionResult",
    "select_products",
    "search_and_select",
    "PRODUCT_COLUMNS",
    "PATCH_COLUMNS",
]

Rule = Literal["closest_per_patch", "per_orbit"]
RULES: tuple[str, ...] = ("closest_per_patch", "per_orbit")

#: Footprint densification step in degrees before transforming to UTM (≈1 km).
DENSIFY_DEG = 0.01
# Gaps up to 2 × this between slices of one datatake are closed before the inward buffer, so
# the 4-corner footprints of consecutive slices make one strip.
_SEAM_CLOSING_M = 250.0
_SECONDS_PER_DAY = 86400.0
#: Containment / overlap tolerance: patch squares are shrunk by this much (metres) before the
#: tests, so an edge that coincides with a patch border up to floating-point round-off (lon/lat
#: round trips, seams of consecutive slices) does not decide the outcome.
TOLERANCE_M = 0.01

#: Columns of :meth:`SelectionResult.to_geodataframe` (plus ``geometry``).
PRODUCT_COLUMNS: tuple[str, ...] = (
    "partition_key", "name", "provider_id", "start", "stop", "mission", "absolute_orbit",
    "relative_orbit", "pass_direction", "delta_t_days", "polarisations", "size", "checksums",
    "download_url", "source", "rule", "n_patches", "patches",
)
#: Columns of :meth:`SelectionResult.patch_table` (plus ``geometry``).
PATCH_COLUMNS: tuple[str, ...] = ("x", "y", "product", "delta_t_days", "covered")


class SelectionError(ArchiveError, ValueError):
    """Bad selection input (configuration, tile entry, records)."""


@dataclass(frozen=True)
class SelectionConfig:
    """How to choose S1 products for an S2 product.

    ``max_days``: keep products whose start is within ± this many days of the S2 sensing time
    (inclusive; BigEarthNet v1.0's largest offset was 5.74 d). ``footprint_margin_m``: inward
    buffer of the product footprint (default 2000 m: the GRD far-range zero fill reaches
    ≈1.3 km and border-noise removal trims up to a few hundred metres more at near/far range and
    at datatake ends). ``polarisations``: a product must hold all of them.
    """

    rule: Rule = "closest_per_patch"
    max_days: float = 6.0
    footprint_margin_m: float = 2000.0
    polarisations: tuple[str, ...] = ("VV", "VH")

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise SelectionError(f"SelectionConfig.rule {self.rule!r}: expected one of {RULES}")
        for name in ("max_days", "footprint_margin_m"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise SelectionError(f"SelectionConfig.{name} {value!r}: expected a finite number >= 0")
        try:
            pols = parse_polarisations(self.polarisations)
        except ValueError as exc:
            raise SelectionError(f"SelectionConfig.polarisations: {exc}") from None
        object.__setattr__(self, "polarisations", pols)
        object.__setattr__(self, "max_days", float(self.max_days))
        object.__setattr__(self, "footprint_margin_m", float(self.footprint_margin_m))

    def to_dict(self) -> dict:
        """Plain values, for run metadata and data versions."""
        return {
            "rule": self.rule,
            "max_days": self.max_days,
            "footprint_margin_m": self.footprint_margin_m,
            "polarisations": list(self.polarisations),
        }

    @property
    def polarisation_query(self) -> str:
        """The polarisations as catalogues take them, e.g. ``"VV&VH"``."""
        return "&".join(self.polarisations)

    def search_window(self, sensing_time: datetime) -> tuple[datetime, datetime]:
        """``(sensing − max_days, sensing + max_days)`` in UTC."""
        t = _utc(sensing_time)
        d = timedelta(days=self.max_days)
        return t - d, t + d


@dataclass(frozen=True)
class ChosenProduct:
    """A chosen product: the record, its signed time offset, and the patches it serves.

    ``delta_t_days`` = (S1 start − S2 sensing) in days (negative: S1 before S2).
    ``patches``: (x, y) in y-major order. For ``closest_per_patch`` the patches assigned to this
    product; for ``per_orbit`` the patches in scope its valid footprint overlaps.
    """

    record: ProductRecord
    delta_t_days: float
    patches: tuple[tuple[int, int], ...]

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def relative_orbit(self) -> int:
        return int(self.record.relative_orbit)

    @property
    def pass_direction(self) -> str:
        return self.record.pass_direction


@dataclass(frozen=True)
class Rejection:
    """A record left out before the rule ran, and why."""

    name: str
    source: str
    reason: str


@dataclass(frozen=True)
class SelectionResult:
    """What :func:`select_products` chose for one S2 product.

    ``patch_product`` (``closest_per_patch`` only; empty for ``per_orbit``): covered (x, y) →
    product name. ``patch_sources``: (x, y) → names of all chosen products serving the patch
    (one for ``closest_per_patch``). ``uncovered``: patches in scope no chosen product (union, for
    ``per_orbit``) contains whole. Everything patch-indexed is in y-major order.
    """

    partition_key: str
    mgrs: str
    epsg: int
    sensing_time: datetime
    config: SelectionConfig
    products: tuple[ChosenProduct, ...]
    patches_in_scope: tuple[tuple[int, int], ...]
    patch_product: Mapping[tuple[int, int], str]
    patch_sources: Mapping[tuple[int, int], tuple[str, ...]]
    uncovered: tuple[tuple[int, int], ...]
    rejected: tuple[Rejection, ...] = ()
    n_candidates: int = 0

    @property
    def rule(self) -> str:
        return self.config.rule

    @property
    def product_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.products)

    @property
    def n_covered(self) -> int:
        return len(self.patches_in_scope) - len(self.uncovered)

    @property
    def coverage_fraction(self) -> float:
        """Covered patches / patches in scope (1.0 for an empty scope)."""
        n = len(self.patches_in_scope)
        return 1.0 if n == 0 else self.n_covered / n

    def summary(self) -> dict:
        """Plain-value figures for asset metadata / checks."""
        return {
            "partition_key": self.partition_key,
            **self.config.to_dict(),
            "n_products": len(self.products),
            "products": list(self.product_names),
            "n_patches_in_scope": len(self.patches_in_scope),
            "n_uncovered": len(self.uncovered),
            "coverage_fraction": self.coverage_fraction,
            "max_abs_delta_t_days": max((abs(p.delta_t_days) for p in self.products), default=None),
            "n_candidates": self.n_candidates,
            "n_rejected": len(self.rejected),
        }

    def to_geodataframe(self) -> gpd.GeoDataFrame:
        """One row per chosen product (columns :data:`PRODUCT_COLUMNS`), geometry = the
        catalogue footprint in WGS84 (EPSG:4326), ``checksums`` as JSON text, ``patches`` as
        ``"x_y;x_y;…"``, ``polarisations`` as ``"VV&VH"``."""
        rows = []
        for p in self.products:
            r = p.record
            rows.append(
                {
                    "partition_key": self.partition_key,
                    "name": r.name,
                    "provider_id": r.provider_id,
                    "start": r.start,
                    "stop": r.stop,
                    "mission": r.mission,
                    "absolute_orbit": int(r.absolute_orbit),
                    "relative_orbit": int(r.relative_orbit),
                    "pass_direction": r.pass_direction,
                    "delta_t_days": float(p.delta_t_days),
                    "polarisations": "&".join(r.polarisations),
                    "size": r.size,
                    "checksums": json.dumps(dict(r.checksums), sort_keys=True),
                    "download_url": r.download_url,
                    "source": r.source,
                    "rule": self.rule,
                    "n_patches": len(p.patches),
                    "patches": ";".join(f"{x}_{y}" for x, y in p.patches),
                }
            )
        df = pd.DataFrame(rows, columns=list(PRODUCT_COLUMNS))
        df["start"] = pd.to_datetime(df["start"], utc=True)
        df["stop"] = pd.to_datetime(df["stop"], utc=True)
        for col in ("absolute_orbit", "relative_orbit", "n_patches"):
            df[col] = df[col].astype("int64")
        df["size"] = df["size"].astype("Int64")
        df["delta_t_days"] = df["delta_t_days"].astype("float64")
        geoms = [p.record.footprint for p in self.products]
        return gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(geoms, crs="EPSG:4326"), crs="EPSG:4326")

    def patch_table(self, wgs84: bool = False) -> gpd.GeoDataFrame:
        """Patches in scope with their product(s): columns :data:`PATCH_COLUMNS`.

        ``closest_per_patch``: one row per patch (``product`` None and ``delta_t_days`` NaN when
        uncovered). ``per_orbit``: one row per (patch, serving product), plus one row with
        ``product`` None for patches no chosen product overlaps. ``covered``: the patch is
        contained whole (in its product's valid footprint, or in the union for ``per_orbit``).
        Geometry: the patch square in the tile's UTM CRS (EPSG ``self.epsg``), or EPSG:4326
        with ``wgs84=True``.
        """
        dt = {p.name: p.delta_t_days for p in self.products}
        uncovered = set(self.uncovered)
        rows: list[tuple] = []
        for x, y in self.patches_in_scope:
            names = self.patch_sources.get((x, y), ())
            if not names:
                rows.append((x, y, None, math.nan, (x, y) not in uncovered))
            for n in names:
                rows.append((x, y, n, dt[n], (x, y) not in uncovered))
        df = pd.DataFrame(rows, columns=list(PATCH_COLUMNS))
        df["x"] = df["x"].astype("int16")
        df["y"] = df["y"].astype("int16")
        df["delta_t_days"] = df["delta_t_days"].astype("float64")
        df["covered"] = df["covered"].astype(bool)
        df["product"] = df["product"].astype(object)
        boxes = _patch_boxes(self._tile_ulx_uly, df[["x", "y"]].to_numpy())
        gdf = gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(boxes, crs=self.epsg), crs=self.epsg)
        return gdf.to_crs(4326) if wgs84 else gdf

    @cached_property
    def _tile_ulx_uly(self) -> tuple[float, float]:
        from ..grid.tile import tile_grid

        t = tile_grid(self.mgrs)
        return (t.ulx, t.uly)


# -- helpers -----------------------------------------------------------------------------------
def _utc(t: datetime) -> datetime:
    if not isinstance(t, datetime):
        raise SelectionError(f"sensing time must be a datetime, got {type(t).__name__}")
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)


def _patch_boxes(ulx_uly: tuple[float, float], xy: np.ndarray, shrink: float = 0.0) -> np.ndarray:
    ulx, uly = ulx_uly
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    left = ulx + PATCH_SIZE_M * xy[:, 0]
    top = uly - PATCH_SIZE_M * xy[:, 1]
    return shapely.box(left + shrink, top - PATCH_SIZE_M + shrink, left + PATCH_SIZE_M - shrink, top - shrink)


def _central_meridian(tile: TileGrid) -> float:
    return tile.zone * 6.0 - 183.0


def _unwrap_lon(geom: BaseGeometry, cm: float) -> BaseGeometry:
    """Longitudes moved into (cm − 180, cm + 180]; parts split at ±180° are joined again."""

    def shift(xy: np.ndarray) -> np.ndarray:
        out = xy.copy()
        out[:, 0] = cm + ((xy[:, 0] - cm + 180.0) % 360.0 - 180.0)
        return out

    moved = shapely.transform(geom, shift)
    parts = shapely.get_parts(moved)
    if len(parts) > 1:
        return shapely.union_all(shapely.make_valid(parts))
    return moved


def _product_key(r: ProductRecord) -> tuple:
    return (SOURCES.index(r.source) if r.source in SOURCES else len(SOURCES), str(r.provider_id))


def _order_key(delta_s: float, name: str) -> tuple:
    # |Δt| first; equal |Δt|: the earlier product (negative Δt); then the name
    return (abs(delta_s), delta_s, name)


@dataclass
class _Candidate:
    record: ProductRecord
    delta_s: float  # S1 start − S2 sensing, seconds
    datatake: tuple[str, str]  # (mission, datatake id)
    footprint_utm: BaseGeometry
    valid_utm: BaseGeometry | None = None

    @property
    def key(self) -> tuple:
        return _order_key(self.delta_s, self.record.name)


def _scope(entry: TileEntry) -> tuple[tuple[int, int], ...]:
    patches = entry.patches
    for xy in patches:
        try:
            x, y = xy
            check_patch_index(x, y)
        except (TypeError, ValueError) as exc:
            raise SelectionError(f"{entry.partition_key}: bad patch in scope {xy!r} ({exc})") from None
    return tuple(sorted({(int(x), int(y)) for x, y in patches}, key=lambda p: (p[1], p[0])))


def _filter(
    records: Iterable[ProductRecord], sensing: datetime, config: SelectionConfig, tile: TileGrid
) -> tuple[list[_Candidate], list[Rejection]]:
    """Apply the product-level filters; return candidates (with UTM footprints) and rejections."""
    rejected: list[Rejection] = []
    by_name: dict[str, ProductRecord] = {}
    for r in records:
        if not isinstance(r, ProductRecord):
            raise SelectionError(f"expected ProductRecord values, got {type(r).__name__}")
        other = by_name.get(r.name)
        if other is None or _product_key(r) < _product_key(other):
            if other is not None:
                rejected.append(Rejection(other.name, other.source, f"duplicate of the {r.source} record"))
            by_name[r.name] = r
        else:
            rejected.append(Rejection(r.name, r.source, f"duplicate of the {other.source} record"))

    cm = _central_meridian(tile)
    tile_ll = _unwrap_lon(tile.footprint_wgs84(split_antimeridian=False), cm)
    shapely.prepare(tile_ll)
    to_utm = pyproj.Transformer.from_crs(4326, tile.epsg, always_xy=True)
    max_s = config.max_days * _SECONDS_PER_DAY
    wanted = set(config.polarisations)
    out: list[_Candidate] = []
    for name in sorted(by_name):
        r = by_name[name]

        def reject(reason: str) -> None:
            rejected.append(Rejection(r.name, r.source, reason))

        try:
            parsed = r.product_name
        except ProductNameError as exc:  # pragma: no cover - ProductRecord validates names
            reject(str(exc))
            continue
        if parsed.cog:
            reject("_COG conversion, not an original product")
            continue
        if not parsed.is_iw_grdh or parsed.level != 1 or parsed.product_class != "S":
            reject(f"{parsed.mode} {parsed.product_type}{parsed.resolution} level {parsed.level} "
                   f"class {parsed.product_class}: not an IW GRDH level-1 standard product")
            continue
        missing = sorted(wanted - set(r.polarisations))
        if missing:
            reject(f"lacks polarisation(s) {'&'.join(missing)} (has {'&'.join(r.polarisations) or 'none'})")
            continue
        delta_s = (r.start - sensing).total_seconds()
        if abs(delta_s) > max_s:
            reject(f"start is {delta_s / _SECONDS_PER_DAY:+.2f} d from the S2 sensing, beyond max_days={config.max_days:g}")
            continue
        fp = r.footprint
        if fp is None or fp.is_empty or fp.geom_type not in ("Polygon", "MultiPolygon"):
            reject(f"footprint is not a polygon ({None if fp is None else fp.geom_type})")
            continue
        fp_ll = _unwrap_lon(shapely.make_valid(fp), cm)
        if not tile_ll.intersects(fp_ll):
            reject(f"footprint does not intersect tile {tile.mgrs}")
            continue
        fp_utm = shapely.transform(
            shapely.segmentize(fp_ll, DENSIFY_DEG),
            lambda xy: np.column_stack(to_utm.transform(xy[:, 0], xy[:, 1])),
        )
        if not np.all(np.isfinite(shapely.get_coordinates(fp_utm))):
            reject(f"footprint cannot be transformed to EPSG:{tile.epsg}")
            continue
        out.append(_Candidate(r, delta_s, (parsed.mission, parsed.datatake_id), shapely.make_valid(fp_utm)))
    return out, rejected


def _valid_footprints(cands: list[_Candidate], margin_m: float) -> None:
    """Shrink footprints by ``margin_m``, slices of one datatake together (see module doc)."""
    groups: dict[tuple[str, str], list[_Candidate]] = defaultdict(list)
    for c in cands:
        groups[c.datatake].append(c)
    for members in groups.values():
        if margin_m == 0:
            for c in members:
                c.valid_utm = c.footprint_utm
            continue
        if len(members) == 1:
            strip = members[0].footprint_utm.buffer(-margin_m, join_style="mitre")
        else:
            grown = [c.footprint_utm.buffer(_SEAM_CLOSING_M, join_style="mitre") for c in members]
            strip = shapely.union_all(grown).buffer(-(_SEAM_CLOSING_M + margin_m), join_style="mitre")
        for c in members:
            c.valid_utm = shapely.intersection(c.footprint_utm, strip)
    for c in cands:
        shapely.prepare(c.valid_utm)


def _overlaps(geom: BaseGeometry, boxes: np.ndarray) -> np.ndarray:
    """Boxes sharing area with ``geom`` (touching edges only does not count; boxes are already
    shrunk by TOLERANCE_M, so an overlap thinner than that does not count either)."""
    return shapely.intersects(geom, boxes) & ~shapely.touches(geom, boxes)


# -- the rules -----------------------------------------------------------------------------------
def _closest_per_patch(cands: list[_Candidate], scope, boxes):
    assigned: dict[tuple[int, int], _Candidate] = {}
    free = np.ones(len(scope), dtype=bool)
    for c in sorted(cands, key=lambda c: c.key):
        if not free.any():
            break
        hit = free & shapely.covers(c.valid_utm, boxes)
        for i in np.flatnonzero(hit):
            assigned[scope[i]] = c
        free &= ~hit
    served: dict[str, list] = defaultdict(list)
    for xy in scope:
        if xy in assigned:
            served[assigned[xy].record.name].append(xy)
    chosen = [c for c in cands if c.record.name in served]
    products = [
        ChosenProduct(c.record, c.delta_s / _SECONDS_PER_DAY, tuple(served[c.record.name])) for c in chosen
    ]
    patch_product = {xy: assigned[xy].record.name for xy in scope if xy in assigned}
    patch_sources = {xy: (n,) for xy, n in patch_product.items()}
    uncovered = tuple(xy for xy in scope if xy not in assigned)
    return products, patch_product, patch_sources, uncovered


def _per_orbit(cands: list[_Candidate], scope, boxes):
    # a pass = the slices of one datatake that overlap the patches in scope
    passes: dict[tuple[str, str], list[tuple[_Candidate, np.ndarray]]] = defaultdict(list)
    for c in cands:
        ov = _overlaps(c.valid_utm, boxes)
        if ov.any():
            passes[c.datatake].append((c, ov))
    best: dict[int, tuple[tuple, tuple[str, str]]] = {}
    for dtk, members in passes.items():
        members.sort(key=lambda m: (m[0].record.start, m[0].record.name))
        orbits = [m[0].record.relative_orbit for m in members]
        orbit = max(set(orbits), key=lambda o: (orbits.count(o), -o))
        closest = min(members, key=lambda m: m[0].key)[0]
        key = (*_order_key(closest.delta_s, closest.record.name), dtk)
        if orbit not in best or key < best[orbit][0]:
            best[orbit] = (key, dtk)
    chosen = sorted(
        (m for _, dtk in best.values() for m in passes[dtk]),
        key=lambda m: (m[0].record.start, m[0].record.name),
    )
    products = []
    sources: dict[tuple[int, int], list[str]] = defaultdict(list)
    for c, ov in chosen:
        pts = tuple(scope[i] for i in np.flatnonzero(ov))
        products.append(ChosenProduct(c.record, c.delta_s / _SECONDS_PER_DAY, pts))
        for xy in pts:
            sources[xy].append(c.record.name)
    if chosen:
        union = shapely.union_all([c.valid_utm for c, _ in chosen])
        covered = shapely.covers(union, boxes)
    else:
        covered = np.zeros(len(scope), dtype=bool)
    uncovered = tuple(xy for xy, ok in zip(scope, covered) if not ok)
    patch_sources = {xy: tuple(sorted(sources[xy])) for xy in scope if xy in sources}
    return products, {}, patch_sources, uncovered


def select_products(
    records: Iterable[ProductRecord],
    entry: TileEntry,
    config: SelectionConfig | None = None,
) -> SelectionResult:
    """Choose S1 products for one S2 product (``entry``) from catalogue ``records`` by ``config.rule``.

    Records are first filtered (logged in ``result.rejected``): duplicates by product name,
    ``_COG`` conversions, anything but IW GRDH level-1 standard products, products lacking one of
    ``config.polarisations``, starts beyond ``±config.max_days``, footprints not intersecting the
    tile. The result does not depend on the order of ``records``.
    """
    config = config or SelectionConfig()
    if not isinstance(entry, TileEntry):
        raise SelectionError(f"entry must be a grid.catalog.TileEntry, got {type(entry).__name__}")
    sensing = _utc(entry.sensing_time)
    tile = entry.tile
    scope = _scope(entry)
    cands, rejected = _filter(records, sensing, config, tile)
    _valid_footprints(cands, config.footprint_margin_m)
    boxes = _patch_boxes((tile.ulx, tile.uly), np.array(scope, dtype=np.float64), TOLERANCE_M)
    rule = _closest_per_patch if config.rule == "closest_per_patch" else _per_orbit
    products, patch_product, patch_sources, uncovered = rule(cands, scope, boxes)
    products = sorted(products, key=lambda p: (p.record.start, p.record.name))
    return SelectionResult(
        partition_key=entry.partition_key,
        mgrs=tile.mgrs,
        epsg=tile.epsg,
        sensing_time=sensing,
        config=config,
        products=tuple(products),
        patches_in_scope=scope,
        patch_product=patch_product,
        patch_sources=patch_sources,
        uncovered=uncovered,
        rejected=tuple(sorted(rejected, key=lambda j: (j.name, j.source, j.reason))),
        n_candidates=len(cands),
    )


def search_and_select(
    catalogs: Catalog | Sequence[Catalog],
    entry: TileEntry,
    config: SelectionConfig | None = None,
) -> SelectionResult:
    """Search every catalogue with the tile footprint (WGS84, split at the antimeridian) and
    ``config.search_window(entry.sensing_time)``, then :func:`select_products` on all records."""
    config = config or SelectionConfig()
    if isinstance(catalogs, Catalog):
        catalogs = [catalogs]
    start, end = config.search_window(entry.sensing_time)
    footprint = entry.tile.footprint_wgs84()
    records: list[ProductRecord] = []
    for cat in catalogs:
        records.extend(cat.search(footprint, start, end, polarisation=config.polarisation_query))
    return select_products(records, entry, config)
