"""The whole S1 chain for one (scene, tile) pair: SAFE → σ0/β0/γ0 on the S2 tile grid (COG).

:func:`process_scene_to_tile` runs, for a (window of a) tile grid:
reader → border noise + thermal noise → calibration → [terrain flattening: ``gamma0_rtc`` divides
β0 by the normalised illuminated area of the DEM facets projecting into each GRD pixel,
:mod:`.terrain_flattening`, :mod:`.rtc_area`] → speckle filter → range-Doppler geocoding
(DEM heights + geoid) → resampling onto the tile grid → dB, and writes a Cloud-Optimized GeoTIFF
with one float32 band per polarisation (NaN = no data), then ``local_incidence_angle`` (degrees,
:mod:`.incidence`; NaN off the GRD image) and ``mask`` (uint8 bits of :mod:`.masks`, exact in float32), and the
provenance tags (``mask_bits`` names the bits).

How it stays fast and small (DESIGN.md decisions 1, 2):

1. A coarse pass geocodes the tile window every ~32 px. If no target pixel falls on the GRD image
   the product is skipped with a reason (:attr:`ChainResult.covered` False, nothing written);
   tile row blocks that miss the image are not processed.
2. The tile window is processed in row blocks (``block_rows``, default 1024 rows × the window
   width), each read with a halo in the range direction as wide as the relief can shade or fold
   (:mod:`.terrain`). Per block: DEM heights → GRD (line, pixel) of every target pixel (computed
   once, shared by all polarisations and layers; by default tie-point geocoding,
   :mod:`.tiepoints`, ≤ 0.01 px from the per-pixel solve) → the GRD window those need
   (:func:`grd_extent`); the local incidence angle and the layover/shadow mask from the same
   heights, computed only within the halo's reach of the pixels on the image (off a swath, the
   geometry is not computed: nothing there is imaged or hides what is).
3. Radiometry + speckle filter of GRD pixels are computed only for that GRD window, in strips of
   ≤ 1.25 × ``strip_rows`` lines read with the filter's halo, and kept in a rolling float32 cache: the
   next block reuses the lines it shares with the previous one (consecutive tile blocks map to
   overlapping, monotonically moving GRD line ranges), so every needed GRD pixel is calibrated
   and filtered about once and peak memory is bounded by one block's GRD window, whatever the
   tile size. Results equal a whole-scene run exactly: radiometry depends only on absolute
   (line, pixel) and the filter only on pixels within its halo (clipped at the scene edges).
4. Each block is resampled (bilinear/nearest) for every polarisation, converted to dB and handed
   to a :class:`..formats.cog_writer.CogWriter`, which adds it to the averaged overview pyramid
   and encodes its tiles while the next block is computed, and at the end assembles the COG at
   ``output`` (atomically).
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import rasterio
from affine import Affine
from rasterio.windows import Window

from .config import ProcessingConfig
from .dem import DemError, DemSource
from .errors import SafeError
from .geocoding import GeometryModel, RasterGrid, geocode_grid
from .incidence import block_angles
from .masks import (
    DEM_FILLED,
    NO_DATA,
    NOISE_FIRST,
    NOISE_SECOND,
    RTC_AREA_LOW,
    add_nearest_flags_of,
    layover_shadow,
    mask_bits,
)
from .radiometry import (
    border_valid_mask,
    calibrate,
    calibration_window,
    noise_window,
    uses_edge_trim,
)
from .safe import SafeProduct, open_safe
from .terrain import grown_grid, halo_for, range_direction, terrain_block
from .chain_kernels import copy_rows, finish_mask, grd_extent, resample_block
from .rtc_area import GrdAreaSource
from .terrain_flattening import MIN_AREA_FRACTION
from .tiepoints import geocode_grid_tiepoints

#: progress callback: (fraction done 0..1, message)
Progress = Callable[[float, str], None]

_COARSE_STEP = 32  # target px between coarse-pass nodes
_COARSE_MARGIN = 256  # GRD px of slack around the coarse pass (interpolation, DEM gaps)
#: names of the bands after the polarisations: local incidence angle (degrees) and the mask
#: (uint8 bits of :mod:`.masks`, stored exactly in float32)
LIA_BAND = "local_incidence_angle"
MASK_BAND = "mask"
#: bits of :attr:`FilteredGrd.flags`
FLAG_NOISE = 1
FLAG_AREA_LOW = 2


class ChainError(SafeError):
    """The chain cannot run as asked (bad window, polarisation, inconsistent product)."""


@dataclass(frozen=True)
class ChainResult:
    """Outcome of :func:`process_scene_to_tile`.

    ``covered`` False: the product's image touches no target pixel; ``reason`` says why and no
    output was written (``output`` None). ``mask_fractions``: share of the window's pixels with
    each mask bit set. ``valid_fraction``: share of the target window's pixels
    with a finite value in every band; ``band_valid_fraction`` per band. ``scene_window``: the
    union of GRD windows read (rasterio Window on the GRD image), None if nothing was read.
    ``timings``: wall seconds per step (``open``, ``coarse``, ``dem``, ``geocoding``,
    ``terrain``, ``incidence``, ``masks``, ``read``, ``radiometry``, [``flattening``], ``speckle``,
    ``resample``, ``write``: handing blocks to the COG writer's thread and waiting for it,
    ``cog``: the last block's encoding and the file's assembly, ``total``); ``cpu_timings``: CPU
    seconds of the whole process during each step (all threads: numba's, GDAL's and the COG
    writer's, which encode blocks while the next is computed; ``staging``: the writer threads'
    own CPU seconds), so CPU / wall shows how many cores a step kept busy.
    """

    product: str
    tile_window: Window
    covered: bool
    output: str | None
    valid_fraction: float
    band_valid_fraction: dict[str, float]
    scene_window: Window | None
    timings: dict[str, float]
    parameters: dict
    fingerprint: str
    reason: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    mask_fractions: dict[str, float] = field(default_factory=dict)
    cpu_timings: dict[str, float] = field(default_factory=dict)


def processor_name() -> str:
    """``ben_sen1_assets <version>`` (the installed distribution's version)."""
    try:
        version = importlib.metadata.version("ben_sen1_assets")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return f"ben_sen1_assets {version}"


def patches_window(patches, patch_size: int = 120) -> Window:
    """Bounding pixel window of ``(x, y)`` patch indices on a tile grid (``patch_size`` px)."""
    patches = list(patches)
    if not patches:
        raise ChainError("no patches given: cannot derive a tile window")
    xs = [int(x) for x, _ in patches]
    ys = [int(y) for _, y in patches]
    return Window(min(xs) * patch_size, min(ys) * patch_size,
                  (max(xs) - min(xs) + 1) * patch_size, (max(ys) - min(ys) + 1) * patch_size)


def tile_window(entry) -> Window:
    """Default window of a catalog entry (``TileEntry``): the bounding box of its patches in scope,
    or the whole tile when all patches are wanted."""
    if entry.patches_in_scope is None:
        h, w = entry.tile.shape
        return Window(0, 0, w, h)
    return patches_window(entry.patches_in_scope)


class _Timings(dict):
    """Wall seconds per step; ``cpu``: the process's CPU seconds during each step."""

    def __init__(self) -> None:
        super().__init__()
        self.cpu: dict[str, float] = {}


def _timer(timings: dict[str, float], key: str):
    class _T:
        def __enter__(self):
            self.t = time.perf_counter()
            self.c = time.process_time()

        def __exit__(self, *exc):
            timings[key] = timings.get(key, 0.0) + time.perf_counter() - self.t
            cpu = getattr(timings, "cpu", None)
            if cpu is not None:
                cpu[key] = cpu.get(key, 0.0) + time.process_time() - self.c

    return _T()


def _intersect(a: Window, b: Window) -> Window | None:
    r0 = max(a.row_off, b.row_off)
    r1 = min(a.row_off + a.height, b.row_off + b.height)
    c0 = max(a.col_off, b.col_off)
    c1 = min(a.col_off + a.width, b.col_off + b.width)
    if r0 >= r1 or c0 >= c1:
        return None
    return Window(int(c0), int(r0), int(c1 - c0), int(r1 - r0))


def _union(a: Window | None, b: Window) -> Window:
    if a is None:
        return b
    r0 = min(a.row_off, b.row_off)
    c0 = min(a.col_off, b.col_off)
    r1 = max(a.row_off + a.height, b.row_off + b.height)
    c1 = max(a.col_off + a.width, b.col_off + b.width)
    return Window(int(c0), int(r0), int(c1 - c0), int(r1 - r0))


class FilteredGrd:
    """Calibrated, speckle-filtered float32 GRD pixels of a moving window, per polarisation.

    :meth:`ensure` makes ``data[pol]`` hold the pixels of (at least the columns of) a requested
    window, reusing the overlap with what it held before and computing the rest in strips.
    ``flags[pol]`` (uint8, same window): bit :data:`FLAG_NOISE` where DN² < N before the filter
    (the calibrated value is negative; kept, unclipped), bit :data:`FLAG_AREA_LOW` where terrain
    flattening masked the pixel. For ``gamma0_rtc`` the chain gives an ``area_source``
    (:class:`.rtc_area.GrdAreaSource`): β0 of each strip is divided by the normalised area of its
    GRD pixels *before* the speckle filter (as SNAP's Terrain-Flattening → Speckle-Filter), so the
    filter sees γ0_T, not the terrain's brightness pattern.
    """

    def __init__(self, product: SafeProduct, polarisations: tuple[str, ...], config: ProcessingConfig,
                 timings: dict[str, float], strip_rows: int = 1024, area_source=None):
        self.product = product
        self.polarisations = polarisations
        self.params = config.radiometry_params()
        self.speckle = config.speckle_filter
        self.timings = timings
        self.strip_rows = int(strip_rows)
        self.shape = product.annotation(polarisations[0]).shape
        self.edge_trim = uses_edge_trim(self.params, product.manifest.ipf)
        # uncompressed strips of whole lines: read just the window's columns (GDAL's direct I/O,
        # decided when a dataset opens; fsspec openers do not support it)
        direct_io = {"GTIFF_DIRECT_IO": True} if product.measurements_read_by_gdal else {}
        with warnings.catch_warnings(), rasterio.Env(**direct_io):
            # measurement TIFFs carry GCPs, not a geotransform: rasterio's warning says nothing here
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            self._datasets = {p: product.open_measurement(p) for p in polarisations}
        for p, ds in self._datasets.items():
            if (ds.height, ds.width) != self.shape:
                raise ChainError(
                    f"{product.source}: measurement of {p} is {ds.height}×{ds.width} pixels but the "
                    f"annotation says {self.shape[0]}×{self.shape[1]}"
                )
        self._cal = {p: product.calibration(p) for p in polarisations}
        need_noise = self.params.thermal_noise or self.edge_trim
        self._noise = {p: product.noise(p) for p in polarisations} if need_noise else {}
        self.window: Window | None = None
        self.data: dict[str, np.ndarray] = {}
        self.flags: dict[str, np.ndarray] = {}
        self.area_source = area_source
        self._area: tuple | None = None  # (GRD window, its normalised area, floor per column)
        self.read_window: Window | None = None  # union of the GRD windows processed (with halo)

    def close(self) -> None:
        for ds in self._datasets.values():
            ds.close()
        self._datasets = {}

    def _read(self, pol: str, window: Window) -> np.ndarray:
        with _timer(self.timings, "read"):
            return self._datasets[pol].read(1, window=window)

    def _flatten(self, values: np.ndarray, window: Window) -> np.ndarray:
        """γ0_T = β0 / normalised area of ``window`` (in place); NaN where the area is below
        :data:`MIN_AREA_FRACTION` of flat ground's. Returns the masked pixels (bool)."""
        key = tuple(int(v) for v in (window.col_off, window.row_off, window.width, window.height))
        if self._area is None or self._area[0] != key:  # once per strip for all polarisations
            floor = MIN_AREA_FRACTION * _flat_area(self.product.annotation(self.polarisations[0]), window)
            self._area = None  # the previous strip's area released first
            self._area = (key, self.area_source.area(window), floor)
        _, a, floor = self._area
        low = ~(a >= floor[None, :])
        with np.errstate(invalid="ignore", divide="ignore"):
            np.divide(values, a, out=values)
        values[low] = np.nan
        return low

    def radiometry(self, pol: str, window: Window, out: np.ndarray | None = None) -> np.ndarray:
        """Calibrated (denoised, border-masked) float32 of a GRD window (into ``out`` if given)."""
        dn = self._read(pol, window)
        with _timer(self.timings, "radiometry"):
            noise = self._noise.get(pol)
            valid = None
            if self.edge_trim:
                valid = border_valid_mask(lambda w: self._read(pol, w), noise, self.shape, window, self.params)
            return calibrate(
                dn,
                calibration_window(self._cal[pol], window, self.params.quantity),
                noise_window(noise, window) if self.params.thermal_noise else None,
                self.params,
                valid,
                out,
            )

    def filter_into(self, pol: str, window: Window, values: np.ndarray, flags: np.ndarray) -> None:
        """Radiometry + speckle filter of ``window`` (read with the filter's halo, clipped to the
        scene) into ``values`` (float32, the window's shape), its flags (DN² < N; terrain
        flattening's mask) into ``flags``. The radiometry is written into a buffer padded with
        NaN for the filter, which writes the window's pixels straight into ``values``."""
        h = self.speckle.halo
        r0, c0 = max(int(window.row_off) - h, 0), max(int(window.col_off) - h, 0)
        r1 = min(int(window.row_off + window.height) + h, self.shape[0])
        c1 = min(int(window.col_off + window.width) + h, self.shape[1])
        halo_window = Window(c0, r0, c1 - c0, r1 - r0)
        self.read_window = _union(self.read_window, halo_window)
        padded = np.empty((r1 - r0 + 2 * h, c1 - c0 + 2 * h), np.float32)
        if h:  # outside the scene = NaN, as SpeckleFilter.apply pads
            padded[:h] = padded[-h:] = np.nan
            padded[:, :h] = padded[:, -h:] = np.nan
        cal = padded[h : h + r1 - r0, h : h + c1 - c0]
        self.radiometry(pol, halo_window, out=cal)
        rr, cc = int(window.row_off) - r0, int(window.col_off) - c0
        inner = (slice(rr, rr + int(window.height)), slice(cc, cc + int(window.width)))
        if self.params.thermal_noise:
            np.less(cal[inner], 0, out=flags)
        else:
            flags[...] = 0
        if self.area_source is not None:
            with _timer(self.timings, "flattening"):
                flags[self._flatten(cal, halo_window)[inner]] |= FLAG_AREA_LOW
        with _timer(self.timings, "speckle"):
            if self.speckle.kind == "none":
                values[...] = cal[inner]
            else:
                self.speckle.filter_into(padded, values, rr, cc)

    def _compute_into(self, arrays: dict[str, np.ndarray], flags: dict[str, np.ndarray], region: Window,
                      part: Window) -> None:
        end = int(part.row_off + part.height)
        s = int(part.row_off)
        while s < end:
            e = min(s + self.strip_rows, end)
            if end - e < self.strip_rows // 4:  # a short remainder joins this strip (fewer halos)
                e = end
            strip = Window(int(part.col_off), s, int(part.width), e - s)
            dst = (slice(s - int(region.row_off), e - int(region.row_off)),
                   slice(int(part.col_off - region.col_off), int(part.col_off - region.col_off + part.width)))
            for pol in self.polarisations:
                self.filter_into(pol, strip, arrays[pol][dst], flags[pol][dst])
            s = e

    def ensure(self, need: Window) -> None:
        """Hold at least ``need`` (rows exactly; columns: ``need`` ∪ the columns held before)."""
        old = self.window
        if old is not None and _intersect(old, need) is not None and _intersect(old, need) == need:
            return
        if old is not None:
            c0 = min(int(old.col_off), int(need.col_off))
            c1 = max(int(old.col_off + old.width), int(need.col_off + need.width))
            new = Window(c0, int(need.row_off), c1 - c0, int(need.height))
        else:
            new = need
        arrays = {p: np.empty((int(new.height), int(new.width)), np.float32) for p in self.polarisations}
        flags = {p: np.empty((int(new.height), int(new.width)), np.uint8) for p in self.polarisations}
        inter = _intersect(old, new) if old is not None else None
        if inter is None:
            self._compute_into(arrays, flags, new, new)
        else:
            dst = (slice(int(inter.row_off - new.row_off), int(inter.row_off - new.row_off + inter.height)),
                   slice(int(inter.col_off - new.col_off), int(inter.col_off - new.col_off + inter.width)))
            src = (slice(int(inter.row_off - old.row_off), int(inter.row_off - old.row_off + inter.height)),
                   slice(int(inter.col_off - old.col_off), int(inter.col_off - old.col_off + inter.width)))
            for pol in self.polarisations:  # the lines held before (in parallel: ~100 MB a block)
                copy_rows(self.data[pol][src], arrays[pol][dst])
                copy_rows(self.flags[pol][src], flags[pol][dst])
            nr0, nr1 = int(new.row_off), int(new.row_off + new.height)
            nc0, nc1 = int(new.col_off), int(new.col_off + new.width)
            ir0, ir1 = int(inter.row_off), int(inter.row_off + inter.height)
            ic0, ic1 = int(inter.col_off), int(inter.col_off + inter.width)
            parts = [
                Window(nc0, nr0, nc1 - nc0, ir0 - nr0),  # above
                Window(nc0, ir1, nc1 - nc0, nr1 - ir1),  # below
                Window(nc0, ir0, ic0 - nc0, ir1 - ir0),  # left
                Window(ic1, ir0, nc1 - ic1, ir1 - ir0),  # right
            ]
            for part in parts:
                if part.height > 0 and part.width > 0:
                    self._compute_into(arrays, flags, new, part)
        self.data = arrays  # the old arrays are released here
        self.flags = flags
        self.window = new


def _flat_area(annotation, window: Window) -> np.ndarray:
    """Normalised area of flat ground, cot θ, per column of a GRD ``window`` (incidence angle of
    the annotation's geolocation grid at the window's middle line: it changes by < 0.01° along
    a block's lines)."""
    g = annotation.geolocation_grid
    lines = np.unique(g.line).astype(float)
    inc = g.as_2d("incidence_angle")
    mid = float(window.row_off) + 0.5 * float(window.height)
    i = int(np.clip(np.searchsorted(lines, mid) - 1, 0, lines.size - 2))
    t = float(np.clip((mid - lines[i]) / (lines[i + 1] - lines[i]), 0.0, 1.0))
    row = (1 - t) * inc[i] + t * inc[i + 1]
    cols = np.arange(int(window.col_off), int(window.col_off + window.width), dtype=float)
    return 1.0 / np.tan(np.radians(np.interp(cols, np.unique(g.pixel).astype(float), row)))


def _coarse_grid(grid: RasterGrid, step: int) -> RasterGrid:
    """A grid of ~``step``-px cells exactly covering ``grid`` (so node centres lie inside it)."""
    h, w = grid.shape
    nh, nw = max(1, math.ceil(h / step)), max(1, math.ceil(w / step))
    return RasterGrid(grid.crs, grid.transform @ Affine.scale(w / nw, h / nh), (nh, nw))


def _coarse_heights(dem: DemSource, grid: RasterGrid) -> tuple[np.ndarray, str]:
    try:
        d = dem.read(grid)
        return d.heights, d.vertical_datum
    except DemError:
        # only used to find the GRD extent: gaps here must not stop the run (the blocks apply
        # the DEM's own gap policy); sea level with a wide margin is enough for that
        return np.zeros(grid.shape, np.float32), dem.vertical_datum


def _on_image(line: np.ndarray, pixel: np.ndarray, shape: tuple[int, int], margin: float) -> np.ndarray:
    ok = np.isfinite(line) & np.isfinite(pixel)
    return ok & (line > -margin) & (line < shape[0] - 1 + margin) & (pixel > -margin) & (pixel < shape[1] - 1 + margin)


def _geoid_name(vertical_datum: str) -> str:
    from .geoid import GEOID_GRIDS

    if vertical_datum in GEOID_GRIDS:
        return f"{vertical_datum} (PROJ grid {GEOID_GRIDS[vertical_datum][1]})"
    return "none (heights above the WGS84 ellipsoid)"


def process_scene_to_tile(
    product: str | os.PathLike | SafeProduct,
    tile_grid,
    output,
    window: Window | None = None,
    config: ProcessingConfig | None = None,
    dem: DemSource | None = None,
    progress: Progress | None = None,
    *,
    storage_options: dict | None = None,
    dem_store: str | os.PathLike | None = None,
    block_rows: int = 1024,
    strip_rows: int = 1024,
    gdal_cache_mb: int = 256,
) -> ChainResult:
    """Process one S1 IW GRD product onto (a window of) a tile grid and write a COG.

    - ``product``: path/URL of a SAFE folder or zip (``storage_options`` for fsspec), or an
      opened :class:`.safe.SafeProduct`.
    - ``tile_grid``: a ``TileGrid`` / :class:`.geocoding.RasterGrid` (anything with ``crs``,
      ``transform``, ``shape``): the S2 tile's UTM 10 m grid, origin at its upper-left corner.
    - ``output``: local path or fsspec URL / UPath of the COG to write (atomic).
    - ``window``: the part of the tile to produce (rasterio Window); default the whole grid
      (use :func:`tile_window` for a catalog entry's patches in scope).
    - ``config``: the :class:`.config.ProcessingConfig` (default: its defaults).
    - ``dem``: the DEM source; default built from ``config.dem`` (GLO-30 needs ``dem_store``).
    - ``progress``: called with (fraction, message) after each block.
    - ``block_rows`` (rounded up to a multiple of 4 × ``config.tiepoint_step``), ``strip_rows``,
      ``gdal_cache_mb`` (GDAL's block cache while reading and encoding): memory/speed knobs that
      do not change the result (except ``gamma0_rtc``'s known block-edge defect, see the README).

    Returns a :class:`ChainResult`. A product whose image touches no target pixel gives
    ``covered=False`` with a reason, nothing written. Output bands are named by polarisation,
    float32 (dB or linear per ``config.output_scale``), NaN where there is no valid data, then
    ``local_incidence_angle`` and ``mask``; the output transform is the tile grid's transform
    shifted by the window offset.
    """
    from upath import UPath

    from ..formats.cog_writer import CogWriter

    config = config or ProcessingConfig()
    say = progress or (lambda f, m: None)
    timings = _Timings()
    cpu_start = time.process_time()
    t_start = time.perf_counter()
    grid = RasterGrid.of(tile_grid)
    if window is None:
        window = Window(0, 0, grid.shape[1], grid.shape[0])
    target = grid.window(window)  # validates the window
    window = Window(int(window.col_off), int(window.row_off), int(window.width), int(window.height))
    height, width = target.shape

    own = not isinstance(product, SafeProduct)
    with _timer(timings, "open"):
        prod = open_safe(product, storage_options) if own else product
    try:
        pols = config.polarisations
        anns = [prod.annotation(p) for p in pols]
        shape = anns[0].shape
        for a in anns[1:]:
            if a.shape != shape or a.first_line_time != anns[0].first_line_time:
                raise ChainError(f"{prod.source}: polarisations {pols} have different image geometry")
        ann = anns[0]
        geometry = GeometryModel.from_annotation(ann, srgr=config.srgr, orbit_method=config.orbit_interpolation)
        if dem is None:
            dem = config.dem.source(store=dem_store)
        manifest = prod.manifest
        tags = {
            "source_product": prod.name,
            "mission": manifest.mission,
            "start_time": f"{np.datetime_as_string(manifest.start_time, unit='us')}Z",
            "stop_time": f"{np.datetime_as_string(manifest.stop_time, unit='us')}Z",
            "pass_direction": manifest.pass_direction,
            "relative_orbit": str(manifest.relative_orbit),
            "absolute_orbit": str(manifest.absolute_orbit),
            "ipf_version": manifest.ipf_version,
            "processing": config.to_portable_json(),
            "processing_fingerprint": config.fingerprint(),
            "processor": processor_name(),
            "dem": dem.name,
            "geoid": _geoid_name(dem.vertical_datum),
            "quantity": config.calibration,
            "units": "dB" if config.output_scale == "db" else "linear",
            "tile_window": json.dumps([int(window.col_off), int(window.row_off), int(window.width), int(window.height)]),
        }

        def result(**kw) -> ChainResult:
            timings["total"] = time.perf_counter() - t_start
            timings.cpu["total"] = time.process_time() - cpu_start
            return ChainResult(product=prod.name, tile_window=window, parameters=config.to_dict(),
                               fingerprint=config.fingerprint(), timings=dict(timings), tags=tags,
                               cpu_timings=dict(timings.cpu), **kw)

        # 1. coarse pass: which target rows see the image at all
        with _timer(timings, "coarse"):
            coarse = _coarse_grid(target, _COARSE_STEP)
            ch, vdatum = _coarse_heights(dem, coarse)
            cl, cp = geocode_grid(geometry, coarse, ch, vdatum, geodesy_step=4)
            c_on = _on_image(cl, cp, shape, _COARSE_MARGIN)
        if not c_on.any():
            return result(
                covered=False, output=None, valid_fraction=0.0, band_valid_fraction={p: 0.0 for p in pols},
                scene_window=None,
                reason=f"{prod.name}: the GRD image ({shape[0]}×{shape[1]}) touches no pixel of the "
                       f"target window {tags['tile_window']} (coarse geocoding every {_COARSE_STEP} px)",
            )
        row_hit = c_on.any(axis=1)  # per coarse row
        # one tie-point height range for all blocks (so results do not depend on the blocking);
        # coarse heights miss the DEM's extremes: the margin and per-block widening cover that
        finite_h = ch[np.isfinite(ch)]
        height_range = (float(finite_h.min()) - 100.0, float(finite_h.max()) + 100.0) if finite_h.size else None
        step = config.tiepoint_step
        # blocks start on rows where the tie-point solve's own geodesy sub-grid (every 4 tie points)
        # falls on the same pixels, whatever the blocking: results do not depend on it
        align = 4 * step
        block_rows = max(align, int(math.ceil(block_rows / align)) * align)
        coarse_row_px = height / coarse.shape[0]
        # terrain outside a block can shade or fold onto it: blocks are read with a halo in the
        # range direction, as wide as the relief can reach (heights_range spans it, + margin)
        direction = range_direction(cp, height / coarse.shape[0], width / coarse.shape[1])
        relief = (height_range[1] - height_range[0]) if height_range else 200.0
        halo = halo_for(relief, direction, abs(grid.transform.a), step)
        bits = mask_bits(pols)
        rtc = config.calibration == "gamma0_rtc"
        tags.update({"bands": json.dumps([*pols, LIA_BAND, MASK_BAND]), "mask_bits": json.dumps(bits),
                     "local_incidence_angle_units": "degree"})

        def geocode(g: RasterGrid, heights: np.ndarray, datum: str) -> tuple[np.ndarray, np.ndarray]:
            if config.geocoding == "exact":
                return geocode_grid(geometry, g, heights, datum, geodesy_step=config.geodesy_step)
            return geocode_grid_tiepoints(geometry, g, heights, datum, step=step, n_layers=config.tiepoint_layers,
                                          height_range=height_range, image_shape=shape)

        n_valid = {p: 0 for p in pols}
        n_all_valid = 0
        n_bits = {name: 0 for name in bits}
        out_transform = grid.transform @ Affine.translation(window.col_off, window.row_off)
        out = output if isinstance(output, UPath) else UPath(os.fspath(output))
        n_bands = len(pols) + 2  # + local incidence angle, mask
        # GDAL's block cache (default 5 % of RAM) would keep GRD strips read once: bound it
        gdal_env = rasterio.Env(GDAL_CACHEMAX=gdal_cache_mb)
        gdal_env.__enter__()
        filtered = writer = None
        try:
            area_source = None
            if rtc:  # the normalised area of each GRD strip, from the facets projecting into it
                area_source = GrdAreaSource(geometry, dem, grid, window, halo, geocode, config.geodesy_step, cl, cp,
                                            coarse_row_px, width / coarse.shape[1])
            filtered = FilteredGrd(prod, pols, config, timings, strip_rows=strip_rows, area_source=area_source)
            writer = CogWriter(out, height, width, n_bands, np.float32, grid.crs.to_wkt(), out_transform,
                               band_names=(*pols, LIA_BAND, MASK_BAND), tags=tags, gdal_cache_mb=gdal_cache_mb,
                               categorical=(n_bands - 1,))
            try:
                n_blocks = math.ceil(height / block_rows)
                for k in range(n_blocks):
                    r0 = k * block_rows
                    bh = min(block_rows, height - r0)
                    c_lo = int(math.floor(r0 / coarse_row_px)) - 1
                    c_hi = int(math.ceil((r0 + bh) / coarse_row_px)) + 1
                    hit = row_hit[max(c_lo, 0) : min(c_hi, row_hit.size)].any()
                    # every band is written below (NaN where a step has nothing to write)
                    block = np.empty((n_bands, bh, width), np.float32)
                    filled = np.zeros((0, 0), np.bool_)
                    if not hit:
                        block[: len(pols) + 1] = np.nan
                        mask = np.full((bh, width), NO_DATA, np.uint8)
                    else:
                        gwin = Window(window.col_off, window.row_off + r0, width, bh)
                        with _timer(timings, "dem"):
                            heights, filled, datum = dem.read_grown(grid, gwin, halo.rows, halo.cols)
                        with _timer(timings, "geocoding"):
                            tb_line, tb_pixel = geocode(grown_grid(grid, gwin, halo), heights, datum)
                        with _timer(timings, "terrain"):
                            tb = terrain_block(geometry, grid, gwin, halo, heights, filled, datum, tb_line,
                                               tb_pixel, config.geodesy_step)
                            line, pixel = tb.inner(tb_line), tb.inner(tb_pixel)  # views: no copies
                            need = grd_extent(line, pixel, shape, margin=1)
                            filled = np.ascontiguousarray(tb.inner(filled))
                        del heights, tb_line, tb_pixel
                        with _timer(timings, "write"):  # the previous block encoded and released
                            writer.wait()  # before the look angles' array: bounds the peak memory
                        with _timer(timings, "incidence"):
                            _, _, look_cosine = block_angles(tb, ellipsoid=False, lia_out=block[len(pols)],
                                                             look="cosine", image_shape=shape)
                        with _timer(timings, "masks"):
                            mask = layover_shadow(tb, direction, look_cosine=look_cosine)
                            del look_cosine
                        if need is None:
                            block[: len(pols)] = np.nan
                        else:
                            del tb
                            filtered.ensure(need)
                            counts = np.empty((bh, len(pols) + 1), np.int64)
                            with _timer(timings, "resample"):  # + dB + valid counts, one pass
                                resample_block(
                                    tuple(filtered.data[p] for p in pols), float(filtered.window.row_off),
                                    float(filtered.window.col_off), line, pixel, config.resampling == "bilinear",
                                    config.output_scale == "db", config.negative == "floor",
                                    float(config.negative_floor), block, counts)
                            totals = counts.sum(axis=0)
                            for b, p in enumerate(pols):
                                n_valid[p] += int(totals[b])
                            n_all_valid += int(totals[-1])
                            with _timer(timings, "masks"):  # GRD flags at the nearest pixel, one pass
                                sources = []
                                if config.thermal_noise_removal:
                                    sources += [(filtered.flags[p], FLAG_NOISE, noise_bit)
                                                for p, noise_bit in zip(pols, (NOISE_FIRST, NOISE_SECOND))]
                                if rtc:
                                    sources.append((filtered.flags[pols[0]], FLAG_AREA_LOW, RTC_AREA_LOW))
                                add_nearest_flags_of(mask, sources, filtered.window, line, pixel)
                        if need is None:
                            del tb
                        del line, pixel
                    with _timer(timings, "masks"):
                        # + DEM_FILLED, NO_DATA where a polarisation has no value (not where the
                        # flattening masked it), the float band and the counts per bit, one pass
                        bit_counts = np.empty((bh, 8), np.int64)
                        finish_mask(block, len(pols), mask, filled, DEM_FILLED, rtc, block[len(pols) + 1],
                                    bit_counts)
                        per_bit = bit_counts.sum(axis=0)
                        for name, bit in bits.items():
                            n_bits[name] += int(per_bit[bit.bit_length() - 1])
                    del filled, mask
                    with _timer(timings, "write"):  # hands the block to the writer's thread
                        writer.write(block)
                    del block
                    say((k + 1) / n_blocks, f"{prod.name}: block {k + 1}/{n_blocks} (rows {r0}..{r0 + bh - 1})")
            finally:
                filtered.close()
            filtered.data = {}  # release the GRD cache before the COG encoding
            total = float(height * width)
            if filtered.read_window is None:
                writer.abort()
                reason = f"{prod.name}: no target pixel of window {tags['tile_window']} falls on the GRD image"
                return result(covered=False, output=None, valid_fraction=0.0,
                              band_valid_fraction={p: 0.0 for p in pols}, scene_window=None, reason=reason)
            rw = filtered.read_window
            tags["scene_window"] = json.dumps([int(v) for v in (rw.col_off, rw.row_off, rw.width, rw.height)])
            writer.tags.update(tags)
            with _timer(timings, "cog"):
                writer.close()
            timings.cpu["staging"] = writer.staging_s  # CPU of the writer's thread, in the steps' too
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
        finally:
            if filtered is not None:
                filtered.close()
            gdal_env.__exit__(None, None, None)
        return result(
            covered=True, output=str(out), valid_fraction=n_all_valid / total,
            band_valid_fraction={p: n_valid[p] / total for p in pols}, scene_window=filtered.read_window,
            mask_fractions={name: n / total for name, n in n_bits.items()},
        )
    finally:
        if own:
            prod.close()
