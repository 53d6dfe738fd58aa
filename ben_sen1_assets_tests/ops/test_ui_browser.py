"""The UI, as a user drives it: ``dagster dev`` on loopback and headless Chromium.

Sees every asset of the definitions in the lineage graph and the catalog, every asset check on
its asset's Checks tab, launches a materialization of a demo partition from the asset page's
"Materialize…" dialog, and follows the run (queued, launched by ``dagster dev``'s daemon with
the default multiprocess executor) to success, tagged with its tile. Then builds the rest of the
partition's chain with ``ben-sen1 backfill`` and finds each stage's pictures (maps, quicklooks,
thumbnails, histograms) drawn in place on its asset page, not behind "[Show Markdown]". Screenshots are kept in
``$BEN_SEN1_TEST_ARTIFACTS/ui`` (default ``test-artifacts/ui`` under the repo root, gitignored).

Chromium is Debian's (``/usr/bin/chromium``, installed by ``make test``), driven by
Playwright's Python API; Playwright's own browser download is not used.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import dagster as dg
import pytest

from ben_sen1_assets_tests.ops.conftest import (
    BIN,
    ROOT,
    OpsEnv,
    LOCATION,
    ProcessGroup,
    definition_asset_keys,
    definition_check_names,
    demo_partition_keys,
    free_port,
    graphql,
    instance_progress,
    run_failure_details,
    wait_for_server,
    wait_while_progressing,
)

CHROMIUM = os.environ.get("BEN_SEN1_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
UI_TIMEOUT_MS = 90_000  # a busy 2-core machine renders slowly; nothing here should take this long

# the waits fail when nothing progresses for minutes; this cap is only a last resort
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]

RUNS_FOR_PARTITION = """
query($key: String!) {
  runsOrError(filter: {tags: [{key: "dagster/partition", value: $key}]}) {
    ... on Runs { results { runId status jobName } }
  }
}"""


@pytest.fixture
def artifacts() -> Path:
    base = Path(os.environ.get("BEN_SEN1_TEST_ARTIFACTS") or ROOT / "test-artifacts")
    folder = base / "ui"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    print(f"\nUI screenshots: {folder}")
    return folder


@pytest.fixture
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (make test does) or set BEN_SEN1_CHROMIUM")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _root_partitioned_asset() -> str:
    """A tile-partitioned asset with no upstream asset: materializable on its own."""
    from ben_sen1_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    roots = [k for k in graph.get_all_asset_keys() if graph.get(k).partitions_def and not graph.get(k).parent_keys]
    return sorted(k.to_user_string() for k in roots)[0]


def _asset_groups() -> dict[str, list[str]]:
    """Asset keys by group, from the definitions."""
    from ben_sen1_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    groups: dict[str, list[str]] = {}
    for key in graph.get_all_asset_keys():
        groups.setdefault(graph.get(key).group_name, []).append(key.to_user_string())
    return groups


def _shown(name: str, lines: list[str]) -> bool:
    """``name`` is on the page, whole or as the graph shortens it (``s1_prod…_selection``)."""
    for line in lines:
        if name in line:
            return True
        head, sep, tail = line.strip().partition("…")
        if sep and head and tail and name.startswith(head) and name.endswith(tail):
            return True
    return False


def _asset_url(url: str, asset: str) -> str:
    return f"{url}/assets/{asset}"  # user strings are "/"-joined paths, as the UI's routes


def _wait_for_texts(page, texts: list[str], what: str) -> None:
    """Wait until every text is shown on the page; fail naming the missing ones."""
    deadline = time.monotonic() + UI_TIMEOUT_MS / 1000
    missing = texts
    while time.monotonic() < deadline:
        lines = page.locator("body").inner_text().splitlines()
        missing = [t for t in texts if not _shown(t, lines)]
        if not missing:
            return
        page.wait_for_timeout(1000)
    raise AssertionError(f"{what}: not shown in the UI: {missing}")


def _launch_partition(page, url: str, asset: str, partition: str, shot) -> None:
    """Asset page -> "Materialize…" -> pick the partition -> "Launch 1 run"; retried if a
    re-render closes the partition picker halfway."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(3):
        page.goto(_asset_url(url, asset))
        page.get_by_role("button", name="Materialize…").first.click()
        dialog = page.locator(".dagster-dialog")
        try:
            dialog.get_by_text("Select a partition or create one").click(timeout=30_000)
            page.keyboard.type(partition)
            page.locator(".dagster-popover").locator("span", has_text=partition).first.click(timeout=30_000)
            page.keyboard.press("Escape")  # close the partition picker, keep the dialog
            launch = dialog.get_by_role("button", name="Launch 1 run")
            launch.wait_for(state="visible", timeout=30_000)
        except PlaywrightTimeout:
            shot(f"launch_attempt_{attempt + 1}_failed")
            continue
        shot("launch_dialog")
        launch.click()
        launch.wait_for(state="detached")
        return
    raise AssertionError(f"could not launch {asset} {partition} from the UI (see the screenshots)")


