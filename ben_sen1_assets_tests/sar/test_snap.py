"""SNAP backend: graph content per config, gpt discovery, subprocess plumbing, read-back.

The graph tests check parameter values against SNAP's operator parameter names (S1TBX /
snap-engine sources) and against independent computations (pyproj for the CRS and the Subset
polygon, the tile's UL from the grid module). The subprocess tests run a real executable (a
small Python script standing in for ``gpt``) that behaves as SNAP is documented to: it reads the
graph, reports progress, and writes one GeoTIFF per Write node on the grid SNAP's
Terrain-Correction would produce (pixel *centres* on ``standardGridOrigin`` + k·spacing, from
SNAP's ``CrsGeoCoding`` reference pixel 0.5, 0.5). A real SNAP run is skipped when gpt is absent.
"""

from __future__ import annotations

import json
import stat
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pyproj
import pytest
import rasterio
import shapely
import shapely.wkt
from rasterio.windows import Window

from ben_sen1_assets.grid import tile_grid
from ben_sen1_assets.sar.chain import ChainResult
from ben_sen1_assets.sar.config import ConfigError, DemConfig, ProcessingConfig
from ben_sen1_assets.sar.snap import (
    GPT_ENV,
    SNAP_DEM_GLO30,
    SNAP_DEM_SRTM1,
    SnapConfigError,
    SnapNotFoundError,
    SnapOutputError,
    SnapProcessor,
    SnapRunError,
    build_graph,
    esa_snappy_available,
    find_gpt,
    output_paths,
    read_snap_output,
    run_graph,
    write_constant_dem,
)
from ben_sen1_assets.sar.speckle import SpeckleFilter

from .conftest import S1A_2015_OLD, S1A_2021_DESC, S1B_2021_ROME, SAMPLES, safe_path

ROME_DEM = SAMPLES.parent / "dem" / "Rome-30m-DEM.tif"
TILE = tile_grid("33TTG")  # Rome; UL (199980, 4700040), EPSG:32633
WINDOW = Window(col_off=9000, row_off=4320, width=120, height=120)  # patch 75_36, over the Rome DEM
NEW_IPF = safe_path(S1A_2021_DESC)  # IPF 003.31
OLD_IPF = safe_path(S1A_2015_OLD)  # IPF 002.70
ROME = safe_path(S1B_2021_ROME)  # IPF 003.40, footprint covers WINDOW (metadata only: no VH files)
SNAP_MISSING = "SNAP gpt not found: set SNAP_GPT or install SNAP"


def nodes(xml: str) -> dict[str, ET.Element]:
    root = ET.fromstring(xml)  # well-formed or this raises
    return {n.get("id"): n for n in root.iter("node")}


def params(node: ET.Element) -> dict[str, str]:
    return {p.tag: (p.text or "") for p in node.find("parameters")}


def chain(xml: str) -> list[str]:
    """Operators from Read to the first Write, following <sources> backwards from the Write."""
    ns = nodes(xml)
    write = next(i for i, n in ns.items() if n.findtext("operator") == "Write")
    order, cur = [], write
    while cur is not None:
        order.append(ns[cur].findtext("operator"))
        src = ns[cur].find("sources/sourceProduct")
        cur = None if src is None else src.get("refid")
    return order[::-1]


def graph(config: ProcessingConfig = ProcessingConfig(), product=NEW_IPF, dem=None, **kw) -> str:
    return build_graph(product, TILE, WINDOW, config, dem, kw.pop("output_path", "out/o.tif"), **kw)


# -------------------------------------------------------------------------------- graph content

def test_default_graph_order_and_sources():
    xml = graph()
    ns = nodes(xml)
    assert chain(xml) == ["Read", "ThermalNoiseRemoval", "Calibration", "Speckle-Filter",
                          "Terrain-Correction", "Subset", "LinearToFromdB", "BandSelect", "Write"]
    # every sourceProduct refers to an existing node; only Read has no source
    for node_id, node in ns.items():
        srcs = [s.get("refid") for s in node.find("sources")]
        assert all(s in ns for s in srcs)
        assert (len(srcs) == 0) == (node.findtext("operator") == "Read"), node_id
    # one BandSelect → Write per polarisation, both from the last common node
    assert params(ns["BandSelect-VV"])["sourceBands"] == "Sigma0_VV_db"
    assert params(ns["BandSelect-VH"])["sourceBands"] == "Sigma0_VH_db"
    for pol in ("VV", "VH"):
        assert ns[f"BandSelect-{pol}"].find("sources/sourceProduct").get("refid") == "LinearToFromdB"
        w = params(ns[f"Write-{pol}"])
        assert w["formatName"] == "GeoTIFF-BigTIFF"
        assert w["file"] == str(Path(f"out/o_{pol}.tif").resolve())  # a relative path, resolved for gpt
    # IPF 3.31 with border_noise_removal="auto": no edge trim (as the project's own chain)
    assert "Remove-GRD-Border-Noise" not in ns


