"""Asset checks: each stage's output is checked before the next one trusts it.

One module per checked asset (the asset's name); ``ASSET_CHECKS`` lists them all for the
definitions. Libraries are imported inside the checks, so that loading the code location stays
cheap.
"""

from ben_sen1_assets.checks.bigearthnet_export import export_loads_in_torchgeo
from ben_sen1_assets.checks.mosaics import mosaic_provenance
from ben_sen1_assets.checks.patches import finite_fraction, patch_count, patch_shape_dtype, plausible_db
from ben_sen1_assets.checks.preprocessed_s1 import (
    preprocessed_on_tile_grid,
    preprocessed_plausible_db,
    preprocessed_serve_their_patches,
)
from ben_sen1_assets.checks.raw_s1_safe import products_verified
from ben_sen1_assets.checks.s1s2_mapping import bigearthnet_pairs
from ben_sen1_assets.checks.s1_product_selection import patch_coverage
from ben_sen1_assets.checks.tile_footprints import tile_geometry

ASSET_CHECKS = [
    tile_geometry,
    patch_coverage,
    products_verified,
    preprocessed_on_tile_grid,
    preprocessed_serve_their_patches,
    preprocessed_plausible_db,
    mosaic_provenance,
    patch_shape_dtype,
    patch_count,
    finite_fraction,
    plausible_db,
    bigearthnet_pairs,
    export_loads_in_torchgeo,
]
