"""Maps of a tile at patch resolution (north up): which patches are in scope, which product
serves each, and where the products' footprints reach.

Images are palette images, ``cell`` pixels per 1200 m patch (91 × 91 patches per tile), so that
they encode to a few hundred bytes (see :mod:`.inline`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from PIL import Image, ImageDraw

from ben_sen1_assets.grid.patches import N_PATCHES_PER_SIDE, PATCH_SIZE_M

WHITE = (255, 255, 255)
SCOPE_BLUE = (31, 119, 180)
COVERED_GREY = (214, 214, 214)
UNCOVERED_RED = (214, 39, 40)
FRAME = (60, 60, 60)
#: colours of the products on a coverage map, in selection order (cycled past eight)
PRODUCT_COLOURS: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("blue", (31, 119, 180)),
    ("orange", (255, 127, 14)),
    ("green", (44, 160, 44)),
    ("purple", (148, 103, 189)),
    ("brown", (140, 86, 75)),
    ("pink", (227, 119, 194)),
    ("olive", (188, 189, 34)),
    ("cyan", (23, 190, 207)),
)


def product_colour(index: int) -> tuple[str, tuple[int, int, int]]:
    """Name and RGB of the ``index``-th product on a coverage map."""
    return PRODUCT_COLOURS[index % len(PRODUCT_COLOURS)]


def scope_window(patches: Sequence[tuple[int, int]], margin: int = 2) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1), end exclusive: the patches' bounding box in patch units, ``margin``
    patches wider on each side, square, within the tile."""
    n = N_PATCHES_PER_SIDE
    if not patches:
        return (0, 0, n, n)
    xs, ys = [p[0] for p in patches], [p[1] for p in patches]
    side = min(n, max(max(xs) - min(xs), max(ys) - min(ys)) + 1 + 2 * margin)
    x0 = min(max(0, (min(xs) + max(xs) + 1 - side) // 2), n - side)
    y0 = min(max(0, (min(ys) + max(ys) + 1 - side) // 2), n - side)
    return (x0, y0, x0 + side, y0 + side)


def _palette_image(codes: np.ndarray, palette: Sequence[tuple[int, int, int]], cell: int) -> Image.Image:
    image = Image.fromarray(np.kron(codes.astype(np.uint8), np.ones((cell, cell), np.uint8)), mode="P")
    image.putpalette([v for rgb in palette for v in rgb])
    return image


def _frame(image: Image.Image, colour_index: int) -> Image.Image:
    ImageDraw.Draw(image).rectangle([0, 0, image.width - 1, image.height - 1], outline=colour_index)
    return image


def scope_map(patches: Sequence[tuple[int, int]], cell: int = 2,
              window: tuple[int, int, int, int] | None = None) -> Image.Image:
    """The tile's 91 × 91 patches (or those of ``window``, see :func:`scope_window`), those in
    scope blue, framed."""
    x0, y0, x1, y1 = window or (0, 0, N_PATCHES_PER_SIDE, N_PATCHES_PER_SIDE)
    codes = np.zeros((N_PATCHES_PER_SIDE, N_PATCHES_PER_SIDE), np.uint8)
    for x, y in patches:
        codes[y, x] = 1
    return _frame(_palette_image(codes[y0:y1, x0:x1], [WHITE, SCOPE_BLUE, FRAME], cell), 2)


def coverage_map(
    tile,
    scope: Sequence[tuple[int, int]],
    choice: Mapping[tuple[int, int], int],
    footprints_wgs84: Sequence,
    cell: int = 2,
    outlines: bool = True,
    window: tuple[int, int, int, int] | None = None,
) -> Image.Image:
    """Which product serves each patch in scope, over the products' footprints.

    ``tile`` is the :class:`~ben_sen1_assets.grid.tile.TileGrid`; ``choice`` maps a patch to the
    index of its product in ``footprints_wgs84`` (shapely polygons, lon/lat). Patches in scope are
    coloured by their product (:func:`product_colour`), red where no product serves them; patches
    outside the scope are grey where a footprint covers them; footprints are outlined in their
    product's colour (``outlines``).
    """
    import pyproj
    import shapely

    to_utm = pyproj.Transformer.from_crs(4326, tile.epsg, always_xy=True)
    footprints = [shapely.transform(shapely.segmentize(f, 0.01), to_utm.transform, interleaved=False)
                  for f in footprints_wgs84]
    n = N_PATCHES_PER_SIDE
    centres_x = tile.ulx + (np.arange(n) + 0.5) * PATCH_SIZE_M
    centres_y = tile.uly - (np.arange(n) + 0.5) * PATCH_SIZE_M
    cx, cy = np.meshgrid(centres_x, centres_y)
    covered = np.zeros((n, n), bool)
    for footprint in footprints:
        covered |= shapely.contains_xy(footprint, cx, cy)
    first_product = 4
    codes = np.where(covered, 1, 0).astype(np.uint8)
    for x, y in scope:
        codes[y, x] = 2
    for (x, y), k in choice.items():
        codes[y, x] = first_product + k % len(PRODUCT_COLOURS)
    palette = [WHITE, COVERED_GREY, UNCOVERED_RED, FRAME] + [rgb for _, rgb in PRODUCT_COLOURS]
    x0, y0, x1, y1 = window or (0, 0, n, n)
    image = _palette_image(codes[y0:y1, x0:x1], palette, cell)
    if outlines:
        draw = ImageDraw.Draw(image)
        for k, footprint in enumerate(footprints):
            for ring in getattr(footprint, "geoms", [footprint]):
                xs, ys = np.asarray(ring.exterior.coords).T
                px = ((xs - tile.ulx) / PATCH_SIZE_M - x0) * cell
                py = ((tile.uly - ys) / PATCH_SIZE_M - y0) * cell
                draw.line(list(zip(px.tolist(), py.tolist())), fill=first_product + k % len(PRODUCT_COLOURS))
    return _frame(image, 3)