def test_default_graph_parameters():
    ns = nodes(graph())
    read = params(ns["Read"])
    assert read["file"] == str(NEW_IPF.resolve() / "manifest.safe")
    tnr = params(ns["ThermalNoiseRemoval"])
    assert tnr == {"selectedPolarisations": "VV,VH", "removeThermalNoise": "true", "outputNoise": "false",
                   "reIntroduceThermalNoise": "false"}
    cal = params(ns["Calibration"])
    assert (cal["outputSigmaBand"], cal["outputBetaBand"], cal["outputGammaBand"]) == ("true", "false", "false")
    assert cal["outputImageScaleInDb"] == "false"  # dB only through the separate LinearToFromdB node
    assert cal["selectedPolarisations"] == "VV,VH"
    assert params(ns["Speckle-Filter"]) == {"filter": "Refined Lee"}
    tc = params(ns["Terrain-Correction"])
    assert tc["demName"] == SNAP_DEM_GLO30 and tc["externalDEMFile"] == ""
    assert tc["demResamplingMethod"] == tc["imgResamplingMethod"] == "BILINEAR_INTERPOLATION"
    assert float(tc["pixelSpacingInMeter"]) == 10.0
    assert tc["alignToStandardGrid"] == "true"
    assert tc["saveSelectedSourceBand"] == "true" and tc["applyRadiometricNormalization"] == "false"
    assert tc["nodataValueAtSea"] == "true"
    crs = pyproj.CRS.from_wkt(tc["mapProjection"])
    assert crs == pyproj.CRS.from_epsg(32633) and crs.to_epsg() == 32633


def test_grid_origin_is_centre_of_tile_ul_pixel():
    tc = params(nodes(graph())["Terrain-Correction"])
    # tile 33TTG UL from the MGRS rule (DOMAIN.md §2): (199980, 4700040); SNAP's origin is a pixel
    # centre, so the centre of the tile's UL pixel puts pixel corners on the tile's corners
    assert (float(tc["standardGridOriginX"]), float(tc["standardGridOriginY"])) == (199985.0, 4700035.0)
    assert (float(tc["standardGridOriginX"]) - 5 - 199980.0) % 10 == 0


def test_subset_polygon_is_the_window_outline():
    poly = shapely.wkt.loads(params(nodes(graph())["Subset"])["geoRegion"])
    lon, lat = np.asarray(poly.exterior.coords).T
    x, y = pyproj.Transformer.from_crs(4326, 32633, always_xy=True).transform(lon, lat)
    left, top = 199980.0 + 9000 * 10, 4700040.0 - 4320 * 10
    np.testing.assert_allclose([x.min(), x.max(), y.min(), y.max()],
                               [left, left + 1200, top - 1200, top], atol=1e-4)


def test_beta0_and_gamma0():
    for quantity, flag, band in (("beta0", "outputBetaBand", "Beta0"), ("gamma0", "outputGammaBand", "Gamma0")):
        ns = nodes(graph(ProcessingConfig(calibration=quantity)))
        cal = params(ns["Calibration"])
        assert cal[flag] == "true" and cal["outputSigmaBand"] == "false"
        assert sum(cal[k] == "true" for k in ("outputSigmaBand", "outputBetaBand", "outputGammaBand")) == 1
        assert params(ns["BandSelect-VV"])["sourceBands"] == f"{band}_VV_db"


