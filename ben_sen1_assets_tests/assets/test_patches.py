"""patches: the Zarr store as a user opens it (xarray + rioxarray), aligned with BigEarthNet's grid."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr

from ben_sen1_assets.grid.names import s1_patch_name
from ben_sen1_assets.grid.patches import patch_bounds
from ben_sen1_assets.grid.tile import tile_grid

from .conftest import DEMO_KEYS

CHECKS = ("patch_shape_dtype", "patch_count", "finite_fraction", "plausible_db")


def open_store(e2e, key: str) -> xr.Dataset:
    path = e2e.metadata(key, "patches")["path"].value
    return xr.open_zarr(path)


def product_start(name: str) -> datetime:
    """Start time from a product name (``S1B_IW_GRDH_1SDV_20211223T051133_...``)."""
    return datetime.strptime(name.split("_")[4], "%Y%m%dT%H%M%S").replace(tzinfo=timezone.utc)


@pytest.mark.parametrize("key", DEMO_KEYS)
def test_zarr_layout(e2e, key):
    ds = open_store(e2e, key)
    var = ds["backscatter"]
    assert var.dims == ("patch", "band", "y", "x")
    assert var.dtype == np.float32
    scope = [p for p in e2e.value(key, "tile_footprints").iloc[0].patches_in_scope.split(";") if p]
    assert sorted(ds["patch"].values.tolist()) == sorted(scope)
    assert var.shape == (len(scope), 2, 120, 120)
    assert list(ds["band"].values) == ["VV", "VH"]
    assert var.chunks == ((1,) * len(scope), (2,), (120,), (120,)), "one chunk per patch"
    # the analysis-ready layers beside the backscatter
    assert ds["local_incidence_angle"].dims == ds["mask"].dims == ("patch", "y", "x")
    assert ds["local_incidence_angle"].dtype == np.float32 and ds["mask"].dtype == np.uint8
    assert "shadow" in ds["mask"].attrs["flag_meanings"]


@pytest.mark.parametrize("key", DEMO_KEYS)
def test_names_and_sources(e2e, key):
    ds = open_store(e2e, key).load()
    mgrs = key.split("_")[0]
    chosen = set(e2e.value(key, "s1_product_selection")["name"])
    for i in range(ds.sizes["patch"]):
        x, y = (int(v) for v in str(ds["patch"].values[i]).split("_"))
        source = str(ds["scene_source"].values[i])
        assert source in chosen
        start = product_start(source)
        assert str(ds["s1_name"].values[i]) == s1_patch_name(source[:3], start, mgrs, x, y)
        acquired = ds["acquisition_time"].values[i].astype("datetime64[s]")
        assert acquired == np.datetime64(start.replace(tzinfo=None), "s")


@pytest.mark.parametrize("key", DEMO_KEYS)
def test_georeferencing_matches_bigearthnet_grid(e2e, key):
    ds = open_store(e2e, key)
    grid = tile_grid(key.split("_")[0])
    for i in (0, ds.sizes["patch"] // 2, ds.sizes["patch"] - 1):
        patch = ds.isel(patch=i)
        x, y = (int(v) for v in str(patch["patch"].values).split("_"))
        band = patch["backscatter"]
        assert band.rio.crs.to_epsg() == grid.epsg
        expected = patch_bounds(grid, x, y)
        np.testing.assert_allclose(band.rio.bounds(), expected, atol=1e-6)
        t = band.rio.transform()
        assert (t.a, t.e, t.c, t.f) == (10.0, -10.0, expected[0], expected[3])


@pytest.mark.parametrize("key", DEMO_KEYS)
def test_values_plausible_and_checks_passed(e2e, key):
    ds = open_store(e2e, key)
    vv = ds["backscatter"].sel(band="VV").values
    vh = ds["backscatter"].sel(band="VH").values
    assert np.isfinite(vv).mean() > 0.99
    assert abs(np.nanmean(vv) - (-12.0)) <= 6.0, np.nanmean(vv)
    assert np.nanmean(vh) < np.nanmean(vv)
    checks = e2e.checks(e2e.tiles[key])
    for name in CHECKS:
        assert checks[name].passed, (name, checks[name].metadata)
