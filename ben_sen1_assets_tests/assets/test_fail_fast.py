"""What retrying cannot fix fails at once, through Dagster, on a real temporary instance.

Each case materializes the real assets (``s1_product_selection`` or ``raw_s1_safe``) with
resources pointing at the trouble: a missing archive folder, a CDSE identity server refusing the
credentials, an ASF server answering 401, a product the server does not know, a read-only product
store, a damaged product in the local archive. Before, the assets' ``RetryPolicy`` kept such runs
in retries for 6–12 minutes; now each fails in seconds, with one attempt and the cause named.
"""

from __future__ import annotations

import json
import os
import re
import time

import dagster as dg
import geopandas as gpd
import pandas as pd
import pytest

from ben_sen1_assets.archive.errors import AuthError, CatalogUnavailableError, InvalidProductError
from ben_sen1_assets.archive.local import read_product_record
from ben_sen1_assets.assets.raw_s1_safe import raw_s1_safe
from ben_sen1_assets.assets.s1_product_selection import s1_product_selection
from ben_sen1_assets.failures import TRANSIENT_RETRIES, classified
from ben_sen1_assets.partitions import tile_partitions
from ben_sen1_assets.resources.archives import ProductStoreResource, S1CatalogResource
from ben_sen1_assets.resources.io_managers import GeoParquetIOManagerFactory
from ben_sen1_assets.resources.selection import SelectionRulesResource
from ben_sen1_assets.resources.tile_catalog import TileCatalogResource
from ben_sen1_assets_tests.archive.conftest import LoopbackServer

KEY = "31TEL_20210809"
BOUND_S = 15.0  # one attempt, with the step's start-up; the retry policies would take minutes


def _selection_asset(frame: gpd.GeoDataFrame) -> dg.AssetsDefinition:
    """Stands in for the upstream asset: the selection a catalogue would have made."""

    @dg.asset(name="s1_product_selection", partitions_def=tile_partitions, io_manager_key="geoparquet_io_manager")
    def chosen() -> gpd.GeoDataFrame:
        return frame

    return chosen


def _frame(record, download_url: str, source: str) -> gpd.GeoDataFrame:
    row = {
        "name": record.name, "provider_id": "p-1", "start": pd.Timestamp(record.start), "stop": pd.Timestamp(record.stop),
        "mission": record.mission, "absolute_orbit": record.absolute_orbit, "relative_orbit": record.relative_orbit,
        "pass_direction": record.pass_direction, "polarisations": "&".join(record.polarisations),
        "size": record.size, "checksums": json.dumps(dict(record.checksums)), "download_url": download_url, "source": source,
    }
    return gpd.GeoDataFrame(pd.DataFrame([row]), geometry=[record.footprint], crs="EPSG:4326")


def _materialize(tmp_path, assets, **resources):
    resources.setdefault("geoparquet_io_manager", GeoParquetIOManagerFactory(base_path=str(tmp_path / "storage")))
    resources.setdefault("product_store", ProductStoreResource(base_path=str(tmp_path / "products")))
    (tmp_path / "dagster_home").mkdir(parents=True, exist_ok=True)
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as instance:
        t0 = time.monotonic()
        result = dg.materialize(assets, partition_key=KEY, resources=resources, instance=instance, raise_on_error=False)
        elapsed = time.monotonic() - t0
        retries = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]
        failures = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    return result, elapsed, retries, failures


def _failure_text(failures) -> str:
    (failure,) = failures
    return failure.step_failure_data.error.message


def test_missing_archive_folder_fails_at_once(tmp_path):
    result, elapsed, retries, failures = _materialize(
        tmp_path, [s1_product_selection],
        tile_catalog=TileCatalogResource(catalog="demo"),
        s1_catalog=S1CatalogResource(provider="local", local_folder=str(tmp_path / "no-archive")),
        selection_rules=SelectionRulesResource(),
    )
    assert not result.success and retries == [] and elapsed < BOUND_S, elapsed
    text = _failure_text(failures)
    assert "local archive" in text and "no-archive' does not exist; check BEN_SEN1_ARCHIVE" in text
    assert failures[0].step_failure_data.user_failure_data.metadata["error"].value == "StorageError"


@pytest.fixture
def cdse_env(monkeypatch):
    monkeypatch.setenv("CDSE_USERNAME", "someone@example.org")
    monkeypatch.setenv("CDSE_PASSWORD", "not-the-password")