def test_gamma0_rtc_adds_terrain_flattening_on_the_same_dem():
    """gamma0_rtc: β0 from Calibration, SNAP's Terrain-Flattening (same DEM parameters as
    Terrain-Correction) before the speckle filter, Gamma0 bands selected; the local incidence
    angle is written from the Subset (never converted to dB)."""
    xml = graph(ProcessingConfig(calibration="gamma0_rtc"), dem=SNAP_DEM_SRTM1)
    assert chain(xml) == ["Read", "ThermalNoiseRemoval", "Calibration", "Terrain-Flattening", "Speckle-Filter",
                          "Terrain-Correction", "Subset", "LinearToFromdB", "BandSelect", "Write"]
    ns = nodes(xml)
    cal = params(ns["Calibration"])
    assert cal["outputBetaBand"] == "true" and cal["outputSigmaBand"] == cal["outputGammaBand"] == "false"
    tf, tc = params(ns["Terrain-Flattening"]), params(ns["Terrain-Correction"])
    for key in ("demName", "externalDEMFile", "externalDEMNoDataValue", "externalDEMApplyEGM", "demResamplingMethod"):
        assert tf[key] == tc[key], key
    assert tf["demName"] == SNAP_DEM_SRTM1 and tf["outputSimulatedImage"] == "false"
    assert params(ns["BandSelect-VV"])["sourceBands"] == "Gamma0_VV_db"
    assert tc["saveLocalIncidenceAngle"] == "true"
    assert params(ns["BandSelect-LIA"])["sourceBands"] == "localIncidenceAngle"
    assert ns["BandSelect-LIA"].find("sources/sourceProduct").get("refid") == "Subset"
    assert params(ns["Write-LIA"])["file"] == str(Path("out/o_LIA.tif").resolve())


def test_speckle_filters():
    sp = lambda **kw: params(nodes(graph(ProcessingConfig(speckle_filter=SpeckleFilter(**kw))))["Speckle-Filter"])
    assert sp(kind="boxcar", window=5) == {"filter": "Boxcar", "filterSizeX": "5", "filterSizeY": "5"}
    assert sp(kind="lee_sigma", window=9, looks=4, sigma=0.8) == {
        "filter": "Lee Sigma", "numLooksStr": "4", "windowSize": "9x9", "targetWindowSizeStr": "3x3", "sigmaStr": "0.8"}
    assert sp(kind="refined_lee", window=7) == {"filter": "Refined Lee"}
    xml = graph(ProcessingConfig(speckle_filter=SpeckleFilter(kind="none")))
    assert "Speckle-Filter" not in chain(xml)
    assert nodes(xml)["Terrain-Correction"].find("sources/sourceProduct").get("refid") == "Calibration"


@pytest.mark.parametrize("sf, field", [
    (SpeckleFilter(kind="refined_lee", window=9), "speckle_filter.window"),  # SNAP: fixed 7×7
    (SpeckleFilter(kind="lee_sigma", window=7), "speckle_filter.looks"),  # default 4.4 looks
    (SpeckleFilter(kind="lee_sigma", window=3, looks=4), "speckle_filter.window"),
    (SpeckleFilter(kind="lee_sigma", window=7, looks=4, sigma=0.95), "speckle_filter.sigma"),
])
def test_speckle_filters_snap_cannot_honour(sf, field):
    with pytest.raises(SnapConfigError, match=field.replace(".", r"\.")) as exc:
        graph(ProcessingConfig(speckle_filter=sf))
    assert isinstance(exc.value, ConfigError)


def test_nearest_resampling_and_linear_output():
    ns = nodes(graph(ProcessingConfig(resampling="nearest", output_scale="linear")))
    assert params(ns["Terrain-Correction"])["imgResamplingMethod"] == "NEAREST_NEIGHBOUR"
    assert params(ns["Terrain-Correction"])["demResamplingMethod"] == "BILINEAR_INTERPOLATION"
    assert "LinearToFromdB" not in ns
    assert ns["BandSelect-VV"].find("sources/sourceProduct").get("refid") == "Subset"
    assert params(ns["BandSelect-VV"])["sourceBands"] == "Sigma0_VV"


def test_thermal_noise_off():
    xml = graph(ProcessingConfig(thermal_noise_removal=False, negative="nan"))
    assert chain(xml)[:3] == ["Read", "Calibration", "Speckle-Filter"]


def test_negative_policies_snap_cannot_honour():
    for policy in ("nan", "zero"):
        with pytest.raises(SnapConfigError, match="negative"):
            graph(ProcessingConfig(negative=policy))


