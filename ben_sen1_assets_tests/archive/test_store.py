"""Product store: atomic publication, one fetch under concurrency, locks; local and S3 (moto)."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest
import s3fs
from shapely.geometry import box

from ben_sen1_assets.archive.download import Downloader, RetryPolicy
from ben_sen1_assets.archive.errors import (
    ChecksumMismatchError,
    InvalidProductError,
    LockTimeoutError,
    ProductNameError,
    ProductNotFoundError,
    StorageError,
)
from ben_sen1_assets.archive.locks import FileLock, ObjectLock
from ben_sen1_assets.archive.records import ProductRecord
from ben_sen1_assets.archive.store import ProductStore
from ben_sen1_assets.archive.verify import verify_product_zip

from .conftest import Fault

FAST = RetryPolicy(max_attempts=4, max_restarts=1, backoff=0.01, read_timeout=5.0)


def _record(url: str, product, **kw) -> ProductRecord:
    fields = dict(
        name=product.name, provider_id="test-id",
        start=datetime(2017, 6, 13, 16, 50, 43, tzinfo=timezone.utc),
        stop=datetime(2017, 6, 13, 16, 51, 8, tzinfo=timezone.utc),
        mission="S1A", absolute_orbit=17013, relative_orbit=117, pass_direction="ASCENDING",
        polarisations=("VV", "VH"), footprint=box(12, 52, 16, 54), size=product.size,
        checksums={"MD5": product.md5, "BLAKE3": product.blake3}, download_url=url, source="cdse",
    )
    fields.update(kw)
    return ProductRecord(**fields)


def _md5_upath(p) -> str:
    with p.open("rb") as f:
        return hashlib.md5(f.read()).hexdigest()


def test_fetch_publishes_only_a_verified_product(tmp_path, product, product_server):
    srv = product_server()
    store = ProductStore(tmp_path / "store")
    seen_during = []

    def progress(p):
        seen_during.append((store.has(product.name), store.path_for(product.name).exists()))

    assert not store.has(product.name)
    path = store.fetch(_record(srv.url, product), Downloader(policy=FAST), progress=progress)
    assert path == store.path_for(product.name) and str(path).endswith(f"{product.name}.zip")
    assert _md5_upath(path) == product.md5
    assert store.has(product.name) and store.names() == [product.name]
    assert seen_during and all(s == (False, False) for s in seen_during[:-1])
    assert not store.staging_path(product.name).exists()
    assert list((tmp_path / "store" / ".locks").iterdir()) == []
    # a second fetch does not touch the network
    n = len(srv.requests)
    store.fetch(_record(srv.url, product), Downloader(policy=FAST))
    assert len(srv.requests) == n


def test_corrupt_product_never_becomes_visible(tmp_path, product, product_server):
    srv = product_server()
    srv.faults = [Fault("corrupt", at=4242) for _ in range(3)]
    store = ProductStore(tmp_path / "store")
    with pytest.raises(ChecksumMismatchError, match="MD5 mismatch"):
        store.fetch(_record(srv.url, product), Downloader(policy=FAST))
    assert not store.has(product.name) and not store.path_for(product.name).exists()
    assert not store.staging_path(product.name).exists()
    assert list((tmp_path / "store" / ".locks").iterdir()) == []


def test_bad_names_are_refused(tmp_path):
    store = ProductStore(tmp_path)
    with pytest.raises(ProductNameError, match="not a Sentinel-1 product name"):
        store.path_for("../../etc/passwd")


def test_local_copy_source(tmp_path, product):
    src = tmp_path / "incoming" / f"{product.name}.zip"
    src.parent.mkdir()
    src.write_bytes(product.data)
    store = ProductStore(tmp_path / "store")
    path = store.fetch(_record(str(src), product, source="local"))
    assert _md5_upath(path) == product.md5


def test_two_threads_fetch_once(tmp_path, product, product_server):
    srv = product_server()
    srv.chunk_delay = 0.1
    store = ProductStore(tmp_path / "store", lock_poll=0.05, lock_heartbeat=0.5, lock_stale_after=5)
    results, errors = [], []

    def run():
        try:
            results.append(store.fetch(_record(srv.url, product), Downloader(policy=FAST)))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 2
    assert srv.fetches == 1 and len(srv.requests) == 1
    assert all(_md5_upath(p) == product.md5 for p in results)


def test_two_processes_fetch_once(tmp_path, product, product_server):
    from ._workers import fetch_in_process

    srv = product_server()
    srv.chunk_delay = 0.4  # ~1.6 s download (4 chunks): the second process arrives while the first fetches
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [
        ctx.Process(
            target=fetch_in_process,
            args=(barrier, str(tmp_path / "store"), product.name, srv.url, product.size, product.md5, str(tmp_path / f"out{i}")),
        )
        for i in range(2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    outs = [(tmp_path / f"out{i}").read_text().split("\n") for i in range(2)]
    assert [o[0] for o in outs] == ["False", "False"]  # both needed it at the same time
    assert outs[0][1] == outs[1][1]
    assert hashlib.md5(Path(outs[0][1]).read_bytes()).hexdigest() == product.md5
    assert srv.fetches == 1 and len(srv.requests) == 1


def test_file_lock_excludes_and_times_out(tmp_path):
    a = FileLock(tmp_path / "x.lock", stale_after=60, heartbeat=None, poll=0.02)
    b = FileLock(tmp_path / "x.lock", stale_after=60, heartbeat=None, poll=0.02)
    a.acquire()
    with pytest.raises(LockTimeoutError, match="still locked by another run"):
        b.acquire(timeout=0.2)
    a.release()
    b.acquire(timeout=0.2)
    b.release()
    assert not (tmp_path / "x.lock").exists()


def test_file_lock_of_a_dead_process_is_broken(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    path = tmp_path / "x.lock"
    import socket

    path.write_text(json.dumps({"owner": "crashed", "host": socket.gethostname(), "pid": pid, "created": time.time()}))
    lock = FileLock(path, stale_after=600, heartbeat=None, poll=0.02)
    lock.acquire(timeout=1)
    assert json.loads(path.read_text())["owner"] == lock.token
    lock.release()


def test_file_lock_without_heartbeat_goes_stale_and_heartbeat_keeps_it(tmp_path):
    path = tmp_path / "x.lock"
    path.write_text(json.dumps({"owner": "elsewhere", "host": "other-host", "pid": 1, "created": 0}))
    old = time.time() - 100
    os.utime(path, (old, old))
    lock = FileLock(path, stale_after=50, heartbeat=None, poll=0.02)
    lock.acquire(timeout=1)  # 100 s old > 50 s: stale
    lock.release()
    # a live holder with a heartbeat is never broken
    holder = FileLock(path, stale_after=0.6, heartbeat=0.1, poll=0.02)
    holder.acquire()
    waiter = FileLock(path, stale_after=0.6, heartbeat=0.1, poll=0.05)
    with pytest.raises(LockTimeoutError):
        waiter.acquire(timeout=1.5)
    holder.release()


# ---------------------------------------------------------------------------------------------
# object storage (moto server mode on 127.0.0.1)
def test_s3_store_fetch_and_has(tmp_path, product, product_server, moto_s3):
    srv = product_server()
    base = f"s3://products-bucket/{uuid.uuid4().hex}/raw"
    store = ProductStore(base, moto_s3, staging_dir=tmp_path / "staging", lock_poll=0.05)
    assert "testing-secret-value" not in repr(store) and "testing-key-id" not in repr(store)
    assert not store.has(product.name)
    path = store.fetch(_record(srv.url, product), Downloader(policy=FAST))
    assert str(path) == f"{base}/{product.name}.zip"
    assert store.has(product.name) and store.names() == [product.name]
    fs = s3fs.S3FileSystem(**moto_s3)
    assert hashlib.md5(fs.cat_file(f"{base[5:]}/{product.name}.zip")).hexdigest() == product.md5
    assert _md5_upath(path) == product.md5
    assert not fs.exists(f"{base[5:]}/.locks/{product.name}.lock")
    assert not store.staging_path(product.name).exists()


def test_s3_corrupt_product_never_uploaded(tmp_path, product, product_server, moto_s3):
    srv = product_server()
    srv.faults = [Fault("corrupt", at=99) for _ in range(3)]
    base = f"s3://products-bucket/{uuid.uuid4().hex}"
    store = ProductStore(base, moto_s3, staging_dir=tmp_path / "staging")
    with pytest.raises(ChecksumMismatchError):
        store.fetch(_record(srv.url, product), Downloader(policy=FAST))
    assert not store.has(product.name)
    assert not s3fs.S3FileSystem(**moto_s3).exists(f"{base[5:]}/{product.name}.zip")


def test_s3_two_threads_fetch_once(tmp_path, product, product_server, moto_s3):
    srv = product_server()
    srv.chunk_delay = 0.1
    base = f"s3://products-bucket/{uuid.uuid4().hex}"
    results = []

    def run(i):
        store = ProductStore(base, moto_s3, staging_dir=tmp_path / f"staging{i}", lock_poll=0.05,
                             lock_heartbeat=0.5, lock_stale_after=5)
        results.append(store.fetch(_record(srv.url, product), Downloader(policy=FAST)))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2 and srv.fetches == 1 and len(srv.requests) == 1


def test_object_lock_excludes_renews_and_expires(moto_s3):
    fs = s3fs.S3FileSystem(**moto_s3)
    path = f"products-bucket/{uuid.uuid4().hex}/.locks/x.lock"
    a = ObjectLock(fs, path, stale_after=1.0, heartbeat=0.2, poll=0.05)
    b = ObjectLock(fs, path, stale_after=1.0, heartbeat=None, poll=0.05)
    a.acquire()
    # a's heartbeat renews the lease: b cannot take it even after several lease lengths
    with pytest.raises(LockTimeoutError):
        b.acquire(timeout=2.0)
    assert not a.lost
    a.release()
    assert not fs.exists(path)
    # a crashed holder (no heartbeat) expires after stale_after and is broken
    c = ObjectLock(fs, path, stale_after=0.5, heartbeat=None, poll=0.05)
    c.acquire()
    d = ObjectLock(fs, path, stale_after=0.5, heartbeat=None, poll=0.05)
    t0 = time.monotonic()
    d.acquire(timeout=5)
    assert 0.3 < time.monotonic() - t0 < 3
    assert json.loads(fs.cat_file(path))["owner"] == d.token
    d.release()


# ---------------------------------------------------------------------------------------------
# verification on ingestion: what the store records, adopts, rejects
def test_store_records_the_verification_and_has_needs_it(tmp_path, product, product_server):
    srv = product_server()
    store = ProductStore(tmp_path / "store")
    store.fetch(_record(srv.url, product), Downloader(policy=FAST))
    record = store.verification(product.name)
    assert record is not None and record.size == product.size and record.md5_checked > 10
    assert json.loads((tmp_path / "store" / ".verified" / f"{product.name}.json").read_text())["name"] == product.name
    (tmp_path / "store" / ".verified" / f"{product.name}.json").unlink()
    assert not store.has(product.name)  # a zip without its record is not trusted...
    n = len(srv.requests)
    store.fetch(_record(srv.url, product), Downloader(policy=FAST))  # ...until verified again, in place
    assert store.has(product.name) and len(srv.requests) == n


def test_an_invalid_zip_at_the_final_path_is_moved_aside_and_fetched_again(tmp_path, product, product_server):
    srv = product_server()
    store = ProductStore(tmp_path / "store")
    final = tmp_path / "store" / f"{product.name}.zip"
    final.write_bytes(product.data[:1000])  # e.g. left by an older version of the project
    path = store.fetch(_record(srv.url, product), Downloader(policy=FAST))
    assert _md5_upath(path) == product.md5 and store.has(product.name)
    rejected = list((tmp_path / "store" / ".rejected").iterdir())
    assert len(rejected) == 1 and rejected[0].read_bytes() == product.data[:1000]


def test_local_archive_copy_at_plus_6_db_is_refused_naming_the_member(tmp_path, product):
    """The local catalogue's MD5 is the damaged zip's own: only the manifest's member MD5s tell."""
    from ._damage import member, rezip, scale_tiff_rows

    vv = member(product.path, "-001.tiff")
    (tmp_path / "archive").mkdir()
    src = rezip(product.path, tmp_path / "archive" / product.path.name,
                lambda n, d: scale_tiff_rows(d, 2.0, slice(0, 32)) if n == vv else d)
    data = src.read_bytes()
    store = ProductStore(tmp_path / "store")
    record = _record(str(src), product, source="local", size=len(data), checksums={"MD5": hashlib.md5(data).hexdigest()})
    with pytest.raises(InvalidProductError, match=rf"{src}: .*measurement/{vv.rsplit('/', 1)[1]}: MD5 .* manifest.safe says"):
        store.fetch(record)
    assert not store.path_for(product.name).exists() and not store.has(product.name)
    assert not store.staging_path(product.name).exists()
    assert not (tmp_path / "store" / ".verified").exists()


