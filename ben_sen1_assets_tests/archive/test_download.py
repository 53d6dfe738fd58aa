"""Fault tests of the resumable, verified downloader against a real loopback HTTP server."""

from __future__ import annotations

import hashlib
import random
import time

import pytest

from ben_sen1_assets.archive.download import (
    Downloader,
    RetryPolicy,
    StaticBearer,
    retry_after_seconds,
)
from ben_sen1_assets.archive.errors import AuthError, ChecksumMismatchError, DownloadError

from .conftest import Fault, http_date

FAST = RetryPolicy(max_attempts=6, max_restarts=2, backoff=0.01, max_backoff=0.05, read_timeout=5.0)


def _md5(path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _downloader(recording_sleep, **kw) -> Downloader:
    kw.setdefault("policy", FAST)
    return Downloader(sleep=recording_sleep, chunk_size=64 * 1024, **kw)


def test_plain_download_verifies_md5_and_blake3(tmp_path, product, product_server, recording_sleep):
    srv = product_server()
    reports = []
    res = _downloader(recording_sleep, progress_every_percent=25).download(
        srv.url, tmp_path / "p.zip", size=product.size,
        checksums={"MD5": product.md5, "BLAKE3": product.blake3}, name=product.name, progress=reports.append,
    )
    assert res.path.read_bytes() == product.data
    assert res.checksums == {"MD5": product.md5, "BLAKE3": product.blake3}
    assert not (tmp_path / "p.zip.part").exists()
    # throttled: the first report, every >= 25 %, and the final one
    assert 3 <= len(reports) <= 6
    assert reports[-1].percent == pytest.approx(100.0) and reports[-1].bytes_done == product.size
    assert all(r.rate_mb_s >= 0 for r in reports)
    assert recording_sleep.calls == []


def test_dropped_connections_at_random_offsets_resume_to_a_verified_file(tmp_path, product, product_server, recording_sleep):
    rng = random.Random(1234)
    srv = product_server()
    for trial in range(24):
        n_drops = rng.randint(1, 3)
        srv.faults = [Fault("drop", at=rng.randrange(0, product.size // 2)) for _ in range(n_drops)]
        before = len(srv.requests)
        dest = tmp_path / f"t{trial}.zip"
        res = _downloader(recording_sleep).download(
            srv.url, dest, size=product.size, checksums={"MD5": product.md5, "BLAKE3": product.blake3}
        )
        assert _md5(dest) == product.md5, trial
        reqs = srv.requests[before:]
        # a later fault may fall past the end of a resumed range: then it drops nothing
        assert 2 <= len(reqs) <= n_drops + 1 and len(reqs) == res.requests
        # every retry after bytes had arrived asked for the rest with a Range header
        ranges = [r["headers"].get("Range") for r in reqs[1:]]
        assert all(r is None or r.startswith("bytes=") for r in ranges)
        assert res.restarts == 0


def test_resume_sends_range_from_the_partial_size(tmp_path, product, product_server, recording_sleep):
    srv = product_server()
    part = tmp_path / "p.zip.part"
    part.write_bytes(product.data[: product.size // 4])
    _downloader(recording_sleep).download_to(srv.url, part, size=product.size, checksums={"MD5": product.md5})
    assert srv.requests[0]["headers"]["Range"] == f"bytes={product.size // 4}-"
    assert _md5(part) == product.md5


def test_server_ignoring_range_restarts_from_zero(tmp_path, product, product_server, recording_sleep):
    srv = product_server()
    srv.faults = [Fault("ignore_range")]
    part = tmp_path / "p.zip.part"
    part.write_bytes(product.data[:500_000])
    _downloader(recording_sleep).download_to(srv.url, part, size=product.size, checksums={"MD5": product.md5})
    assert _md5(part) == product.md5


def test_corrupt_byte_is_retried_and_never_reaches_the_final_path(tmp_path, product, product_server, recording_sleep):
    srv = product_server()
    srv.faults = [Fault("corrupt", at=product.size * 3 // 4)]
    dest = tmp_path / "p.zip"
    res = _downloader(recording_sleep).download(srv.url, dest, size=product.size, checksums={"MD5": product.md5})
    assert res.restarts == 1 and _md5(dest) == product.md5
    assert srv.fetches == 2  # downloaded again from zero


def test_persistent_corruption_is_a_clear_error_and_leaves_nothing(tmp_path, product, product_server, recording_sleep):
    srv = product_server()
    srv.faults = [Fault("corrupt", at=10) for _ in range(5)]
    dest = tmp_path / "p.zip"
    with pytest.raises(ChecksumMismatchError, match=r"BLAKE3 mismatch.*3 complete download"):
        _downloader(recording_sleep).download(srv.url, dest, size=product.size, checksums={"BLAKE3": product.blake3})
    assert not dest.exists() and not (tmp_path / "p.zip.part").exists()


def test_wrong_size_on_the_server_is_a_clear_error(tmp_path, product, product_server, recording_sleep):
    srv = product_server(body=product.data + b"extra bytes")
    dest = tmp_path / "p.zip"
    with pytest.raises(ChecksumMismatchError, match=f"size mismatch: expected {product.size} bytes"):
        _downloader(recording_sleep).download(srv.url, dest, size=product.size, checksums={"MD5": product.md5})
    assert not dest.exists() and not (tmp_path / "p.zip.part").exists()


def test_short_content_length_is_resumed(tmp_path, product, product_server, recording_sleep):
    srv = product_server()
    srv.faults = [Fault("short_length", at=123_457)]
    dest = tmp_path / "p.zip"
    _downloader(recording_sleep).download(srv.url, dest, size=product.size, checksums={"MD5": product.md5})
    assert _md5(dest) == product.md5
    assert srv.requests[1]["headers"]["Range"] == f"bytes={product.size - 123_457}-"


def test_401_refreshes_the_token_once_and_resumes(tmp_path, product, product_server, recording_sleep, caplog):
    caplog.set_level("DEBUG")
    srv = product_server(token="fresh-token")
    calls = []

    def auth(force_refresh: bool = False) -> str:
        calls.append(force_refresh)
        return "fresh-token" if force_refresh else "expired-token"

    dest = tmp_path / "p.zip"
    _downloader(recording_sleep, auth=auth).download(srv.url, dest, size=product.size, checksums={"MD5": product.md5})
    assert _md5(dest) == product.md5
    assert calls == [False, True]
    assert [r["headers"]["Authorization"] for r in srv.requests] == ["Bearer expired-token", "Bearer fresh-token"]
    assert "401" in caplog.text and "fresh-token" not in caplog.text and "expired-token" not in caplog.text


def test_401_after_refresh_is_an_auth_error_without_the_token(tmp_path, product, product_server, recording_sleep):
    srv = product_server(token="the-right-one")
    with pytest.raises(AuthError) as err:
        _downloader(recording_sleep, auth=StaticBearer("s3cr3t-token-value")).download(
            srv.url, tmp_path / "p.zip", size=product.size
        )
    assert "s3cr3t-token-value" not in str(err.value) and "401" in str(err.value)
    assert "s3cr3t" not in repr(StaticBearer("s3cr3t-token-value"))


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_seconds_is_honoured(tmp_path, product, product_server, recording_sleep, status):
    srv = product_server()
    srv.faults = [Fault("status", status=status, headers={"Retry-After": "7"})]
    _downloader(recording_sleep).download(srv.url, tmp_path / "p.zip", size=product.size, checksums={"MD5": product.md5})
    assert recording_sleep.calls == [7.0]


def test_retry_after_http_date_is_honoured(tmp_path, product, product_server, recording_sleep):
    srv = product_server()
    srv.faults = [Fault("status", status=429, headers={"Retry-After": http_date(30)})]
    _downloader(recording_sleep).download(srv.url, tmp_path / "p.zip", size=product.size)
    assert len(recording_sleep.calls) == 1 and 27 <= recording_sleep.calls[0] <= 31


def test_retry_after_really_waits(tmp_path, product, product_server):
    srv = product_server()
    srv.faults = [Fault("status", status=503, headers={"Retry-After": "1"})]
    t0 = time.monotonic()
    Downloader(policy=FAST).download(srv.url, tmp_path / "p.zip", size=product.size, checksums={"MD5": product.md5})
    assert time.monotonic() - t0 >= 1.0


def test_backoff_without_retry_after_is_exponential(tmp_path, product, product_server, recording_sleep):
    srv = product_server()
    srv.faults = [Fault("status", status=503) for _ in range(3)]
    policy = RetryPolicy(max_attempts=6, backoff=1.0, max_backoff=3.0)
    Downloader(policy=policy, sleep=recording_sleep).download(srv.url, tmp_path / "p.zip", size=product.size)
    assert recording_sleep.calls == [1.0, 2.0, 3.0]


def test_too_many_failures_give_a_clear_error_and_keep_the_partial(tmp_path, product, product_server, recording_sleep):
    srv = product_server()
    srv.faults = [Fault("status", status=503) for _ in range(20)]
    with pytest.raises(DownloadError, match=r"giving up after 7 consecutive failed attempts.*HTTP 503"):
        _downloader(recording_sleep).download(srv.url, tmp_path / "p.zip", size=product.size)
    assert not (tmp_path / "p.zip").exists()


def test_stalled_server_read_timeout_resumes(tmp_path, product, product_server, recording_sleep):
    srv = product_server()
    srv.faults = [Fault("stall", at=product.size // 2, seconds=2.0)]
    policy = RetryPolicy(max_attempts=4, backoff=0.01, read_timeout=0.5)
    t0 = time.monotonic()
    res = Downloader(policy=policy, sleep=recording_sleep, chunk_size=64 * 1024).download(
        srv.url, tmp_path / "p.zip", size=product.size, checksums={"MD5": product.md5}
    )
    assert time.monotonic() - t0 < 2.0  # did not wait for the stalled server
    assert _md5(res.path) == product.md5
    assert srv.requests[1]["headers"]["Range"].startswith("bytes=")
    assert int(srv.requests[1]["headers"]["Range"][6:-1]) >= product.size // 2 - 64 * 1024


def test_unknown_size_uses_the_server_length(tmp_path, product, product_server, recording_sleep):
    srv = product_server()
    srv.faults = [Fault("drop", at=product.size // 2)]
    res = _downloader(recording_sleep).download(srv.url, tmp_path / "p.zip", checksums={"MD5": product.md5})
    assert res.size == product.size


def test_retry_after_parser():
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    assert 0 <= retry_after_seconds(http_date(-5)) <= 0.0
