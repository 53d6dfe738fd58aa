"""SAFE reader on the four real samples and the zipped product, cross-checked with xarray-sentinel."""

from __future__ import annotations

import re

import numpy as np
import pytest
import xarray as xr
from rasterio.windows import Window

from ben_sen1_assets.sar import MissingFileError, open_safe, relative_orbit
from ben_sen1_assets.sar.annotation import seconds_since

from .conftest import (
    ALL_SAFES,
    PRODUCT_POLS,
    S1A_2015_OLD,
    S1A_2021_ASC,
    S1A_2021_DESC,
    S1B_2021_ROME,
    S1B_ZIP_WINDOW,
    ZIP_8255,
    safe_path,
)

XS_ZIP_URL = f"zip://*/manifest.safe::file://{ZIP_8255}"


def _xs(name_or_url: str, group: str) -> xr.Dataset:
    return xr.open_dataset(name_or_url, engine="sentinel-1", group=group)


@pytest.mark.parametrize("name", ALL_SAFES)
def test_manifest_fields(name):
    product = open_safe(safe_path(name))
    m = product.manifest
    assert m.product_name == name
    mission, mode, ptype, _pol, start, stop, abs_orbit = re.match(
        r"(S1[AB])_(IW)_(GRD)H_1S(DV)_(\w{15})_(\w{15})_(\d{6})_", name
    ).groups()
    assert (m.mission, m.mode, m.product_type, m.resolution) == (mission, mode, ptype, "H")
    assert m.absolute_orbit == int(abs_orbit)
    assert m.relative_orbit == relative_orbit(m.mission, m.absolute_orbit)
    assert str(m.start_time).startswith(f"{start[:4]}-{start[4:6]}-{start[6:8]}T{start[9:11]}:{start[11:13]}:{start[13:15]}")
    assert m.stop_time > m.start_time
    assert m.polarisations == ("VV", "VH")
    assert m.footprint.shape == (4, 2)
    assert m.footprint_polygon.is_valid
    # independent parse: xarray-sentinel's attributes of the same manifest
    attrs = _xs(str(safe_path(name)), "IW/VV/gcp").attrs
    assert attrs["orbit_number"] == m.absolute_orbit
    assert attrs["relative_orbit_number"] == m.relative_orbit
    assert attrs["pass"] == m.pass_direction
    assert np.datetime64(attrs["start_time"], "ns") == m.start_time
    assert np.datetime64(attrs["stop_time"], "ns") == m.stop_time


def test_pass_direction_and_ipf():
    assert open_safe(safe_path(S1A_2021_ASC)).manifest.pass_direction == "ASCENDING"
    assert open_safe(safe_path(S1A_2021_DESC)).manifest.pass_direction == "DESCENDING"
    assert open_safe(safe_path(S1A_2015_OLD)).manifest.ipf == (2, 70)
    assert open_safe(safe_path(S1B_2021_ROME)).manifest.ipf_version == "003.40"


def test_relative_orbit_formula():
    # values from the manifests' own relativeOrbitNumber
    assert relative_orbit("S1A", 36201) == 79
    assert relative_orbit("S1A", 4454) == 7
    assert relative_orbit("S1B", 30148) == 22
    assert relative_orbit("S1A", 73) == 1 and relative_orbit("S1A", 72) == 175


def test_s1b_missing_vh_is_reported_not_raised_until_asked():
    product = open_safe(safe_path(S1B_2021_ROME))
    assert product.polarisations == ("VV", "VH")
    assert product.available_polarisations == ("VV",)
    missing = {f.href for f in product.missing_files}
    assert any("-vh-" in h and h.startswith("measurement/") for h in missing)
    assert product.has_measurement("VV") and not product.has_measurement("VH")
    product.annotation("VV")
    with pytest.raises(MissingFileError, match=r"annotation/s1b-iw-grd-vh-.*\.xml.*missing"):
        product.annotation("VH")
    with pytest.raises(MissingFileError, match=r"calibration-s1b-iw-grd-vh"):
        product.calibration("VH")


