"""Settings by environment, in one place.

Every switch between the embedded default (offline demo) and a real run is read here, from
environment variables or from one TOML file named by ``BEN_SEN1_CONFIG``. Environment variables
win over the file. Nothing else in the package reads ``os.environ`` for configuration; secrets
(CDSE, Earthdata, cloud keys) are not settings: resources take them through ``dg.EnvVar``.

=========================  ==================  ==================================================
variable                   TOML key            meaning
=========================  ==================  ==================================================
``BEN_SEN1_HOME``          ``home``            root of local state (default ``./.ben_sen1``)
``BEN_SEN1_STORAGE``       ``storage``         base path of asset storage: a folder or an fsspec
                                               URL (``s3://bucket/prefix``); default ``<home>/storage``
``BEN_SEN1_STORAGE_OPTIONS``  ``storage_options``  fsspec options (JSON object in the variable),
                                               e.g. ``{"endpoint_url": "http://127.0.0.1:9000"}``;
                                               no credentials (refused: the ``AWS_*`` & co.
                                               variables of the storage library instead)
``BEN_SEN1_CATALOG``       ``catalog``         ``demo`` (default), ``bigearthnet``, or a path to a
                                               user's tile catalog CSV
``BEN_SEN1_ARCHIVE``       ``archive``         local archive folder of SAFE products (default
                                               ``<home>/archive``)
``BEN_SEN1_PRODUCT_STORE``  ``product_store``   where downloaded products live (default
                                               ``<home>/products``)
``BEN_SEN1_PROVIDER``      ``provider``        the S1 catalog: ``local`` (default: the archive folder),
                                               ``cdse``, ``asf`` or ``dhus`` (credentials: env vars)
``BEN_SEN1_EXECUTOR``      ``executor``        how a run's steps execute: ``multiprocess`` (default),
                                               ``in_process``, ``dask``, ``k8s``, ``celery``
=========================  ==================  ==================================================
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_PREFIX = "BEN_SEN1_"


class SettingsError(ValueError):
    """A setting has a value the project cannot use."""


@dataclass(frozen=True)
class Settings:
    home: Path
    storage: str
    storage_options: dict[str, Any] = field(default_factory=dict)
    catalog: str = "demo"
    archive: str = ""
    product_store: str = ""
    executor: str = "multiprocess"
    provider: str = "local"

    @property
    def is_embedded_default(self) -> bool:
        """True when running the offline demo: demo catalog over the local demo archive."""
        return self.catalog == "demo" and self.provider == "local"


def _read_config_file(path: str) -> dict[str, Any]:
    file = Path(path)
    try:
        with file.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise SettingsError(f"{ENV_PREFIX}CONFIG names {file}, which does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{file}: not valid TOML: {exc}") from None
    section = data.get("ben_sen1", data)
    known = {"home", "storage", "storage_options", "catalog", "archive", "product_store", "executor", "provider"}
    unknown = set(section) - known
    if unknown:
        raise SettingsError(f"{file}: unknown keys {sorted(unknown)}; expected some of {sorted(known)}")
    return dict(section)


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read the settings from ``environ`` (default: the process environment)."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    if env.get(f"{ENV_PREFIX}CONFIG"):
        values.update(_read_config_file(env[f"{ENV_PREFIX}CONFIG"]))
    for key in ("home", "storage", "catalog", "archive", "product_store", "executor", "provider"):
        if env.get(ENV_PREFIX + key.upper()):
            values[key] = env[ENV_PREFIX + key.upper()]
    if env.get(f"{ENV_PREFIX}STORAGE_OPTIONS"):
        try:
            values["storage_options"] = json.loads(env[f"{ENV_PREFIX}STORAGE_OPTIONS"])
        except json.JSONDecodeError as exc:
            raise SettingsError(f"{ENV_PREFIX}STORAGE_OPTIONS is not a JSON object: {exc}") from None
    options = values.get("storage_options", {})
    if not isinstance(options, dict):
        raise SettingsError(f"storage_options must be a mapping, got {type(options).__name__}")
    check_no_credentials(options, f"{ENV_PREFIX}STORAGE_OPTIONS")

    home = Path(values.get("home") or Path.cwd() / ".ben_sen1").expanduser().absolute()
    return Settings(
        home=home,
        storage=str(values.get("storage") or home / "storage"),
        storage_options=options,
        catalog=str(values.get("catalog") or "demo"),
        archive=str(values.get("archive") or home / "archive"),
        product_store=str(values.get("product_store") or home / "products"),
        executor=_check_choice("executor", str(values.get("executor") or "multiprocess"), EXECUTORS),
        provider=_check_choice("provider", str(values.get("provider") or "local"), PROVIDERS),
    )


#: option names that hold credentials (any case; also as parts of a name, e.g. ``aws_secret_access_key``)
CREDENTIAL_WORDS = ("secret", "password", "passwd", "token", "credential", "connection_string", "sas")
CREDENTIAL_NAMES = ("key", "access_key", "access_key_id", "account_key", "aws_access_key_id", "client_id",
                    "ssecustomerkey", "private_key", "auth")
#: where the storage libraries take credentials from instead (their standard provider chains)
CREDENTIAL_SOURCES = (
    "s3://: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), or AWS_PROFILE / an instance role; "
    "gs://: GOOGLE_APPLICATION_CREDENTIALS; az://: AZURE_STORAGE_ACCOUNT_NAME with AZURE_STORAGE_ACCOUNT_KEY "
    "or AZURE_STORAGE_CONNECTION_STRING"
)


def credential_keys(options: Any, path: str = "") -> list[str]:
    """Dotted names of the entries of ``options`` (nested mappings included) that hold credentials."""
    found = []
    if isinstance(options, dict):
        for key, value in options.items():
            name = str(key).lower()
            dotted = f"{path}.{key}" if path else str(key)
            if name in CREDENTIAL_NAMES or any(word in name for word in CREDENTIAL_WORDS):
                found.append(dotted)
            else:
                found.extend(credential_keys(value, dotted))
    return found


def check_no_credentials(options: Any, where: str) -> None:
    """Refuse credentials in storage options: given there they would be stored in every run's
    snapshot in the Dagster instance. The message names the keys, never their values."""
    keys = credential_keys(options)
    if keys:
        raise SettingsError(
            f"{where} holds credentials ({', '.join(keys)}); they would be stored in clear in every run's "
            f"configuration in the Dagster instance. Remove them and set the storage library's own environment "
            f"variables instead ({CREDENTIAL_SOURCES})"
        )


EXECUTORS = ("multiprocess", "in_process", "dask", "k8s", "celery")
PROVIDERS = ("local", "cdse", "asf", "dhus")


def _check_choice(key: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise SettingsError(f"{ENV_PREFIX}{key.upper()} is {value!r}; expected one of {', '.join(choices)}")
    return value