def test_local_sources_that_are_fifos_links_or_folders(tmp_path, product):
    store = ProductStore(tmp_path / "store")
    fifo = tmp_path / f"{product.name}.zip"
    os.mkfifo(fifo)  # reading it would block for ever
    with pytest.raises(InvalidProductError, match="is a FIFO, not a product file"):
        store.fetch(_record(str(fifo), product, source="local"))
    fifo.unlink()
    os.symlink(tmp_path / "nowhere.zip", fifo)
    with pytest.raises(InvalidProductError, match="is a dangling symbolic link"):
        store.fetch(_record(str(fifo), product, source="local"))
    with pytest.raises(ProductNotFoundError, match="no longer holds this product"):
        store.fetch(_record(str(tmp_path / "gone.zip"), product, source="local"))
    # a .SAFE folder is zipped into the store, then verified like any product
    import zipfile

    folder = tmp_path / "unzipped"
    with zipfile.ZipFile(product.path) as zf:
        zf.extractall(folder)
    safe = folder / f"{product.name}.SAFE"
    path = store.fetch(_record(str(safe), product, source="local", size=None, checksums={}))
    assert store.verification(product.name).md5_checked == verify_product_zip(product.path).md5_checked
    assert path.exists()
    store.remove(product.name)
    os.symlink("/etc/passwd", safe / "preview" / "evil")
    with pytest.raises(InvalidProductError, match="preview/evil is a symbolic link"):
        store.fetch(_record(str(safe), product, source="local", size=None, checksums={}))