def test_border_noise_defaults_on_old_ipf_and_edge_trim():
    ns = nodes(graph(product=OLD_IPF))  # IPF 002.70 → "auto" trims
    assert chain(graph(product=OLD_IPF))[:3] == ["Read", "Remove-GRD-Border-Noise", "ThermalNoiseRemoval"]
    bn = params(ns["Remove-GRD-Border-Noise"])
    assert (int(bn["borderLimit"]), float(bn["trimThreshold"])) == (500, 0.5)
    assert bn["selectedPolarisations"] == "VV,VH"
    ns = nodes(graph(ProcessingConfig(border_noise_removal="edge_trim", border_limit=300, trim_threshold=0.7)))
    bn = params(ns["Remove-GRD-Border-Noise"])
    assert (int(bn["borderLimit"]), float(bn["trimThreshold"])) == (300, 0.7)
    assert "Remove-GRD-Border-Noise" not in nodes(graph(product=OLD_IPF, config=ProcessingConfig(border_noise_removal="zero_only")))
    # the ipf argument saves reading the manifest and decides the same way
    assert "Remove-GRD-Border-Noise" in nodes(graph(ipf=(2, 70)))
    with pytest.raises(SnapConfigError, match="trim_run"):
        graph(ProcessingConfig(border_noise_removal="edge_trim", trim_run=8))


def test_geometry_conventions_snap_cannot_honour():
    with pytest.raises(SnapConfigError, match="srgr"):
        graph(ProcessingConfig(srgr="nearest"))
    with pytest.raises(SnapConfigError, match="orbit_interpolation"):
        graph(ProcessingConfig(orbit_interpolation="polyfit"))


def test_local_dem_with_egm96_and_ellipsoid(tmp_path):
    tc = params(nodes(graph(ProcessingConfig(dem=DemConfig.local(ROME_DEM))))["Terrain-Correction"])
    # EPSG:9707 = WGS84 + EGM96 heights → SNAP must add the EGM96 undulation
    assert tc["externalDEMFile"] == str(ROME_DEM.resolve())
    assert tc["externalDEMApplyEGM"] == "true"
    assert float(tc["externalDEMNoDataValue"]) == -32768.0  # the file's nodata
    tc = params(nodes(graph(ProcessingConfig(dem=DemConfig.local(ROME_DEM, "ellipsoid"))))["Terrain-Correction"])
    assert tc["externalDEMApplyEGM"] == "false"
    with pytest.raises(SnapConfigError, match="EGM2008"):
        graph(ProcessingConfig(dem=DemConfig.local(ROME_DEM, "EGM2008")))
    with pytest.raises(SnapConfigError, match="dem.fill"):
        graph(ProcessingConfig(dem=DemConfig.local(ROME_DEM, fill="nearest")))


def test_dem_overrides_and_glo30_options():
    tc = params(nodes(graph(dem=SNAP_DEM_SRTM1))["Terrain-Correction"])
    assert tc["demName"] == "SRTM 1Sec HGT" and tc["externalDEMFile"] == ""
    tc = params(nodes(graph(ProcessingConfig(dem=DemConfig.glo30(sea="sea_level"))))["Terrain-Correction"])
    assert tc["demName"] == "Copernicus 30m Global DEM" and tc["nodataValueAtSea"] == "false"
    with pytest.raises(SnapConfigError, match="dem.url"):
        graph(ProcessingConfig(dem=DemConfig.glo30(url="https://example.invalid/dem")))


def test_constant_dem_is_an_error_for_the_graph_and_a_file_for_snap(tmp_path):
    with pytest.raises(SnapConfigError, match="write_constant_dem"):
        graph(ProcessingConfig(dem=DemConfig.constant(120.0)))
    path = write_constant_dem(120.0, TILE, WINDOW, tmp_path / "dem.tif")
    with rasterio.open(path) as ds:
        assert ds.crs.to_epsg() == 4326 and ds.nodata == -32768.0
        values = ds.read(1)
        west, south, east, north = ds.bounds
    assert np.all(values == 120.0)
    # the DEM covers the window's corners (pyproj, independent of the writer)
    lon, lat = pyproj.Transformer.from_crs(32633, 4326, always_xy=True).transform(
        [289980, 291180, 289980, 291180], [4656840, 4656840, 4655640, 4655640])
    assert west < min(lon) and max(lon) < east and south < min(lat) and max(lat) < north
    cfg = ProcessingConfig(dem=DemConfig.constant(120.0, "EGM96"))
    tc = params(nodes(graph(cfg, dem=path))["Terrain-Correction"])
    assert tc["externalDEMFile"] == str(path.resolve()) and tc["externalDEMApplyEGM"] == "true"


def test_bad_inputs():
    with pytest.raises(SnapConfigError, match="local files"):
        build_graph("s3://bucket/S1A.zip", TILE, WINDOW)
    with pytest.raises(SnapConfigError, match="not inside"):
        build_graph(NEW_IPF, TILE, Window(10950, 0, 120, 120))
    assert output_paths("/x/out.tif", ["VV"]) == {"VV": Path("/x/out_VV.tif")}
    assert output_paths("/x/{polarisation}/b", ["VH"]) == {"VH": Path("/x/VH/b.tif")}