def test_refused_cdse_login_fails_at_once(tmp_path, loopback_servers, small_product, cdse_env):
    identity = loopback_servers(lambda h, _b: h.send_json(
        {"error": "invalid_grant", "error_description": "Invalid user credentials"}, status=401))
    zipper = loopback_servers(lambda h, _b: h.send_json({"detail": "not reached"}, status=500))
    record = read_product_record(small_product.path, size=small_product.size, checksums={"MD5": small_product.md5})
    frame = _frame(record, f"{zipper.url}/odata/v1/Products(p-1)/$value", "cdse")
    catalog = S1CatalogResource(provider="cdse", username=dg.EnvVar("CDSE_USERNAME"), password=dg.EnvVar("CDSE_PASSWORD"),
                                cdse_identity_url=identity.url)
    result, elapsed, retries, failures = _materialize(tmp_path, [_selection_asset(frame), raw_s1_safe], s1_catalog=catalog)
    assert not result.success and retries == [] and elapsed < BOUND_S, elapsed
    text = _failure_text(failures)
    assert "CDSE password grant (CDSE_USERNAME/CDSE_PASSWORD) refused" in text and "invalid_grant" in text
    assert "someone@example.org" not in text and "not-the-password" not in text
    assert zipper.requests == [] and len(identity.requests) == 1


def test_asf_401_and_unknown_product_fail_at_once(tmp_path, loopback_servers, small_product, monkeypatch):
    monkeypatch.setenv("EARTHDATA_TOKEN", "edl-token-value")
    server = loopback_servers(lambda h, _b: h.send_json(
        {"error": "invalid_token"}, status=401 if "p-1" in h.path else 404))
    record = read_product_record(small_product.path, size=small_product.size, checksums={"MD5": small_product.md5})
    catalog = S1CatalogResource(provider="asf", earthdata_token=dg.EnvVar("EARTHDATA_TOKEN"))
    for url, expected in ((f"{server.url}/p-1.zip", r"refused a freshly refreshed token \(HTTP 401\)"),
                          (f"{server.url}/unknown.zip", r"HTTP 404 from .*: the server does not know this product")):
        result, elapsed, retries, failures = _materialize(
            tmp_path / url[-9:], [_selection_asset(_frame(record, url, "asf")), raw_s1_safe], s1_catalog=catalog)
        assert not result.success and retries == [] and elapsed < BOUND_S, (url, elapsed)
        assert re.search(expected, _failure_text(failures)), _failure_text(failures)
        assert "edl-token-value" not in _failure_text(failures)


def test_read_only_product_store_fails_at_once(tmp_path, small_product, read_only_folder):
    archive = tmp_path / "archive"
    archive.mkdir()
    (archive / small_product.path.name).write_bytes(small_product.data)
    record = read_product_record(archive / small_product.path.name)
    blocked, how = read_only_folder
    result, elapsed, retries, failures = _materialize(
        tmp_path, [_selection_asset(_frame(record, str(archive / small_product.path.name), "local")), raw_s1_safe],
        s1_catalog=S1CatalogResource(provider="local", local_folder=str(archive)),
        product_store=ProductStoreResource(base_path=str(blocked)),
    )
    assert not result.success and retries == [] and elapsed < BOUND_S, (how, elapsed)
    assert "cannot take the product lock" in _failure_text(failures) and "BEN_SEN1_PRODUCT_STORE" in _failure_text(failures)


def test_damaged_local_product_fails_naming_the_member_instead_of_running_to_success(tmp_path, small_product):
    """+6 dB in a block of the VV measurement, the zip re-made consistent: the local catalogue's
    MD5 is the damaged zip's own, so only the manifest's member MD5s can tell."""
    from ben_sen1_assets_tests.archive._damage import member, rezip, scale_tiff_rows

    archive = tmp_path / "archive"
    archive.mkdir()
    vv = member(small_product.path, "-001.tiff")
    damaged = rezip(small_product.path, archive / small_product.path.name,
                    lambda n, d: scale_tiff_rows(d, 2.0, slice(8, 24)) if n == vv else d)
    from ben_sen1_assets.archive.local import LocalCatalog

    (record,) = LocalCatalog(archive).records
    result, elapsed, retries, failures = _materialize(
        tmp_path, [_selection_asset(_frame(record, record.download_url, "local")), raw_s1_safe],
        s1_catalog=S1CatalogResource(provider="local", local_folder=str(archive)),
    )
    assert not result.success and retries == [] and elapsed < BOUND_S
    text = _failure_text(failures)
    assert f"{damaged}: measurement/{vv.rsplit('/', 1)[1]}: MD5" in text and "manifest.safe says" in text
    assert failures[0].step_failure_data.user_failure_data.metadata["error"].value == "InvalidProductError"
    assert not (tmp_path / "products" / small_product.path.name).exists()


