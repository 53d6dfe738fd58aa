"""gdal_vrts: a VRT beside every preprocessed collection and mosaic, for GDAL/QGIS."""

import dagster as dg

from ben_sen1_assets.assets.metadata import OWNERS, table


@dg.asset(
    group_name="datasets",
    kinds={"vrt", "gdal"},
    owners=OWNERS,
    tags={"stage": "datasets"},
    deps=["preprocessed_s1", "mosaics"],
    code_version="2",
)
def gdal_vrts(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """`preprocessed_s1/<key>.vrt` (every product of the tile's `.cogs/` collection as bands
    `<product> <band>`) and `mosaics/<key>.vrt` (VV, VH, the provenance band as an integer:
    `source_index` Int16 nodata -1 or `source_mask` UInt32 nodata 0, then
    `local_incidence_angle` in degrees and `mask` Byte with nodata 255). Bands carry names,
    units (`dB`, `degree`) and nodata; sources are relative, so `gdalinfo`/QGIS open them in
    place or after a copy of the storage root."""
    from upath import UPath

    from ben_sen1_assets.outputs.vrts import write_gdal_vrts
    from ben_sen1_assets.partitions import SETTINGS

    root = UPath(SETTINGS.storage, **SETTINGS.storage_options)
    written = write_gdal_vrts(root)
    context.log.info(f"{len(written)} VRTs under {root}")
    return dg.MaterializeResult(metadata={
        "n_vrts": len(written),
        "vrts": table([{"vrt": w, "describes": w.split("/")[0]} for w in written],
                      [("vrt", "string", "path relative to the storage root"),
                       ("describes", "string", "preprocessed_s1 (a tile's products) or mosaics")]),
    })
