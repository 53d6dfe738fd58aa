"""Fixtures: the shipped Sentinel-1 samples (real metadata) and helpers for synthetic DN."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import zipfile

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

SAMPLES = Path(str(importlib.resources.files("ben_sen1_assets") / "data" / "s1_samples"))

S1A_2021_DESC = "S1A_IW_GRDH_1SDV_20210119T031653_20210119T031718_036201_043ED0_8255"
S1A_2021_ASC = "S1A_IW_GRDH_1SDV_20210809T173953_20210809T174018_039156_049F13_6FF8"
S1A_2015_OLD = "S1A_IW_GRDH_1SDV_20150203T043109_20150203T043134_004454_00574F_6D00"
S1B_2021_ROME = "S1B_IW_GRDH_1SDV_20211223T051122_20211223T051147_030148_039993_5371"
ALL_SAFES = (S1A_2021_DESC, S1A_2021_ASC, S1A_2015_OLD, S1B_2021_ROME)
ZIP_8255 = SAMPLES / "zips" / f"{S1A_2021_DESC}.zip"

#: (product, polarisation) pairs whose metadata files are present.
PRODUCT_POLS = [(p, pol) for p in ALL_SAFES for pol in ("VV", "VH") if not (p == S1B_2021_ROME and pol == "VH")]


def safe_path(name: str) -> Path:
    return SAMPLES / f"{name}.SAFE"


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return SAMPLES


def synthetic_dn(sigma0: np.ndarray, a: np.ndarray, n: np.ndarray) -> np.ndarray:
    """DN = sqrt(σ0·A² + N) rounded to uint16 (the inverse of the calibration with noise)."""
    dn = np.sqrt(sigma0.astype(np.float64) * a.astype(np.float64) ** 2 + n.astype(np.float64))
    return np.clip(np.rint(dn), 1, 65535).astype(np.uint16)


#: the window of the S1B scene that ``s1b_zip`` fills with known DN (over the Rome DEM)
S1B_ZIP_WINDOW = Window(col_off=21640, row_off=7470, width=64, height=32)


@pytest.fixture(scope="session")
def s1b_zip(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """The S1B sample zipped as a real download is (``<name>.SAFE/…`` inside), its VV measurement
    re-encoded tiled/deflate with DN 1..2048 in ``S1B_ZIP_WINDOW`` (zero elsewhere)."""
    tmp = tmp_path_factory.mktemp("s1b_zip")
    src = safe_path(S1B_2021_ROME)
    values = np.arange(32 * 64, dtype=np.uint16).reshape(32, 64) + 1
    tif = tmp / "m.tiff"
    tif_src = next((src / "measurement").glob("*.tiff"))
    with rasterio.open(tif_src) as ds:
        profile = ds.profile
    profile.update(compress="deflate", tiled=True, blockxsize=256, blockysize=256, nodata=None)
    with rasterio.open(tif, "w", **profile) as ds:
        ds.write(values, 1, window=S1B_ZIP_WINDOW)
    zpath = tmp / f"{S1B_2021_ROME}.zip"
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(src.rglob("*")):
            if p.is_file():
                zf.write(tif if p == tif_src else p, f"{S1B_2021_ROME}.SAFE/{p.relative_to(src)}")
    return zpath, values
