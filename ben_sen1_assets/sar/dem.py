"""DEM sources read onto a target grid (bilinear), behind one interface.

- :class:`LocalDem`: a GeoTIFF/VRT (any CRS, any fsspec-free GDAL path).
- :class:`Glo30Dem`: Copernicus GLO-30 DSM COG tiles (EGM2008 heights), fetched anonymously from
  the public bucket ``s3://copernicus-dem-30m/`` (or HTTPS, or any endpoint) into a local store
  folder once, then read from there.
- :class:`ConstantDem`: one height everywhere, only when asked for explicitly.

Every source states the vertical datum of its heights (``"EGM96"``, ``"EGM2008"`` or
``"ellipsoid"``); converting to ellipsoidal heights is :mod:`.geoid`'s job (done inside
:func:`.geocoding.geocode_grid`). DEM gaps (nodata, or target pixels outside the DEM) are an
error unless a fill policy says otherwise: ``fill="nearest"`` or ``fill="constant:<metres>"``.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import fsspec
import numpy as np
import pyproj
import rasterio
from affine import Affine
from rasterio.crs import CRS as RioCRS
from rasterio.enums import Resampling
from rasterio.io import MemoryFile
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from .errors import SafeError
from .geocoding import RasterGrid
from .geoid import normalise_vertical_datum

GLO30_BUCKET_URL = "s3://copernicus-dem-30m"
GLO30_HTTPS_URL = "https://copernicus-dem-30m.s3.amazonaws.com"


class DemError(SafeError):
    """A DEM cannot be read as asked."""


class DemGapError(DemError):
    """Target pixels have no DEM height and the fill policy is ``"error"``."""


class DemTileMissingError(DemError):
    """A GLO-30 tile does not exist (open sea) and the sea policy is ``"error"``."""


@dataclass(frozen=True)
class DemHeights:
    """Heights (float32, the target grid's shape) above ``vertical_datum`` on ``transform``/``crs``."""

    heights: np.ndarray
    transform: Affine
    crs: pyproj.CRS
    vertical_datum: str
    source: str


def _parse_fill(fill: str) -> tuple[str, float]:
    if fill in ("error", "nearest"):
        return fill, math.nan
    for kind in ("constant", "nearest_else_constant"):
        if isinstance(fill, str) and fill.startswith(f"{kind}:"):
            try:
                return kind, float(fill.split(":", 1)[1])
            except ValueError:
                pass
    raise DemError(
        f"DEM fill policy {fill!r}: expected 'error', 'nearest', 'constant:<metres>' or "
        "'nearest_else_constant:<metres>' (nearest DEM height, or the constant where there is none)"
    )


def fill_gaps(heights: np.ndarray, fill: str, source: str) -> np.ndarray:
    """Apply a gap policy to NaN heights (in place when possible); returns the array."""
    kind, value = _parse_fill(fill)
    gaps = ~np.isfinite(heights)
    n = int(gaps.sum())
    if n == 0:
        return heights
    if kind == "error":
        raise DemGapError(
            f"{source}: {n} of {heights.size} target pixels have no DEM height (nodata, or outside "
            f"the DEM); choose a fill policy: fill='nearest' or fill='constant:<metres>'"
        )
    if kind == "constant":
        heights[gaps] = value
        return heights
    if n == heights.size:
        if kind == "nearest_else_constant":
            heights[gaps] = value
            return heights
        raise DemGapError(f"{source}: no target pixel has a DEM height, fill='nearest' has nothing to copy")
    from scipy import ndimage

    idx = ndimage.distance_transform_edt(gaps, return_distances=False, return_indices=True)
    return heights[tuple(idx)]


def _horizontal_crs(crs) -> RioCRS:
    """The horizontal part of a (possibly compound) CRS, as a rasterio CRS."""
    p = pyproj.CRS.from_user_input(crs.to_wkt() if hasattr(crs, "to_wkt") else crs)
    if p.is_compound:
        p = p.sub_crs_list[0]
    elif p.is_geographic and len(p.axis_info) == 3:
        p = p.to_2d()
    return RioCRS.from_wkt(p.to_wkt())


def vertical_datum_of_crs(crs) -> str | None:
    """``"EGM96"``/``"EGM2008"``/``"ellipsoid"`` if the CRS says so (compound or 3-D), else None."""
    p = pyproj.CRS.from_user_input(crs.to_wkt() if hasattr(crs, "to_wkt") else crs)
    if p.is_compound:
        vert = p.sub_crs_list[1]
        name = (vert.name or "").upper().replace(" ", "")
        code = vert.to_epsg()
        if code == 5773 or "EGM96" in name:
            return "EGM96"
        if code == 3855 or "EGM2008" in name or "EGM08" in name:
            return "EGM2008"
        return None
    if p.is_geographic and len(p.axis_info) == 3:
        return "ellipsoid"
    return None


def warp_to_grid(dataset: rasterio.DatasetReader, grid: RasterGrid, resampling: Resampling = Resampling.bilinear) -> np.ndarray:
    """Band 1 of ``dataset`` resampled onto ``grid`` (float32, NaN where there is no data)."""
    h, w = grid.shape
    with WarpedVRT(
        dataset,
        src_crs=_horizontal_crs(dataset.crs),
        crs=_horizontal_crs(grid.crs),
        transform=grid.transform,
        width=w,
        height=h,
        resampling=resampling,
        src_nodata=dataset.nodata,
        nodata=np.nan,
        # GDAL's default approximates the transformation to 0.125 source px (≈4 m on a 30 m DEM,
        # up to ~1 m of height error on slopes); 0.01 px costs little (rasterio refuses 0 here).
        tolerance=0.01,
        dtype="float32",
        warp_extras={"NUM_THREADS": "ALL_CPUS", "INIT_DEST": "NO_DATA"},
    ) as vrt:
        return vrt.read(1, out_dtype="float32", masked=False)


class DemSource(ABC):
    """A DEM that can be read onto any target grid."""

    #: vertical datum of the heights this source returns
    vertical_datum: str
    #: gap policy: ``"error"``, ``"nearest"`` or ``"constant:<metres>"``
    fill: str = "error"

    @property
    @abstractmethod
    def name(self) -> str:
        """Short description for messages and metadata."""

    @abstractmethod
    def _read_raw(self, grid: RasterGrid) -> np.ndarray:
        """float32 heights on ``grid`` with NaN gaps (no fill policy applied)."""

    def read(self, grid, window: Window | None = None) -> DemHeights:
        """Heights (float32) on ``grid`` (or ``window`` of it), bilinear, gaps per ``fill``."""
        grid = RasterGrid.of(grid)
        if window is not None:
            grid = grid.window(window)
        heights = fill_gaps(self._read_raw(grid), self.fill, self.name)
        return DemHeights(heights, grid.transform, grid.crs, self.vertical_datum, self.name)

    def read_grown(self, grid, window: Window, halo_rows: int, halo_cols: int) -> tuple[np.ndarray, np.ndarray, str]:
        """Heights (float32) on ``window`` of ``grid`` grown by ``halo_rows``/``halo_cols`` on
        every side (the grown grid may reach past ``grid``'s edges), the bool mask of the heights
        the gap policy filled, and the vertical datum.

        The window's own gaps follow ``fill`` (``"error"`` raises :class:`DemGapError`). The
        halo's gaps are filled by the policy too, or stay NaN under ``"error"`` (as does a halo
        reaching a missing GLO-30 tile): terrain outside the window only shades or folds onto
        it, so a missing height there means no contribution, not a failed run."""
        grid = RasterGrid.of(grid)
        inner_grid = grid.window(window)  # validates the window
        h, w = inner_grid.shape
        hr, hc = int(halo_rows), int(halo_cols)
        grown = RasterGrid(grid.crs, inner_grid.transform @ Affine.translation(-hc, -hr), (h + 2 * hr, w + 2 * hc))
        try:
            raw = self._read_raw(grown)
        except DemTileMissingError:
            raw = np.full(grown.shape, np.nan, np.float32)
            raw[hr : hr + h, hc : hc + w] = self._read_raw(inner_grid)
        gaps = ~np.isfinite(raw)
        if _parse_fill(self.fill)[0] == "error":
            n = int(gaps[hr : hr + h, hc : hc + w].sum())
            if n:
                fill_gaps(raw[hr : hr + h, hc : hc + w].copy(), self.fill, self.name)  # raises, naming the gaps
            return raw, np.zeros(raw.shape, np.bool_), self.vertical_datum
        return fill_gaps(raw, self.fill, self.name), gaps, self.vertical_datum


class LocalDem(DemSource):
    """A local (or GDAL-readable) GeoTIFF/VRT DEM in any CRS.

    ``vertical_datum``: taken from the file's CRS when it is compound (e.g. EPSG:9707 = WGS84 +
    EGM96) or 3-D; otherwise it must be given.
    """

    def __init__(self, path: str | os.PathLike, vertical_datum: str | None = None, fill: str = "error"):
        self.path = str(path)
        _parse_fill(fill)
        self.fill = fill
        try:
            with rasterio.open(self.path) as ds:
                crs = ds.crs
        except rasterio.errors.RasterioIOError as exc:
            raise DemError(f"{self.path}: cannot open the DEM ({exc})") from exc
        if crs is None:
            raise DemError(f"{self.path}: the DEM has no CRS")
        from_crs = vertical_datum_of_crs(crs)
        if vertical_datum is None:
            if from_crs is None:
                raise DemError(
                    f"{self.path}: the CRS ({crs}) does not state the height datum; pass "
                    f"vertical_datum='EGM96' (SRTM), 'EGM2008' (Copernicus) or 'ellipsoid'"
                )
            vertical_datum = from_crs
        self.vertical_datum = normalise_vertical_datum(vertical_datum)

    @property
    def name(self) -> str:
        return f"DEM {Path(self.path).name}"  # a file name: outputs record no machine path

    def _read_raw(self, grid: RasterGrid) -> np.ndarray:
        with rasterio.open(self.path) as ds:
            return warp_to_grid(ds, grid)


class ConstantDem(DemSource):
    """The same height everywhere (explicit choice only; e.g. open sea or a flat test)."""

    def __init__(self, height: float, vertical_datum: str = "ellipsoid"):
        if not math.isfinite(float(height)):
            raise DemError(f"constant DEM height must be finite, got {height!r}")
        self.height = float(height)
        self.vertical_datum = normalise_vertical_datum(vertical_datum)

    @property
    def name(self) -> str:
        return f"constant height {self.height} m ({self.vertical_datum})"

    def _read_raw(self, grid: RasterGrid) -> np.ndarray:
        return np.full(grid.shape, self.height, dtype=np.float32)


def glo30_tile_name(lat: int, lon: int) -> str:
    """GLO-30 tile name of the 1°×1° cell whose south-west corner is (lat, lon)."""
    ns = "N" if lat >= 0 else "S"
    ew = "E" if lon >= 0 else "W"
    return f"Copernicus_DSM_COG_10_{ns}{abs(lat):02d}_00_{ew}{abs(lon):03d}_00_DEM"


def grid_lonlat_bounds(grid: RasterGrid, densify: int = 21) -> tuple[float, float, float, float]:
    """(west, south, east, north) degrees of the grid's outer edge (densified)."""
    h, w = grid.shape
    t = grid.transform
    s = np.linspace(0.0, 1.0, densify)
    cols = np.concatenate([s * w, np.full(densify, w), s[::-1] * w, np.zeros(densify)])
    rows = np.concatenate([np.zeros(densify), s * h, np.full(densify, h), s[::-1] * h])
    x = t.a * cols + t.b * rows + t.c
    y = t.d * cols + t.e * rows + t.f
    lon, lat = pyproj.Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True).transform(x, y)
    return float(np.min(lon)), float(np.min(lat)), float(np.max(lon)), float(np.max(lat))