def test_esa_snappy_check_does_not_import():
    before = set(sys.modules)
    available = esa_snappy_available()
    assert isinstance(available, bool)
    assert "esa_snappy" not in set(sys.modules) - before


# ------------------------------------------------------------------------- gpt and subprocesses

FAKE_GPT = r'''#!{python}
"""Stand-in for SNAP gpt: records argv, reports progress, writes each Write node's GeoTIFF on
the grid SNAP's Terrain-Correction + Subset produce (pixel centres on standardGridOrigin + k·dx)."""
import json, math, os, sys, time
import xml.etree.ElementTree as ET
import numpy as np, pyproj, rasterio, shapely.wkt
from affine import Affine

args = sys.argv[1:]
json.dump(args, open(os.environ["FAKE_GPT_RECORD"], "w"))
if os.environ.get("FAKE_GPT_SLEEP"):
    sys.stdout.write("....10%"); sys.stdout.flush()
    time.sleep(float(os.environ["FAKE_GPT_SLEEP"]))
if os.environ.get("FAKE_GPT_FAIL"):
    sys.stdout.write("Executing processing graph\n....10%"); sys.stdout.flush()
    sys.stderr.write("INFO: org.esa.snap.core.gpf.operators.tooladapter.ToolAdapterIO: Initializing external tool adapters\n")
    sys.stderr.write("Error: [NodeId: Terrain-Correction] The DEM 'Copernicus 30m Global DEM' is not installed\n")
    sys.exit(1)
graph = ET.parse(next(a for a in args if a.endswith(".xml"))).getroot()
ns = {{n.get("id"): n for n in graph.iter("node")}}
p = lambda node, name: ns[node].findtext("parameters/" + name)
res = float(p("Terrain-Correction", "pixelSpacingInMeter"))
ox, oy = float(p("Terrain-Correction", "standardGridOriginX")), float(p("Terrain-Correction", "standardGridOriginY"))
crs = pyproj.CRS.from_wkt(p("Terrain-Correction", "mapProjection"))
poly = shapely.wkt.loads(p("Subset", "geoRegion"))
lon, lat = np.asarray(poly.exterior.coords).T
x, y = pyproj.Transformer.from_crs(4326, crs, always_xy=True).transform(lon, lat)
# Subset takes the enclosing pixels; like SNAP's, ours may be a pixel larger: add one row on top
# and one column on the right
x0 = ox - res / 2 + math.floor((x.min() + 1e-3 - (ox - res / 2)) / res) * res
y0 = oy + res / 2 + math.ceil((y.max() - 1e-3 - (oy + res / 2)) / res) * res + res
cols = round((x.max() - x0) / res) + 1
rows = round((y0 - y.min()) / res)
C, R = np.meshgrid(np.arange(cols), np.arange(rows))
C = C + round((x0 - (ox - res / 2)) / res)  # tile pixel index of each column
R = R + round(((oy + res / 2) - y0) / res)
for i, pct in enumerate((10, 20, 30, 40, 50, 60, 70, 80, 90, 100)):
    sys.stdout.write("...." + str(pct) + "%"); sys.stdout.flush(); time.sleep(0.01)
sys.stdout.write(" done.\n")
db = any(n.findtext("operator") == "LinearToFromdB" for n in ns.values())
for node in ns:
    if ns[node].findtext("operator") != "Write":
        continue
    band = ns[ns[node].find("sources/sourceProduct").get("refid")].findtext("parameters/sourceBands")
    if band == "localIncidenceAngle":  # degrees, never in dB
        values = (30.0 + ((R + C) % 7)).astype("float32")
        values[:, 1] = 0.0
        with rasterio.open(p(node, "file"), "w", driver="GTiff", width=cols, height=rows, count=1,
                           dtype="float32", crs=crs.to_wkt(), transform=Affine(res, 0, x0, 0, -res, y0)) as ds:
            ds.write(values, 1)
        continue
    values = (-10.0 - ((R + C) % 7)).astype("float32")
    if not db:
        values = (10 ** (values / 10)).astype("float32")
    values[:, 1] = 0.0                           # SNAP no-data in the window's first column
    values[2, 2] = -1e-30 if db else 1e-31       # LinearToFromdB underflow / tiny linear
    values[3, 3] = -60.0 if db else 1e-6         # below the -50 dB floor
    with rasterio.open(p(node, "file"), "w", driver="GTiff", width=cols, height=rows, count=1,
                       dtype="float32", crs=crs.to_wkt(), transform=Affine(res, 0, x0, 0, -res, y0)) as ds:
        ds.write(values, 1)
'''


