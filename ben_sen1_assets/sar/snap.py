"""SNAP (S1TBX) backend: the project's chain as a GPT graph, for users who have ESA SNAP.

:func:`build_graph` turns a :class:`~.config.ProcessingConfig` into a GPT graph (XML text),
:func:`find_gpt` locates SNAP's ``gpt``, :func:`run_graph` runs it in a subprocess, and
:class:`SnapProcessor` does all three, reads SNAP's GeoTIFFs back onto the tile window and
writes the same COG as the project's own chain (:func:`.chain.process_scene_to_tile`, whose
signature and :class:`.chain.ChainResult` it shares).

The graph (one node per step, each fed by the one before)::

    Read → [Remove-GRD-Border-Noise] → [ThermalNoiseRemoval] → Calibration → [Speckle-Filter]
         → Terrain-Correction → Subset → [LinearToFromdB] → BandSelect-<pol> → Write-<pol>  (per polarisation)

One BandSelect/Write pair per polarisation gives one single-band GeoTIFF per polarisation, so a
band is never identified by its position in a multi-band file. No ``Apply-Orbit-File``: the
project's chain uses the annotation's state vectors, and so does Terrain-Correction without it.

Mapping of :class:`~.config.ProcessingConfig` to SNAP operator parameters
---------------------------------------------------------------------------

=========================  ===========================================================================
config field               SNAP operator: parameter (and what cannot be mapped)
=========================  ===========================================================================
polarisations              Remove-GRD-Border-Noise / ThermalNoiseRemoval / Calibration:
                           ``selectedPolarisations``; one BandSelect (``sourceBands``) + Write each.
calibration                Calibration: ``outputSigmaBand`` / ``outputBetaBand`` / ``outputGammaBand``
                           (exactly one true), ``outputImageScaleInDb`` = false (dB is a separate
                           LinearToFromdB node). SNAP's γ0 is, like ours, the annotation-LUT γ0.
thermal_noise_removal      ThermalNoiseRemoval node (``removeThermalNoise`` = true, ``outputNoise`` =
                           false, ``reIntroduceThermalNoise`` = false) present or absent.
negative, negative_floor   No SNAP parameter: SNAP sets DN² − N < 0 to 1e-5 *DN²* before calibration.
                           ``"floor"`` is honoured after the run (values below ``negative_floor`` are
                           raised to it, as our chain never goes below it); ``"nan"`` / ``"zero"``
                           cannot be reproduced → :class:`SnapConfigError` (when noise removal is on).
border_noise_removal       ``"edge_trim"``: Remove-GRD-Border-Noise always; ``"auto"``: that node only
                           for IPF < 2.90 (read from the manifest, as our chain does);
                           ``"zero_only"``: no node (DN 0 is SNAP's no-data anyway).
border_limit               Remove-GRD-Border-Noise: ``borderLimit``.
trim_threshold             Remove-GRD-Border-Noise: ``trimThreshold``.
trim_run                   No SNAP equivalent (our search rule); SNAP's own border search is used.
                           A non-default value while the node is used → :class:`SnapConfigError`.
speckle_filter             Speckle-Filter: ``filter`` = ``"Refined Lee"`` (SNAP fixes 7×7: other
                           windows → error; SNAP estimates the speckle variance in each window, so
                           ``looks`` is not used), ``"Lee Sigma"`` (``windowSize`` "5x5" … "17x17",
                           ``numLooksStr`` "1"–"4" ⇒ ``looks`` must be 1, 2, 3 or 4, ``sigmaStr``
                           "0.5"–"0.9", ``targetWindowSizeStr`` "3x3": SNAP adds a point-target step
                           ours lacks), ``"Boxcar"`` (``filterSizeX`` = ``filterSizeY`` = window ≤ 99);
                           ``kind="none"``: no node.
dem (local)                Terrain-Correction: ``externalDEMFile`` = path, ``externalDEMNoDataValue``
                           = the file's nodata (−32768 if it has none, so 0 m stays a height),
                           ``externalDEMApplyEGM`` = true for EGM96 heights, false for ellipsoidal
                           heights; EGM2008 heights → error (SNAP only knows EGM96).
dem (glo30)                Terrain-Correction: ``demName`` = "Copernicus 30m Global DEM" (SNAP
                           downloads and converts it itself); a custom ``url`` → error.
dem (constant)             No SNAP DEM: :func:`write_constant_dem` writes a GeoTIFF of that height
                           (EGM96 or ellipsoid) used as external DEM (:class:`SnapProcessor` does it).
dem.fill                   ``"error"``: SNAP does not raise on DEM gaps, it writes no-data there
                           (``nodataValueAtSea`` = true); ``"nearest"`` / ``"constant:…"`` → error.
dem.sea                    ``"error"`` → ``nodataValueAtSea`` = true (no-data, not an exception);
                           ``"sea_level"`` → ``nodataValueAtSea`` = false.
dem_resampling             Terrain-Correction: ``demResamplingMethod`` = BILINEAR_INTERPOLATION.
resampling                 Terrain-Correction: ``imgResamplingMethod`` = BILINEAR_INTERPOLATION /
                           NEAREST_NEIGHBOUR.
(tile grid)                Terrain-Correction: ``mapProjection`` = WKT of the tile's UTM CRS,
                           ``pixelSpacingInMeter`` = 10.0, ``alignToStandardGrid`` = true,
                           ``standardGridOriginX/Y`` = centre of the tile's upper-left pixel
                           (ulx + 5, uly − 5): SNAP's CrsGeoCoding puts the origin at the *centre*
                           of a pixel, so the tile corner itself would shift every pixel by half a
                           pixel. Then Subset (``geoRegion`` = the window's outline in lon/lat,
                           densified) and, after the run, an exact crop/placement on the window.
output_scale               ``"db"``: LinearToFromdB node; ``"linear"``: none.
srgr                       ``"linear"`` is what SNAP does; ``"nearest"`` → error.
orbit_interpolation        No SNAP parameter (SNAP interpolates the state vectors its own way);
                           ``"polyfit"`` → error, the default is recorded as not applicable.
geodesy_step               Numerical detail of our solver (< 1 mm): not applicable.
nodata (NaN)               SNAP writes 0 for no-data (also in dB: LinearToFromdB copies it); the
                           post-step turns 0 into NaN and SNAP's dB underflow marker (−1e-30) into
                           the floor.
=========================  ===========================================================================

Algorithms are SNAP's own (border search, Refined Lee / Lee Sigma details, range-Doppler
solver, DEM interpolation): the backend guarantees the same *parameters*, not bit-identical
pixels. :meth:`SnapProcessor.snap_notes` lists, per config, what is SNAP's choice.

``esa_snappy`` (SNAP's Python bridge) is optional: :func:`esa_snappy_available` only checks that
it can be imported (importing it starts a JVM, so it is never imported here); this backend needs
only the ``gpt`` executable.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import rasterio
import rasterio.crs
import shapely.wkt
from affine import Affine
from rasterio.windows import Window

from ..formats import staging
from .config import ConfigError, DemConfig, ProcessingConfig
from .errors import SafeError

__all__ = [
    "GPT_ENV",
    "SNAP_DEM_GLO30",
    "SNAP_DEM_SRTM1",
    "SnapError",
    "SnapConfigError",
    "SnapNotFoundError",
    "SnapRunError",
    "SnapOutputError",
    "SnapProcessor",
    "build_graph",
    "graph_nodes",
    "output_paths",
    "find_gpt",
    "esa_snappy_available",
    "run_graph",
    "write_constant_dem",
    "read_snap_output",
    "snap_output_blocks",
]

#: environment variable naming the ``gpt`` executable
GPT_ENV = "SNAP_GPT"
#: SNAP's auto-download DEM names (Terrain-Correction ``demName``)
SNAP_DEM_GLO30 = "Copernicus 30m Global DEM"
SNAP_DEM_SRTM1 = "SRTM 1Sec HGT"
SNAP_AUTO_DEMS = (SNAP_DEM_GLO30, SNAP_DEM_SRTM1, "SRTM 3Sec", "Copernicus 90m Global DEM")
#: SNAP writer used for the outputs (BigTIFF: a tile window can exceed 4 GB for many bands)
OUTPUT_FORMAT = "GeoTIFF-BigTIFF"
#: XML class attribute SNAP's graph builder writes on every <parameters> element
_PARAMETERS_CLASS = "com.bc.ceres.binding.dom.XppDomElement"
#: no-data value written into DEM files we create (SNAP's default 0 would mask sea-level heights)
DEM_NODATA = -32768.0
#: SNAP's LinearToFromdB writes this for linear values < 1e-30 (i.e. σ0 == 0)
SNAP_DB_UNDERFLOW = np.float32(-1.0e-30)

_CALIBRATION_BANDS = {"sigma0": "Sigma0", "beta0": "Beta0", "gamma0": "Gamma0"}
_RESAMPLING = {"bilinear": "BILINEAR_INTERPOLATION", "nearest": "NEAREST_NEIGHBOUR"}
_SNAP_FILTERS = {"refined_lee": "Refined Lee", "lee_sigma": "Lee Sigma", "boxcar": "Boxcar"}
_LEE_SIGMA_WINDOWS = (5, 7, 9, 11, 13, 15, 17)
_LEE_SIGMA_SIGMAS = (0.5, 0.6, 0.7, 0.8, 0.9)
_LEGACY_IPF = (2, 90)
_DEFAULTS = ProcessingConfig()

#: where SNAP installers put ``gpt`` (checked after $SNAP_GPT and PATH)
COMMON_GPT_LOCATIONS: tuple[str, ...] = (
    "~/esa-snap/bin/gpt",
    "~/snap/bin/gpt",
    "/opt/esa-snap/bin/gpt",
    "/opt/snap/bin/gpt",
    "/usr/local/esa-snap/bin/gpt",
    "/usr/local/snap/bin/gpt",
    "/Applications/esa-snap/bin/gpt",
    "/Applications/snap/bin/gpt",
    r"C:\Program Files\esa-snap\bin\gpt.exe",
    r"C:\Program Files\snap\bin\gpt.exe",
)


class SnapError(SafeError):
    """Base class: the SNAP backend cannot do what was asked."""


class SnapConfigError(SnapError, ConfigError):
    """A processing config (or input) that SNAP cannot honour exactly; names the field."""


class SnapNotFoundError(SnapError, FileNotFoundError):
    """No SNAP ``gpt`` executable was found."""


class SnapRunError(SnapError):
    """``gpt`` failed; carries the command, return code and the tail of its output."""

    def __init__(self, message: str, returncode: int | None = None, stderr_tail: str = "", stdout_tail: str = ""):
        super().__init__(message)
        self.returncode = returncode
        self.stderr_tail = stderr_tail
        self.stdout_tail = stdout_tail


class SnapOutputError(SnapError):
    """A file written by SNAP is not on the expected grid (CRS, pixel size, alignment)."""


# ---------------------------------------------------------------------------------------------
# config → SNAP parameters


def _config_error(field_name: str, value: Any, why: str) -> SnapConfigError:
    return SnapConfigError(f"SNAP backend: config field {field_name} = {value!r}: {why}")


def _check_config(config: ProcessingConfig, border_node: bool) -> None:
    """Raise :class:`SnapConfigError` for every field SNAP cannot honour."""
    if config.thermal_noise_removal and config.negative != "floor":
        raise _config_error(
            "negative", config.negative,
            "SNAP's ThermalNoiseRemoval sets DN² − noise < 0 to 1e-5 DN² before calibration; only "
            "negative='floor' can be reproduced (or switch thermal_noise_removal off)",
        )
    if border_node and config.trim_run != _DEFAULTS.trim_run:
        raise _config_error(
            "trim_run", config.trim_run,
            f"Remove-GRD-Border-Noise has no such parameter (only borderLimit, trimThreshold); "
            f"use the default {_DEFAULTS.trim_run} (meaning: SNAP's own border search)",
        )
    if config.srgr != "linear":
        raise _config_error("srgr", config.srgr, "SNAP interpolates the SRGR polynomials linearly in time; expected 'linear'")
    if config.orbit_interpolation != _DEFAULTS.orbit_interpolation:
        raise _config_error(
            "orbit_interpolation", config.orbit_interpolation,
            "SNAP has no orbit interpolation parameter; use the default (SNAP's own interpolation)",
        )
    if config.dem_resampling != "bilinear":
        raise _config_error("dem_resampling", config.dem_resampling, "expected 'bilinear'")
    _speckle_params(config)


def _speckle_params(config: ProcessingConfig) -> dict[str, Any] | None:
    sf = config.speckle_filter
    if sf.kind == "none":
        return None
    if sf.kind == "refined_lee":
        if sf.window != 7:
            raise _config_error("speckle_filter.window", sf.window, "SNAP's Refined Lee is fixed at 7×7; expected 7")
        return {"filter": "Refined Lee"}
    if sf.kind == "boxcar":
        if not 1 < sf.window <= 100:
            raise _config_error("speckle_filter.window", sf.window, "SNAP's Boxcar accepts 2..100")
        return {"filter": "Boxcar", "filterSizeX": sf.window, "filterSizeY": sf.window}
    if sf.kind == "lee_sigma":
        if sf.window not in _LEE_SIGMA_WINDOWS:
            raise _config_error("speckle_filter.window", sf.window, f"SNAP's Lee Sigma accepts {_LEE_SIGMA_WINDOWS}")
        if float(sf.looks) not in (1.0, 2.0, 3.0, 4.0):
            raise _config_error(
                "speckle_filter.looks", sf.looks,
                "SNAP's Lee Sigma takes 1, 2, 3 or 4 looks (numLooksStr); e.g. looks=4 for IW GRDH",
            )
        sigma = round(float(sf.sigma), 6)
        if sigma not in _LEE_SIGMA_SIGMAS:
            raise _config_error("speckle_filter.sigma", sf.sigma, f"SNAP's Lee Sigma accepts {_LEE_SIGMA_SIGMAS}")
        return {
            "filter": "Lee Sigma",
            "numLooksStr": str(int(sf.looks)),
            "windowSize": f"{sf.window}x{sf.window}",
            "targetWindowSizeStr": "3x3",
            "sigmaStr": f"{sigma:.1f}",
        }
    raise _config_error("speckle_filter.kind", sf.kind, f"expected one of {('none', *_SNAP_FILTERS)}")


def _dem_datum(dem: DemConfig) -> str:
    """Vertical datum of a local DEM: the config's, else the file's CRS (as our chain does)."""
    if dem.vertical_datum is not None:
        return dem.vertical_datum
    from .dem import DemError, vertical_datum_of_crs

    try:
        with rasterio.open(dem.path) as ds:
            crs = ds.crs
    except rasterio.errors.RasterioIOError as exc:
        raise DemError(f"{dem.path}: cannot open the DEM ({exc})") from exc
    datum = vertical_datum_of_crs(crs) if crs is not None else None
    if datum is None:
        raise _config_error(
            "dem.vertical_datum", None,
            f"{dem.path}: the CRS does not state the height datum; set 'EGM96' or 'ellipsoid'",
        )
    return datum


def _dem_nodata(path: str) -> float:
    with rasterio.open(path) as ds:
        nodata = ds.nodata
    return DEM_NODATA if nodata is None else float(nodata)


def _dem_params(dem: DemConfig | str | os.PathLike, config: ProcessingConfig) -> dict[str, Any]:
    """Terrain-Correction DEM parameters for ``dem`` (a DemConfig, a SNAP DEM name, or a file)."""
    if isinstance(dem, str) and dem in SNAP_AUTO_DEMS:
        return {"demName": dem, "externalDEMFile": "", "externalDEMNoDataValue": 0.0,
                "externalDEMApplyEGM": True, "nodataValueAtSea": True}
    if not isinstance(dem, DemConfig):
        # a DEM file prepared by the caller: its datum as config.dem states it, else the file's CRS
        datum = config.dem.vertical_datum if config.dem.kind != "glo30" else None
        dem = DemConfig(kind="local", path=os.fspath(dem), vertical_datum=datum)
    if dem.fill != "error":
        raise _config_error(
            "dem.fill", dem.fill,
            "SNAP cannot fill DEM gaps; it writes no-data there (use fill='error', which becomes no-data)",
        )
    sea_mask = dem.sea == "error"
    if dem.kind == "glo30":
        if dem.url:
            raise _config_error("dem.url", dem.url, f"SNAP downloads {SNAP_DEM_GLO30!r} itself; no custom URL")
        return {"demName": SNAP_DEM_GLO30, "externalDEMFile": "", "externalDEMNoDataValue": 0.0,
                "externalDEMApplyEGM": True, "nodataValueAtSea": sea_mask}
    if dem.kind == "constant":
        raise _config_error(
            "dem.kind", "constant",
            "SNAP has no constant-height DEM: write one with write_constant_dem() and pass its path as "
            "dem= (SnapProcessor does this)",
        )
    path = os.fspath(dem.path)
    if "://" in path:
        raise _config_error("dem.path", path, "SNAP reads a local DEM file only")
    datum = _dem_datum(dem)
    if datum == "EGM2008":
        raise _config_error(
            "dem.vertical_datum", datum,
            "SNAP's externalDEMApplyEGM applies EGM96 only; convert the DEM to EGM96 or ellipsoidal heights",
        )
    return {"demName": "External DEM", "externalDEMFile": str(Path(path).resolve()),
            "externalDEMNoDataValue": _dem_nodata(path), "externalDEMApplyEGM": datum == "EGM96",
            "nodataValueAtSea": sea_mask}


@dataclass(frozen=True)
class GraphNode:
    """One GPT graph node: ``id``, ``operator``, the id of its source node, ordered parameters."""

    id: str
    operator: str
    source: str | None
    parameters: dict[str, Any] = field(default_factory=dict)


def _local_product_path(product_path: str | os.PathLike) -> Path:
    s = os.fspath(product_path)
    if "://" in s:
        raise SnapConfigError(f"SNAP backend: product {s!r}: SNAP reads local files only; download it first")
    p = Path(s).resolve()
    if p.is_dir():  # an unzipped .SAFE folder: SNAP opens its manifest
        return p / "manifest.safe"
    return p


def _product_ipf(product_path: str | os.PathLike) -> tuple[int, ...]:
    from .safe import open_safe

    with open_safe(product_path) as product:
        return product.manifest.ipf


def output_paths(output_path: str | os.PathLike, polarisations: Sequence[str]) -> dict[str, Path]:
    """GeoTIFF path per polarisation: ``{polarisation}`` in ``output_path`` is replaced, otherwise
    ``_<pol>`` is inserted before the suffix (``.tif`` is added when missing, as SNAP would)."""
    s = os.fspath(output_path)
    out = {}
    for pol in polarisations:
        if "{polarisation}" in s:
            p = Path(s.replace("{polarisation}", pol))
        else:
            base = Path(s)
            stem = base.name[: -len(base.suffix)] if base.suffix.lower() in (".tif", ".tiff") else base.name
            p = base.with_name(f"{stem}_{pol}.tif")
        if p.suffix.lower() not in (".tif", ".tiff"):
            p = p.with_name(p.name + ".tif")
        out[pol] = p
    return out


def _window_geo_region(tile_grid, window: Window, densify_m: float = 1000.0) -> str:
    """WKT polygon (lon lat) of the window's outline, edges sampled every ``densify_m``."""
    t = tile_grid.transform @ Affine.translation(window.col_off, window.row_off)
    left, top = t.c, t.f
    right, bottom = left + window.width * t.a, top + window.height * t.e
    n = max(1, math.ceil(max(right - left, top - bottom) / densify_m))
    s = np.linspace(0.0, 1.0, n + 1)[:-1]
    xs = np.concatenate([left + (right - left) * s, np.full(n, right), right - (right - left) * s, np.full(n, left)])
    ys = np.concatenate([np.full(n, top), top - (top - bottom) * s, np.full(n, bottom), bottom + (top - bottom) * s])
    lon, lat = pyproj.Transformer.from_crs(_tile_crs(tile_grid), 4326, always_xy=True).transform(xs, ys)
    ring = [f"{x:.9f} {y:.9f}" for x, y in zip(lon, lat)]
    ring.append(ring[0])
    return "POLYGON ((" + ", ".join(ring) + "))"


