"""Tile mosaics, patch Zarr stores, the S1<->S2 patch mapping and BigEarthNet-layout exports.

No Dagster here: the assets in ``ben_sen1_assets/assets`` call these functions with UPaths.
"""

from .errors import OutputError

__all__ = ["OutputError"]
