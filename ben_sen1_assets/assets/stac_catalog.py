"""stac_catalog: a static STAC catalog of the outputs, with relative hrefs, beside them in storage."""

import dagster as dg

from ben_sen1_assets.assets.metadata import OWNERS, table


@dg.asset(
    group_name="datasets",
    kinds={"stac", "json"},
    owners=OWNERS,
    tags={"stage": "datasets"},
    deps=["preprocessed_s1", "mosaics", "patches", "bigearthnet_export", "bigearthnet_lmdb", "gdal_vrts"],
    code_version="1",
)
def stac_catalog(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """`<storage>/stac/catalog.json`: collections `preprocessed_s1` (one item per product and
    tile), `mosaics` and `patches` (one item per tile; the BigEarthNet export's tables and LMDB
    as collection assets). Items carry the `sar`, `sat`, `proj`, `raster` and `processing`
    extensions and `derived_from` links to their source items and to the ESA products in the
    Copernicus Data Space catalogue. Every href is relative: copy or upload the storage root
    whole and the catalog still resolves. Open with `pystac.Catalog.from_file(".../stac/catalog.json")`.
    """
    from importlib.metadata import version

    from upath import UPath

    from ben_sen1_assets.outputs.stac import STAC_DIR, write_stac_catalog
    from ben_sen1_assets.partitions import SETTINGS

    root = UPath(SETTINGS.storage, **SETTINGS.storage_options)
    counts = write_stac_catalog(root, version=version("ben_sen1_assets"))
    context.log.info(f"STAC catalog at {root / STAC_DIR}: {counts}")
    return dg.MaterializeResult(metadata={
        "collections": table([{"collection": c, "n_items": n} for c, n in counts.items()],
                             [("collection", "string", "STAC collection id"), ("n_items", "int", "items")]),
        "n_items": sum(counts.values()),
        "catalog": dg.MetadataValue.path(str(root / STAC_DIR / "catalog.json")),
    })