@pytest.fixture
def fake_gpt(tmp_path, monkeypatch) -> tuple[Path, Path]:
    script = tmp_path / "bin" / "gpt"
    script.parent.mkdir()
    script.write_text(FAKE_GPT.format(python=sys.executable))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    record = tmp_path / "argv.json"
    monkeypatch.setenv(GPT_ENV, str(script))
    monkeypatch.setenv("FAKE_GPT_RECORD", str(record))
    return script, record


def test_find_gpt(fake_gpt, monkeypatch, tmp_path):
    script, _ = fake_gpt
    assert find_gpt() == script
    monkeypatch.setenv(GPT_ENV, str(tmp_path / "nope" / "gpt"))
    with pytest.raises(SnapNotFoundError, match="SNAP_GPT"):
        find_gpt()
    # no env var, no SNAP on PATH, nothing in the install folders → the skip message's wording
    monkeypatch.delenv(GPT_ENV)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(SnapNotFoundError, match="SNAP gpt not found: set SNAP_GPT or install SNAP"):
        find_gpt(search_dirs=[tmp_path / "opt" / "snap" / "bin" / "gpt"])
    assert find_gpt(search_dirs=[tmp_path / "x", script]) == script
    # a "gpt" on PATH outside a SNAP install (macOS's partition tool) is not taken
    monkeypatch.setenv("PATH", str(script.parent))
    with pytest.raises(SnapNotFoundError):
        find_gpt(search_dirs=[])
    (script.parent / "gpt.vmoptions").write_text("-Xmx4G\n")
    assert find_gpt(search_dirs=[]) == script


def test_run_graph_runs_gpt_and_returns_outputs(fake_gpt, tmp_path):
    script, record = fake_gpt
    xml = build_graph(NEW_IPF, TILE, WINDOW, ProcessingConfig(), None, tmp_path / "out" / "s1.tif")
    seen: list[float] = []
    t0 = time.perf_counter()
    outputs = run_graph(xml, memory="6G", threads=2, cache="2G", progress=seen.append, workdir=tmp_path / "wd")
    assert time.perf_counter() - t0 < 30
    assert outputs == {"Write-VV": tmp_path / "out" / "s1_VV.tif", "Write-VH": tmp_path / "out" / "s1_VH.tif",
                       "Write-LIA": tmp_path / "out" / "s1_LIA.tif"}
    assert all(p.is_file() for p in outputs.values())
    argv = json.loads(record.read_text())
    assert argv[0] == "-J-Xmx6G" and argv[1] == str(tmp_path / "wd" / "graph.xml")
    assert argv[2:] == ["-e", "-c", "2G", "-q", "2"]
    assert (tmp_path / "wd" / "graph.xml").read_text() == xml
    assert seen == [i / 10 for i in range(1, 11)]


def test_run_graph_failure_reports_stderr_tail(fake_gpt, monkeypatch, tmp_path):
    monkeypatch.setenv("FAKE_GPT_FAIL", "1")
    xml = build_graph(NEW_IPF, TILE, WINDOW, ProcessingConfig(), None, tmp_path / "o.tif")
    with pytest.raises(SnapRunError) as exc:
        run_graph(xml)
    assert exc.value.returncode == 1
    assert "exit code 1" in str(exc.value)
    assert "[NodeId: Terrain-Correction] The DEM 'Copernicus 30m Global DEM' is not installed" in str(exc.value)
    assert "Terrain-Correction" in exc.value.stderr_tail
    assert not list(tmp_path.glob("o_*.tif"))


def test_run_graph_timeout_kills_gpt(fake_gpt, monkeypatch, tmp_path):
    monkeypatch.setenv("FAKE_GPT_SLEEP", "60")
    xml = build_graph(NEW_IPF, TILE, WINDOW, ProcessingConfig(), None, tmp_path / "o.tif")
    t0 = time.perf_counter()
    with pytest.raises(SnapRunError, match="killed after the timeout"):
        run_graph(xml, timeout=3)
    assert time.perf_counter() - t0 < 20


