"""The generated products are real-format SAFE products: the project's reader, GDAL and
xarray-sentinel read them; manifest sizes/MD5s match; names, orbits and times are consistent."""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET
import zipfile

import numpy as np
import pytest
import rasterio
import xarray as xr
from rasterio.windows import Window

from ben_sen1_assets.sar import open_safe

LABELS = ["rome-a", "rome-b", "france-a", "france-b"]
NAME_RE = re.compile(
    r"^(S1[AB])_IW_GRDH_1SDV_(\d{8}T\d{6})_(\d{8}T\d{6})_(\d{6})_([0-9A-F]{6})_([0-9A-F]{4})$"
)


@pytest.mark.parametrize("label", LABELS)
@pytest.mark.parametrize("layout", ["zip", "folder"])
def test_project_reader_opens_product(demo_archive, demo_unzipped, label, layout):
    path = demo_archive[label] if layout == "zip" else demo_unzipped[label]
    with open_safe(path) as product:
        assert product.available_polarisations == ("VV", "VH")
        assert product.missing_files == ()
        for pol in ("VV", "VH"):
            ann = product.annotation(pol)
            assert product.has_measurement(pol)
            with product.open_measurement(pol) as ds:
                assert (ds.height, ds.width) == ann.shape
                assert ds.dtypes[0] == "uint16" and ds.compression is None
                assert ds.block_shapes[0] == (1, ann.shape[1])  # one line per strip, like ESA
            dn = product.read_measurement(pol, Window(100, 200, 64, 32))
            assert dn.dtype == np.uint16 and dn.shape == (32, 64) and dn.min() > 0
            assert ann.geolocation_grid.shape == (10, 21)
            cal, noise = product.calibration(pol), product.noise(pol)
            assert cal.line[0] == 0 and cal.line[-1] == ann.shape[0] - 1
            assert noise.azimuth_blocks  # IPF >= 2.9 layout kept


@pytest.mark.parametrize("label", LABELS)
def test_measurement_gcps_equal_annotation(demo_unzipped, label):
    safe = demo_unzipped[label]
    tiff = next((safe / "measurement").glob("*-vv-*.tiff"))
    ann_xml = next((safe / "annotation").glob("s1?-iw-grd-vv-*.xml"))
    points = ET.parse(ann_xml).getroot().findall("geolocationGrid/geolocationGridPointList/geolocationGridPoint")
    expected = np.array([[float(p.findtext(k)) for k in ("line", "pixel", "longitude", "latitude", "height")]
                         for p in points])
    assert tiff.read_bytes()[:4] == b"II+\x00"  # little-endian BigTIFF, as the manifest sizes of ESA's imply
    assert not list(safe.rglob("*.aux.xml"))
    with rasterio.open(tiff) as ds:
        gcps, crs = ds.gcps
    assert crs.to_epsg() == 4326
    assert len(gcps) == 210 == len(expected)
    got = np.array([[g.row, g.col, g.x, g.y, g.z] for g in gcps])
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("label", ["rome-a", "france-b"])
def test_xarray_sentinel_opens_product(demo_archive, demo_unzipped, label):
    safe = demo_unzipped[label]
    ds = xr.open_dataset(safe, engine="sentinel-1", group="IW/VV")
    window = ds.measurement.isel(azimuth_time=slice(300, 340), ground_range=slice(500, 560)).values
    with open_safe(safe) as product:
        ours = product.read_measurement("VV", Window(500, 300, 60, 40))
        assert ds.measurement.shape == product.annotation("VV").shape
    np.testing.assert_array_equal(window, ours)
    # metadata groups straight from the zip (fsspec URL; xarray-sentinel cannot open a TIFF inside a zip)
    url = f"zip://*/manifest.safe::file://{demo_archive[label]}"
    cal = xr.open_dataset(url, engine="sentinel-1", group="IW/VH/calibration")
    assert cal.sigmaNought.dims == ("line", "pixel") and int(cal.line[0]) == 0
    gcp = xr.open_dataset(url, engine="sentinel-1", group="IW/VV/gcp")
    assert gcp.latitude.shape == (10, 21)
    nr = xr.open_dataset(url, engine="sentinel-1", group="IW/VV/noise_range")
    assert float(nr.noiseRangeLut.max()) > 0


@pytest.mark.parametrize("label", LABELS)
def test_manifest_sizes_and_md5(demo_archive, label):
    with zipfile.ZipFile(demo_archive[label]) as zf:
        names = zf.namelist()
        assert names[:-1] == sorted(names[:-1]) and names[-1].endswith("/manifest.safe")  # fixed order
        root_dir = names[0].split("/")[0]
        assert root_dir == demo_archive[label].stem + ".SAFE"
        manifest = ET.fromstring(zf.read(f"{root_dir}/manifest.safe"))
        objects = manifest.findall(".//dataObject")
        assert objects
        listed = set()
        for obj in objects:
            href = obj.find(".//fileLocation").get("href").removeprefix("./")
            data = zf.read(f"{root_dir}/{href}")
            assert int(obj.find("byteStream").get("size")) == len(data), href
            assert obj.find(".//checksum").text == hashlib.md5(data).hexdigest(), href
            listed.add(href)
        present = {n.split("/", 1)[1] for n in names if not n.endswith("/")}
        assert present - listed == {"manifest.safe", "SIMULATED.txt"}
        assert b"SIMULATED" in zf.read(f"{root_dir}/SIMULATED.txt")
        assert b"SIMULATED" in zf.read(f"{root_dir}/manifest.safe")


