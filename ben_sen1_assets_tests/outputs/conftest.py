"""Synthetic per-product COGs on a real BigEarthNet tile (33UUP, S2 sensing 2017-06-13).

The two products are the real S1 scenes the official BigEarthNet-S1 v1.0 patches of that tile
were cut from (``bigearthnet_v1_s1_scenes_per_s2_tile.csv``); only their pixel values are made up.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import numpy as np
import pytest
from rasterio.windows import Window
from upath import UPath

from ben_sen1_assets.formats.cog import Raster, write_cog
from ben_sen1_assets.grid.tile import tile_grid

MGRS = "33UUP"
PARTITION_KEY = "33UUP_20170613"
S2_SENSING = datetime(2017, 6, 13, 10, 10, 31, tzinfo=timezone.utc)
# A: +0.278 d from the S2 sensing (closest); B: -0.717 d
PRODUCT_A = "S1A_IW_GRDH_1SDV_20170613T165043_20170613T165108_017018_01C579_7EEC"
PRODUCT_B = "S1B_IW_GRDH_1SDV_20170612T165809_20170612T165834_006020_00A90D_AF62"
START_A = datetime(2017, 6, 13, 16, 50, 43, tzinfo=timezone.utc)
START_B = datetime(2017, 6, 12, 16, 58, 9, tzinfo=timezone.utc)
# scope window: patches x 60..62, y 38..40 (61_39 is the BigEarthNet patch with UL 373200, 5353200)
WINDOW = Window(60 * 120, 38 * 120, 360, 360)


def product_cog(path: UPath, name: str, start: datetime, vv: np.ndarray, vh: np.ndarray,
                window: Window = WINDOW, units: str | None = None, negative: str = "floor",
                lia: np.ndarray | None = None, mask: np.ndarray | None = None) -> UPath:
    """Write a per-product COG as the SAR chain does: tile grid window, VV/VH dB (or linear:
    ``units="linear"``), with the local incidence angle and mask bands if given, tags."""
    extra = {} if units is None else {"units": units}
    bands, names = [vv, vh], ("VV", "VH")
    if lia is not None:
        bands, names = [vv, vh, lia, mask], ("VV", "VH", "local_incidence_angle", "mask")
        extra["mask_bits"] = json.dumps({"shadow": 1, "layover": 2, "no_data": 4, "dem_filled": 8,
                                         "noise_vv": 16, "noise_vh": 32, "rtc_area_low": 64})
    tile = tile_grid(MGRS)
    transform = tile.transform @ tile.transform.translation(window.col_off, window.row_off)
    write_cog(
        Raster(
            data=np.stack(bands).astype(np.float32),
            transform=transform,
            crs=tile.crs,
            band_names=names,
            tags={
                "source_product": name,
                "start_time": start.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "mission": name[:3],
                "processing": json.dumps({"calibration": "sigma0", "speckle_filter": "refined_lee",
                                          "negative": negative, "negative_floor": 1e-5}),
                **extra,
            },
        ),
        path,
    )
    return path


@pytest.fixture
def two_products(tmp_path):
    """Product A = -10 dB VV / -16 dB VH with a NaN hole and its last 20 columns NaN;
    product B = -20 dB VV / -26 dB VH everywhere. Returns (paths, A's validity mask)."""
    h, w = WINDOW.height, WINDOW.width
    valid_a = np.ones((h, w), dtype=bool)
    valid_a[130:150, 130:150] = False  # a hole inside patch 61_39
    valid_a[:, -20:] = False  # A's swath ends inside the x = 62 patches
    vv_a = np.where(valid_a, -10.0, np.nan)
    vh_a = np.where(valid_a, -16.0, np.nan)
    a = product_cog(UPath(tmp_path / "a.tif"), PRODUCT_A, START_A, vv_a, vh_a)
    b = product_cog(UPath(tmp_path / "b.tif"), PRODUCT_B, START_B,
                    np.full((h, w), -20.0), np.full((h, w), -26.0))
    return [a, b], valid_a
