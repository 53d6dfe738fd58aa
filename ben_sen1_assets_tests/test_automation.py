"""Declarative automation: missing tiles nightly, downstream stages after upstream updates.

Evaluated with Dagster's own evaluator against a temporary instance, tick by tick (the cursor
carries what was handled), with materializations recorded the way runs record them.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg

from ben_sen1_assets.grid.catalog import load_demo_catalog

TILE_STAGES = ["tile_footprints", "s1_product_selection", "raw_s1_safe", "preprocessed_s1", "mosaics", "patches"]
NIGHT_1 = dt.datetime(2026, 11, 24, 1, 0, tzinfo=dt.timezone.utc)  # before the 02:00 tick


def _evaluate(instance, when: dt.datetime, cursor=None):
    from ben_sen1_assets.definitions import defs

    return dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=when, cursor=cursor)


def _requested(result) -> dict[str, set[str | None]]:
    from ben_sen1_assets.definitions import defs

    keys = defs.resolve_asset_graph().get_all_asset_keys()
    return {k.to_user_string(): set(result.get_requested_partitions(k)) for k in keys if result.get_num_requested(k)}


def _materialize(instance, asset: str, partition: str | None) -> None:
    instance.report_runless_asset_event(dg.AssetMaterialization(dg.AssetKey(asset), partition=partition))


def test_missing_tiles_are_requested_once_a_night():
    keys = set(load_demo_catalog().keys())
    with dg.instance_for_test() as instance:
        before = _evaluate(instance, NIGHT_1)
        assert before.total_requested == 0, _requested(before)  # no nightly tick yet
        night = _evaluate(instance, NIGHT_1 + dt.timedelta(hours=1, minutes=1), before.cursor)
        # the whole chain of every missing tile at once (one run per tile: the stages share a policy)
        assert _requested(night) == {stage: keys for stage in TILE_STAGES}
        later = _evaluate(instance, NIGHT_1 + dt.timedelta(hours=1, minutes=2), night.cursor)
        assert later.total_requested == 0  # not again the same night, even though still missing
        next_night = _evaluate(instance, NIGHT_1 + dt.timedelta(days=1, hours=1, minutes=1), later.cursor)
        assert _requested(next_night) == {stage: keys for stage in TILE_STAGES}  # failed runs: retried


def test_built_tiles_are_left_alone_and_updates_flow_down():
    done, *missing = sorted(load_demo_catalog().keys())
    with dg.instance_for_test() as instance:
        for stage in TILE_STAGES:
            _materialize(instance, stage, done)
        first = _evaluate(instance, NIGHT_1)
        night = _evaluate(instance, NIGHT_1 + dt.timedelta(hours=1, minutes=1), first.cursor)
        assert {stage: parts for stage, parts in _requested(night).items() if stage in TILE_STAGES} == {
            stage: set(missing) for stage in TILE_STAGES}

        # a new selection for the built tile (e.g. after a new product): the stages below follow
        _materialize(instance, "s1_product_selection", done)
        after = _evaluate(instance, NIGHT_1 + dt.timedelta(hours=3), night.cursor)
        requested = _requested(after)
        assert {stage: requested.get(stage) for stage in TILE_STAGES} == {
            "tile_footprints": None, "s1_product_selection": None,
            "raw_s1_safe": {done}, "preprocessed_s1": {done}, "mosaics": {done}, "patches": {done}}


def test_mapping_refreshed_daily_after_tile_updates():
    key = sorted(load_demo_catalog().keys())[0]
    with dg.instance_for_test() as instance:
        morning = dt.datetime(2026, 11, 24, 6, 0, tzinfo=dt.timezone.utc)
        first = _evaluate(instance, morning)
        for stage in TILE_STAGES:
            _materialize(instance, stage, key)
        before_tick = _evaluate(instance, morning + dt.timedelta(minutes=30), first.cursor)
        assert "s1s2_mapping" not in _requested(before_tick)
        after_tick = _evaluate(instance, morning + dt.timedelta(hours=1, minutes=1), before_tick.cursor)
        assert _requested(after_tick).get("s1s2_mapping") == {None}
        assert "bigearthnet_export" not in _requested(after_tick)  # a release step: on request only
        _materialize(instance, "s1s2_mapping", None)
        next_day = _evaluate(instance, morning + dt.timedelta(days=1, hours=1, minutes=1), after_tick.cursor)
        assert "s1s2_mapping" not in _requested(next_day)  # no tile changed since
