"""dB histograms as pictures: bars where the values are."""

from __future__ import annotations

import numpy as np

from ben_sen1_assets.previews.histograms import BOTH, VH_ORANGE, VV_BLUE, db_histogram


def _column(image, db: float, bins: int = 100, lo: float = -40.0, hi: float = 10.0) -> list[tuple]:
    x = int((db - lo) / (hi - lo) * bins) * 2
    rgb = image.convert("RGB")
    return [rgb.getpixel((x, y)) for y in range(image.height)]


def test_bars_stand_at_the_values():
    vv = np.full(1000, -10.2)  # one bin
    vh = np.concatenate([np.full(500, -20.3), np.full(250, -10.2), [np.nan] * 10])
    image = db_histogram(vv, vh, bins=100, height=50)
    assert image.size == (200, 50)
    at_vv = _column(image, -10.2)
    # VV's only bin: full height; VH's bar there is half its peak (250 of 500): the lower half is both
    assert at_vv[0] == VV_BLUE and at_vv[20] == VV_BLUE
    assert at_vv[30] == BOTH and at_vv[45] == BOTH
    at_vh = _column(image, -20.3)
    assert at_vh[0] == VH_ORANGE and at_vh[-2] == VH_ORANGE
    assert set(_column(image, 0.0)[:-5]) == {(255, 255, 255)}  # no data at 0 dB


def test_out_of_range_values_pile_at_the_edges():
    image = db_histogram(np.array([-80.0, 40.0]), np.array([-80.0]), bins=50, height=20)
    rgb = image.convert("RGB")
    assert rgb.getpixel((0, 0)) == BOTH and rgb.getpixel((99, 0)) == VV_BLUE
