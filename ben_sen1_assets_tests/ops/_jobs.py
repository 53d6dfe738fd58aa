"""Module-level job getters for ``dg.reconstructable``: out-of-process executors re-import them.

Importing the definitions reads the settings (``BEN_SEN1_HOME``, ``BEN_SEN1_EXECUTOR``) from the
environment, so the caller sets those before the first import, in every process.
"""

from __future__ import annotations

import dagster as dg


def tile_job() -> dg.JobDefinition:
    from ben_sen1_assets.definitions import defs

    return defs.resolve_job_def("tile_job")