def test_read_only_store_fails_at_once_naming_it(tmp_path, product, product_server, read_only_folder):
    blocker = tmp_path / "store"
    blocker.write_text("not a folder")
    with pytest.raises(StorageError, match=r"product store .*store/products: cannot create its folder: Not a directory.*BEN_SEN1_PRODUCT_STORE"):
        ProductStore(blocker / "products")
    base, how = read_only_folder
    srv = product_server()
    store = ProductStore(base)
    t0 = time.monotonic()
    with pytest.raises(StorageError, match=r"cannot take the product lock: (Read-only file system|Permission denied|File exists)") as err:
        store.fetch(_record(srv.url, product), Downloader(policy=FAST))
    assert time.monotonic() - t0 < 2 and srv.requests == [], how  # before any download
    assert not err.value.transient


def test_s3_bucket_that_does_not_exist_fails_at_once(tmp_path, product, product_server, moto_s3):
    srv = product_server()
    store = ProductStore("s3://no-such-bucket-here/products", moto_s3, staging_dir=tmp_path / "staging")
    with pytest.raises(StorageError, match="no-such-bucket-here/products: cannot take the product lock"):
        store.fetch(_record(srv.url, product), Downloader(policy=FAST))
    assert srv.requests == []


def test_object_lock_of_a_dead_process_on_this_host_is_broken_at_once(moto_s3):
    """A run killed while downloading into an S3 store does not hold the product for the lease's
    10 minutes: on the same host its dead process is recognised at once."""
    import socket

    fs = s3fs.S3FileSystem(**moto_s3)
    path = f"products-bucket/{uuid.uuid4().hex}/.locks/x.lock"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    fs.pipe_file(path, json.dumps({"owner": "killed", "host": socket.gethostname(), "pid": int(dead.stdout),
                                   "created": time.time(), "expires_at": time.time() + 600}).encode())
    lock = ObjectLock(fs, path, stale_after=600, heartbeat=None, poll=0.05)
    t0 = time.monotonic()
    lock.acquire(timeout=5)
    assert time.monotonic() - t0 < 2 and json.loads(fs.cat_file(path))["owner"] == lock.token
    lock.release()
    # a live holder elsewhere keeps its lease
    fs.pipe_file(path, json.dumps({"owner": "other", "host": "another-host", "pid": 1,
                                   "created": time.time(), "expires_at": time.time() + 600}).encode())
    with pytest.raises(LockTimeoutError):
        ObjectLock(fs, path, stale_after=600, heartbeat=None, poll=0.05).acquire(timeout=0.5)
