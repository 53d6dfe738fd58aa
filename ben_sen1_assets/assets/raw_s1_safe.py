"""raw_s1_safe: the chosen Sentinel-1 products, downloaded once into the shared product store."""

import json
import time

import dagster as dg

from ben_sen1_assets.assets.metadata import OWNERS, column_schema, table
from ben_sen1_assets.executors import step_pool
from ben_sen1_assets.automation import tile_stage_condition
from ben_sen1_assets.failures import classified
from ben_sen1_assets.jobs import tag_tile_run
from ben_sen1_assets.partitions import SETTINGS, TILE_BACKFILL_POLICY, tile_partitions
from ben_sen1_assets.resources.archives import ProductStoreResource, S1CatalogResource
from ben_sen1_assets.types import GeoDataFrame

# one pool per provider: `dagster instance concurrency set s1_download_cdse 4` caps CDSE downloads
# across all runs (CDSE allows 4 concurrent downloads per user)
DOWNLOAD_POOL = f"s1_download_{SETTINGS.provider}"

COLUMNS = {
    "name": "S1 product name", "store_path": "where the product is in the product store",
    "size": "stored size (bytes)", "checksums": "catalogue checksums verified (JSON)",
    "polarisations": "e.g. VV&VH", "start": "acquisition start (UTC)", "mission": "S1A, S1B or S1C",
    "relative_orbit": "relative orbit", "pass_direction": "ASCENDING or DESCENDING",
    "source": "catalogue", "downloaded": "fetched by this run", "fetch_s": "seconds to fetch or find it",
    "geometry": "catalogue footprint",
}


def record_from_row(row):
    """Rebuild the catalog record (``ProductRecord``) of a row of `s1_product_selection`."""
    import pandas as pd

    from ben_sen1_assets.archive import ProductRecord

    size = row["size"]
    return ProductRecord(
        name=row["name"],
        provider_id=row["provider_id"],
        start=pd.Timestamp(row["start"]).to_pydatetime(),
        stop=pd.Timestamp(row["stop"]).to_pydatetime(),
        mission=row["mission"],
        absolute_orbit=int(row["absolute_orbit"]),
        relative_orbit=int(row["relative_orbit"]),
        pass_direction=row["pass_direction"],
        polarisations=tuple(str(row["polarisations"]).split("&")),
        footprint=row.geometry,
        size=None if pd.isna(size) else int(size),
        checksums=json.loads(row["checksums"]),
        download_url=row["download_url"],
        source=row["source"],
    )


@dg.asset(
    partitions_def=tile_partitions,
    backfill_policy=TILE_BACKFILL_POLICY,
    automation_condition=tile_stage_condition,
    io_manager_key="geoparquet_io_manager",
    group_name="sentinel1",
    kinds={"parquet", "safe"},
    owners=OWNERS,
    tags={"stage": "download"},
    pool=step_pool(DOWNLOAD_POOL),
    code_version="1",
    # only for unforeseen errors: known ones are classified (ben_sen1_assets.failures) and
    # downloads retry within their own budget (resource s1_catalog)
    retry_policy=dg.RetryPolicy(max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS),
)
def raw_s1_safe(
    context: dg.AssetExecutionContext,
    s1_product_selection: GeoDataFrame,
    s1_catalog: S1CatalogResource,
    product_store: ProductStoreResource,
) -> GeoDataFrame:
    """The selected products in the shared product store, keyed by product name, verified.

    A product needed by several tiles is downloaded once: the store is shared by all partitions,
    a lock keeps two runs from fetching the same product, and a product becomes visible at its
    final path only after it is verified: its size and checksums (MD5, BLAKE3 where the catalog gives it) and the whole SAFE
    (zip integrity, safe member names, every member's MD5 against the manifest), recorded in the
    store. Downloads resume after a dropped connection, back off on 429/503 (honouring
    Retry-After) and refresh CDSE tokens, within a budget of attempts and time per product;
    refused credentials, unknown products, an unwritable store and invalid products fail at
    once. Progress (percent, MB/s) goes to the run log. One row per product with its store path;
    the blocking check `products_verified` opens each one.
    """
    import geopandas as gpd
    import pandas as pd

    tag_tile_run(context)
    with classified(context, "product store"):
        store = product_store.store()
        downloader = s1_catalog.downloader()
    rows = []
    for _, row in s1_product_selection.iterrows():
        record = record_from_row(row)
        with classified(context, record.name):
            already = store.has(record.name)
            started = time.perf_counter()
            path = store.fetch(record, downloader, progress=lambda p: context.log.info(str(p)))
            elapsed = time.perf_counter() - started
        context.log.info(
            f"{record.name}: {'already in the store' if already else f'stored in {elapsed:.1f} s'} at {path}"
        )
        rows.append(
            {
                "name": record.name,
                "store_path": str(path),
                "size": path.stat().st_size,
                "checksums": json.dumps(dict(record.checksums), sort_keys=True),
                "polarisations": "&".join(record.polarisations),
                "start": pd.Timestamp(record.start),
                "mission": record.mission,
                "relative_orbit": record.relative_orbit,
                "pass_direction": record.pass_direction,
                "source": record.source,
                "downloaded": not already,
                "fetch_s": round(elapsed, 3),
            }
        )
    frame = gpd.GeoDataFrame(
        pd.DataFrame(rows, columns=["name", "store_path", "size", "checksums", "polarisations", "start", "mission",
                                    "relative_orbit", "pass_direction", "source", "downloaded", "fetch_s"]),
        geometry=list(s1_product_selection.geometry),
        crs="EPSG:4326",
    )
    context.add_output_metadata(
        {
            "n_products": len(frame),
            "n_downloaded": int(frame["downloaded"].sum()),
            "size_gb": round(int(frame["size"].sum()) / 1e9, 3),
            "product_store": dg.MetadataValue.path(str(store.base)),
            "products": table(
                [{"product": r["name"], "size_mb": round(r["size"] / 1e6, 1), "downloaded": bool(r["downloaded"]),
                  "fetch_s": round(float(r["fetch_s"]), 1)} for _, r in frame.iterrows()],
                [("product", "string", "S1 product name"), ("size_mb", "float", "stored size (MB)"),
                 ("downloaded", "bool", "fetched by this run (false: already in the store)"),
                 ("fetch_s", "float", "seconds to fetch or find it")],
            ),
            "dagster/column_schema": column_schema(frame, COLUMNS),
        }
    )
    return frame
