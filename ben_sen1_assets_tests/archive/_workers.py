"""Process entry points for the concurrency tests (kept light: spawned children import this)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from shapely.geometry import box

from ben_sen1_assets.archive.download import Downloader, RetryPolicy
from ben_sen1_assets.archive.records import ProductRecord
from ben_sen1_assets.archive.store import ProductStore


def fetch_in_process(barrier, store_dir: str, name: str, url: str, size: int, md5: str, out: str) -> None:
    store = ProductStore(store_dir, lock_poll=0.05, lock_heartbeat=0.5, lock_stale_after=5)
    rec = ProductRecord(
        name=name, provider_id="test-id",
        start=datetime(2017, 6, 13, 16, 50, 43, tzinfo=timezone.utc),
        stop=datetime(2017, 6, 13, 16, 51, 8, tzinfo=timezone.utc),
        mission="S1A", absolute_orbit=17013, relative_orbit=117, pass_direction="ASCENDING",
        polarisations=("VV", "VH"), footprint=box(12, 52, 16, 54), size=size,
        checksums={"MD5": md5}, download_url=url, source="cdse",
    )
    barrier.wait(30)  # start together
    present_before = store.has(name)
    path = store.fetch(rec, Downloader(policy=RetryPolicy(max_attempts=4, backoff=0.01)))
    Path(out).write_text(f"{present_before}\n{path}")
