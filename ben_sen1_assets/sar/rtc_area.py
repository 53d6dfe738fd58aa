"""The normalised illuminated area of any GRD window, from every DEM facet that projects into it.

Terrain flattening (:mod:`.terrain_flattening`) divides β0 by the area A_γ/A_β of the GRD pixels
being calibrated. The chain calibrates GRD pixels in strips of whole GRD lines, and GRD lines run
obliquely across the tile grid's rows: over a whole tile's width a line drifts by thousands of
tile rows (the orbit's heading against the UTM grid). So the facets projecting into a strip are
not those of any one block of tile rows: a block's own facets (its halo included) leave the GRD
pixels near the block's oblique edges with part of their area, and those pixels were masked as
``rtc_area_low`` in diagonal stripes across whole tiles.

:class:`GrdAreaSource` gives the area of a GRD window from the facets that really project into
it: per slab of tile columns, the tile rows whose GRD lines reach the window (from the chain's
coarse geocoding, extrapolated linearly into the halo), read from the same DEM with the same gap
policy and geocoded with the same function as the blocks, and their facets accumulated, each
facet once (slabs own disjoint columns of facets). The area then does not depend on where blocks
or strips are cut.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from rasterio.windows import Window

from .geocoding import GeometryModel, RasterGrid
from .terrain import Halo, grown_grid, terrain_block
from .terrain_flattening import normalised_area

#: tile columns per slab: the lines drift by ~a quarter of a slab's width across it
SLAB_COLS = 1024
#: GRD lines of slack around a window (coarse heights, interpolation between coarse nodes)
MARGIN_LINES = 2.0


def _extend(a: np.ndarray, k: int, axis: int) -> np.ndarray:
    """``a`` extended by ``k`` nodes at both ends of ``axis``, linearly (lines and pixels are
    close to linear in the tile grid over a few coarse cells)."""
    a = np.moveaxis(a, axis, 0)
    if a.shape[0] < 2 or k <= 0:
        out = np.concatenate([np.repeat(a[:1], k, 0), a, np.repeat(a[-1:], k, 0)]) if k > 0 else a
        return np.moveaxis(out, 0, axis)
    steps = np.arange(k, 0, -1, dtype=np.float64)[:, None]
    before = a[0] - steps * (a[1] - a[0])
    after = a[-1] + steps[::-1] * (a[-1] - a[-2])
    return np.moveaxis(np.concatenate([before, a, after]), 0, axis)


class GrdAreaSource:
    """Normalised area of GRD windows for one tile window of one product (see the module
    docstring).

    ``grid``/``window``: the tile grid and the target window in it; ``halo``: the chain's block
    halo (terrain that far outside the window still projects into its GRD pixels); ``geocode``:
    (grid, heights, datum) → (line, pixel), the chain's own; ``coarse_line``/``coarse_pixel``:
    GRD coordinates of the chain's coarse nodes, cells of ``coarse_row_px`` × ``coarse_col_px``
    target pixels covering the window.
    """

    def __init__(self, geometry: GeometryModel, dem, grid: RasterGrid, window: Window, halo: Halo,
                 geocode: Callable[[RasterGrid, np.ndarray, str], tuple[np.ndarray, np.ndarray]],
                 geodesy_step: int, coarse_line: np.ndarray, coarse_pixel: np.ndarray,
                 coarse_row_px: float, coarse_col_px: float, slab_cols: int = SLAB_COLS):
        self.geometry, self.dem, self.grid, self.window, self.halo = geometry, dem, grid, window, halo
        self.geocode, self.geodesy_step = geocode, int(geodesy_step)
        self.row_px, self.col_px = float(coarse_row_px), float(coarse_col_px)
        # nodes far enough out to cover the halo
        self.kr = int(math.ceil(halo.rows / self.row_px)) + 1
        self.kc = int(math.ceil(halo.cols / self.col_px)) + 1
        ext = lambda a: _extend(_extend(a.astype(np.float64), self.kr, 0), self.kc, 1)  # noqa: E731
        self.line, self.pixel = ext(coarse_line), ext(coarse_pixel)
        # target row / column (window coordinates) of each extended node's centre
        self.node_rows = (np.arange(self.line.shape[0]) - self.kr + 0.5) * self.row_px - 0.5
        self.node_cols = (np.arange(self.line.shape[1]) - self.kc + 0.5) * self.col_px - 0.5
        self.slab_cols = int(slab_cols)

    def _rows_reaching(self, cols: tuple[int, int], grd: Window) -> tuple[int, int] | None:
        """Window rows [r0, r1] whose pixels in window columns ``cols`` may project into ``grd``
        (lines and pixels, with margins), or None."""
        j = np.nonzero((self.node_cols >= cols[0] - self.col_px) & (self.node_cols <= cols[1] + self.col_px))[0]
        if j.size == 0:
            return None
        line, pixel = self.line[:, j], self.pixel[:, j]
        l0 = float(grd.row_off) - MARGIN_LINES
        l1 = float(grd.row_off + grd.height - 1) + MARGIN_LINES
        # a pixel's GRD column moves with its height: as far as the halo's columns reach
        pm = 2.0 * self.col_px + self.halo.cols + MARGIN_LINES
        p0, p1 = float(grd.col_off) - pm, float(grd.col_off + grd.width - 1) + pm
        # intervals between consecutive node rows whose lines and pixels overlap the window's
        lo_l, hi_l = np.fmin(line[:-1], line[1:]), np.fmax(line[:-1], line[1:])
        lo_p, hi_p = np.fmin(pixel[:-1], pixel[1:]), np.fmax(pixel[:-1], pixel[1:])
        hit = ((lo_l <= l1) & (hi_l >= l0) & (lo_p <= p1) & (hi_p >= p0)).any(axis=1)
        i = np.nonzero(hit)[0]
        if i.size == 0:
            return None
        r0 = int(math.floor(self.node_rows[i[0]])) - 1
        r1 = int(math.ceil(self.node_rows[i[-1] + 1])) + 1
        h = int(self.window.height)
        r0, r1 = max(r0, -self.halo.rows), min(r1, h - 1 + self.halo.rows)
        return (r0, r1) if r0 < r1 else None

    def area(self, grd: Window) -> np.ndarray:
        """The normalised illuminated area (float32) of the GRD pixels of ``grd``."""
        acc = np.zeros((int(grd.height), int(grd.width)), np.float64)
        h, w = int(self.window.height), int(self.window.width)
        hr, hc = self.halo.rows, self.halo.cols
        edges = list(range(0, w, self.slab_cols)) + [w]
        edges[0], edges[-1] = -hc, w - 1 + hc  # the outer slabs own the halo's columns too
        for a, b in zip(edges[:-1], edges[1:]):
            rows = self._rows_reaching((a, b), grd)
            if rows is None:
                continue
            r0, r1 = rows
            # pixels [r0, r1] × [a, b] (facets: cells [r0, r1) × [a, b)), read as a core inside
            # the window grown by a halo reaching them (DemSource reads inside the grid only)
            cr0, cr1 = min(max(r0, 0), h - 1), max(min(r1 + 1, h), 1)
            cc0, cc1 = min(max(a, 0), w - 1), max(min(b + 1, w), 1)
            cr0, cc0 = min(cr0, cr1 - 1), min(cc0, cc1 - 1)
            gr, gc = max(cr0 - r0, r1 + 1 - cr1, 0), max(cc0 - a, b + 1 - cc1, 0)
            core = Window(int(self.window.col_off) + cc0, int(self.window.row_off) + cr0, cc1 - cc0, cr1 - cr0)
            halo = Halo(rows=gr, cols=gc)
            heights, filled, datum = self.dem.read_grown(self.grid, core, gr, gc)
            line, pixel = self.geocode(grown_grid(self.grid, core, halo), heights, datum)
            block = terrain_block(self.geometry, self.grid, core, halo, heights, filled, datum, line, pixel,
                                  self.geodesy_step)
            # grown-grid index of window row r: r - (cr0 - gr)
            normalised_area(block, grd, acc=acc,
                            cells=(r0 - cr0 + gr, r1 - cr0 + gr, a - cc0 + gc, b - cc0 + gc))
        return acc.astype(np.float32)
