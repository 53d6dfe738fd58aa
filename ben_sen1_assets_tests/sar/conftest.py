"""Fixtures: the shipped Sentinel-1 samples (real metadata) and helpers for synthetic DN."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import numpy as np
import pytest

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
