"""Geoid → ellipsoid heights through PROJ grids, and the missing-grid error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pyproj
import pytest

from ben_sen1_assets.sar import geoid

from .geometry_fixtures import ROME_POINT


def _explicit_vgridshift(lon, lat, h):
    """Independent computation: PROJ's vgridshift pipeline on the EGM96 grid file by name."""
    geoid.register_system_grids()
    pipeline = (
        "+proj=pipeline +step +proj=unitconvert +xy_in=deg +xy_out=rad "
        "+step +proj=vgridshift +grids=egm96_15.gtx +multiplier=1 "
        "+step +proj=unitconvert +xy_in=rad +xy_out=deg"
    )
    t = pyproj.Transformer.from_pipeline(pipeline)
    return np.asarray(t.transform(lon, lat, h)[2])


def test_rome_egm96_undulation_matches_explicit_pipeline():
    n = geoid.geoid_undulation(np.array([ROME_POINT[0]]), np.array([ROME_POINT[1]]), "EGM96")[0]
    assert n == pytest.approx(48.6, abs=0.1)  # published value near Rome
    ref = _explicit_vgridshift(np.array([ROME_POINT[0]]), np.array([ROME_POINT[1]]), np.zeros(1))[0]
    assert n == pytest.approx(ref, abs=1e-3)


def test_to_ellipsoidal_on_a_grid_matches_pipeline():
    lon, lat = np.meshgrid(np.linspace(-170, 170, 9), np.linspace(-80, 80, 7))
    heights = np.linspace(-50, 3000, lon.size).reshape(lon.shape).astype(np.float32)
    heights[0, 0] = np.nan
    out = geoid.to_ellipsoidal(heights, lon, lat, "EGM96")
    ref = _explicit_vgridshift(lon.ravel(), lat.ravel(), heights.astype(np.float64).ravel()).reshape(lon.shape)
    assert np.isnan(out[0, 0])
    np.testing.assert_allclose(out[1:], ref[1:], atol=1e-3)
    assert np.nanmax(np.abs(out - heights)) > 50  # the geoid really moved heights (|N| up to ~100 m)


def test_ellipsoid_heights_unchanged_and_datum_names():
    h = np.array([1.0, 2.0], np.float32)
    assert geoid.to_ellipsoidal(h, [0, 1], [0, 1], "ellipsoid") is h
    assert geoid.normalise_vertical_datum("egm96") == "EGM96"
    assert geoid.normalise_vertical_datum("EPSG:3855") == "EGM2008"
    with pytest.raises(geoid.GeoidError, match="not supported"):
        geoid.normalise_vertical_datum("NAVD88")


_CHILD = textwrap.dedent(
    """
    import json, sys
    from ben_sen1_assets.sar import geoid
    out = {}
    for datum in ("EGM96", "EGM2008"):
        try:
            out[datum] = float(geoid.geoid_undulation([12.5], [42.0], datum)[0])
        except geoid.GeoidGridMissingError as exc:
            out[datum] = "missing: " + str(exc)
    print(json.dumps(out))
    """
)


def _run_child(tmp_path, grid_dirs: str) -> dict:
    env = dict(os.environ)
    env.update(
        {
            geoid.PROJ_GRID_DIRS_ENV: grid_dirs,
            "PROJ_NETWORK": "OFF",
            "HOME": str(tmp_path),  # no user PROJ folder with downloaded grids
            "XDG_DATA_HOME": str(tmp_path),
            "PYTHONPATH": os.pathsep.join(sys.path),
        }
    )
    res = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_missing_grid_is_an_error_not_a_silent_zero(tmp_path):
    empty = tmp_path / "empty_proj"
    empty.mkdir()
    out = _run_child(tmp_path, str(empty))
    assert isinstance(out["EGM96"], str) and out["EGM96"].startswith("missing: ")
    assert "apt-get install proj-data" in out["EGM96"]
    assert "PROJ_NETWORK=ON" in out["EGM96"]
    assert "egm96_15" in out["EGM96"]


def test_same_child_finds_the_grid_when_pointed_at_debian_proj_data(tmp_path):
    # The control for the test above: the same isolated child works once the grid folder is given.
    if not os.path.exists("/usr/share/proj/egm96_15.gtx"):
        pytest.fail("Debian proj-data is not installed: apt-get install -y proj-data (see Makefile)")
    out = _run_child(tmp_path, "/usr/share/proj")
    assert out["EGM96"] == pytest.approx(48.6, abs=0.1)


def test_egm2008_without_grid_is_an_error_naming_the_grid():
    # Debian's proj-data ships egm96_15.gtx only; with the EGM2008 grid installed this must work.
    try:
        n = geoid.geoid_undulation([12.5], [42.0], "EGM2008")[0]
    except geoid.GeoidGridMissingError as exc:
        assert "us_nga_egm08_25.tif" in str(exc)
    else:
        assert n == pytest.approx(48.6, abs=1.0)
