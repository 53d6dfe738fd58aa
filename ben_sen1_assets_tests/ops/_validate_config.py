"""Validate run configs for ``tile_job`` under the executor named by ``BEN_SEN1_EXECUTOR``.

Reads a JSON list of run configs on stdin, prints one JSON object on its last line:
``{"executor": <executor definition name>, "results": [{"valid": bool, "errors": [...]}, ...]}``.
Runs in a fresh interpreter because the definitions pick the executor at import.
"""

from __future__ import annotations

import json
import sys


def main() -> int:
    import dagster as dg

    from ben_sen1_assets_tests.ops._jobs import tile_job

    job = tile_job()
    results = []
    for run_config in json.load(sys.stdin):
        try:
            dg.validate_run_config(job, run_config)
            results.append({"valid": True, "errors": []})
        except dg.DagsterInvalidConfigError as exc:
            results.append({"valid": False, "errors": [e.message for e in exc.errors]})
    print(json.dumps({"executor": job.executor_def.name, "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
