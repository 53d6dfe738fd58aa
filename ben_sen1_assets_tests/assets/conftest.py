"""One end-to-end materialization of the whole graph for the demo partitions, shared by the
suite of `ben_sen1_assets_tests/assets/`.

Why the environment route (and not only explicit resources): `bigearthnet_export` and
`s1s2_mapping` write beside the storage named by `ben_sen1_assets.partitions.SETTINGS`, and the
partitions (the tile catalog) are read from settings at import; so BEN_SEN1_HOME must point at
a temporary home BEFORE the first import of `ben_sen1_assets.partitions` in the session. This
conftest is imported at collection of `assets/`, which comes before `test_definitions.py`
(pytest collects `archive/`, `assets/`, ... in name order) and no earlier test module imports
the definitions. If they were imported earlier anyway, the fixture fails loudly instead of
writing into a user's ./.ben_sen1.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest

E2E_HOME: Path | None = None
if "ben_sen1_assets.partitions" not in sys.modules:
    E2E_HOME = Path(tempfile.mkdtemp(prefix="ben_sen1_e2e_"))
    os.environ["BEN_SEN1_HOME"] = str(E2E_HOME)
    # the embedded default, whatever the caller's shell says
    for _key in ("CONFIG", "STORAGE", "STORAGE_OPTIONS", "CATALOG", "ARCHIVE", "PRODUCT_STORE", "PROVIDER"):
        os.environ.pop(f"BEN_SEN1_{_key}", None)
    os.environ["BEN_SEN1_EXECUTOR"] = "in_process"

IO_MANAGERS = {
    "tile_footprints": "geoparquet_io_manager", "s1_product_selection": "geoparquet_io_manager",
    "raw_s1_safe": "geoparquet_io_manager", "preprocessed_s1": "cog_io_manager", "mosaics": "cog_io_manager",
    "patches": "zarr_io_manager", "s1s2_mapping": "geoparquet_io_manager",
}
DEMO_KEYS = ("32TQM_20211223", "33TTG_20211223", "31TEL_20210809")


@dataclass
class E2E:
    settings: object
    defs: object
    instance: object
    archive: list[Path]
    tiles: dict = field(default_factory=dict)  # partition key -> ExecuteInProcessResult
    datasets: object = None

    def materializations(self, key: str, asset: str):
        return [
            e.event_specific_data.materialization
            for e in self.tiles[key].all_events
            if e.event_type_value == "ASSET_MATERIALIZATION"
            and e.event_specific_data.materialization.asset_key.to_user_string() == asset
        ]

    def metadata(self, key: str, asset: str) -> dict:
        (m,) = self.materializations(key, asset)
        return m.metadata

    def checks(self, result) -> dict:
        """check name -> AssetCheckEvaluation for a run."""
        return {ev.check_name: ev for ev in result.get_asset_check_evaluations()}

    def value(self, key: str | None, asset: str):
        """The stored output, loaded by the asset's IO manager as a downstream step would get it
        (not the in-memory return value: COG and Zarr outputs are staged files moved into storage)."""
        from upath import UPath

        io_key = IO_MANAGERS[asset]
        manager = self.defs.resources[io_key].create_io_manager(None)
        path = UPath(self.settings.storage) / asset
        path = (path / key if key else path).with_suffix(manager.extension)
        return manager.load_from_path(None, path)


@pytest.fixture(scope="session")
def e2e() -> Iterator[E2E]:
    import dagster as dg

    from ben_sen1_assets.partitions import SETTINGS

    if E2E_HOME is None or Path(SETTINGS.home) != E2E_HOME:
        pytest.fail(
            "ben_sen1_assets.partitions was imported before ben_sen1_assets_tests/assets/conftest.py could "
            f"point BEN_SEN1_HOME at a temporary home (settings home: {SETTINGS.home})"
        )
    from ben_sen1_assets.definitions import defs
    from ben_sen1_assets.demo_archive.archive import build_demo_archive

    archive = build_demo_archive(SETTINGS.archive)
    instance = dg.DagsterInstance.ephemeral()
    state = E2E(settings=SETTINGS, defs=defs, instance=instance, archive=archive)
    tile_job = defs.resolve_job_def("tile_job")
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    for key in DEMO_KEYS:
        state.tiles[key] = tile_job.execute_in_process(
            partition_key=key, instance=instance, raise_on_error=False, run_config=quiet
        )
    state.datasets = defs.resolve_job_def("datasets_job").execute_in_process(
        instance=instance, raise_on_error=False, run_config=quiet
    )
    yield state
    instance.dispose()
    shutil.rmtree(E2E_HOME, ignore_errors=True)
