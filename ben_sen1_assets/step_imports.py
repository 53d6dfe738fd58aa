"""What every step process needs, imported once in the multiprocess executor's forkserver.

The default executor starts each step in a process forked from a server that has already
imported this module (``executors.FORKSERVER_PRELOAD``): steps then start in a fraction of a
second instead of importing Dagster's instance storage and the science libraries anew (seconds
per step). Nothing here starts a thread or opens a file that a fork would share (numba's
threading layer starts on the first parallel call, in the step).
"""

from __future__ import annotations

import importlib
import os

# the libraries the steps use (in-process runs import them too, on first use)
import geopandas  # noqa: F401
import numba  # noqa: F401
import numpy  # noqa: F401
import pandas  # noqa: F401
import PIL.Image  # noqa: F401
import pyarrow.parquet  # noqa: F401
import pyproj  # noqa: F401
import rasterio  # noqa: F401
import shapely  # noqa: F401
import xarray  # noqa: F401
import zarr  # noqa: F401

# the science of every stage
import ben_sen1_assets.archive.download  # noqa: F401
import ben_sen1_assets.archive.local  # noqa: F401
import ben_sen1_assets.archive.selection  # noqa: F401
import ben_sen1_assets.archive.store  # noqa: F401
import ben_sen1_assets.formats.cog  # noqa: F401
import ben_sen1_assets.formats.zarr_store  # noqa: F401
import ben_sen1_assets.outputs.mosaic  # noqa: F401
import ben_sen1_assets.outputs.patches  # noqa: F401
import ben_sen1_assets.sar.chain  # noqa: F401
import ben_sen1_assets.sar.safe  # noqa: F401


def _instance_storage_modules() -> list[str]:
    """The modules of the instance's storages, launcher and log manager (sqlite by default,
    Postgres where dagster.yaml says so): each step process opens the instance."""
    modules = [
        "dagster._core.storage.sqlite_storage",
        "dagster._core.storage.runs.sqlite.sqlite_run_storage",
        "dagster._core.storage.event_log.sqlite.sqlite_event_log",
        "dagster._core.storage.schedules.sqlite.sqlite_schedule_storage",
        "dagster._core.storage.local_compute_log_manager",
    ]
    home = os.environ.get("DAGSTER_HOME")
    if home:
        try:
            from dagster._core.instance.ref import InstanceRef

            ref = InstanceRef.from_dir(home)
            for value in ref._asdict().values():
                module = getattr(value, "module_name", None)
                if module:
                    modules.append(module)
        except Exception:  # an unreadable dagster.yaml fails where it is used, with Dagster's message
            pass
    return modules


for _module in _instance_storage_modules():
    try:
        importlib.import_module(_module)
    except ImportError:
        pass


def _warm_definitions() -> None:
    """Build the repository (jobs, asset graph) once, so forked steps find it ready."""
    from ben_sen1_assets.definitions import defs

    repository = defs.get_repository_def()
    for job in repository.get_all_jobs():
        job.get_job_snapshot()


try:
    _warm_definitions()
except Exception:  # a broken definition fails in the step with Dagster's own error
    pass