def _tile_crs(tile_grid) -> pyproj.CRS:
    """The tile grid's CRS (a TileGrid's ``epsg``, or any ``crs``) as a pyproj CRS."""
    epsg = getattr(tile_grid, "epsg", None)
    if epsg is not None:
        return pyproj.CRS.from_epsg(int(epsg))
    crs = tile_grid.crs
    return pyproj.CRS.from_user_input(crs.to_wkt() if hasattr(crs, "to_wkt") else crs)


def _full_window(tile_grid) -> Window:
    rows, cols = tile_grid.shape
    return Window(0, 0, cols, rows)


def _check_window(tile_grid, window: Window) -> Window:
    rows, cols = tile_grid.shape
    vals = (window.col_off, window.row_off, window.width, window.height)
    if any(float(v) != int(v) for v in vals):
        raise SnapConfigError(f"SNAP backend: window {window} must have integer offsets and sizes")
    c0, r0, w, h = (int(v) for v in vals)
    if c0 < 0 or r0 < 0 or w <= 0 or h <= 0 or c0 + w > cols or r0 + h > rows:
        raise SnapConfigError(f"SNAP backend: window {window} is not inside the tile grid of shape {tile_grid.shape}")
    return Window(c0, r0, w, h)


def graph_nodes(
    product_path: str | os.PathLike,
    tile_grid,
    window: Window | None = None,
    config: ProcessingConfig = _DEFAULTS,
    dem: DemConfig | str | os.PathLike | None = None,
    output_path: str | os.PathLike = "snap_output.tif",
    *,
    ipf: tuple[int, ...] | None = None,
) -> list[GraphNode]:
    """The graph as a list of :class:`GraphNode` (see :func:`build_graph` for the arguments)."""
    if not isinstance(config, ProcessingConfig):
        raise SnapConfigError(f"SNAP backend: config must be a ProcessingConfig, got {type(config).__name__}")
    window = _full_window(tile_grid) if window is None else _check_window(tile_grid, window)
    product_file = _local_product_path(product_path)
    if config.border_noise_removal == "edge_trim":
        border_node = True
    elif config.border_noise_removal == "auto":
        border_node = tuple((ipf if ipf is not None else _product_ipf(product_path))[:2]) < _LEGACY_IPF
    else:
        border_node = False
    _check_config(config, border_node)
    dem_params = _dem_params(config.dem if dem is None else dem, config)
    pols = ",".join(config.polarisations)

    nodes: list[GraphNode] = []

    def add(node_id: str, operator: str, parameters: dict[str, Any]) -> None:
        nodes.append(GraphNode(node_id, operator, nodes[-1].id if nodes else None, parameters))

    # only parameters every SNAP ≥ 8 knows (GPF rejects unknown ones); defaults are left out
    add("Read", "Read", {"file": str(product_file)})
    if border_node:
        add("Remove-GRD-Border-Noise", "Remove-GRD-Border-Noise",
            {"selectedPolarisations": pols, "borderLimit": int(config.border_limit),
             "trimThreshold": float(config.trim_threshold)})
    if config.thermal_noise_removal:
        add("ThermalNoiseRemoval", "ThermalNoiseRemoval",
            {"selectedPolarisations": pols, "removeThermalNoise": True, "outputNoise": False,
             "reIntroduceThermalNoise": False})
    add("Calibration", "Calibration", {
        "selectedPolarisations": pols,
        "outputImageInComplex": False,
        "outputImageScaleInDb": False,
        "createGammaBand": False,
        "createBetaBand": False,
        "outputSigmaBand": config.calibration == "sigma0",
        "outputGammaBand": config.calibration == "gamma0",
        "outputBetaBand": config.calibration == "beta0",
    })
    speckle = _speckle_params(config)
    if speckle is not None:
        add("Speckle-Filter", "Speckle-Filter", speckle)
    ulx, uly = tile_grid.transform.c, tile_grid.transform.f
    res = float(tile_grid.transform.a)
    add("Terrain-Correction", "Terrain-Correction", {
        **{k: dem_params[k] for k in ("demName", "externalDEMFile", "externalDEMNoDataValue", "externalDEMApplyEGM")},
        "demResamplingMethod": _RESAMPLING[config.dem_resampling],
        "imgResamplingMethod": _RESAMPLING[config.resampling],
        "pixelSpacingInMeter": res,
        "mapProjection": _tile_crs(tile_grid).to_wkt("WKT1_GDAL"),
        "alignToStandardGrid": True,
        # SNAP's CrsGeoCoding references the centre of the upper-left pixel (0.5, 0.5)
        "standardGridOriginX": ulx + res / 2,
        "standardGridOriginY": uly - res / 2,
        "nodataValueAtSea": dem_params["nodataValueAtSea"],
        "saveDEM": False,
        "saveLatLon": False,
        "saveIncidenceAngleFromEllipsoid": False,
        "saveLocalIncidenceAngle": False,
        "saveProjectedLocalIncidenceAngle": False,
        "saveSelectedSourceBand": True,
        "applyRadiometricNormalization": False,
    })
    add("Subset", "Subset", {"geoRegion": _window_geo_region(tile_grid, window)})
    if config.output_scale == "db":
        add("LinearToFromdB", "LinearToFromdB", {})
    last = nodes[-1].id
    suffix = "_db" if config.output_scale == "db" else ""
    prefix = _CALIBRATION_BANDS[config.calibration]
    for pol, path in output_paths(output_path, config.polarisations).items():
        nodes.append(GraphNode(f"BandSelect-{pol}", "BandSelect", last, {"sourceBands": f"{prefix}_{pol}{suffix}"}))
        nodes.append(GraphNode(f"Write-{pol}", "Write", f"BandSelect-{pol}", {
            "file": str(Path(path).resolve()), "formatName": OUTPUT_FORMAT, "deleteOutputOnFailure": True,
        }))
    return nodes


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def build_graph(
    product_path: str | os.PathLike,
    tile_grid,
    window: Window | None = None,
    config: ProcessingConfig = _DEFAULTS,
    dem: DemConfig | str | os.PathLike | None = None,
    output_path: str | os.PathLike = "snap_output.tif",
    *,
    ipf: tuple[int, ...] | None = None,
) -> str:
    """GPT graph XML that processes ``product_path`` onto ``window`` of ``tile_grid``.

    ``tile_grid``: a :class:`~ben_sen1_assets.grid.TileGrid` (``epsg``, ``transform``, ``shape``);
    ``window``: pixel window of the tile (default the whole tile); ``dem``: overrides
    ``config.dem`` with another :class:`DemConfig`, a SNAP DEM name (``SNAP_DEM_SRTM1`` …) or a DEM
    file path (datum from ``config.dem.vertical_datum`` or the file's CRS); ``output_path``: see
    :func:`output_paths`; ``ipf``: the product's IPF version (read from its manifest if needed).
    Raises :class:`SnapConfigError` for a config SNAP cannot honour (see the module docstring).
    """
    nodes = graph_nodes(product_path, tile_grid, window, config, dem, output_path, ipf=ipf)
    graph = ET.Element("graph", id="ben_sen1_assets")
    ET.SubElement(graph, "version").text = "1.0"
    for node in nodes:
        el = ET.SubElement(graph, "node", id=node.id)
        ET.SubElement(el, "operator").text = node.operator
        sources = ET.SubElement(el, "sources")
        if node.source is not None:
            ET.SubElement(sources, "sourceProduct", refid=node.source)
        params = ET.SubElement(el, "parameters", {"class": _PARAMETERS_CLASS})
        for name, value in node.parameters.items():
            ET.SubElement(params, name).text = _text(value)
    ET.indent(graph)
    return ET.tostring(graph, encoding="unicode", xml_declaration=False) + "\n"


