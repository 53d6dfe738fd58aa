"""Sensors: new products dropped into the local archive folder request the tiles they affect."""

import json

import dagster as dg

from ben_sen1_assets.jobs import tile_job, tile_run_tags
from ben_sen1_assets.partitions import SETTINGS, TILE_CATALOG
from ben_sen1_assets.resources.archives import S1CatalogResource
from ben_sen1_assets.resources.selection import SelectionRulesResource


def affected_partitions(record, max_days: float) -> list[str]:
    """Partitions whose tile the product's footprint intersects, sensed within ± max_days."""
    keys = []
    for entry in TILE_CATALOG:
        if abs((record.start - entry.sensing_time).total_seconds()) > max_days * 86400:
            continue
        if record.footprint.intersects(entry.tile.footprint_wgs84()):
            keys.append(entry.partition_key)
    return keys


@dg.sensor(
    job=tile_job,
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Watches the local archive folder; a new product requests a run for every tile "
    "partition it covers (within the selection's time window).",
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
    requests = {}
    for record in new:
        for key in affected_partitions(record, selection_rules.max_days):
            requests.setdefault(key, []).append(record.name)
    run_requests = [
        dg.RunRequest(
            partition_key=key,
            run_key=f"{key}:{'+'.join(sorted(names))}",
            tags={**tile_run_tags(key), "ben_sen1/new_products": str(len(names))},
        )
        for key, names in sorted(requests.items())
    ]
    context.update_cursor(json.dumps(sorted(seen | {r.name for r in scan.records})))
    return run_requests or dg.SkipReason(f"{len(new)} new products, none affects a partition of the catalog")
