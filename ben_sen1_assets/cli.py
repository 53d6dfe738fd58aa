"""``ben-sen1``: asset backfills from the command line, as the UI's Materialize → backfill makes them.

Dagster's own ``dagster job backfill`` makes a *job* backfill: it submits one run per partition
and reports the backfill complete at once, whatever its runs then do. ``ben-sen1 backfill``
submits an *asset* backfill to the instance (``$DAGSTER_HOME``): the daemon launches runs as
each asset's ``BackfillPolicy`` says (one run per tile here), follows their materializations and
checks, and the backfill's status is its runs' (``--wait`` follows it here too).

    ben-sen1 backfill --all                       # every tile of the catalog in force
    ben-sen1 backfill --partitions 33UUP_20170613,29UPU_20170617 --with-datasets --wait
    ben-sen1 status <backfill id>

Runs are queued for the daemon (``dagster dev -w workspace.yaml`` or ``dagster-daemon run``).
"""

from __future__ import annotations

import json
import sys
import time

import click

TILE_GROUP = "sentinel1"
DATASETS_GROUP = "datasets"
LAUNCHED_BY_TAG = "ben_sen1/launched_by"


def _instance():
    import dagster as dg

    try:
        return dg.DagsterInstance.get()
    except dg.DagsterInvariantViolationError as exc:
        raise click.ClickException(
            f"{exc} Set DAGSTER_HOME to the instance the daemon uses, e.g. "
            "export DAGSTER_HOME=$PWD/.ben_sen1/dagster_home"
        ) from None


def _asset_graph():
    from ben_sen1_assets.definitions import defs

    return defs.resolve_asset_graph()


def _selection(graph, with_datasets: bool, select: tuple[str, ...]):
    """Asset keys in topological order: the tile stages (and the cross-tile datasets), or the
    names given with --select."""
    import dagster as dg

    if select:
        keys = [dg.AssetKey.from_user_string(name) for name in select]
        unknown = [k.to_user_string() for k in keys if not graph.has(k)]
        if unknown:
            known = ", ".join(sorted(k.to_user_string() for k in graph.get_all_asset_keys()))
            raise click.BadParameter(f"unknown assets {unknown}; the code location has: {known}", param_hint="--select")
        chosen = set(keys)
    else:
        # the datasets group: unpartitioned assets over every materialized tile (mapping,
        # BigEarthNet export and LMDB, statistics, VRTs, STAC catalog), built once after the tiles
        groups = {TILE_GROUP, DATASETS_GROUP} if with_datasets else {TILE_GROUP}
        chosen = {k for k in graph.get_all_asset_keys() if graph.get(k).group_name in groups}
    return [k for k in graph.toposorted_asset_keys if k in chosen]


def _partition_names(all_keys: list[str], partitions: str | None, all_partitions: bool,
                     start: str | None, end: str | None) -> list[str]:
    given = sum([bool(partitions), all_partitions, bool(start or end)])
    if given != 1:
        raise click.UsageError("give exactly one of --partitions, --all, --from/--to")
    if all_partitions:
        return list(all_keys)
    if partitions:
        names = [p.strip() for p in partitions.split(",") if p.strip()]
        unknown = [p for p in names if p not in all_keys]
        if unknown:
            raise click.BadParameter(
                f"{unknown} not in the catalog in force ({len(all_keys)} partitions "
                f"<MGRS>_<YYYYMMDD>, e.g. {', '.join(all_keys[:3])})", param_hint="--partitions")
        return names
    for name, value in (("--from", start), ("--to", end)):
        if value and value not in all_keys:
            raise click.BadParameter(f"{value!r} is not a partition of the catalog in force", param_hint=name)
    lo = all_keys.index(start) if start else 0
    hi = all_keys.index(end) if end else len(all_keys) - 1
    if lo > hi:
        raise click.BadParameter(f"--from {start} comes after --to {end} in the catalog", param_hint="--from")
    return all_keys[lo : hi + 1]


def _progress(instance, backfill) -> dict:
    """Runs of the backfill by status, and the backfill's own status."""
    import dagster as dg
    from dagster._core.storage.tags import BACKFILL_ID_TAG

    runs = instance.get_runs(filters=dg.RunsFilter(tags={BACKFILL_ID_TAG: backfill.backfill_id}))
    by_status: dict[str, int] = {}
    for run in runs:
        by_status[run.status.value] = by_status.get(run.status.value, 0) + 1
    return {"backfill_id": backfill.backfill_id, "status": backfill.status.value, "runs": by_status}