def write_outputs_of(graph_xml: str) -> dict[str, Path]:
    """``{Write node id: file}`` of a graph (raises :class:`SnapError` for malformed XML)."""
    try:
        root = ET.fromstring(graph_xml)
    except ET.ParseError as exc:
        raise SnapError(f"graph XML is not well-formed: {exc}") from exc
    out = {}
    for node in root.iter("node"):
        if (node.findtext("operator") or "").strip() == "Write":
            f = node.findtext("parameters/file")
            if not f:
                raise SnapError(f"graph node {node.get('id')!r}: Write without a 'file' parameter")
            out[node.get("id")] = Path(f.strip())
    return out


# ---------------------------------------------------------------------------------------------
# finding and running gpt


def esa_snappy_available() -> bool:
    """Whether SNAP's Python bridge ``esa_snappy`` is importable (checked without importing it:
    importing starts a JVM)."""
    try:
        return importlib.util.find_spec("esa_snappy") is not None
    except (ImportError, ValueError):
        return False


def _looks_like_snap_gpt(path: Path) -> bool:
    # macOS ships /usr/sbin/gpt (a partition tool): accept a PATH hit only inside a SNAP install
    real = path.resolve()
    bindir = real.parent
    return (bindir / "gpt.vmoptions").exists() or (bindir.parent / "etc" / "snap.properties").exists() or (
        bindir.parent / "snap").is_dir()


