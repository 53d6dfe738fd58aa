"""new_products_sensor: products dropped into the local archive request the tile partitions they cover."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest

ROME = ("S1B_IW_GRDH_1SDV_20211223T051133", "S1B_IW_GRDH_1SDV_20220104T051134")
FRANCE = ("S1A_IW_GRDH_1SDV_20210809T174004", "S1A_IW_GRDH_1SDV_20210821T174005")


@pytest.fixture(scope="module")
def demo_zips(tmp_path_factory) -> dict[str, Path]:
    """The demo products, built once for this module (name prefix -> zip)."""
    from ben_sen1_assets.demo_archive.archive import build_demo_archive

    paths = build_demo_archive(tmp_path_factory.mktemp("demo_archive"))
    zips = {p.name[:32]: p for p in paths}
    assert set(zips) == set(ROME + FRANCE)
    return zips


def _resources(folder: Path) -> dict:
    from ben_sen1_assets.resources.archives import S1CatalogResource
    from ben_sen1_assets.resources.selection import SelectionRulesResource

    # the embedded default's time window (definitions.py: 13 days for the demo's 12-day repeat)
    return {
        "s1_catalog": S1CatalogResource(provider="local", local_folder=str(folder), build_demo_archive=False),
        "selection_rules": SelectionRulesResource(max_days=13, footprint_margin_m=500),
    }


def _evaluate(folder: Path, cursor: str | None, instance):
    from ben_sen1_assets.definitions import defs
    from ben_sen1_assets.sensors import new_products_sensor

    # the code location's definitions resolve the partitioned run requests against tile_job
    context = dg.build_sensor_context(
        instance=instance, resources=_resources(folder), cursor=cursor, definitions=defs
    )
    return new_products_sensor.evaluate_tick(context)


def _copy(zips: dict[str, Path], prefixes, folder: Path) -> None:
    for prefix in prefixes:
        shutil.copyfile(zips[prefix], folder / zips[prefix].name)


def test_all_demo_products_request_their_tiles(demo_zips, tmp_path):
    folder = tmp_path / "archive"
    folder.mkdir()
    _copy(demo_zips, ROME + FRANCE, folder)
    with dg.instance_for_test() as instance:
        data = _evaluate(folder, None, instance)
    requests = {r.partition_key: r for r in data.run_requests}
    assert sorted(requests) == ["31TEL_20210809", "32TQM_20211223", "33TTG_20211223"]
    for key, request in requests.items():
        mgrs, date = key.split("_")
        assert request.tags["ben_sen1/tile"] == mgrs and request.tags["ben_sen1/s2_date"] == date
    assert requests["31TEL_20210809"].tags["ben_sen1/new_products"] == "2"
    assert data.cursor


def test_cursor_skips_then_new_products_request_only_their_tile(demo_zips, tmp_path):
    folder = tmp_path / "archive"
    folder.mkdir()
    _copy(demo_zips, ROME, folder)
    with dg.instance_for_test() as instance:
        first = _evaluate(folder, None, instance)
        assert sorted(r.partition_key for r in first.run_requests) == ["32TQM_20211223", "33TTG_20211223"]
        assert all(r.tags["ben_sen1/new_products"] == "2" for r in first.run_requests)

        again = _evaluate(folder, first.cursor, instance)
        assert not again.run_requests and again.skip_message

        _copy(demo_zips, FRANCE[:1], folder)
        third = _evaluate(folder, first.cursor, instance)
        assert [r.partition_key for r in third.run_requests] == ["31TEL_20210809"]
        assert third.run_requests[0].tags["ben_sen1/tile"] == "31TEL"
        assert FRANCE[0] in third.run_requests[0].run_key

        _copy(demo_zips, FRANCE[1:], folder)
        fourth = _evaluate(folder, third.cursor, instance)
        assert [r.partition_key for r in fourth.run_requests] == ["31TEL_20210809"]
        assert fourth.run_requests[0].tags["ben_sen1/new_products"] == "1"
        assert fourth.run_requests[0].run_key != third.run_requests[0].run_key


def test_empty_archive_skips(tmp_path):
    folder = tmp_path / "archive"
    folder.mkdir()
    with dg.instance_for_test() as instance:
        data = _evaluate(folder, None, instance)
    assert not data.run_requests and "no new product" in data.skip_message


def test_products_already_used_by_a_tile_do_not_request_it(demo_zips, tmp_path):
    folder = tmp_path / "archive"
    folder.mkdir()
    _copy(demo_zips, ROME, folder)
    used = demo_zips[ROME[0]].name.removesuffix(".zip")
    products = dg.MetadataValue.table(
        records=[dg.TableRecord({"product": used})], schema=dg.TableSchema(columns=[dg.TableColumn("product")])
    )
    with dg.instance_for_test() as instance:
        # 32TQM's latest selection already uses the first Rome product (as its materialization says)
        instance.report_runless_asset_event(dg.AssetMaterialization(
            "s1_product_selection", partition="32TQM_20211223", metadata={"products": products}))
        data = _evaluate(folder, None, instance)
    requests = {r.partition_key: r for r in data.run_requests}
    assert sorted(requests) == ["32TQM_20211223", "33TTG_20211223"]
    # 32TQM is asked for the other product only; 33TTG, which uses neither, for both
    assert requests["32TQM_20211223"].tags["ben_sen1/new_products"] == "1"
    assert used not in requests["32TQM_20211223"].run_key
    assert requests["33TTG_20211223"].tags["ben_sen1/new_products"] == "2"


def test_all_new_products_already_used_skip_with_the_reason(demo_zips, tmp_path):
    folder = tmp_path / "archive"
    folder.mkdir()
    _copy(demo_zips, FRANCE, folder)
    names = [demo_zips[p].name.removesuffix(".zip") for p in FRANCE]
    products = dg.MetadataValue.table(
        records=[dg.TableRecord({"product": n}) for n in names],
        schema=dg.TableSchema(columns=[dg.TableColumn("product")]),
    )
    with dg.instance_for_test() as instance:
        instance.report_runless_asset_event(dg.AssetMaterialization(
            "s1_product_selection", partition="31TEL_20210809", metadata={"products": products}))
        data = _evaluate(folder, None, instance)
    assert not data.run_requests and "already used" in data.skip_message
    assert data.cursor  # the products are seen: the next tick does not look at them again
