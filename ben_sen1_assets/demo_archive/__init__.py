"""Demo archive: real-format Sentinel-1 IW GRDH products with SIMULATED pixels on real metadata.

No real Sentinel-1 pixels are available offline, so this generator makes products that look
exactly like what CDSE/ASF deliver (SAFE zips: real manifest, annotation, calibration, noise and
RFI XMLs; uncompressed uint16 BigTIFF measurements with GCPs; correct sizes and MD5s) whose
pixels encode a stated physical scene through the product's own calibration and noise LUTs.
See ``scenes`` (products, terrain), ``geometry`` (GCP-grid geometry), ``backscatter`` (σ0,
speckle, DN), ``metadata_edit`` (crop/time shift), ``safe_writer`` (TIFF, manifest, zip).

>>> paths = build_demo_archive("/tmp/archive")           # small windows, cached by a stamp
>>> python -m ben_sen1_assets.demo_archive --folder /tmp/archive [--full-size]
"""

from .archive import DEFAULT_SEED, STAMP_NAME, build_demo_archive, default_archive_folder, inputs_hash
from .backscatter import BackscatterModel
from .build import GENERATOR_VERSION, build_product, scene_sigma0
from .geometry import GcpGrid, TerrainRaster
from .scenes import DemoProduct, demo_products, terrain_for

__all__ = [
    "DEFAULT_SEED",
    "GENERATOR_VERSION",
    "STAMP_NAME",
    "BackscatterModel",
    "DemoProduct",
    "GcpGrid",
    "TerrainRaster",
    "build_demo_archive",
    "build_product",
    "default_archive_folder",
    "demo_products",
    "inputs_hash",
    "scene_sigma0",
    "terrain_for",
]
