"""SAR core: SAFE reader, radiometry, speckle filters (numpy/numba; no Dagster)."""

from .annotation import (
    CoordinateConversion,
    GeolocationGrid,
    OrbitStateVectors,
    ProductAnnotation,
    SwathBounds,
    seconds_since,
)
from .errors import MissingFileError, SafeError, SafeFormatError, UnsupportedProductError, WindowError
from .luts import CalibrationLut, NoiseAzimuthBlock, NoiseLut, NoiseRangeVectors
from .manifest import Manifest, ManifestFile, relative_orbit
from .safe import SafeProduct, check_window, open_safe

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
