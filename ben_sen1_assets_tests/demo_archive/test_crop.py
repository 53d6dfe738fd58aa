"""A cropped product's annotation, LUTs and SR/GR polynomials equal the source's at the offset."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest
from numpy.polynomial import polynomial as P
from rasterio.windows import Window
from scipy.interpolate import RegularGridInterpolator

from ben_sen1_assets.sar import open_safe
from ben_sen1_assets.sar.radiometry import calibration_window, noise_window

LABELS = ["rome-a", "rome-b", "france-a", "france-b"]


def _source(demo):
    return open_safe(Path(str(files("ben_sen1_assets") / "data" / "s1_samples" / f"{demo.source}.SAFE")))


def _interp(grid, name):
    return RegularGridInterpolator((np.unique(grid.line).astype(float), np.unique(grid.pixel).astype(float)),
                                   grid.as_2d(name), bounds_error=False, fill_value=None)


@pytest.mark.parametrize("label", LABELS)
def test_geolocation_grid_consistent_with_source(demo_archive, demo_by_label, label):
    demo = demo_by_label[label]
    crop = demo.crop
    rng = np.random.default_rng(0)
    with open_safe(demo_archive[label]) as out, _source(demo) as src:
        g_out = out.annotation("VV").geolocation_grid
        g_src = src.annotation("VV").geolocation_grid
        lines, samples = out.annotation("VV").shape
        assert g_out.line.min() == 0 and g_out.line.max() == lines - 1
        assert g_out.pixel.min() == 0 and g_out.pixel.max() == samples - 1
        pts = np.column_stack([rng.uniform(0, lines - 1, 500), rng.uniform(0, samples - 1, 500)])
        shifted = pts + [crop.row_off, crop.col_off]
        for name, tol in (("latitude", 1e-9), ("longitude", 1e-9), ("height", 1e-6), ("incidence_angle", 1e-9)):
            np.testing.assert_allclose(_interp(g_out, name)(pts), _interp(g_src, name)(shifted), rtol=0, atol=tol,
                                       err_msg=name)
        # time: the crop's first line is the source's line row_off (+ whole repeat cycles)
        ann_out, ann_src = out.annotation("VV"), src.annotation("VV")
        shift = np.timedelta64(12 * 86400 * demo.cycle_shift, "s")
        expected = ann_src.first_line_time + shift + np.timedelta64(
            int(round(crop.row_off * ann_src.azimuth_time_interval * 1e9)), "ns")
        assert abs((ann_out.first_line_time - expected) / np.timedelta64(1, "us")) <= 1


@pytest.mark.parametrize("label", LABELS)
def test_calibration_and_noise_consistent_with_source(demo_archive, demo_by_label, label):
    demo = demo_by_label[label]
    crop = demo.crop
    with open_safe(demo_archive[label]) as out, _source(demo) as src:
        lines, samples = out.annotation("VV").shape
        for r, c, h, w in ((0, 0, 64, 64), (lines - 70, samples - 90, 70, 90), (lines // 2, 37, 33, samples - 40)):
            win = Window(c, r, w, h)
            win_src = Window(c + crop.col_off, r + crop.row_off, w, h)
            np.testing.assert_allclose(calibration_window(out.calibration("VV"), win),
                                       calibration_window(src.calibration("VV"), win_src), rtol=2e-6)
            np.testing.assert_allclose(noise_window(out.noise("VV"), win),
                                       noise_window(src.noise("VV"), win_src), rtol=2e-6, atol=1e-3)


@pytest.mark.parametrize("label", ["rome-a", "france-b"])
def test_ground_range_polynomials_consistent_with_source(demo_archive, demo_by_label, label):
    demo = demo_by_label[label]
    with open_safe(demo_archive[label]) as out, _source(demo) as src:
        a_out, a_src = out.annotation("VV"), src.annotation("VV")
        cc_out, cc_src = a_out.coordinate_conversion, a_src.coordinate_conversion
        assert (cc_out.gr0 == 0).all()
        g_off = demo.crop.col_off * a_src.range_pixel_spacing
        ground = np.linspace(0, a_out.number_of_samples * a_out.range_pixel_spacing, 50)
        for k in (0, len(cc_out.sr0) // 2, len(cc_out.sr0) - 1):
            sr_out = P.polyval(ground, cc_out.grsr_coefficients[k])
            sr_src = P.polyval(ground + g_off, cc_src.grsr_coefficients[k])
            np.testing.assert_allclose(sr_out, sr_src, rtol=0, atol=1e-3)
            gr_out = P.polyval(sr_out - cc_out.sr0[k], cc_out.srgr_coefficients[k])
            gr_src = P.polyval(sr_src - cc_src.sr0[k], cc_src.srgr_coefficients[k])
            np.testing.assert_allclose(gr_out, gr_src - g_off, rtol=0, atol=1e-3)
        # near-range time of the image = the slant range of its first sample
        tau = 2 * cc_out.grsr_coefficients[:, 0].mean() / 299_792_458.0
        assert abs(a_out.slant_range_time - tau) < 1e-10  # 1.5 cm
