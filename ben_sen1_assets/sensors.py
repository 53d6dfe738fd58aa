"""Sensors: new products dropped into the local archive folder request the tiles they affect."""

import json

import dagster as dg

from ben_sen1_assets.jobs import tile_job, tile_run_tags
from ben_sen1_assets.partitions import tile_catalog
from ben_sen1_assets.resources.archives import S1CatalogResource
from ben_sen1_assets.resources.selection import SelectionRulesResource

SELECTION = dg.AssetKey("s1_product_selection")


def affected_partitions(record, max_days: float) -> list[str]:
    """Partitions whose tile the product's footprint intersects, sensed within ± max_days."""
    keys = []
    for entry in tile_catalog():
        if abs((record.start - entry.sensing_time).total_seconds()) > max_days * 86400:
            continue
        if record.footprint.intersects(entry.tile.footprint_wgs84()):
            keys.append(entry.partition_key)
    return keys


def used_products(instance: dg.DagsterInstance, partition_key: str) -> set[str]:
    """The products the partition's latest selection uses (from its materialization's `products`
    table), empty if it was never selected."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=SELECTION, asset_partitions=[partition_key]), limit=1
    ).records
    if not records:
        return set()
    table = records[0].asset_materialization.metadata.get("products")
    if not isinstance(table, dg.TableMetadataValue):
        return set()
    return {str(row.data.get("product")) for row in table.records}


@dg.sensor(
    job=tile_job,
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Watches the local archive folder; a new product requests a run for every tile "
    "partition it covers (within the selection's time window) that does not already use it.",
)
def new_products_sensor(
    context: dg.SensorEvaluationContext, s1_catalog: S1CatalogResource, selection_rules: SelectionRulesResource
):
    if s1_catalog.provider != "local":
        return dg.SkipReason(f"provider is {s1_catalog.provider!r}: only a local archive folder is watched")
    from ben_sen1_assets.archive.local import LocalCatalog

    scan = LocalCatalog(s1_catalog.local_folder).scan()
    seen = set(json.loads(context.cursor)) if context.cursor else set()
    new = [r for r in scan.records if r.name not in seen]
    for problem in scan.problems:
        context.log.warning(f"archive: {problem}")
    if not new:
        return dg.SkipReason(f"no new product among {len(scan.records)} in {s1_catalog.local_folder}")
    requests: dict[str, list[str]] = {}
    already_used = []
    for record in new:
        for key in affected_partitions(record, selection_rules.max_days):
            if record.name in used_products(context.instance, key):
                already_used.append(f"{record.name} in {key}")
                continue
            requests.setdefault(key, []).append(record.name)
    if already_used:
        context.log.info(f"already used by their tiles' selections: {'; '.join(already_used)}")
    run_requests = [
        dg.RunRequest(
            partition_key=key,
            run_key=f"{key}:{'+'.join(sorted(names))}",
            tags={**tile_run_tags(key), "ben_sen1/new_products": str(len(names))},
        )
        for key, names in sorted(requests.items())
    ]
    context.update_cursor(json.dumps(sorted(seen | {r.name for r in scan.records})))
    if run_requests:
        return run_requests
    if already_used:
        return dg.SkipReason(f"{len(new)} new products, all already used by the tiles they cover")
    return dg.SkipReason(f"{len(new)} new products, none affects a partition of the catalog")
