"""The SNAP backend's graph: a :class:`~.config.ProcessingConfig` as a GPT graph (XML), and its errors.

Used by :mod:`.snap` (which runs it with :mod:`.snap_gpt` and reads SNAP's output back).

:func:`build_graph` turns a :class:`~.config.ProcessingConfig` into a GPT graph (XML text),
:func:`find_gpt` locates SNAP's ``gpt``, :func:`run_graph` runs it in a subprocess, and
:class:`SnapProcessor` does all three, reads SNAP's GeoTIFFs back onto the tile window and
writes the same COG as the project's own chain (:func:`.chain.process_scene_to_tile`, whose
signature and :class:`.chain.ChainResult` it shares).

The graph (one node per step, each fed by the one before)::

    Read → [Remove-GRD-Border-Noise] → [ThermalNoiseRemoval] → Calibration → [Terrain-Flattening]
         → [Speckle-Filter] → Terrain-Correction → Subset → [LinearToFromdB] → BandSelect-<pol> →
         Write-<pol> (per polarisation);  Subset → BandSelect-LIA → Write-LIA (local incidence angle)

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
                           ``"gamma0_rtc"``: ``outputBetaBand`` then a Terrain-Flattening node
                           (SNAP's radar-geometry implementation of Small 2011) on the same DEM
                           parameters as Terrain-Correction (``demName``/``externalDEMFile``/
                           ``externalDEMNoDataValue``/``externalDEMApplyEGM``,
                           ``demResamplingMethod``), ``additionalOverlap`` 0.1,
                           ``oversamplingMultiple`` 1.0, before the speckle filter as in our chain.
(local incidence angle)    Terrain-Correction: ``saveLocalIncidenceAngle`` = true; its
                           ``localIncidenceAngle`` band is written beside the polarisations.
thermal_noise_removal      ThermalNoiseRemoval node (``removeThermalNoise`` = true, ``outputNoise`` =
                           false, ``reIntroduceThermalNoise`` = false) present or absent.
negative, negative_floor   No SNAP parameter: SNAP sets DN² − N < 0 to 1e-5 *DN²* before calibration.
                           ``"floor"`` is honoured after the run (values below ``negative_floor`` are
                           raised to it). Unlike our chain, whose linear values stay unclipped, SNAP's
                           dark areas are therefore floored, also in linear outputs; ``"nan"`` /
                           ``"zero"`` cannot be reproduced → :class:`SnapConfigError` (when noise
                           removal is on).
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

import math
import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import rasterio
from affine import Affine
from rasterio.windows import Window

from .config import ConfigError, DemConfig, ProcessingConfig
from .errors import SafeError

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

_CALIBRATION_BANDS = {"sigma0": "Sigma0", "beta0": "Beta0", "gamma0": "Gamma0", "gamma0_rtc": "Gamma0"}
#: the Terrain-Correction band of the local incidence angle, and our name for its output file
SNAP_LIA_BAND = "localIncidenceAngle"
LIA_OUTPUT = "LIA"
_RESAMPLING = {"bilinear": "BILINEAR_INTERPOLATION", "nearest": "NEAREST_NEIGHBOUR"}
_SNAP_FILTERS = {"refined_lee": "Refined Lee", "lee_sigma": "Lee Sigma", "boxcar": "Boxcar"}
_LEE_SIGMA_WINDOWS = (5, 7, 9, 11, 13, 15, 17)
_LEE_SIGMA_SIGMAS = (0.5, 0.6, 0.7, 0.8, 0.9)
_LEGACY_IPF = (2, 90)
_DEFAULTS = ProcessingConfig()


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
        "outputBetaBand": config.calibration in ("beta0", "gamma0_rtc"),
    })
    if config.calibration == "gamma0_rtc":
        add("Terrain-Flattening", "Terrain-Flattening", {
            **{k: dem_params[k] for k in ("demName", "externalDEMFile", "externalDEMNoDataValue", "externalDEMApplyEGM")},
            "demResamplingMethod": _RESAMPLING[config.dem_resampling],
            "outputSimulatedImage": False,
            "additionalOverlap": 0.1,
            "oversamplingMultiple": 1.0,
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
        "saveLocalIncidenceAngle": True,
        "saveProjectedLocalIncidenceAngle": False,
        "saveSelectedSourceBand": True,
        "applyRadiometricNormalization": False,
    })
    add("Subset", "Subset", {"geoRegion": _window_geo_region(tile_grid, window)})
    subset = nodes[-1].id
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
    # the local incidence angle, from before any dB conversion
    lia_path = output_paths(output_path, [LIA_OUTPUT])[LIA_OUTPUT]
    nodes.append(GraphNode(f"BandSelect-{LIA_OUTPUT}", "BandSelect", subset, {"sourceBands": SNAP_LIA_BAND}))
    nodes.append(GraphNode(f"Write-{LIA_OUTPUT}", "Write", f"BandSelect-{LIA_OUTPUT}", {
        "file": str(Path(lia_path).resolve()), "formatName": OUTPUT_FORMAT, "deleteOutputOnFailure": True,
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
