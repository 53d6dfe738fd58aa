"""Sentinel-2 tile geometry from an MGRS tile id (offline, no tiling-grid KML needed).

A Sentinel-2 tile is a 109,800 m square on the 10 m UTM/WGS84 grid of its zone. Its upper-left
corner follows from the MGRS 100 km square (rule verified on all 56 BigEarthNet tiles, see
DOMAIN.md §2): with (E, N) the square's south-west corner,
``ulx = floor(E / 60) * 60`` and ``uly = ceil((N + 100000) / 60) * 60``.

The square's corner comes from the ``mgrs`` package (GeoTrans). Two subtleties are handled here:

* GeoTrans rejects ids made invalid by the Norway/Svalbard zone exceptions (``31V`` columns E–H,
  ``32X``, ``34X``, ``36X``). Their 100 km squares are still geometrically defined (and the
  Sentinel-2 grid is built on plain UTM zones), so we compute them from the zone six zones
  further east, whose column/row lettering is identical (lettering repeats every 6 zones; a
  UTM easting/northing does not depend on the zone number).
* A GeoTrans "Latitude Warning" means the square does not touch the named latitude band
  (e.g. ``33VUU``): that is reported as a :class:`GridError`.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING

import affine
import mgrs as _mgrs
import numpy as np
import pyproj
import shapely
import shapely.affinity
from shapely.geometry import MultiPolygon, Polygon

if TYPE_CHECKING:
    from rasterio.crs import CRS

__all__ = [
    "GridError",
    "TileGrid",
    "tile_grid",
    "TILE_SIZE_PX",
    "RESOLUTION_M",
    "TILE_WIDTH_M",
    "utm_epsg",
]

RESOLUTION_M = 10
TILE_SIZE_PX = 10980
TILE_WIDTH_M = RESOLUTION_M * TILE_SIZE_PX  # 109,800 m
# S2 tile corners sit on a 60 m grid (the coarsest S2 band resolution).
_CORNER_GRID_M = 60
_BANDS = "CDEFGHJKLMNPQRSTUVWX"

_MGRS_RE = re.compile(r"^(?P<zone>\d{1,2})(?P<band>[C-HJ-NP-X])(?P<col>[A-HJ-NP-Z])(?P<row>[A-HJ-NP-V])$")


class GridError(ValueError):
    """Bad input to the tile / patch grid (invalid MGRS id, patch index out of range ...)."""


def utm_epsg(zone: int, north: bool) -> int:
    """EPSG code of WGS 84 / UTM ``zone`` (326zz north, 327zz south)."""
    return (32600 if north else 32700) + zone


def _normalise(mgrs_id: str) -> str:
    if not isinstance(mgrs_id, str):
        raise GridError(f"MGRS tile id must be a string like '33UUP', got {mgrs_id!r}")
    s = mgrs_id.strip().upper()
    if s.startswith("T") and len(s) in (6, 7) and s[1].isdigit():  # ESA's "T33UUP" spelling
        s = s[1:]
    if len(s) == 4 and s[0].isdigit():  # "1CCV" -> "01CCV"
        s = "0" + s
    return s


def _square_sw_corner(tile: str, zone: int, band: str) -> tuple[float, float]:
    """South-west corner (E, N) of the MGRS 100 km square, exact metres."""
    query = tile
    if (band == "X" and zone in (32, 34, 36)) or (band == "V" and zone == 31 and tile[3] > "D"):
        # zone exception (see module docstring): same lettering 6 zones east
        query = f"{zone + 6:02d}{tile[2:]}"
    with warnings.catch_warnings():
        # GeoTrans warns whenever the square's SW corner lies outside the band, which is normal
        # for squares straddling a band edge (33UUP); band membership is checked below instead.
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            # returns the corner + 0.5 m (centre of the 1 m cell at precision 5): floored below
            _, _, e, n = _mgrs.MGRS().MGRSToUTM(query + "0000000000")
        except _mgrs.core.MGRSError as exc:
            raise GridError(
                f"MGRS tile id {tile!r} is not a valid 100 km square for zone {zone} band {band} "
                f"({exc}); expected e.g. '33UUP'"
            ) from None
    e, n = float(math.floor(e)), float(math.floor(n))
    lat_lo, lat_hi = _square_latitude_range(zone, band >= "N", e, n)
    band_lo, band_hi = _band_latitudes(band)
    if lat_hi <= band_lo or lat_lo >= band_hi:
        raise GridError(
            f"MGRS tile id {tile!r}: 100 km square {tile[3:]} spans latitudes "
            f"{lat_lo:.2f}..{lat_hi:.2f}, outside latitude band {band} ({band_lo}..{band_hi}); "
            "expected a square that touches the band"
        )
    return e, n


def _band_latitudes(band: str) -> tuple[float, float]:
    """Latitude limits of an MGRS latitude band (X is 12° tall: 72..84)."""
    i = _BANDS.index(band)
    lo = -80.0 + 8.0 * i
    return lo, (84.0 if band == "X" else lo + 8.0)


def _square_latitude_range(zone: int, north: bool, e: float, n: float) -> tuple[float, float]:
    """Min/max latitude of the 100 km square with SW corner (e, n), edges sampled every 5 km."""
    t = np.linspace(0.0, 100_000.0, 21)
    xs = np.concatenate([e + t, e + t, np.full(21, e), np.full(21, e + 100_000.0)])
    ys = np.concatenate([np.full(21, n), np.full(21, n + 100_000.0), n + t, n + t])
    _, lat = pyproj.Transformer.from_crs(utm_epsg(zone, north), 4326, always_xy=True).transform(
        xs, ys
    )
    return float(np.min(lat)), float(np.max(lat))




@dataclass(frozen=True)
class TileGrid:
    """The 10 m UTM grid of one Sentinel-2 tile.

    ``crs`` is a :class:`rasterio.crs.CRS`; ``epsg`` is the plain integer for tables/JSON.
    """

    mgrs: str
    epsg: int
    ulx: float
    uly: float

    resolution = RESOLUTION_M
    size_px = TILE_SIZE_PX
    width_m = TILE_WIDTH_M

    @property
    def lrx(self) -> float:
        return self.ulx + TILE_WIDTH_M

    @property
    def lry(self) -> float:
        return self.uly - TILE_WIDTH_M

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) in the tile's UTM CRS, rasterio style."""
        return (self.ulx, self.lry, self.lrx, self.uly)

    @property
    def transform(self) -> affine.Affine:
        """Affine transform of the 10 m grid (pixel corner convention)."""
        return affine.Affine(RESOLUTION_M, 0.0, self.ulx, 0.0, -RESOLUTION_M, self.uly)

    @property
    def shape(self) -> tuple[int, int]:
        return (TILE_SIZE_PX, TILE_SIZE_PX)

    @property
    def crs(self) -> CRS:
        from rasterio.crs import CRS

        return CRS.from_epsg(self.epsg)

    @property
    def zone(self) -> int:
        return int(self.mgrs[:2])

    @property
    def north(self) -> bool:
        return self.epsg < 32700

    @property
    def centre(self) -> tuple[float, float]:
        return (self.ulx + TILE_WIDTH_M / 2, self.uly - TILE_WIDTH_M / 2)

    @cached_property
    def _to_wgs84(self) -> pyproj.Transformer:
        return pyproj.Transformer.from_crs(self.epsg, 4326, always_xy=True)

    def utm_ring(self, densify_m: float = 1000) -> np.ndarray:
        """Closed ring (n, 2) of the tile square in UTM, edges sampled every ``densify_m``."""
        if densify_m <= 0:
            raise GridError(f"densify_m must be > 0, got {densify_m}")
        n = max(1, math.ceil(TILE_WIDTH_M / densify_m))
        t = np.linspace(0.0, TILE_WIDTH_M, n + 1)[:-1]
        left, bottom, right, top = self.bounds
        # clockwise from UL: top edge, right edge, bottom edge, left edge
        xs = np.concatenate([left + t, np.full(n, right), right - t, np.full(n, left), [left]])
        ys = np.concatenate([np.full(n, top), top - t, np.full(n, bottom), bottom + t, [top]])
        return np.column_stack([xs, ys])

    def footprint_wgs84(
        self, densify_m: float = 1000, split_antimeridian: bool = True
    ) -> Polygon | MultiPolygon:
        """The tile square in lon/lat (EPSG:4326, x = lon), edges densified every ``densify_m``.

        Antimeridian: longitudes are first unwrapped so the ring is continuous. If it then
        crosses ±180° and ``split_antimeridian`` is true (default), the result is a
        ``MultiPolygon`` of the two parts cut at ±180° (GeoJSON RFC 7946 §3.1.9 style), all
        longitudes within [-180, 180]; otherwise a single ``Polygon`` whose longitudes run past
        ±180°. Tiles not crossing it always give a ``Polygon``.
        """
        ring = self.utm_ring(densify_m)
        lon, lat = self._to_wgs84.transform(ring[:, 0], ring[:, 1])
        lon = np.degrees(np.unwrap(np.radians(lon)))
        poly = Polygon(np.column_stack([lon, lat])).normalize()
        if not split_antimeridian or (lon.min() >= -180.0 and lon.max() <= 180.0):
            return poly
        shift = 360.0 if lon.min() < -180.0 else -360.0
        inside = poly.intersection(shapely.box(-180.0, -90.0, 180.0, 90.0))
        outside = shapely.affinity.translate(
            poly.difference(shapely.box(-180.0, -90.0, 180.0, 90.0)), xoff=shift
        )
        parts = [g for g in (inside, outside) if not g.is_empty]
        return MultiPolygon(parts)

    def to_utm(self, lon, lat):
        """Transform lon/lat (degrees) to this tile's UTM coordinates."""
        return pyproj.Transformer.from_crs(4326, self.epsg, always_xy=True).transform(lon, lat)

    def window_for_bounds(self, left: float, bottom: float, right: float, top: float):
        """Pixel window (rasterio) covering the UTM bounds, snapped outward to whole pixels."""
        from rasterio.windows import Window

        col0 = math.floor((left - self.ulx) / RESOLUTION_M)
        col1 = math.ceil((right - self.ulx) / RESOLUTION_M)
        row0 = math.floor((self.uly - top) / RESOLUTION_M)
        row1 = math.ceil((self.uly - bottom) / RESOLUTION_M)
        return Window(col0, row0, col1 - col0, row1 - row0)


