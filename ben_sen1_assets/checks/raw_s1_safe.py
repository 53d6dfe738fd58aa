"""Checks of `raw_s1_safe`."""

import json

import dagster as dg

from ben_sen1_assets.assets.raw_s1_safe import raw_s1_safe
from ben_sen1_assets.partitions import tile_partitions
from ben_sen1_assets.resources.archives import ProductStoreResource
from ben_sen1_assets.types import GeoDataFrame


@dg.asset_check(asset=raw_s1_safe, blocking=True, partitions_def=tile_partitions)
def products_verified(raw_s1_safe: GeoDataFrame, product_store: ProductStoreResource) -> dg.AssetCheckResult:
    """Every stored product was verified on ingestion (its record is in the store), matches its
    catalog checksums, its manifest reads, and the polarisations it was chosen for are present."""
    from ben_sen1_assets.archive.download import file_checksums
    from ben_sen1_assets.sar.errors import SafeError
    from ben_sen1_assets.sar.safe import open_safe

    store = product_store.store()
    options = store.storage_options
    problems: list[str] = []
    for _, row in raw_s1_safe.iterrows():
        path = row["store_path"]
        expected = json.loads(row["checksums"])
        try:
            if store.verification(row["name"]) is None:
                problems.append(f"{row['name']}: no record of its verification on ingestion in {store.base}")
            if expected:
                actual = file_checksums(path, tuple(expected), options)
                for algorithm, value in expected.items():
                    if actual.get(algorithm) != value:
                        problems.append(f"{row['name']}: {algorithm} {actual.get(algorithm)} != catalog {value}")
            with open_safe(path, options) as product:
                missing = set(str(row["polarisations"]).split("&")) - set(product.available_polarisations)
                if missing:
                    problems.append(f"{row['name']}: polarisations {sorted(missing)} missing")
        except (OSError, SafeError) as exc:
            problems.append(f"{row['name']}: {exc}")
    return dg.AssetCheckResult(
        passed=not problems and len(raw_s1_safe) > 0,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "n_products": len(raw_s1_safe),
            "problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in problems) or "none"),
        },
    )