def find_gpt(search_dirs: Sequence[str | os.PathLike] | None = None) -> Path:
    """The SNAP ``gpt`` executable: ``$SNAP_GPT``, else ``gpt`` on PATH (inside a SNAP install),
    else :data:`COMMON_GPT_LOCATIONS` (or ``search_dirs``). Raises :class:`SnapNotFoundError`."""
    env = os.environ.get(GPT_ENV)
    if env:
        p = Path(env).expanduser()
        if not p.is_file():
            raise SnapNotFoundError(f"SNAP gpt not found: ${GPT_ENV} = {env!r} is not a file")
        if not os.access(p, os.X_OK):
            raise SnapNotFoundError(f"SNAP gpt not usable: ${GPT_ENV} = {env!r} is not executable")
        return p
    looked = []
    on_path = shutil.which("gpt")
    if on_path:
        looked.append(on_path)
        if _looks_like_snap_gpt(Path(on_path)):
            return Path(on_path)
    for cand in (COMMON_GPT_LOCATIONS if search_dirs is None else search_dirs):
        p = Path(cand).expanduser()
        looked.append(str(p))
        if p.is_file() and os.access(p, os.X_OK):
            return p
    raise SnapNotFoundError(
        f"SNAP gpt not found: set {GPT_ENV} or install SNAP (looked at PATH and {', '.join(looked)})"
    )


