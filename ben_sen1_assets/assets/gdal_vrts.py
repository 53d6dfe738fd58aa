"""gdal_vrts: a VRT beside every preprocessed collection and mosaic, for GDAL/QGIS."""

import dagster as dg


@dg.asset(
    group_name="datasets",
    kinds={"vrt", "gdal"},
    deps=["preprocessed_s1", "mosaics"],
    code_version="1",
)
def gdal_vrts(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """`preprocessed_s1/<key>.vrt` (every product of the tile's `.cogs/` collection as bands
    `<product> VV|VH`) and `mosaics/<key>.vrt` (VV, VH and the provenance band as an integer:
    `source_index` Int16 nodata -1, `source_mask` UInt32 nodata 0). Bands carry names, unit `dB`
    and nodata; sources are relative, so `gdalinfo`/QGIS open them in place or after a copy."""
    from upath import UPath

    from ben_sen1_assets.outputs.vrts import write_gdal_vrts
    from ben_sen1_assets.partitions import SETTINGS

    root = UPath(SETTINGS.storage, **SETTINGS.storage_options)
    written = write_gdal_vrts(root)
    context.log.info(f"{len(written)} VRTs under {root}")
    return dg.MaterializeResult(metadata={
        "n_vrts": len(written),
        "vrts": dg.MetadataValue.md("\n".join(f"- `{w}`" for w in written) or "none"),
    })
