"""SNAP (S1TBX) backend: the project's chain as a GPT graph, for users who have ESA SNAP.

:mod:`.snap_graph` turns a :class:`~.config.ProcessingConfig` into a GPT graph (its docstring maps
every field to SNAP's operator parameters), :mod:`.snap_gpt` finds and runs ``gpt``, and
:class:`SnapProcessor` here does both, reads SNAP's GeoTIFFs back onto the tile window and writes
the same COG as the project's own chain (:func:`.chain.process_scene_to_tile`, whose signature
and :class:`.chain.ChainResult` it shares): the polarisations, ``local_incidence_angle`` (SNAP's
Terrain-Correction ``localIncidenceAngle``) and ``mask`` (only the ``no_data`` bit: SNAP's
layover/shadow and noise flags are not mapped; see :meth:`SnapProcessor.snap_notes`).

The names of both modules are re-exported here.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

import numpy as np
import pyproj
import rasterio
import rasterio.crs
import shapely.wkt
from affine import Affine
from rasterio.windows import Window

from ..formats import staging
from .config import DemConfig, ProcessingConfig
from .masks import NO_DATA, mask_bits
from .snap_gpt import COMMON_GPT_LOCATIONS, GPT_ENV, esa_snappy_available, find_gpt, run_graph
from .snap_graph import (
    DEM_NODATA,
    OUTPUT_FORMAT,
    SNAP_AUTO_DEMS,
    SNAP_DB_UNDERFLOW,
    SNAP_DEM_GLO30,
    SNAP_DEM_SRTM1,
    LIA_OUTPUT,
    GraphNode,
    SnapConfigError,
    SnapError,
    SnapNotFoundError,
    SnapOutputError,
    SnapRunError,
    _check_window,
    _config_error,
    _dem_datum,
    _full_window,
    _tile_crs,
    _window_geo_region,
    build_graph,
    graph_nodes,
    output_paths,
    write_outputs_of,
)

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
    "COMMON_GPT_LOCATIONS",
    "GraphNode",
    "OUTPUT_FORMAT",
    "write_outputs_of",
]

#: band names after the polarisations, as the project's chain writes them
LIA_BAND = "local_incidence_angle"
MASK_BAND = "mask"


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
        return f"DEM {PurePath(dem.path).name}", _geoid_name(datum)  # a file name: no machine path in outputs
    return f"DEM {PurePath(str(dem)).name}", "from the DEM file's CRS"


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
        if config.calibration == "gamma0_rtc":
            notes.append("gamma0_rtc: SNAP's Terrain-Flattening (radar geometry, its own DEM oversampling and "
                         "5 % area threshold), not the project's facet projection")
        notes.append("local_incidence_angle: SNAP Terrain-Correction's localIncidenceAngle; mask: only the "
                     "no_data bit (layover, shadow, DEM gap and DN² < noise bits are not set)")
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
            "processing": config.to_portable_json(),
            "processing_fingerprint": self.fingerprint(config),
            "processor": f"{processor_name()} + ESA SNAP gpt",
            "backend": "snap",
            "snap_notes": json.dumps(self.snap_notes(config)),
            "dem": dem_text,
            "geoid": geoid_text,
            "quantity": config.calibration,
            "units": "dB" if config.output_scale == "db" else "linear",
            "tile_window": json.dumps(tile_win),
            "bands": json.dumps([*config.polarisations, LIA_BAND, MASK_BAND]),
            "mask_bits": json.dumps(mask_bits(config.polarisations)),
            "local_incidence_angle_units": "degree",
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
            profile = dict(driver="GTiff", width=width, height=height, count=len(pols) + 2, dtype="float32",
                           crs=rasterio.crs.CRS.from_wkt(_tile_crs(tile_grid).to_wkt()),
                           transform=tile_grid.transform @ Affine.translation(window.col_off, window.row_off),
                           nodata=float("nan"), tiled=True, blockxsize=512, blockysize=512, BIGTIFF="IF_SAFER",
                           interleave="band")
            valid_all = np.ones((height, width), dtype=bool)
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
                        valid_all[r0: r0 + block.shape[0]] &= fin
                        dst.write(block, b, window=Window(0, r0, width, block.shape[0]))
                    n_valid[pol] = n
                # SNAP's local incidence angle; the mask carries only what SNAP tells: no data
                dst.set_band_description(len(pols) + 1, LIA_BAND)
                dst.set_band_description(len(pols) + 2, MASK_BAND)
                for r0, block in snap_output_blocks(outputs[f"Write-{LIA_OUTPUT}"], tile_grid, window, "linear",
                                                    None, block_rows):
                    dst.write(block, len(pols) + 1, window=Window(0, r0, width, block.shape[0]))
                mask = np.where(valid_all, 0, NO_DATA).astype(np.float32)
                dst.write(mask, len(pols) + 2)
            timings["read_back"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            out = output if isinstance(output, UPath) else UPath(os.fspath(output))
            write_cog(staging, out)
            timings["cog"] = time.perf_counter() - t0
            total = float(height * width)
            all_valid = int(valid_all.sum())
            say(1.0, f"{name}: written {out}")
            return result(covered=True, output=str(out), valid_fraction=all_valid / total,
                          band_valid_fraction={p: n_valid[p] / total for p in pols})
        finally:
            if tmp is not None:
                tmp.cleanup()
