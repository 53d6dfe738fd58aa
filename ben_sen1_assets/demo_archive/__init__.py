"""Demo archive: real-format Sentinel-1 IW GRDH products with SIMULATED pixels on real metadata.

No real Sentinel-1 pixels are available offline, so this generator makes products that look
exactly like what CDSE/ASF deliver (SAFE zips: real manifest, annotation, calibration, noise and
RFI XMLs; uncompressed uint16 BigTIFF measurements with GCPs; correct sizes and MD5s) whose
pixels encode a stated physical scene through the product's own calibration and noise LUTs.
See ``scenes`` (products, terrain), ``placement`` (where and how bright: the chain's range-Doppler
model inverted, an area model of the brightness), ``backscatter`` (σ0 model, speckle, DN),
``geometry`` (the annotation's geolocation grid, for cropping metadata; terrain rasters), ``metadata_edit`` (crop/time shift), ``safe_writer`` (TIFF, manifest, zip).

In Python, ``paths = build_demo_archive("demo_archive")`` (small windows, cached by a stamp); from
a shell, ``python -m ben_sen1_assets.demo_archive --folder demo_archive [--full-size]``.
"""

from ben_sen1_assets._lazy import lazy_exports

# each public name and its submodule, imported on first use (see ben_sen1_assets._lazy)
_EXPORTS = {
    "DEFAULT_SEED": "archive",
    "STAMP_NAME": "archive",
    "build_demo_archive": "archive",
    "default_archive_folder": "archive",
    "inputs_hash": "archive",
    "BackscatterModel": "backscatter",
    "GENERATOR_VERSION": "build",
    "build_product": "build",
    "scene_beta0": "build",
    "scene_sigma0": "build",
    "GcpGrid": "geometry",
    "TerrainRaster": "geometry",
    "DemoProduct": "scenes",
    "demo_products": "scenes",
    "terrain_for": "scenes",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

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
    "scene_beta0",
    "scene_sigma0",
    "terrain_for",
]
