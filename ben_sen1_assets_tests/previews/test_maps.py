"""Tile maps at patch resolution: what colour each patch gets, and why."""

from __future__ import annotations

import numpy as np
import pyproj
import shapely

from ben_sen1_assets.grid.tile import tile_grid
from ben_sen1_assets.previews.maps import (
    COVERED_GREY,
    PRODUCT_COLOURS,
    SCOPE_BLUE,
    UNCOVERED_RED,
    WHITE,
    coverage_map,
    product_colour,
    scope_map,
)


def _rgb(image, x: int, y: int, cell: int) -> tuple[int, int, int]:
    """Colour at the centre of patch (x, y)."""
    return image.convert("RGB").getpixel((x * cell + cell // 2, y * cell + cell // 2))


def test_scope_map_colours_patches_in_scope():
    image = scope_map([(0, 0), (45, 10), (90, 90)], cell=3)
    assert image.size == (273, 273)
    assert _rgb(image, 45, 10, 3) == SCOPE_BLUE and _rgb(image, 44, 10, 3) == WHITE


def _footprint(tile, left: float, right: float, top: float, bottom: float):
    """A lon/lat polygon over the tile's UTM box [left, right] × [bottom, top] (fractions of the tile)."""
    to_wgs84 = pyproj.Transformer.from_crs(tile.epsg, 4326, always_xy=True)
    e = tile.ulx + np.array([left, right, right, left]) * 109800
    n = tile.uly - np.array([top, top, bottom, bottom]) * 109800
    return shapely.Polygon(np.column_stack(to_wgs84.transform(e, n)))


def test_coverage_map_colours_chosen_uncovered_and_covered():
    tile = tile_grid("33UUP")
    west = _footprint(tile, 0.0, 0.55, 0.0, 1.0)  # patches x <= ~49
    east = _footprint(tile, 0.45, 1.0, 0.0, 0.5)  # patches x >= ~41, y <= ~44
    scope = [(10, 10), (60, 10), (60, 80), (20, 80)]
    choice = {(10, 10): 0, (60, 10): 1, (20, 80): 0}  # (60, 80): no product covers it
    image = coverage_map(tile, scope, choice, [west, east], cell=3, outlines=False)
    assert _rgb(image, 10, 10, 3) == product_colour(0)[1]
    assert _rgb(image, 60, 10, 3) == product_colour(1)[1]
    assert _rgb(image, 60, 80, 3) == UNCOVERED_RED
    assert _rgb(image, 30, 30, 3) == COVERED_GREY  # outside the scope, under the west footprint
    assert _rgb(image, 80, 80, 3) == WHITE  # under no footprint


def test_outlines_drawn_in_product_colours():
    tile = tile_grid("33UUP")
    image = coverage_map(tile, [], {}, [_footprint(tile, 0.2, 0.6, 0.2, 0.6)], cell=2, outlines=True)
    colours = {rgb for _, rgb in image.convert("RGB").getcolors(maxcolors=64)}
    assert PRODUCT_COLOURS[0][1] in colours


def test_scope_window_is_a_square_around_the_scope_within_the_tile():
    from ben_sen1_assets.previews.maps import scope_window

    assert scope_window([(3, 5), (6, 9)]) == (0, 3, 9, 12)  # 5 rows + 2 × 2 margin, clipped at x = 0
    assert scope_window([(88, 88)]) == (86, 86, 91, 91)
    assert scope_window([(0, 0), (90, 90)]) == (0, 0, 91, 91)


def test_zoomed_coverage_map_keeps_patch_positions():
    from ben_sen1_assets.previews.maps import scope_window

    tile = tile_grid("33UUP")
    footprint = _footprint(tile, 0.0, 0.55, 0.0, 1.0)
    scope = [(40, 40), (42, 41)]
    window = scope_window(scope)
    image = coverage_map(tile, scope, {(40, 40): 0}, [footprint], cell=10, outlines=False, window=window)
    side = window[2] - window[0]
    assert image.size == (side * 10, side * 10)
    assert _rgb(image, 40 - window[0], 40 - window[1], 10) == product_colour(0)[1]
    assert _rgb(image, 42 - window[0], 41 - window[1], 10) == UNCOVERED_RED
