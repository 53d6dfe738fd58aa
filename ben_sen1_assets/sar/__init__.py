"""SAR core: SAFE reader, radiometry, speckle filters (numpy/numba; no Dagster)."""

from ben_sen1_assets._lazy import lazy_exports

# each public name and its submodule, imported on first use (see ben_sen1_assets._lazy)
_EXPORTS = {
    "CoordinateConversion": "annotation",
    "GeolocationGrid": "annotation",
    "OrbitStateVectors": "annotation",
    "ProductAnnotation": "annotation",
    "SwathBounds": "annotation",
    "seconds_since": "annotation",
    "MissingFileError": "errors",
    "SafeError": "errors",
    "SafeFormatError": "errors",
    "UnsupportedProductError": "errors",
    "WindowError": "errors",
    "CalibrationLut": "luts",
    "NoiseAzimuthBlock": "luts",
    "NoiseLut": "luts",
    "NoiseRangeVectors": "luts",
    "Manifest": "manifest",
    "ManifestFile": "manifest",
    "relative_orbit": "manifest",
    "SafeProduct": "safe",
    "check_window": "safe",
    "open_safe": "safe",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "CalibrationLut",
    "CoordinateConversion",
    "GeolocationGrid",
    "Manifest",
    "ManifestFile",
    "MissingFileError",
    "NoiseAzimuthBlock",
    "NoiseLut",
    "NoiseRangeVectors",
    "OrbitStateVectors",
    "ProductAnnotation",
    "SafeError",
    "SafeFormatError",
    "SafeProduct",
    "SwathBounds",
    "UnsupportedProductError",
    "WindowError",
    "check_window",
    "open_safe",
    "relative_orbit",
    "seconds_since",
]
