"""ProcessingConfig: defaults, JSON round trip, fingerprint, validation."""

import json
import math

import pytest

from ben_sen1_assets.sar.config import ConfigError, DemConfig, ProcessingConfig
from ben_sen1_assets.sar.radiometry import RadiometryParams
from ben_sen1_assets.sar.speckle import SpeckleFilter


def test_defaults_are_the_documented_ones():
    c = ProcessingConfig()
    assert c.polarisations == ("VV", "VH")
    assert c.calibration == "sigma0" and c.thermal_noise_removal
    assert c.speckle_filter == SpeckleFilter("refined_lee", 7)
    assert c.resampling == "bilinear" and c.output_scale == "db" and math.isnan(c.nodata)
    assert c.dem.kind == "glo30" and c.dem.vertical_datum == "EGM2008"
    assert c.radiometry_params() == RadiometryParams()


def test_json_round_trip_and_fingerprint():
    c = ProcessingConfig(
        calibration="gamma0", speckle_filter=SpeckleFilter("lee_sigma", 9, sigma=0.8),
        dem=DemConfig.local("/data/dem.tif", "EGM96"), output_scale="linear", polarisations=("vv",),
    )
    text = json.dumps(c.to_dict())
    back = ProcessingConfig.from_dict(json.loads(text))
    assert back.to_dict() == c.to_dict()
    assert back.polarisations == ("VV",)
    assert back.fingerprint() == c.fingerprint()
    assert len(c.fingerprint()) == 16
    assert ProcessingConfig().fingerprint() != c.fingerprint()
    # any single result-changing field changes the fingerprint
    assert ProcessingConfig(resampling="nearest").fingerprint() != ProcessingConfig().fingerprint()
    assert ProcessingConfig(dem=DemConfig.constant(10.0)).fingerprint() != ProcessingConfig(dem=DemConfig.constant(11.0)).fingerprint()
    # missing fields take defaults
    assert ProcessingConfig.from_dict({}).to_dict() == ProcessingConfig().to_dict()


@pytest.mark.parametrize(
    "d, words",
    [
        ({"calibraton": "sigma0"}, "calibraton"),
        ({"calibration": "sigma1"}, "calibration"),
        ({"speckle_filter": {"kind": "frost"}}, "speckle"),
        ({"speckle_filter": {"windw": 7}}, "windw"),
        ({"dem": {"kind": "srtm"}}, "dem.kind"),
        ({"dem": {"kind": "local"}}, "dem.path"),
        ({"dem": {"kind": "constant"}}, "dem.height"),
        ({"polarisations": ["VV", "XX"]}, "polarisations"),
        ({"nodata": 0}, "nodata"),
        ({"output_scale": "dB10"}, "output_scale"),
    ],
)
def test_bad_fields_are_named(d, words):
    with pytest.raises(ConfigError, match=words):
        ProcessingConfig.from_dict(d)


def test_dem_source_built_from_description(tmp_path):
    src = DemConfig.constant(12.5).source()
    assert src.height == 12.5 and src.vertical_datum == "ellipsoid"
    with pytest.raises(ConfigError, match="store"):
        DemConfig.glo30().source()
    g = DemConfig.glo30(sea="sea_level").source(store=tmp_path)
    assert g.vertical_datum == "EGM2008" and g.sea == "sea_level"


def test_gamma0_rtc_calibrates_beta0_and_round_trips():
    c = ProcessingConfig(calibration="gamma0_rtc")
    assert c.radiometry_params().quantity == "beta0"  # the chain divides β0 by the normalised area
    assert ProcessingConfig.from_json(c.to_json()).calibration == "gamma0_rtc"
    assert c.fingerprint() != ProcessingConfig(calibration="beta0").fingerprint()
    with pytest.raises(ConfigError, match="calibration"):
        ProcessingConfig(calibration="gamma0_terrain")
