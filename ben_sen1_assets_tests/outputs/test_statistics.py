"""Band statistics of exported patches compared with numpy over the same pixels at once."""

from __future__ import annotations

import json

import numpy as np
import pytest
from upath import UPath

from ben_sen1_assets.formats.zarr_store import open_zarr
from ben_sen1_assets.outputs.mosaic import MosaicConfig, mosaic_tile
from ben_sen1_assets.outputs.patches import patch_dataset
from ben_sen1_assets.outputs.statistics import band_statistics, write_band_statistics

from .conftest import MGRS, S2_SENSING
from .test_export import store_87  # noqa: F401  (fixture)


def test_statistics_match_numpy(tmp_path, store_87, two_products):  # noqa: F811
    paths, _ = two_products
    mosaic = UPath(tmp_path / "m.tif")
    mosaic_tile([paths[0]], MGRS, S2_SENSING, mosaic, config=MosaicConfig(rule="closest_per_pixel"))
    holes = patch_dataset(mosaic)  # patches with NaN pixels: only finite pixels count
    big = open_zarr(store_87)
    splits = {str(n): ("train" if k % 2 else "test") for k, n in enumerate(big["s1_name"].values)}
    splits |= {str(n): "validation" for n in holes["s1_name"].values if n}
    table = band_statistics([big, holes], splits)
    data = {str(n): big["backscatter"].values[i] for i, n in enumerate(big["s1_name"].values)}
    data |= {str(n): holes["backscatter"].values[i] for i, n in enumerate(holes["s1_name"].values) if n}
    for scope in ("all", "train", "test", "validation"):
        names = [n for n, s in splits.items() if scope in ("all", s)]
        stack = np.stack([data[n] for n in names]).astype(np.float64)
        for b, band in enumerate(("VV", "VH")):
            v = stack[:, b]
            row = table[(table.scope == scope) & (table.band == band)].iloc[0]
            assert row["n_patches"] == len(names) and row["n_pixels"] == np.isfinite(v).sum()
            assert row["mean_db"] == pytest.approx(np.nanmean(v), rel=1e-12)
            assert row["std_db"] == pytest.approx(np.nanstd(v), rel=1e-9)
            assert (row["min_db"], row["max_db"]) == (np.nanmin(v), np.nanmax(v))
    out = UPath(tmp_path / "band_statistics.json")
    write_band_statistics(table, out)
    doc = json.loads((tmp_path / "band_statistics.json").read_text())
    assert doc["all"]["VV"]["mean_db"] == table[(table.scope == "all") & (table.band == "VV")].iloc[0]["mean_db"]