# pictures each asset's latest materialization shows in place: metadata key -> at least this many
INLINE_PICTURES = {
    "tile_footprints": ["scope_map (blue = patches in scope)"],
    "s1_product_selection": ["coverage_map (patch colour = its product, red = uncovered, grey = footprints)"],
    "preprocessed_s1": ["quicklook "],
    "mosaics": ["quicklook (R VV, G VH, B VV−VH)"],
    "patches": ["sample patches (", "histogram ("],
}

INLINE_IMAGES = """() => Array.from(document.images)
    .filter(i => i.src.startsWith('data:image/svg+xml'))
    .map(i => ({alt: i.alt, loaded: i.complete && i.naturalWidth > 0, width: i.getBoundingClientRect().width}))"""


def _check_inline_pictures(page, url: str, asset: str, shot) -> None:
    """The asset page shows its latest materialization's pictures decoded, in place."""
    page.goto(_asset_url(url, asset))
    _wait_for_texts(page, ["Metadata", *INLINE_PICTURES[asset]], f"metadata of {asset}")
    deadline = time.monotonic() + UI_TIMEOUT_MS / 1000
    while True:
        images = page.evaluate(INLINE_IMAGES)
        if len(images) >= len(INLINE_PICTURES[asset]) and all(i["loaded"] and i["width"] > 50 for i in images):
            break
        assert time.monotonic() < deadline, f"{asset}: inline pictures not drawn: {images}"
        page.wait_for_timeout(1000)
    shot(f"metadata_{asset}")


