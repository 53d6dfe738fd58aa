"""The demo scenes (terrain + land/water) and the demo products made from the real samples.

Two real products' metadata are used (shipped in ``ben_sen1_assets/data/s1_samples``):

- **Rome**, S1B 2021-12-23 05:11 UTC, descending, relative orbit 22 (…_039993_5371). Terrain: the
  shipped SRTM 1″ Rome DEM (EGM96 heights) + a constant EGM96 undulation of +48.6 m (value at
  12.5° E 42° N; it varies < 1 m over the DEM), so every machine gives the same bytes without the
  PROJ geoid grid. Water: DEM height ≤ 16 m (the Tiber/Aniene valley floor, 2.7 % of the DEM).
  Outside the DEM: flat terrain at the DEM's median height (48 m + undulation), land.
  The S1B sample has only VV metadata files: the VH annotation, calibration, noise and RFI XMLs
  are the VV ones with the polarisation and image number changed (same LUTs; stated).
- **France** (Massif Central), S1A 2021-08-09 17:39 UTC, ascending (…_049F13_6FF8). No DEM:
  flat terrain at the median geolocation-grid height of the crop (ellipsoidal; so the simulated
  positions agree with the annotation), with a synthetic elliptic lake (stated below).

Products (``demo_products``): per scene two small windows — a repeat pass shifted by whole
repeat cycles (12 days = 175 orbits) and spatially different crops, so selection and mosaicking
have real choices — and, with ``full_size=True``, the whole scene of each sample.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

import numpy as np
import rasterio

from .geometry import TerrainRaster
from .metadata_edit import Crop

ROME_SOURCE = "S1B_IW_GRDH_1SDV_20211223T051122_20211223T051147_030148_039993_5371"
FRANCE_SOURCE = "S1A_IW_GRDH_1SDV_20210809T173953_20210809T174018_039156_049F13_6FF8"

#: EGM96 geoid undulation at 12.5° E, 42.0° N (PROJ egm96_15.gtx: +48.61 m).
ROME_UNDULATION_M = 48.6
ROME_WATER_MAX_HEIGHT_M = 16.0
#: the France scene has no DEM: flat terrain at this height above the WGS84 ellipsoid (the
#: median height of the sample's 210 geolocation grid points, 567.5 m, rounded), the same for
#: every France product so that they line up, and stated to the chain (``demo_archive.dem``)
FRANCE_FLAT_HEIGHT_M = 567.5
#: synthetic lake for the flat France scene: ellipse centre (lon, lat), semi-axes (deg lon, deg lat).
FRANCE_LAKE = (3.345, 45.515, 0.012, 0.008)


def data_path(*parts: str) -> Path:
    """Path of shipped data under ``ben_sen1_assets/data``."""
    return Path(str(files("ben_sen1_assets").joinpath("data", *parts)))


def sample_path(source: str) -> Path:
    return data_path("s1_samples", f"{source}.SAFE")


@dataclass(frozen=True)
class DemoProduct:
    """One demo product: a real sample's metadata, a time shift in repeat cycles and a window.

    ``crop`` None means the full scene. ``label`` keys the speckle stream and the unique id.
    """

    source: str
    scene: str  # "rome" | "france"
    cycle_shift: int = 0
    crop: Crop | None = None
    label: str = ""
    polarisations: tuple[str, ...] = ("VV", "VH")

    def describe(self) -> dict:
        return {
            "source": self.source,
            "scene": self.scene,
            "cycle_shift": self.cycle_shift,
            "crop": None if self.crop is None else [self.crop.row_off, self.crop.col_off, self.crop.nrows, self.crop.ncols],
            "label": self.label,
            "polarisations": list(self.polarisations),
        }


#: Rome DEM at GRD lines ≈7470–8685, samples ≈21640–22630 of the source; + margins.
ROME_A = Crop(row_off=7300, col_off=21450, nrows=1560, ncols=1360)
#: shifted ~3.5 km along track and ~3 km across: covers the DEM only partly.
ROME_B = Crop(row_off=7650, col_off=21150, nrows=1400, ncols=1300)
FRANCE_A = Crop(row_off=7800, col_off=12400, nrows=1200, ncols=1200)
FRANCE_B = Crop(row_off=8100, col_off=12700, nrows=1200, ncols=1200)


def demo_products(full_size: bool = False) -> list[DemoProduct]:
    """The demo archive's products (small windows; plus full scenes if ``full_size``)."""
    out = [
        DemoProduct(ROME_SOURCE, "rome", 0, ROME_A, "rome-a"),
        DemoProduct(ROME_SOURCE, "rome", 1, ROME_B, "rome-b"),
        DemoProduct(FRANCE_SOURCE, "france", 0, FRANCE_A, "france-a"),
        DemoProduct(FRANCE_SOURCE, "france", 1, FRANCE_B, "france-b"),
    ]
    if full_size:
        out += [
            DemoProduct(ROME_SOURCE, "rome", -1, None, "rome-full"),
            DemoProduct(FRANCE_SOURCE, "france", -1, None, "france-full"),
        ]
    return out