_PERCENT = re.compile(rb"(\d{1,3})\s?%")


def _kill_tree(proc: subprocess.Popen) -> None:
    try:
        if os.name == "posix":
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except (ProcessLookupError, PermissionError):
        pass


def _tail(lines: deque) -> str:
    return b"".join(lines).decode("utf-8", "replace")[-4000:]


def run_graph(
    graph_xml: str,
    gpt: str | os.PathLike | None = None,
    memory: str | None = None,
    cache: str | None = None,
    threads: int | None = None,
    progress: Callable[[float], None] | None = None,
    workdir: str | os.PathLike | None = None,
    timeout: float | None = None,
    extra_args: Sequence[str] = (),
) -> dict[str, Path]:
    """Run ``gpt`` on ``graph_xml``; return ``{Write node id: output file}``.

    ``memory``: Java heap, e.g. ``"8G"`` (passed as ``-J-Xmx8G`` to SNAP's launcher); ``cache``:
    tile cache (``-c``), ``threads``: parallelism (``-q``); ``progress``: called with a fraction
    in [0, 1] as gpt reports percentages. The graph is saved as ``graph.xml`` in ``workdir`` (a
    temporary folder, removed afterwards, if None). A non-zero exit, a timeout or a missing
    output raises :class:`SnapRunError` with the tail of gpt's stderr and stdout.
    """
    outputs = write_outputs_of(graph_xml)
    if not outputs:
        raise SnapError("graph has no Write node: nothing would be produced")
    exe = Path(gpt) if gpt is not None else find_gpt()
    tmp = tempfile.TemporaryDirectory(prefix=staging.prefix("ben_sen1_snap_")) if workdir is None else None
    wd = Path(tmp.name if tmp is not None else workdir)
    wd.mkdir(parents=True, exist_ok=True)
    try:
        graph_file = wd / "graph.xml"
        graph_file.write_text(graph_xml, encoding="utf-8")
        cmd = [str(exe)]
        if memory:
            cmd.append(f"-J-Xmx{memory}")
        cmd += [str(graph_file), "-e"]
        if cache:
            cmd += ["-c", str(cache)]
        if threads:
            cmd += ["-q", str(int(threads))]
        cmd += list(extra_args)
        for path in outputs.values():
            path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # own session: a timeout kills gpt's launcher *and* the JVM it starts
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=wd,
                                    start_new_session=os.name == "posix")
        except OSError as exc:
            raise SnapRunError(f"cannot start SNAP gpt {exe}: {exc}") from exc
        err_tail: deque = deque(maxlen=200)
        out_tail: deque = deque(maxlen=200)
        reader = threading.Thread(target=lambda: err_tail.extend(iter(proc.stderr.readline, b"")), daemon=True)
        reader.start()
        timer = threading.Timer(timeout, _kill_tree, (proc,)) if timeout else None
        if timer:
            timer.start()
        done = 0
        pending = b""
        try:
            while chunk := proc.stdout.read1(4096):
                out_tail.append(chunk)
                if progress is None:
                    continue
                # gpt prints "....10%....20%" without newlines: scan the chunk plus a short carry-over
                pending += chunk
                for m in _PERCENT.finditer(pending):
                    pct = min(100, int(m.group(1)))
                    if pct > done:
                        done = pct
                        progress(pct / 100.0)
                pending = pending[-4:] if not pending.endswith(b"%") else b""
            rc = proc.wait()
        finally:
            if timer:
                timer.cancel()
            reader.join(timeout=5)
        if rc != 0:
            killed = " (killed after the timeout)" if timer and rc < 0 else ""
            raise SnapRunError(
                f"SNAP gpt failed with exit code {rc}{killed}: {' '.join(cmd)}\n"
                f"--- stderr (tail) ---\n{_tail(err_tail)}\n--- stdout (tail) ---\n{_tail(out_tail)[-1500:]}",
                rc, _tail(err_tail), _tail(out_tail),
            )
        missing = [str(p) for p in outputs.values() if not p.is_file()]
        if missing:
            raise SnapRunError(
                f"SNAP gpt exited 0 but did not write {missing}\n--- stdout (tail) ---\n{_tail(out_tail)[-1500:]}",
                rc, _tail(err_tail), _tail(out_tail),
            )
        if progress is not None and done < 100:
            progress(1.0)
        return outputs
    finally:
        if tmp is not None:
            tmp.cleanup()