def glo30_tiles_for(bounds: tuple[float, float, float, float]) -> list[tuple[int, int, str]]:
    """(lat, lon, name) of the GLO-30 tiles covering (west, south, east, north) degrees.

    Bounds crossing the antimeridian are not supported.
    """
    west, south, east, north = bounds
    eps = 1e-9  # a bound exactly on a degree line does not pull in the next tile
    out = []
    for lat in range(math.floor(south), math.floor(north - eps) + 1):
        for lon in range(math.floor(west), math.floor(east - eps) + 1):
            out.append((lat, lon, glo30_tile_name(lat, lon)))
    return out


class Glo30Dem(DemSource):
    """Copernicus GLO-30 DSM (heights above EGM2008), tiles cached in a local ``store`` folder.

    ``url``: base of the tile tree, ``s3://copernicus-dem-30m`` (default, anonymous) or
    ``https://copernicus-dem-30m.s3.amazonaws.com`` or a mirror. ``storage_options`` go to fsspec
    (e.g. ``{"anon": True, "client_kwargs": {"endpoint_url": ...}}`` for another S3 endpoint).
    ``sea``: what a missing tile means — ``"error"`` (default) or ``"sea_level"`` (height 0:
    GLO-30 has no tile over open sea).
    """

    vertical_datum = "EGM2008"

    def __init__(
        self,
        store: str | os.PathLike,
        url: str = GLO30_BUCKET_URL,
        storage_options: dict | None = None,
        sea: str = "error",
        fill: str = "error",
    ):
        if sea not in ("error", "sea_level"):
            raise DemError(f"GLO-30 sea policy {sea!r}: expected 'error' or 'sea_level'")
        _parse_fill(fill)
        self.store = Path(store)
        self.url = url.rstrip("/")
        if storage_options is None:
            storage_options = {"anon": True} if self.url.startswith("s3://") else {}
        self.storage_options = storage_options
        self.sea = sea
        self.fill = fill

    @property
    def name(self) -> str:
        return f"Copernicus GLO-30 ({self.url})"

    def tile_path(self, name: str) -> Path | None:
        """Local path of tile ``name``, downloading it into the store once; None if absent remotely."""
        local = self.store / f"{name}.tif"
        if local.exists():
            return local
        # remembered per source URL (a wrong URL must not poison the store for the right one)
        absent = self.store / f"{name}.absent-{hashlib.sha1(self.url.encode()).hexdigest()[:10]}"
        if absent.exists():
            return None
        self.store.mkdir(parents=True, exist_ok=True)
        remote = f"{self.url}/{name}/{name}.tif"
        fs, path = fsspec.core.url_to_fs(remote, **self.storage_options)
        fd, tmp = tempfile.mkstemp(dir=self.store, prefix=f".{name}.", suffix=".part")
        os.close(fd)
        try:
            fs.get_file(path, tmp)
        except FileNotFoundError:
            os.unlink(tmp)
            absent.touch()  # remembered: no tile there (open sea)
            return None
        except BaseException:
            os.unlink(tmp)
            raise
        os.replace(tmp, local)  # atomic: never a half-written tile at the final path
        return local

    def _read_raw(self, grid: RasterGrid) -> np.ndarray:
        out = np.full(grid.shape, np.nan, dtype=np.float32)
        for lat, lon, name in glo30_tiles_for(grid_lonlat_bounds(grid)):
            path = self.tile_path(name)
            if path is None:
                if self.sea == "error":
                    raise DemTileMissingError(
                        f"{self.name}: tile {name} does not exist (open sea?); pass sea='sea_level' "
                        f"to use height 0 there"
                    )
                part = _sea_level_tile(lat, lon, grid)
            else:
                try:
                    with rasterio.open(path) as ds:
                        part = warp_to_grid(ds, grid)
                except rasterio.errors.RasterioIOError as exc:
                    raise DemError(f"{self.name}: cached tile {path} is unreadable ({exc}); delete it") from exc
            take = np.isfinite(part) & ~np.isfinite(out)
            out[take] = part[take]
        return out


def _sea_level_tile(lat: int, lon: int, grid: RasterGrid) -> np.ndarray:
    """Height 0 on the part of ``grid`` inside the 1° cell (lat, lon)."""
    profile = dict(driver="GTiff", width=2, height=2, count=1, dtype="float32",
                   crs="EPSG:4326", transform=Affine(0.5, 0, lon, 0, -0.5, lat + 1), nodata=np.nan)
    with MemoryFile() as mem:
        with mem.open(**profile) as ds:
            ds.write(np.zeros((1, 2, 2), np.float32))
        with mem.open() as ds:
            return warp_to_grid(ds, grid, Resampling.nearest)