def test_run_graph_missing_gpt(tmp_path):
    xml = build_graph(NEW_IPF, TILE, WINDOW, ProcessingConfig(), None, tmp_path / "o.tif")
    with pytest.raises(SnapRunError, match="cannot start"):
        run_graph(xml, gpt=tmp_path / "no-gpt")


def _expected_db(window: Window) -> np.ndarray:
    """What the fake wrote, on the window, after NaN/floor handling (computed from tile indices)."""
    R, C = np.meshgrid(np.arange(window.height) + window.row_off, np.arange(window.width) + window.col_off, indexing="ij")
    exp = (-10.0 - ((R + C) % 7)).astype("float32")
    # the fake's file starts one row above the window: its column 1 is window column 1,
    # its (2, 2) and (3, 3) are window (1, 2) and (2, 3)
    exp[:, 1] = np.nan
    exp[1, 2] = -50.0
    exp[2, 3] = -50.0
    return exp


def _read_cog(path):
    with rasterio.open(path) as ds:
        return ds.read(), ds.transform, ds.crs, ds.descriptions, ds.tags()


def test_snap_processor_end_to_end_with_fake_gpt(fake_gpt, tmp_path):
    out = tmp_path / "cog" / "33TTG.tif"
    messages = []
    result = SnapProcessor(workdir=tmp_path / "work").process_scene_to_tile(
        ROME, TILE, out, WINDOW, ProcessingConfig(), progress=lambda f, m: messages.append((f, m)))
    assert isinstance(result, ChainResult)  # the own chain's result type
    assert result.covered and result.output == str(out) and result.product == S1B_2021_ROME
    assert result.tile_window == WINDOW
    data, transform, crs, descriptions, tags = _read_cog(out)
    assert descriptions == ("VV", "VH", "local_incidence_angle", "mask")
    assert data.dtype == np.float32 and data.shape == (4, 120, 120)
    assert transform == TILE.transform @ rasterio.Affine.translation(9000, 4320) and crs.to_epsg() == 32633
    exp = _expected_db(WINDOW)
    for band in data[:2]:
        np.testing.assert_array_equal(band, exp)
    # SNAP's local incidence angle as it wrote it; the mask: no data exactly where VV/VH are NaN
    assert np.nanmin(data[2]) >= 30 and np.nanmax(data[2]) <= 36
    np.testing.assert_array_equal(data[3], np.where(np.isfinite(exp), 0.0, 4.0))
    assert json.loads(tags["mask_bits"])["no_data"] == 4
    assert result.valid_fraction == pytest.approx(119 / 120)
    assert result.band_valid_fraction == {"VV": pytest.approx(119 / 120), "VH": pytest.approx(119 / 120)}
    # provenance as the own chain writes it, plus the backend
    assert tags["source_product"] == S1B_2021_ROME and tags["ipf_version"] == "003.40"
    assert tags["backend"] == "snap" and tags["units"] == "dB" and tags["quantity"] == "sigma0"
    assert ProcessingConfig.from_json(tags["processing"]) == ProcessingConfig()
    assert result.fingerprint == tags["processing_fingerprint"] != ProcessingConfig().fingerprint()
    assert any("Refined Lee" in n for n in json.loads(tags["snap_notes"]))
    assert messages[-1][0] == 1.0 and [f for f, _ in messages] == sorted(f for f, _ in messages)
    assert {"open", "snap", "read_back", "cog", "total"} <= set(result.timings)


def test_snap_processor_linear_and_constant_dem(fake_gpt, tmp_path):
    cfg = ProcessingConfig(output_scale="linear", polarisations=("VV",), dem=DemConfig.constant(50.0))
    work = tmp_path / "work"
    result = SnapProcessor(workdir=work).process_scene_to_tile(ROME, TILE, tmp_path / "o.tif", WINDOW, cfg)
    data, *_ , tags = _read_cog(tmp_path / "o.tif")
    exp = 10 ** (_expected_db(WINDOW) / 10)
    np.testing.assert_allclose(data[0], exp.astype("float32"), rtol=1e-6)
    graph_xml = next(work.rglob("graph.xml")).read_text()
    tc = params(nodes(graph_xml)["Terrain-Correction"])
    with rasterio.open(tc["externalDEMFile"]) as ds:
        assert np.all(ds.read(1) == 50.0)
    assert tc["externalDEMApplyEGM"] == "false"  # constant height above the ellipsoid
    assert result.parameters["dem"]["kind"] == "constant"  # the config as asked is recorded
    assert tags["units"] == "linear" and tags["dem"].startswith("constant height 50.0 m")