# ---------------------------------------------------------------------------------------------
# constant DEM and reading SNAP's output back onto the tile window


def write_constant_dem(
    height: float, tile_grid, window: Window | None, path: str | os.PathLike, margin_deg: float = 0.1,
    resolution_deg: float = 1.0 / 3600.0 * 30,
) -> Path:
    """A float32 GeoTIFF (EPSG:4326) of ``height`` everywhere, covering the window's footprint
    plus ``margin_deg``, with nodata :data:`DEM_NODATA` (so no height is mistaken for no-data)."""
    window = _full_window(tile_grid) if window is None else _check_window(tile_grid, window)
    if not math.isfinite(height) or height == DEM_NODATA:
        raise _config_error("dem.height", height, f"must be finite and not {DEM_NODATA}")
    t = tile_grid.transform @ Affine.translation(window.col_off, window.row_off)
    xs = [t.c, t.c + window.width * t.a]
    ys = [t.f, t.f + window.height * t.e]
    gx, gy = np.meshgrid(np.linspace(*xs, 21), np.linspace(*ys, 21))
    lon, lat = pyproj.Transformer.from_crs(_tile_crs(tile_grid), 4326, always_xy=True).transform(gx, gy)
    west, east = float(np.min(lon)) - margin_deg, float(np.max(lon)) + margin_deg
    south, north = float(np.min(lat)) - margin_deg, float(np.max(lat)) + margin_deg
    width = max(2, math.ceil((east - west) / resolution_deg))
    rows = max(2, math.ceil((north - south) / resolution_deg))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
    profile = dict(driver="GTiff", width=width, height=rows, count=1, dtype="float32", crs="EPSG:4326",
                   transform=Affine(resolution_deg, 0, west, 0, -resolution_deg, north), nodata=DEM_NODATA,
                   compress="deflate", tiled=True)
    with rasterio.open(part, "w", **profile) as ds:
        ds.write(np.full((rows, width), height, dtype=np.float32), 1)
    os.replace(part, path)
    return path


def _open_on_tile_grid(ds, path: Path, tile_grid) -> tuple[int, int]:
    """Check a SNAP output is on the tile grid; return its (row, col) offset in tile pixels."""
    tt = tile_grid.transform
    if ds.crs is None or pyproj.CRS.from_user_input(ds.crs.to_wkt()) != _tile_crs(tile_grid):
        raise SnapOutputError(f"{path}: CRS {ds.crs} is not the tile's ({_tile_crs(tile_grid).name})")
    st = ds.transform
    if not (math.isclose(st.a, tt.a, rel_tol=1e-9) and math.isclose(st.e, tt.e, rel_tol=1e-9)
            and st.b == 0 and st.d == 0):
        raise SnapOutputError(f"{path}: pixel size ({st.a}, {st.e}) is not the tile's ({tt.a}, {tt.e})")
    col_f = (st.c - tt.c) / tt.a
    row_f = (st.f - tt.f) / tt.e
    col0, row0 = round(col_f), round(row_f)
    if abs(col_f - col0) > 1e-3 or abs(row_f - row0) > 1e-3:
        raise SnapOutputError(
            f"{path}: upper-left corner ({st.c}, {st.f}) is {col_f - col0:+.3f}, {row_f - row0:+.3f} px "
            f"off the tile grid (UL {tt.c}, {tt.f}); expected whole pixels"
        )
    return row0, col0


