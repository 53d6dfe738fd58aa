"""Settings come from the environment or one TOML file; bad values are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from ben_sen1_assets.settings import SettingsError, load_settings


def test_embedded_default(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = load_settings({})
    assert s.is_embedded_default
    assert s.home == tmp_path / ".ben_sen1"
    assert s.storage == str(tmp_path / ".ben_sen1" / "storage")
    assert s.archive == str(tmp_path / ".ben_sen1" / "archive")
    assert (s.catalog, s.provider, s.executor) == ("demo", "local", "multiprocess")


def test_environment_overrides_file(tmp_path: Path) -> None:
    config = tmp_path / "ben.toml"
    config.write_text(
        '[ben_sen1]\nstorage = "s3://bucket/assets"\ncatalog = "bigearthnet"\nprovider = "cdse"\n'
        'storage_options = { endpoint_url = "http://127.0.0.1:9000" }\n'
    )
    s = load_settings({"BEN_SEN1_CONFIG": str(config), "BEN_SEN1_CATALOG": "demo", "BEN_SEN1_HOME": str(tmp_path)})
    assert s.storage == "s3://bucket/assets"
    assert s.storage_options == {"endpoint_url": "http://127.0.0.1:9000"}
    assert s.catalog == "demo" and s.provider == "cdse"
    assert not s.is_embedded_default


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"BEN_SEN1_EXECUTOR": "spark"}, "BEN_SEN1_EXECUTOR is 'spark'"),
        ({"BEN_SEN1_PROVIDER": "scihub"}, "BEN_SEN1_PROVIDER is 'scihub'"),
        ({"BEN_SEN1_STORAGE_OPTIONS": "{not json"}, "BEN_SEN1_STORAGE_OPTIONS is not a JSON object"),
        ({"BEN_SEN1_CONFIG": "/nonexistent/ben.toml"}, "does not exist"),
    ],
)
def test_bad_settings_are_named(environ: dict, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(environ)


def test_unknown_key_in_file(tmp_path: Path) -> None:
    config = tmp_path / "ben.toml"
    config.write_text('[ben_sen1]\nstorrage = "x"\n')
    with pytest.raises(SettingsError, match="unknown keys \\['storrage'\\]"):
        load_settings({"BEN_SEN1_CONFIG": str(config)})


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"key": "AKIAEXAMPLE0001", "secret": "s3cr3t-value-0001"}, "key, secret"),
        ({"client_kwargs": {"aws_secret_access_key": "s3cr3t-value-0001", "endpoint_url": "http://x"}},
         "client_kwargs.aws_secret_access_key"),
        ({"token": "s3cr3t-value-0001"}, "token"),
        ({"account_name": "acct", "account_key": "s3cr3t-value-0001"}, "account_key"),
        ({"connection_string": "AccountKey=s3cr3t-value-0001"}, "connection_string"),
    ],
)
def test_credentials_in_storage_options_are_refused(options: dict, named: str, tmp_path: Path) -> None:
    """They would be stored in clear in every run's snapshot: the message names the keys and
    the variables to use, never the values."""
    import json

    with pytest.raises(SettingsError) as err:
        load_settings({"BEN_SEN1_STORAGE_OPTIONS": json.dumps(options)})
    message = str(err.value)
    assert f"BEN_SEN1_STORAGE_OPTIONS holds credentials ({named})" in message
    assert "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY" in message and "s3cr3t" not in message and "AKIA" not in message
    config = tmp_path / "ben.toml"
    config.write_text('[ben_sen1]\nstorage_options = { endpoint_url = "http://x", secret = "s3cr3t-value-0001" }\n')
    with pytest.raises(SettingsError, match=r"holds credentials \(secret\)"):
        load_settings({"BEN_SEN1_CONFIG": str(config)})


def test_resources_refuse_credentials_in_their_config() -> None:
    from ben_sen1_assets.resources.archives import ProductStoreResource
    from ben_sen1_assets.resources.io_managers import GeoParquetIOManagerFactory

    with pytest.raises(Exception, match=r"storage_options of the asset storage holds credentials \(key, secret\)"):
        GeoParquetIOManagerFactory(base_path="s3://b/p", storage_options={"key": "AKIA1", "secret": "s3cr3t"})
    with pytest.raises(Exception, match=r"storage_options of the product store holds credentials \(token\)"):
        ProductStoreResource(base_path="s3://b/p", storage_options={"token": "s3cr3t"})
    # what is not a credential passes
    GeoParquetIOManagerFactory(base_path="s3://b/p", storage_options={"endpoint_url": "http://x", "anon": False})