@lru_cache(maxsize=1)
def rome_terrain() -> TerrainRaster:
    """The Rome DEM as a TerrainRaster (see module doc)."""
    with rasterio.open(data_path("dem", "Rome-30m-DEM.tif")) as ds:
        z = ds.read(1).astype(np.float32)
        nodata = ds.nodata
        t = ds.transform
    if nodata is not None:
        z[z == nodata] = np.nan
    water = np.isfinite(z) & (z <= ROME_WATER_MAX_HEIGHT_M)
    return TerrainRaster(
        height=z, water=water, lon0=t.c, lat0=t.f, dlon=t.a, dlat=t.e,
        undulation=ROME_UNDULATION_M, fallback_height=float(np.nanmedian(z)),
    )


def flat_terrain(lon_min: float, lat_min: float, lon_max: float, lat_max: float, height: float,
                 lake: tuple[float, float, float, float] | None = None, step: float = 1 / 3600) -> TerrainRaster:
    """Flat terrain at ``height`` (ellipsoidal) on a 1″ grid over the box, with an optional
    elliptic lake (lon_c, lat_c, a_lon, b_lat)."""
    w = int(np.ceil((lon_max - lon_min) / step))
    h = int(np.ceil((lat_max - lat_min) / step))
    z = np.full((h, w), height, np.float32)
    water = np.zeros((h, w), bool)
    if lake is not None:
        lon = lon_min + (np.arange(w) + 0.5) * step
        lat = lat_max - (np.arange(h) + 0.5) * step
        lc, la, a, b = lake
        water = ((lon[None, :] - lc) / a) ** 2 + ((lat[:, None] - la) / b) ** 2 <= 1.0
    return TerrainRaster(height=z, water=water, lon0=lon_min, lat0=lat_max, dlon=step, dlat=-step,
                         undulation=0.0, fallback_height=height)


@dataclass
class SceneTerrain:
    """Terrain of one product: the raster and a short statement for SIMULATED.txt."""

    raster: TerrainRaster
    statement: str
    extra: dict = field(default_factory=dict)


def terrain_for(product: DemoProduct, grid) -> SceneTerrain:
    """Terrain for a product, given its (output) GcpGrid."""
    if product.scene == "rome":
        r = rome_terrain()
        return SceneTerrain(
            r,
            "SRTM 1 arc-second Rome DEM (EGM96 heights) + constant undulation "
            f"{ROME_UNDULATION_M} m; water where DEM height <= {ROME_WATER_MAX_HEIGHT_M} m; outside the DEM "
            f"flat terrain at the DEM median {r.fallback_height:.1f} m (+undulation), land",
        )
    if product.scene == "france":
        h = FRANCE_FLAT_HEIGHT_M
        lc, la, a, b = FRANCE_LAKE
        # the raster only needs to hold the lake; everywhere else is the same flat height
        r = flat_terrain(lc - a - 0.02, la - b - 0.02, lc + a + 0.02, la + b + 0.02, h, FRANCE_LAKE)
        return SceneTerrain(
            r,
            f"no DEM: flat terrain at {h:.1f} m above the WGS84 ellipsoid (median geolocation-grid height of the sample); "
            f"synthetic elliptic lake centre lon {FRANCE_LAKE[0]}, lat {FRANCE_LAKE[1]}, semi-axes "
            f"{FRANCE_LAKE[2]} deg lon x {FRANCE_LAKE[3]} deg lat",
        )
    raise ValueError(f"unknown demo scene {product.scene!r}")