def test_snap_processor_accepts_chain_dem_sources_and_skips_uncovered(fake_gpt, tmp_path):
    from ben_sen1_assets.sar.dem import LocalDem

    work = tmp_path / "work"
    SnapProcessor(workdir=work).process_scene_to_tile(
        ROME, TILE, tmp_path / "o.tif", WINDOW, ProcessingConfig(polarisations=("VV",)), dem=LocalDem(ROME_DEM))
    tc = params(nodes(next(work.rglob("graph.xml")).read_text())["Terrain-Correction"])
    assert tc["externalDEMFile"] == str(ROME_DEM.resolve()) and tc["externalDEMApplyEGM"] == "true"
    # the Mozambique product's footprint misses tile 33TTG: no SNAP run, nothing written
    _, record = fake_gpt
    record.unlink()
    result = SnapProcessor().process_scene_to_tile(NEW_IPF, TILE, tmp_path / "none.tif", Window(0, 0, 120, 120))
    assert not result.covered and "footprint" in result.reason and result.output is None
    assert not record.exists() and not (tmp_path / "none.tif").exists()


def test_read_snap_output_rejects_half_pixel_grid(tmp_path):
    # what SNAP writes if the grid origin were the tile corner (pixel centres on the corners)
    path = tmp_path / "shifted.tif"
    with rasterio.open(path, "w", driver="GTiff", width=4, height=4, count=1, dtype="float32", crs="EPSG:32633",
                       transform=rasterio.Affine(10, 0, 289975.0, 0, -10, 4656845.0)) as ds:
        ds.write(np.ones((4, 4), "float32"), 1)
    with pytest.raises(SnapOutputError, match="off the tile grid"):
        read_snap_output(path, TILE, WINDOW, "db", None)
    with rasterio.open(path, "r+") as ds:
        ds.crs = "EPSG:32632"
    with pytest.raises(SnapOutputError, match="CRS"):
        read_snap_output(path, TILE, WINDOW, "db", None)


# ------------------------------------------------------------------------------ real SNAP run

def _real_gpt() -> Path | None:
    try:
        return find_gpt()
    except SnapNotFoundError:
        return None


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.skipif(_real_gpt() is None, reason=SNAP_MISSING)
def test_real_snap_matches_own_chain_on_demo_product(tmp_path):
    """Peer check when SNAP is installed: the demo product "rome-a" (real S1B Rome metadata,
    simulated σ0 with speckle) through SNAP and through the own chain, both boxcar 5×5, Rome DEM.
    SNAP's output must land on the same grid (read-back checks CRS and whole-pixel alignment),
    and agree within 1 dB median per pixel and 0.3 dB in the window mean on pixels valid in both
    (the two differ by sub-pixel geometry conventions and SNAP's border/noise handling)."""
    from ben_sen1_assets.demo_archive import build_product, demo_products
    from ben_sen1_assets.sar.chain import process_scene_to_tile

    product = next(p for p in demo_products() if p.label == "rome-a")
    zip_path = build_product(product, tmp_path / "demo", seed=20211223)
    window = Window(9000, 4320, 240, 240)
    speckle = SpeckleFilter(kind="boxcar", window=5)
    ours = process_scene_to_tile(zip_path, TILE, tmp_path / "ours.tif", window,
                                 ProcessingConfig(speckle_filter=speckle, dem=DemConfig.local(ROME_DEM, fill="nearest")))
    snap = SnapProcessor(gpt=_real_gpt(), memory="4G", workdir=tmp_path / "snap").process_scene_to_tile(
        zip_path, TILE, tmp_path / "snap.tif", window,
        ProcessingConfig(speckle_filter=speckle, dem=DemConfig.local(ROME_DEM)))
    a, ta, *_ = _read_cog(ours.output)
    b, tb, *_ = _read_cog(snap.output)
    assert ta == tb and a.shape == b.shape
    # local incidence angle: SNAP's and ours from the same DEM, within 1° median
    lia = np.isfinite(a[2]) & np.isfinite(b[2])
    assert np.median(np.abs(a[2][lia] - b[2][lia])) < 1.0
    a, b = a[:2], b[:2]  # the polarisations
    both = np.isfinite(a) & np.isfinite(b)
    assert both.mean() > 0.5, f"only {both.mean():.1%} of pixels valid in both outputs"
    diff = np.abs(a[both] - b[both])
    assert np.median(diff) < 1.0
    assert abs(float(np.mean(a[both]) - np.mean(b[both]))) < 0.3
