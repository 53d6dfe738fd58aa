"""Shared helpers for the geometry tests (geocoding, DEM, geoid): shipped samples, cached parses."""

from __future__ import annotations

import functools
import importlib.resources
from pathlib import Path

from ben_sen1_assets.sar import ProductAnnotation, open_safe

DATA = Path(str(importlib.resources.files("ben_sen1_assets") / "data"))
SAMPLES = DATA / "s1_samples"
ROME_DEM = DATA / "dem" / "Rome-30m-DEM.tif"

ROME = "S1B_IW_GRDH_1SDV_20211223T051122_20211223T051147_030148_039993_5371"  # S1B, descending
FRANCE_ASC = "S1A_IW_GRDH_1SDV_20210809T173953_20210809T174018_039156_049F13_6FF8"  # S1A, ascending
MOZAMBIQUE = "S1A_IW_GRDH_1SDV_20210119T031653_20210119T031718_036201_043ED0_8255"  # southern hemisphere
GREECE_2015 = "S1A_IW_GRDH_1SDV_20150203T043109_20150203T043134_004454_00574F_6D00"  # IPF 2.70

#: Rome, 42.0 N 12.5 E: EGM96 undulation ≈ +48.6 m (DOMAIN.md §5 / s1_samples README §5).
ROME_POINT = (12.5, 42.0)


def safe_path(name: str) -> Path:
    return SAMPLES / f"{name}.SAFE"


@functools.cache
def annotation(name: str, polarisation: str = "VV") -> ProductAnnotation:
    """Parsed annotation of a shipped sample (cached per test session)."""
    with open_safe(safe_path(name)) as product:
        return product.annotation(polarisation)