def test_names_orbits_and_times_consistent(demo_archive):
    infos = {}
    for label, path in demo_archive.items():
        with open_safe(path) as p:
            m = NAME_RE.match(p.name)
            assert m, p.name
            mission, start, stop, orbit, datatake, _uid = m.groups()
            man = p.manifest
            ann = p.annotation("VV")
            assert man.mission == mission and int(orbit) == man.absolute_orbit == ann.absolute_orbit
            assert start == str(np.datetime64(man.start_time, "s")).replace("-", "").replace(":", "")
            assert stop == str(np.datetime64(man.stop_time, "s")).replace("-", "").replace(":", "")
            assert man.start_time == ann.first_line_time and man.stop_time == ann.last_line_time
            stem = f"{start.lower()}-{stop.lower()}-{orbit}-{datatake.lower()}"
            per_pol = [f for f in man.files if f.kind in ("annotation", "calibration", "noise", "rfi", "measurement")]
            assert len(per_pol) >= 8 and all(stem in f.href for f in per_pol)
            # orbit state vectors bracket the image
            assert ann.orbit.time[0] < ann.first_line_time < ann.last_line_time < ann.orbit.time[-1]
            cal = p.calibration("VV")
            assert ann.first_line_time <= cal.azimuth_time[0] <= ann.first_line_time + np.timedelta64(10, "ms")
            infos[label] = (man, ann, p.name)
    # repeat passes: whole 12-day cycles, 175 orbits, same relative orbit and pass
    for a, b in (("rome-a", "rome-b"), ("france-a", "france-b")):
        ma, aa, na = infos[a]
        mb, ab, nb = infos[b]
        assert na != nb and na[-4:] != nb[-4:]
        assert mb.absolute_orbit - ma.absolute_orbit == 175
        assert mb.relative_orbit == ma.relative_orbit and mb.pass_direction == ma.pass_direction
        dt = (ab.orbit.time[0] - aa.orbit.time[0]) / np.timedelta64(1, "s")
        assert dt == 12 * 86400
    assert infos["rome-a"][0].pass_direction == "DESCENDING"
    assert infos["france-a"][0].pass_direction == "ASCENDING"


def test_demo_catalog_patches_covered_with_choices(demo_archive):
    """Every in-scope patch of every demo tile lies inside the union of that tile's two demo
    products' footprints, and for each tile some patch is inside one footprint only (so per-patch
    selection and mosaicking have real choices)."""
    import pyproj
    import shapely

    from ben_sen1_assets.grid import patch_bounds, tile_grid
    from ben_sen1_assets.grid.catalog import load_demo_catalog

    footprints = {}
    for label, path in demo_archive.items():
        with open_safe(path) as p:
            footprints[label] = (p.manifest.footprint_polygon, p.manifest.pass_direction)
    pairs = {"32TQM": ("rome-a", "rome-b"), "33TTG": ("rome-a", "rome-b"), "31TEL": ("france-a", "france-b")}
    catalog = load_demo_catalog()
    assert {e.mgrs for e in catalog} == set(pairs)
    for entry in catalog:
        a, b = (footprints[label][0] for label in pairs[entry.mgrs])
        tile = tile_grid(entry.mgrs)
        to_ll = pyproj.Transformer.from_crs(tile.epsg, 4326, always_xy=True)
        only_one = 0
        assert entry.patches_in_scope
        for x, y in entry.patches_in_scope:
            x0, y0, x1, y1 = patch_bounds(tile, x, y)
            lon, lat = to_ll.transform([x0, x1, x1, x0], [y0, y0, y1, y1])
            patch = shapely.Polygon(zip(lon, lat))
            assert a.union(b).contains(patch), (entry.mgrs, x, y)
            only_one += a.contains(patch) != b.contains(patch)
        assert only_one > 0, entry.mgrs
    assert footprints["france-a"][1] == "ASCENDING" and footprints["rome-a"][1] == "DESCENDING"


def test_xarray_safe_s1_reads_luts(demo_unzipped):
    """A second peer reader (xarray-safe-s1) parses the cropped calibration LUTs like ours."""
    import warnings

    import safe_s1  # test extra: xarray-safe-s1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        luts = safe_s1.Sentinel1Reader(str(demo_unzipped["rome-a"])).get_calibration_luts
    with open_safe(demo_unzipped["rome-a"]) as product:
        cal = product.calibration("VH")
    np.testing.assert_array_equal(luts.line.values, cal.line)
    np.testing.assert_array_equal(luts.sample.values, cal.pixel[0])
    np.testing.assert_allclose(luts.sigma0_lut.sel(pol="VH").values, cal.sigma_nought, rtol=1e-12)
