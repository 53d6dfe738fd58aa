"""Calibration and noise LUT parsing vs xarray-sentinel and xarray-safe-s1's raw lists."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from ben_sen1_assets.sar import open_safe

from .conftest import PRODUCT_POLS, S1A_2015_OLD, safe_path


@pytest.mark.parametrize(("name", "pol"), PRODUCT_POLS)
def test_calibration_vs_xarray_sentinel(name, pol):
    cal = open_safe(safe_path(name)).calibration(pol)
    ref = xr.open_dataset(str(safe_path(name)), engine="sentinel-1", group=f"IW/{pol}/calibration")
    np.testing.assert_array_equal(cal.line, ref.line.values)
    np.testing.assert_array_equal(cal.pixel[0], ref.pixel.values)
    # xarray-sentinel stores the LUTs as float32
    for ours, theirs in [("sigma_nought", "sigmaNought"), ("beta_nought", "betaNought"), ("gamma", "gamma"), ("dn", "dn")]:
        np.testing.assert_allclose(getattr(cal, ours), ref[theirs].values, rtol=1e-7)
    assert cal.line[-1] > open_safe(safe_path(name)).annotation(pol).number_of_lines  # lies past the image
    expected = 1.393 if name.startswith("S1B") else 1.0
    assert cal.absolute_calibration_constant == pytest.approx(expected, abs=1e-3)


@pytest.mark.parametrize(("name", "pol"), [p for p in PRODUCT_POLS if not p[0].startswith("S1B")])
def test_noise_vs_safe_s1_raw_lists(name, pol):
    """Range vectors (both layouts) and every azimuth block vs xarray-safe-s1's raw mappings."""
    import safe_s1

    noise = open_safe(safe_path(name)).noise(pol)
    reader = safe_s1.Sentinel1Reader(str(safe_path(name)))
    xml = next(f for f in reader.files["noise"] if f"-{pol.lower()}-" in f)
    get = lambda var: reader.xml_parser.get_var(xml, var)  # noqa: E731
    rv = noise.range_vectors
    np.testing.assert_array_equal(rv.line, get("noise.range.line"))
    samples, luts = get("noise.range.sample"), get("noise.range.noiseLut")
    assert len(samples) == len(rv.pixel)
    for k in range(len(samples)):
        np.testing.assert_array_equal(rv.pixel[k], samples[k])
        np.testing.assert_array_equal(rv.values[k], luts[k])
    lines, values = get("noise.azi.line"), get("noise.azi.noiseLut")
    assert len(noise.azimuth_blocks) == len(lines)
    for k, block in enumerate(noise.azimuth_blocks):
        assert block.swath == get("noise.azi.swath")[k]
        assert block.first_line == get("noise.azi.line_start")[k]
        assert block.last_line == get("noise.azi.line_stop")[k]
        assert block.first_sample == get("noise.azi.sample_start")[k]
        assert block.last_sample == get("noise.azi.sample_stop")[k]
        np.testing.assert_array_equal(block.line, lines[k])
        np.testing.assert_array_equal(block.values, values[k])
    # the public properties agree where they are exact: IPF ≥ 2.9 range LUT (one shared grid),
    # and the first azimuth block (the others are re-aligned to its lines by xarray)
    if not noise.legacy:
        rng = reader.get_noise_range_raw.sel(pol=pol)
        np.testing.assert_array_equal(np.stack(rv.values), rng.noise_lut.values)
        azi = reader.get_noise_azi_raw.sel(pol=pol)
        first = noise.azimuth_blocks[0]
        np.testing.assert_array_equal(azi[f"noise_lut_{first.swath}"].sel(line=first.line).values, first.values)


def test_legacy_noise_layout():
    noise = open_safe(safe_path(S1A_2015_OLD)).noise("VV")
    assert noise.legacy and noise.azimuth_blocks == ()
    grids = {tuple(p) for p in noise.range_vectors.pixel}
    assert len(grids) > 1  # each vector its own pixel grid


@pytest.mark.parametrize(("name", "pol"), [p for p in PRODUCT_POLS if p[0] != S1A_2015_OLD])
def test_noise_range_vs_xarray_sentinel(name, pol):
    noise = open_safe(safe_path(name)).noise(pol)
    ref = xr.open_dataset(str(safe_path(name)), engine="sentinel-1", group=f"IW/{pol}/noise_range")
    np.testing.assert_array_equal(noise.range_vectors.line, ref.line.values)
    np.testing.assert_allclose(np.stack(noise.range_vectors.values), ref.noiseRangeLut.values, rtol=1e-7)
    # the far-range end of the LUT is zero in these products
    assert noise.range_vectors.values[0][-1] == 0.0