def _wait(instance, backfill_id: str, poll_s: float, as_json: bool) -> int:
    from dagster._core.execution.backfill import BulkActionStatus

    last = None
    while True:
        backfill = instance.get_backfill(backfill_id)
        state = _progress(instance, backfill)
        line = json.dumps(state) if as_json else (
            f"{time.strftime('%H:%M:%S')} backfill {backfill_id}: {state['status']}, runs "
            + (", ".join(f"{n} {s.lower()}" for s, n in sorted(state["runs"].items())) or "none yet"))
        if line != last:
            click.echo(line, err=not as_json)
            last = line
        if backfill.status != BulkActionStatus.REQUESTED:
            return 0 if backfill.status == BulkActionStatus.COMPLETED_SUCCESS else 1
        time.sleep(poll_s)


@click.group()
def main() -> None:
    """ben_sen1_assets operations on the Dagster instance in $DAGSTER_HOME."""


@main.command()
@click.option("--partitions", help="comma-separated partition keys (<MGRS>_<YYYYMMDD>)")
@click.option("--all", "all_partitions", is_flag=True, help="every partition of the catalog in force")
@click.option("--from", "start", help="first partition of a range, in catalog order")
@click.option("--to", "end", help="last partition of a range, in catalog order")
@click.option("--with-datasets", is_flag=True,
              help="also rebuild the datasets group (mapping, BigEarthNet export, LMDB, statistics, VRTs, STAC) "
              "once the tiles are done")
@click.option("--select", multiple=True, help="asset names instead of the tile stages (repeatable)")
@click.option("--title", help="the backfill's title in the UI")
@click.option("--wait", is_flag=True, help="follow the backfill until it ends; exit 1 unless it succeeded")
@click.option("--json", "as_json", is_flag=True, help="print JSON lines (the backfill id first)")
def backfill(partitions, all_partitions, start, end, with_datasets, select, title, wait, as_json) -> None:
    """Submit an asset backfill of tile partitions (run by the daemon)."""
    from dagster._core.execution.backfill import PartitionBackfill
    from dagster._core.utils import make_new_backfill_id
    from dagster._time import get_current_timestamp

    from ben_sen1_assets.partitions import tile_partitions

    names = _partition_names(tile_partitions.get_partition_keys(), partitions, all_partitions, start, end)
    instance = _instance()
    graph = _asset_graph()
    keys = _selection(graph, with_datasets, select)
    backfill_id = make_new_backfill_id()
    title = title or f"{len(names)} tile partition{'s' if len(names) != 1 else ''}: {names[0]}" + (
        f" … {names[-1]}" if len(names) > 1 else "")
    request = PartitionBackfill.from_asset_partitions(
        backfill_id=backfill_id,
        asset_graph=graph,
        partition_names=names,
        asset_selection=keys,
        backfill_timestamp=get_current_timestamp(),
        tags={LAUNCHED_BY_TAG: "ben-sen1 backfill"},
        dynamic_partitions_store=instance,
        all_partitions=False,
        title=title,
        description=f"assets: {', '.join(k.to_user_string() for k in keys)}",
        run_config=None,
    )
    instance.add_backfill(request)
    if as_json:
        click.echo(json.dumps({"backfill_id": backfill_id, "partitions": names,
                               "assets": [k.to_user_string() for k in keys]}))
    else:
        click.echo(f"asset backfill {backfill_id} submitted: {len(names)} partitions × "
                   f"{len(keys)} assets ({', '.join(k.to_user_string() for k in keys)})")
        click.echo("the daemon launches its runs (dagster dev -w workspace.yaml, or dagster-daemon run); "
                   f"follow it in the UI under Overview → Backfills, or: ben-sen1 status {backfill_id}")
    if wait:
        sys.exit(_wait(instance, backfill_id, 5.0, as_json))


@main.command()
@click.argument("backfill_id")
@click.option("--wait", is_flag=True, help="follow the backfill until it ends")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def status(backfill_id: str, wait: bool, as_json: bool) -> None:
    """Status of a backfill and of its runs."""
    instance = _instance()
    backfill = instance.get_backfill(backfill_id)
    if backfill is None:
        raise click.ClickException(f"no backfill {backfill_id!r} in the instance at {instance.root_directory}")
    if wait:
        sys.exit(_wait(instance, backfill_id, 5.0, as_json))
    state = _progress(instance, backfill)
    click.echo(json.dumps(state) if as_json else f"backfill {backfill_id}: {state['status']}, runs {state['runs']}")


if __name__ == "__main__":
    main()