def snap_output_blocks(
    path: str | os.PathLike, tile_grid, window: Window, scale: str, negative_floor: float | None,
    block_rows: int = 1024,
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(row offset in the window, float32 block of window width)`` of one SNAP output.

    Checks the file is on the tile's CRS and grid (corners on the tile's pixel corners), maps
    SNAP's no-data 0 to NaN, the dB underflow marker and values below ``negative_floor`` (if
    given) to the floor, and places the file's overlap with ``window`` into NaN blocks (SNAP's
    Subset may be a pixel larger, or smaller where the scene does not cover the window).
    """
    path = Path(path)
    w_r0, w_c0 = int(window.row_off), int(window.col_off)
    w_h, w_w = int(window.height), int(window.width)
    floor = None
    if negative_floor is not None:
        floor = np.float32(10.0 * math.log10(negative_floor)) if scale == "db" else np.float32(negative_floor)
    with rasterio.open(path) as ds:
        row0, col0 = _open_on_tile_grid(ds, path, tile_grid)
        file_nodata = ds.nodata
        c_lo, c_hi = max(col0, w_c0), min(col0 + ds.width, w_c0 + w_w)
        for b0 in range(0, w_h, block_rows):
            bh = min(block_rows, w_h - b0)
            out = np.full((bh, w_w), np.nan, dtype=np.float32)
            r_lo, r_hi = max(row0, w_r0 + b0), min(row0 + ds.height, w_r0 + b0 + bh)
            if r_lo < r_hi and c_lo < c_hi:
                data = ds.read(1, out_dtype="float32",
                               window=Window(c_lo - col0, r_lo - row0, c_hi - c_lo, r_hi - r_lo))
                if file_nodata is not None and not math.isnan(file_nodata) and file_nodata != 0:
                    data[data == np.float32(file_nodata)] = np.nan
                data[data == 0] = np.nan  # SNAP's no-data (kept as 0 by LinearToFromdB)
                if floor is not None:
                    if scale == "db":
                        data[data == SNAP_DB_UNDERFLOW] = floor
                    with np.errstate(invalid="ignore"):
                        data[data < floor] = floor
                out[r_lo - w_r0 - b0: r_hi - w_r0 - b0, c_lo - w_c0: c_hi - w_c0] = data
            yield b0, out


def read_snap_output(
    path: str | os.PathLike, tile_grid, window: Window, scale: str, negative_floor: float | None,
) -> np.ndarray:
    """One SNAP output GeoTIFF on ``window`` of ``tile_grid`` as a float32 array (NaN = no data);
    see :func:`snap_output_blocks` (use that for large windows)."""
    out = np.empty((int(window.height), int(window.width)), dtype=np.float32)
    for r0, block in snap_output_blocks(path, tile_grid, window, scale, negative_floor):
        out[r0: r0 + block.shape[0]] = block
    return out


# ---------------------------------------------------------------------------------------------
# the processor


def _dem_for_snap(dem) -> DemConfig | str | os.PathLike | None:
    """A chain ``DemSource`` (or DemConfig / SNAP name / path) as this module's ``dem`` argument."""
    from . import dem as dem_mod

    if dem is None or isinstance(dem, (DemConfig, str, os.PathLike)):
        return dem
    if isinstance(dem, dem_mod.LocalDem):
        return DemConfig.local(dem.path, dem.vertical_datum, fill=dem.fill)
    if isinstance(dem, dem_mod.ConstantDem):
        return DemConfig.constant(dem.height, dem.vertical_datum)
    if isinstance(dem, dem_mod.Glo30Dem):
        return DemConfig.glo30(sea=dem.sea, fill=dem.fill)  # SNAP downloads the tiles itself
    raise SnapConfigError(f"SNAP backend: DEM {dem!r}: expected a LocalDem, ConstantDem, Glo30Dem, DemConfig or path")


def _dem_label(dem) -> tuple[str, str]:
    """(DEM description, geoid) for the output tags."""
    from .chain import _geoid_name

    if isinstance(dem, str) and dem in SNAP_AUTO_DEMS:
        return f"SNAP {dem} (auto-download)", "as SNAP applies it (EGM96)"
    if isinstance(dem, DemConfig):
        if dem.kind == "glo30":
            return f"SNAP {SNAP_DEM_GLO30} (auto-download)", "as SNAP applies it"
        if dem.kind == "constant":
            return f"constant height {dem.height} m ({dem.vertical_datum or 'ellipsoid'})", _geoid_name(dem.vertical_datum or "ellipsoid")
        datum = _dem_datum(dem)
        return f"DEM {dem.path}", _geoid_name(datum)
    return f"DEM {dem}", "from the DEM file's CRS"


