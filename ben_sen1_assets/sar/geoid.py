"""Geoid heights → ellipsoidal heights with PROJ's geoid grids (through pyproj).

DEMs give heights above a geoid (SRTM: EGM96, Copernicus GLO-30: EGM2008); range-Doppler
geocoding needs heights above the WGS84 ellipsoid, h = H + N(lon, lat). PROJ computes the
undulation N from a grid file (``egm96_15.gtx`` / ``us_nga_egm96_15.tif``,
``egm08_25.gtx`` / ``us_nga_egm08_25.tif``). When the grid is missing PROJ silently falls back to
a "ballpark" transformation that leaves heights unchanged (≈ 50 m error, 5 GRD pixels): this
module refuses to do that and raises :class:`GeoidGridMissingError` with installation hints.

Debian's ``proj-data`` package installs ``/usr/share/proj/egm96_15.gtx`` (EGM96 only). pyproj's
wheel has its own PROJ data folder, so that folder is appended to *pyproj's* search path only
(setting ``PROJ_DATA`` globally breaks rasterio's own PROJ).
"""

from __future__ import annotations

import functools
import os
import warnings
from typing import Literal

import numpy as np
import pyproj
import pyproj.datadir
from pyproj.transformer import TransformerGroup

from .errors import SafeError

VerticalDatum = Literal["EGM96", "EGM2008", "ellipsoid"]

#: EPSG code of the vertical CRS of each supported geoid.
GEOID_EPSG: dict[str, int] = {"EGM96": 5773, "EGM2008": 3855}
#: Grid file names (old PROJ name, PROJ-data CDN name) for each geoid, for messages.
GEOID_GRIDS: dict[str, tuple[str, str]] = {
    "EGM96": ("egm96_15.gtx", "us_nga_egm96_15.tif"),
    "EGM2008": ("egm08_25.gtx", "us_nga_egm08_25.tif"),
}
#: Folders searched for grid files besides pyproj's own (Debian/Ubuntu ``proj-data``); the
#: environment variable ``BEN_SEN1_PROJ_GRID_DIRS`` (``os.pathsep``-separated) replaces them.
SYSTEM_PROJ_DIRS: tuple[str, ...] = ("/usr/share/proj", "/usr/local/share/proj")
PROJ_GRID_DIRS_ENV = "BEN_SEN1_PROJ_GRID_DIRS"
#: (lon, lat) used to check that a geoid transformation really applies the grid (|N| > 1 m there).
_CHECK_POINT = (12.5, 42.0)


class GeoidError(SafeError):
    """A geoid height conversion cannot be done as asked."""


class GeoidGridMissingError(GeoidError):
    """PROJ's grid file for the requested geoid is not installed (and the network is off)."""


def normalise_vertical_datum(datum: str) -> VerticalDatum:
    """Canonical name of a vertical datum: ``"EGM96"``, ``"EGM2008"`` or ``"ellipsoid"``."""
    key = str(datum).strip().upper().replace(" ", "").replace("-", "")
    aliases = {
        "EGM96": "EGM96", "EPSG:5773": "EGM96", "5773": "EGM96",
        "EGM2008": "EGM2008", "EGM08": "EGM2008", "EPSG:3855": "EGM2008", "3855": "EGM2008",
        "ELLIPSOID": "ellipsoid", "WGS84": "ellipsoid", "EPSG:4979": "ellipsoid",
    }
    if key not in aliases:
        raise GeoidError(
            f"vertical datum {datum!r} is not supported: expected 'EGM96', 'EGM2008' or 'ellipsoid'"
        )
    return aliases[key]  # type: ignore[return-value]


def register_system_grids() -> list[str]:
    """Append the PROJ grid folders that exist to pyproj's search path (idempotent).

    Returns pyproj's data folders after the call. Only pyproj is affected, not rasterio/GDAL.
    """
    current = pyproj.datadir.get_data_dir().split(os.pathsep)
    env = os.environ.get(PROJ_GRID_DIRS_ENV)
    folders = [f for f in env.split(os.pathsep) if f] if env is not None else SYSTEM_PROJ_DIRS
    for folder in folders:
        if os.path.isdir(folder) and folder not in current:
            pyproj.datadir.append_data_dir(folder)
            current.append(folder)
    return current