def test_ui_shows_the_graph_and_materializes_a_partition(
    ops_env: OpsEnv, start_process, browser, artifacts: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    dev: ProcessGroup = start_process(
        "dagster_dev", [str(BIN / "dagster"), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)]
    )
    started = time.monotonic()

    def phase(name: str) -> None:
        print(f"  {time.monotonic() - started:6.1f} s  {name}")

    wait_for_server(url, dev)
    phase("dagster dev up, code location loaded")
    assets = definition_asset_keys()
    checks = definition_check_names()
    partition = demo_partition_keys()[0]
    target = _root_partitioned_asset()

    # the first-visit "Join the Dagster community" modal (shown on loopback origins) would cover
    # the page at a random moment: mark it seen as its Skip button does, server-side
    assert graphql(url, "mutation { setNuxSeen }")["setNuxSeen"] is True
    assert graphql(url, "{ shouldShowNux }")["shouldShowNux"] is False

    page = browser.new_page(viewport={"width": 1600, "height": 1400})
    page.set_default_timeout(UI_TIMEOUT_MS)
    page.set_default_navigation_timeout(UI_TIMEOUT_MS)
    # safety net, should the modal come anyway: skip it before the next action
    page.add_locator_handler(
        page.get_by_text("Join the Dagster community"),
        lambda: page.get_by_role("button", name="Skip").click(),
    )
    shots = 0

    def shot(name: str) -> None:
        """A full-page screenshot, numbered in the order taken."""
        nonlocal shots
        shots += 1
        page.screenshot(path=artifacts / f"{shots:02d}_{name}.png", full_page=True)

    try:
        # each group's lineage graph draws its assets (long names shortened with "…")
        for group, members in sorted(_asset_groups().items()):
            page.goto(f"{url}/locations/{LOCATION}/asset-groups/{group}")
            _wait_for_texts(page, members, f"lineage graph of group {group}")
            page.wait_for_timeout(1500)  # let the graph layout settle before the picture
            shot(f"lineage_{group}")
        page.goto(f"{url}/asset-groups")
        _wait_for_texts(page, ["Global asset lineage"], "global asset lineage")
        page.wait_for_timeout(1500)
        shot("lineage_global")
        phase("lineage graph shows every asset")

        # the catalog lists them all too
        page.goto(f"{url}/assets")
        _wait_for_texts(page, assets, "asset catalog")
        shot("catalog")

        # every check, on its asset's Checks tab
        assert checks, "the definitions declare no asset check"
        for asset, names in sorted(checks.items()):
            page.goto(f"{_asset_url(url, asset)}?view=checks")
            _wait_for_texts(page, [f"Checks ({len(names)})", *names], f"checks of {asset}")
            shot(f"checks_{asset.replace('/', '__')}")
        phase("checks shown")

        # launch one demo partition of the root asset from its page, as a user does
        _launch_partition(page, url, target, partition, shot)
        phase(f"launched {target} {partition} from the UI")

        # the run: queued, launched by the daemon, steps in subprocesses
        def run_finished() -> dict | None:
            dev.check_alive()
            runs = graphql(url, RUNS_FOR_PARTITION, {"key": partition})["runsOrError"]["results"]
            if runs and runs[0]["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
                return runs[0]
            return None

        run = wait_while_progressing(run_finished, lambda: instance_progress(ops_env), 300,
                                     f"a run for {partition} finished")
        with ops_env.instance() as instance:
            details = run_failure_details(ops_env, [instance.get_run_by_id(run["runId"])])
        assert run["status"] == "SUCCESS", details
        phase(f"run {run['runId']} succeeded")
        assert run["jobName"] == "__ASSET_JOB"  # an asset materialization, not tile_job

        # the UI reports it: run page says Success; the asset shows the partition materialized
        page.goto(f"{url}/runs/{run['runId']}")
        _wait_for_texts(page, ["Success"], f"run {run['runId']} page")
        page.wait_for_timeout(1500)
        shot("run_success")
        page.goto(f"{_asset_url(url, target)}?view=partitions")
        _wait_for_texts(page, [partition], f"partitions of {target}")
        shot("partitions_after_run")
        page.goto(f"{_asset_url(url, target)}?view=checks")
        _wait_for_texts(page, ["Passed"], f"check results of {target}")
        shot("checks_after_run")
        phase("UI shows the run, the partition and the check result")

        # the rest of the chain, as an asset backfill from the command line, run by the daemon
        built = subprocess.run(
            [str(BIN / "ben-sen1"), "backfill", "--partitions", partition, "--wait"],
            cwd=ROOT, env=ops_env.env, capture_output=True, text=True, timeout=600,
        )
        assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-3000:]
        phase(f"ben-sen1 backfill built {partition}")
        for asset in INLINE_PICTURES:
            _check_inline_pictures(page, url, asset, shot)
        phase("metadata pictures drawn in place")
    except BaseException:
        try:
            shot("failure")
        finally:
            print(f"dagster dev log (tail):\n{dev.tail()}")
        raise
    finally:
        page.close()

    with ops_env.instance() as instance:
        key = dg.AssetKey.from_user_string(target)
        assert instance.get_materialized_partitions(key) == {partition}
        ui_run = instance.get_run_by_id(run["runId"])
        mgrs, date = partition.split("_")
        assert (ui_run.tags["ben_sen1/tile"], ui_run.tags["ben_sen1/s2_date"]) == (mgrs, date)
        event = instance.get_latest_materialization_event(key)
        assert str(event.asset_materialization.metadata["path"].value).startswith(str(ops_env.ben_home))
    assert len(list(artifacts.glob("*.png"))) == shots >= 13
