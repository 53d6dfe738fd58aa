"""Declarative automation: when each asset should be materialized, without a schedule per stage.

Tile stages (footprints → patches), per partition:

* **missing partitions are built nightly** (at ``NIGHTLY_CRON``, once per night and partition,
  so a tile that fails is retried the next night rather than every 30 s). A whole missing chain
  is requested in one tick and runs as one run per tile (the stages share one backfill policy);
* **new upstream data is followed**: when a stage's upstream partition is materialized again
  (a re-selection after a new product, re-processing with new parameters), the stages below it
  follow, once their inputs are complete and not in progress.

The cross-tile ``s1s2_mapping`` is refreshed once a day (``DATASETS_CRON``) when some tile was
updated since; the other datasets (``bigearthnet_export`` and what is built from it, the VRTs,
the STAC catalog) are a release step, materialized on request (``datasets_job``, or
``ben-sen1 backfill --with-datasets``).

The automation sensor starts STOPPED (turn it on in the UI: Automation → ben_sen1_automation,
or ``dagster sensor start -w workspace.yaml ben_sen1_automation``). It replaces the nightly
missing-tiles schedule of earlier versions: the same rule, expressed on the assets, visible per
partition in the UI's automation evaluations. Runs are queued and bounded by the instance's
``max_concurrent_runs`` and pools.
"""

import dagster as dg

NIGHTLY_CRON = "0 2 * * *"
DATASETS_CRON = "0 7 * * *"

_inputs_ready = (
    ~dg.AutomationCondition.any_deps_missing()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
)

tile_stage_condition = (
    (
        (dg.AutomationCondition.missing() & dg.AutomationCondition.cron_tick_passed(NIGHTLY_CRON).since_last_handled())
        .with_label("missing, nightly")
        | dg.AutomationCondition.any_deps_updated().since_last_handled().with_label("upstream updated")
    )
    & _inputs_ready
).with_label("tile stage: build missing nightly, follow upstream")

datasets_condition = (
    dg.AutomationCondition.cron_tick_passed(DATASETS_CRON).since_last_handled()
    & dg.AutomationCondition.any_deps_updated().since_last_handled()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("daily, when a tile was updated")

automation_sensor = dg.AutomationConditionSensorDefinition(
    "ben_sen1_automation",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.STOPPED,
    run_tags={"ben_sen1/launched_by": "automation"},
    description="Evaluates the assets' automation conditions: missing tiles nightly, "
    "downstream stages after upstream updates, the S1-S2 mapping daily (ben_sen1_assets.automation).",
)