def _install_hint(datum: str) -> str:
    old, new = GEOID_GRIDS[datum]
    debian = (
        "`apt-get install proj-data` (Debian/Ubuntu; ships egm96_15.gtx), or "
        if datum == "EGM96"
        else "(Debian's proj-data does not ship it) "
    )
    return (
        f"install PROJ's {datum} geoid grid: {debian}`pyproj sync --file {new}` (writes to "
        f"pyproj's user data folder, {pyproj.datadir.get_user_data_dir()}) or `projsync --file {new}`, "
        f"or set PROJ_NETWORK=ON to let PROJ download {new} from cdn.proj.org; "
        f"or state that the DEM heights are ellipsoidal (vertical_datum='ellipsoid')"
    )


@functools.lru_cache(maxsize=4)
def geoid_transformer(datum: str) -> pyproj.Transformer:
    """Transformer (lon, lat, H above ``datum``) → (lon, lat, h above WGS84), grid verified.

    Raises GeoidGridMissingError if PROJ cannot find the grid (it would otherwise silently
    return H unchanged).
    """
    datum = normalise_vertical_datum(datum)
    if datum == "ellipsoid":
        raise GeoidError("no geoid transformer for ellipsoidal heights: they need no conversion")
    register_system_grids()
    source = pyproj.CRS.from_user_input(f"EPSG:4326+{GEOID_EPSG[datum]}")
    with warnings.catch_warnings():
        # pyproj warns "Best transformation is not available": we raise a clearer error below.
        warnings.simplefilter("ignore", UserWarning)
        group = TransformerGroup(source, "EPSG:4979", always_xy=True)
    missing = sorted(
        {g.short_name for op in group.unavailable_operations for g in getattr(op, "grids", []) if not g.available}
    )
    if not group.best_available or not group.transformers:
        raise GeoidGridMissingError(
            f"PROJ grid for {datum} heights not found (missing: {', '.join(missing) or 'unknown'}; "
            f"pyproj data folders: {pyproj.datadir.get_data_dir()}); {_install_hint(datum)}"
        )
    transformer = group.transformers[0]
    # Belt and braces: a ballpark operation returns H unchanged; N is ~+48 m at the check point.
    _, _, n = transformer.transform(*_CHECK_POINT, 0.0)
    if "ballpark" in transformer.description.lower() or not np.isfinite(n) or abs(n) < 1.0:
        raise GeoidGridMissingError(
            f"PROJ's {datum} → WGS84 transformation does not apply a geoid grid "
            f"({transformer.description!r}); {_install_hint(datum)}"
        )
    return transformer


def geoid_undulation(lon: np.ndarray, lat: np.ndarray, datum: str) -> np.ndarray:
    """Geoid undulation N (m, float64) of ``datum`` at (lon, lat) degrees; 0 for ``"ellipsoid"``."""
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    if normalise_vertical_datum(datum) == "ellipsoid":
        return np.zeros(np.broadcast(lon, lat).shape)
    lon, lat = np.broadcast_arrays(lon, lat)
    _, _, n = geoid_transformer(datum).transform(lon.ravel(), lat.ravel(), np.zeros(lon.size))
    n = np.asarray(n).reshape(lon.shape)
    if not np.all(np.isfinite(n)):
        raise GeoidError(f"{datum} undulation is not finite at some points (outside the grid?)")
    return n


def to_ellipsoidal(heights: np.ndarray, lon: np.ndarray, lat: np.ndarray, datum: str) -> np.ndarray:
    """Heights above the WGS84 ellipsoid: ``heights`` (above ``datum``) + N(lon, lat).

    NaN heights stay NaN. For ``datum="ellipsoid"`` the heights are returned unchanged.
    """
    heights = np.asarray(heights)
    if normalise_vertical_datum(datum) == "ellipsoid":
        return heights
    return heights + geoid_undulation(lon, lat, datum).astype(heights.dtype, copy=False)