@dataclass
class SnapProcessor:
    """The SNAP backend, with the call shape and result of :func:`.chain.process_scene_to_tile`.

    ``gpt``: path of ``gpt`` (default :func:`find_gpt` at first use); ``memory`` / ``cache`` /
    ``threads`` / ``timeout``: see :func:`run_graph`; ``workdir``: where graphs and SNAP's
    intermediate GeoTIFFs go (a temporary folder per call, removed afterwards, if None; kept for
    inspection otherwise).
    """

    gpt: str | os.PathLike | None = None
    memory: str | None = None
    cache: str | None = None
    threads: int | None = None
    workdir: str | os.PathLike | None = None
    timeout: float | None = None

    @staticmethod
    def snap_notes(config: ProcessingConfig) -> tuple[str, ...]:
        """What SNAP decides itself for ``config`` (recorded in the output's ``snap_notes`` tag)."""
        notes = ["orbit: annotation state vectors, interpolated by SNAP (no Apply-Orbit-File)",
                 "geodesy_step: not applicable (SNAP's own range-Doppler solver)"]
        if config.thermal_noise_removal:
            notes.append("negative values: SNAP floors DN²−N at 1e-5 DN², then raised to "
                         f"negative_floor={config.negative_floor}")
        sf = config.speckle_filter
        if sf.kind == "refined_lee":
            notes.append("Refined Lee: SNAP estimates the speckle variance per window (looks not used)")
        elif sf.kind == "lee_sigma":
            notes.append("Lee Sigma: SNAP adds its point-target step (targetWindowSizeStr 3x3)")
        if config.border_noise_removal != "zero_only":
            notes.append("border noise: SNAP's own border search (borderLimit, trimThreshold) where applied")
        notes.append("DEM gaps and sea: SNAP writes no-data instead of raising")
        return tuple(notes)

    @staticmethod
    def fingerprint(config: ProcessingConfig) -> str:
        """16-hex hash of the config *and* this backend (SNAP pixels differ from the own chain's)."""
        return hashlib.sha256(f"snap\n{config.fingerprint()}".encode()).hexdigest()[:16]

    def process_scene_to_tile(
        self,
        product: str | os.PathLike | Any,
        tile_grid,
        output,
        window: Window | None = None,
        config: ProcessingConfig | None = None,
        dem: Any = None,
        progress: Callable[[float, str], None] | None = None,
        *,
        storage_options: dict | None = None,
        dem_store: str | os.PathLike | None = None,
        block_rows: int = 1024,
        strip_rows: int = 1024,
    ):
        """Like :func:`.chain.process_scene_to_tile`, with SNAP doing the processing.

        ``product``: local SAFE folder or zip (or an opened ``SafeProduct`` of one); ``dem``: a
        chain ``DemSource`` (LocalDem, ConstantDem, Glo30Dem → SNAP's own GLO-30 download), a
        :class:`DemConfig`, a SNAP DEM name or a DEM file; default ``config.dem``. ``dem_store``
        and ``strip_rows`` have no meaning for SNAP (accepted for the same call shape);
        ``block_rows`` sets the read-back block height. Writes the same COG (one float32 band
        per polarisation, NaN no-data, the chain's provenance tags plus ``backend=snap`` and
        ``snap_notes``) and returns a :class:`.chain.ChainResult`. A product whose footprint
        misses the window gives ``covered=False`` without running SNAP.
        """
        from upath import UPath

        from ..formats.cog import write_cog
        from .chain import ChainResult, processor_name
        from .safe import SafeProduct, open_safe

        t_start = time.perf_counter()
        timings: dict[str, float] = {}
        config = config or ProcessingConfig()
        say = progress or (lambda f, m: None)
        window = _full_window(tile_grid) if window is None else _check_window(tile_grid, window)
        if isinstance(product, SafeProduct):
            product = product.source
        if storage_options or "://" in os.fspath(product):
            raise SnapConfigError(f"SNAP backend: product {os.fspath(product)!r}: SNAP reads local files only")
        t0 = time.perf_counter()
        with open_safe(product) as prod:
            manifest = prod.manifest
            name = prod.name
        timings["open"] = time.perf_counter() - t0
        dem_arg = _dem_for_snap(dem)
        effective = config.dem if dem_arg is None else dem_arg
        dem_text, geoid_text = _dem_label(effective)
        tile_win = [int(window.col_off), int(window.row_off), int(window.width), int(window.height)]
        tags = {
            "source_product": name,
            "mission": manifest.mission,
            "start_time": f"{np.datetime_as_string(manifest.start_time, unit='us')}Z",
            "stop_time": f"{np.datetime_as_string(manifest.stop_time, unit='us')}Z",
            "pass_direction": manifest.pass_direction,
            "relative_orbit": str(manifest.relative_orbit),
            "absolute_orbit": str(manifest.absolute_orbit),
            "ipf_version": manifest.ipf_version,
            "processing": config.to_json(),
            "processing_fingerprint": self.fingerprint(config),
            "processor": f"{processor_name()} + ESA SNAP gpt",
            "backend": "snap",
            "snap_notes": json.dumps(self.snap_notes(config)),
            "dem": dem_text,
            "geoid": geoid_text,
            "quantity": config.calibration,
            "units": "dB" if config.output_scale == "db" else "linear",
            "tile_window": json.dumps(tile_win),
        }

        def result(**kw):
            timings["total"] = time.perf_counter() - t_start
            return ChainResult(product=name, tile_window=window, parameters=config.to_dict(),
                               fingerprint=self.fingerprint(config), timings=dict(timings), tags=tags,
                               scene_window=None, **kw)

        outline = shapely.wkt.loads(_window_geo_region(tile_grid, window))
        if not manifest.footprint_polygon.intersects(outline):
            return result(covered=False, output=None, valid_fraction=0.0,
                          band_valid_fraction={p: 0.0 for p in config.polarisations},
                          reason=f"{name}: the product footprint does not intersect the target window {tile_win}")

        tmp = tempfile.TemporaryDirectory(prefix=staging.prefix("ben_sen1_snap_")) if self.workdir is None else None
        wd = Path(tmp.name) if tmp is not None else Path(self.workdir) / f"snap-{uuid.uuid4().hex[:12]}"
        try:
            wd.mkdir(parents=True, exist_ok=True)
            if isinstance(effective, DemConfig) and effective.kind == "constant":
                # SNAP's equivalent of a constant DEM: a GeoTIFF of that height as external DEM
                path = write_constant_dem(effective.height, tile_grid, window, wd / "constant_dem.tif")
                dem_arg = DemConfig(kind="local", path=str(path), vertical_datum=effective.vertical_datum or "ellipsoid")
            xml = build_graph(product, tile_grid, window, config, dem_arg, wd / "snap_{polarisation}.tif",
                              ipf=manifest.ipf)
            t0 = time.perf_counter()
            outputs = run_graph(xml, gpt=self.gpt, memory=self.memory, cache=self.cache, threads=self.threads,
                                progress=lambda f: say(0.9 * f, f"{name}: SNAP gpt {f:.0%}"), workdir=wd,
                                timeout=self.timeout)
            timings["snap"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            pols = config.polarisations
            floor = config.negative_floor if config.thermal_noise_removal else None
            height, width = int(window.height), int(window.width)
            profile = dict(driver="GTiff", width=width, height=height, count=len(pols), dtype="float32",
                           crs=rasterio.crs.CRS.from_wkt(_tile_crs(tile_grid).to_wkt()),
                           transform=tile_grid.transform @ Affine.translation(window.col_off, window.row_off),
                           nodata=float("nan"), tiled=True, blockxsize=512, blockysize=512, BIGTIFF="IF_SAFER",
                           interleave="band")
            valid_all = np.ones((height, width), dtype=bool) if len(pols) > 1 else None
            n_valid = {}
            staging = wd / "tile.tif"
            with rasterio.open(staging, "w", **profile) as dst:
                dst.update_tags(**tags)
                for b, pol in enumerate(pols, 1):
                    dst.set_band_description(b, pol)
                    n = 0
                    for r0, block in snap_output_blocks(outputs[f"Write-{pol}"], tile_grid, window,
                                                        config.output_scale, floor, block_rows):
                        fin = np.isfinite(block)
                        n += int(fin.sum())
                        if valid_all is not None:
                            valid_all[r0: r0 + block.shape[0]] &= fin
                        dst.write(block, b, window=Window(0, r0, width, block.shape[0]))
                    n_valid[pol] = n
            timings["read_back"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            out = output if isinstance(output, UPath) else UPath(os.fspath(output))
            write_cog(staging, out)
            timings["cog"] = time.perf_counter() - t0
            total = float(height * width)
            all_valid = int(valid_all.sum()) if valid_all is not None else n_valid[pols[0]]
            say(1.0, f"{name}: written {out}")
            return result(covered=True, output=str(out), valid_fraction=all_valid / total,
                          band_valid_fraction={p: n_valid[p] / total for p in pols})
        finally:
            if tmp is not None:
                tmp.cleanup()