@pytest.mark.parametrize(("name", "pol"), PRODUCT_POLS)
def test_annotation_vs_xarray_sentinel(name, pol):
    path = str(safe_path(name))
    ann = open_safe(path).annotation(pol)
    assert ann.polarisation == pol
    assert ann.shape[0] > 16000 and ann.shape[1] > 25000
    orbit = _xs(path, f"IW/{pol}/orbit")
    np.testing.assert_array_equal(ann.orbit.time, orbit.azimuth_time.values)
    np.testing.assert_array_equal(ann.orbit.position, orbit.position.values.T)
    np.testing.assert_array_equal(ann.orbit.velocity, orbit.velocity.values.T)
    gcp = _xs(path, f"IW/{pol}/gcp")
    grid = ann.geolocation_grid
    assert grid.shape == (gcp.sizes["azimuth_time"], gcp.sizes["slant_range_time"]) == (10, 21)
    for ours, theirs in [
        ("latitude", "latitude"), ("longitude", "longitude"), ("height", "height"),
        ("incidence_angle", "incidenceAngle"), ("elevation_angle", "elevationAngle"),
    ]:
        np.testing.assert_array_equal(grid.as_2d(ours), gcp[theirs].values)
    np.testing.assert_array_equal(grid.as_2d("line")[:, 0], gcp.line.values)
    np.testing.assert_array_equal(grid.as_2d("pixel")[0], gcp.pixel.values)
    np.testing.assert_array_equal(grid.as_2d("slant_range_time")[0], gcp.slant_range_time.values)
    cc = _xs(path, f"IW/{pol}/coordinate_conversion")
    conv = ann.coordinate_conversion
    np.testing.assert_array_equal(conv.azimuth_time, cc.azimuth_time.values)
    np.testing.assert_array_equal(conv.slant_range_time, cc.slant_range_time.values)
    np.testing.assert_array_equal(conv.sr0, cc.sr0.values)
    np.testing.assert_array_equal(conv.gr0, cc.gr0.values)
    np.testing.assert_array_equal(conv.srgr_coefficients, cc.srgrCoefficients.values)
    np.testing.assert_array_equal(conv.grsr_coefficients, cc.grsrCoefficients.values)
    # timing: xarray-sentinel builds line times between first and last line
    duration = seconds_since(ann.last_line_time, ann.first_line_time)
    assert duration == pytest.approx((ann.number_of_lines - 1) * ann.azimuth_time_interval, rel=1e-3)
    assert ann.swath_bounds and {b.swath for b in ann.swath_bounds} == {"IW1", "IW2", "IW3"}
    for b in ann.swath_bounds:
        assert 0 <= b.first_line <= b.last_line < ann.number_of_lines
        assert 0 <= b.first_sample <= b.last_sample < ann.number_of_samples


def test_image_information_vs_xarray_sentinel_measurement_group():
    # only the S1B sample has a measurement TIFF, which xarray-sentinel needs for this group
    path = str(safe_path(S1B_2021_ROME))
    ann = open_safe(path).annotation("VV")
    attrs = _xs(path, "IW/VV").attrs
    assert ann.azimuth_time_interval == attrs["azimuth_time_interval"]
    assert ann.slant_range_time == attrs["image_slant_range_time"]
    assert ann.range_pixel_spacing == attrs["range_pixel_spacing"]
    assert ann.azimuth_pixel_spacing == attrs["azimuth_pixel_spacing"]
    assert ann.range_sampling_rate == attrs["range_sampling_rate"]
    assert ann.first_line_time == np.datetime64(attrs["product_first_line_utc_time"], "ns")
    assert ann.last_line_time == np.datetime64(attrs["product_last_line_utc_time"], "ns")
    assert ann.radar_frequency / 1e9 == pytest.approx(attrs["radar_frequency"], rel=1e-12)
    assert ann.shape == (16705, 26102)


def test_zip_equals_folder():
    with open_safe(ZIP_8255) as zipped:
        folder = open_safe(safe_path(S1A_2021_DESC))
        assert zipped.name == folder.name == S1A_2021_DESC
        assert zipped.manifest.files == folder.manifest.files
        assert zipped.available_polarisations == ("VV", "VH")
        for pol in ("VV", "VH"):
            a, b = zipped.annotation(pol), folder.annotation(pol)
            np.testing.assert_array_equal(a.orbit.position, b.orbit.position)
            np.testing.assert_array_equal(a.geolocation_grid.latitude, b.geolocation_grid.latitude)
            np.testing.assert_array_equal(zipped.calibration(pol).sigma_nought, folder.calibration(pol).sigma_nought)
            np.testing.assert_array_equal(zipped.noise(pol).azimuth_blocks[1].values, folder.noise(pol).azimuth_blocks[1].values)
        # xarray-sentinel on the same zip through its fsspec URL
        cal = _xs(XS_ZIP_URL, "IW/VH/calibration")
        np.testing.assert_allclose(zipped.calibration("VH").sigma_nought, cal.sigmaNought.values, rtol=1e-7)


def test_fsspec_zip_url():
    product = open_safe(XS_ZIP_URL)
    assert product.name == S1A_2021_DESC
    assert product.annotation("VV").number_of_lines == 16854


def test_measurement_window_folder_and_zip(s1b_zip):
    folder = open_safe(safe_path(S1B_2021_ROME))
    window = S1B_ZIP_WINDOW
    dn = folder.read_measurement("VV", window)
    assert dn.dtype == np.uint16 and dn.shape == (32, 64) and not dn.any()  # placeholder: zeros
    zpath, values = s1b_zip
    with open_safe(zpath) as zipped:
        assert zipped.measurement_path("VV").startswith("/vsizip/")
        np.testing.assert_array_equal(zipped.read_measurement("VV", window), values)
        np.testing.assert_array_equal(
            zipped.read_measurement("VV", Window(21640 + 10, 7470 + 5, 3, 2)), values[5:7, 10:13]
        )