def tile_grid(mgrs: str) -> TileGrid:
    """The :class:`TileGrid` of an MGRS tile id such as ``"33UUP"`` (``"T33UUP"`` accepted).

    Raises :class:`GridError` for malformed ids, zones outside 1..60, or 100 km squares that
    do not exist in the named latitude band.
    """
    return _tile_grid(_normalise(mgrs), mgrs)


@lru_cache(maxsize=4096)  # pure; TileGrid is immutable
def _tile_grid(tile: str, mgrs: str) -> TileGrid:
    m = _MGRS_RE.match(tile)
    if m is None:
        raise GridError(
            f"MGRS tile id {mgrs!r} is malformed; expected zone 01-60, latitude band C-X "
            "(no I/O) and a 2-letter 100 km square, e.g. '33UUP'"
        )
    zone = int(m["zone"])
    if not 1 <= zone <= 60:
        raise GridError(f"MGRS tile id {mgrs!r}: UTM zone {zone} out of range; expected 1..60")
    band = m["band"]
    e, n = _square_sw_corner(tile, zone, band)
    ulx = math.floor(e / _CORNER_GRID_M) * _CORNER_GRID_M
    uly = math.ceil((n + 100_000) / _CORNER_GRID_M) * _CORNER_GRID_M
    return TileGrid(mgrs=tile, epsg=utm_epsg(zone, band >= "N"), ulx=float(ulx), uly=float(uly))