def test_transient_errors_are_retried_with_backoff_and_permanent_ones_are_not():
    context = dg.build_asset_context()
    with pytest.raises(dg.RetryRequested) as retry:
        with classified(context, "cdse catalog"):
            raise CatalogUnavailableError("CDSE catalogue https://x/odata/v1: HTTP 503: busy")
    assert retry.value.max_retries == TRANSIENT_RETRIES and retry.value.seconds_to_wait == 30.0
    with pytest.raises(dg.Failure) as failure:
        with classified(context, "product"):
            raise AuthError("HTTP 403 from https://x (credentials refused or missing)")
    assert failure.value.allow_retries is False and "HTTP 403" in failure.value.description
    with pytest.raises(dg.Failure) as failure:
        with classified(context, "product"):
            raise InvalidProductError("p.zip: not a product zip but an HTML page")
    assert failure.value.allow_retries is False
    with pytest.raises(KeyError):  # unforeseen: left to the asset's RetryPolicy
        with classified(context, "product"):
            raise KeyError("x")


@pytest.fixture
def loopback_servers():
    servers: list[LoopbackServer] = []

    def make(route) -> LoopbackServer:
        servers.append(LoopbackServer(route))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def test_invalid_calibration_lut_fails_the_product_instead_of_running_to_success(tmp_path):
    """All-NaN sigmaNought in the VV calibration of a product whose manifest is consistent (the
    producer made it wrong): ingestion accepts it, preprocessing fails at once naming the file."""
    import re as _re

    from ben_sen1_assets.archive.local import LocalCatalog
    from ben_sen1_assets.assets.preprocessed_s1 import preprocessed_s1
    from ben_sen1_assets.definitions import sar_processing_resource
    from ben_sen1_assets.demo_archive import DEFAULT_SEED, build_product, demo_products
    from ben_sen1_assets.resources.io_managers import CogIOManagerFactory
    from ben_sen1_assets_tests.archive._damage import rezip_consistent

    france_a = next(p for p in demo_products() if p.label == "france-a")  # the product of 31TEL_20210809
    built = build_product(france_a, tmp_path / "built", DEFAULT_SEED)
    archive = tmp_path / "archive"
    archive.mkdir()

    def nan_sigma(name: str, data: bytes) -> bytes:
        if "/calibration/calibration-" in name and "-vv-" in name:
            return _re.sub(rb"(<sigmaNought[^>]*>)[^<]*(</sigmaNought>)",
                           lambda m: m.group(1) + b" ".join([b"nan"] * len(m.group(0).split(b">")[1].split())) + m.group(2), data)
        return data

    rezip_consistent(built, archive / built.name, nan_sigma)
    (record,) = LocalCatalog(archive).records
    result, elapsed, retries, failures = _materialize(
        tmp_path, [_selection_asset(_frame(record, record.download_url, "local")), raw_s1_safe, preprocessed_s1],
        s1_catalog=S1CatalogResource(provider="local", local_folder=str(archive)),
        tile_catalog=TileCatalogResource(catalog="demo"),
        sar_processing=sar_processing_resource(),
        cog_io_manager=CogIOManagerFactory(base_path=str(tmp_path / "storage")),
    )
    assert not result.success and retries == []
    assert [e.step_key for e in failures] == ["preprocessed_s1"]  # the product itself was stored, verified
    text = _failure_text(failures)
    assert _re.search(r"calibration-s1a-iw-grd-vv-\S+\.xml: calibrationVector\[0\] \(line 0\) sigmaNought: \d+ of \d+ "
                      r"values NaN, infinite, zero or negative", text), text
    assert failures[0].step_failure_data.user_failure_data.metadata["error"].value == "SafeFormatError"
    assert not (tmp_path / "storage" / "preprocessed_s1").exists() or not any((tmp_path / "storage" / "preprocessed_s1").iterdir())
