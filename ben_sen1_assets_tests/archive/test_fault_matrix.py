"""The download fault matrix: a loopback server misbehaving in one way per case, the real store and
downloader fetching a real-format product (~1 MB) through it.

Every case ends in a verified product or in the expected error, within a bound of seconds and
requests, and never leaves at the final path anything that fails verification. Records with and
without size/checksum are both tried where it matters (DHuS records have neither). Timeouts and
backoffs are short, set through the same ``RetryPolicy`` the ``s1_catalog`` resource configures.
"""

from __future__ import annotations

import json
import socket
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pytest
from shapely.geometry import box

from ben_sen1_assets.archive.download import Downloader, RetryPolicy, StaticBearer
from ben_sen1_assets.archive.errors import (
    AuthError,
    ChecksumMismatchError,
    DownloadError,
    InvalidProductError,
    ProductNotFoundError,
)
from ben_sen1_assets.archive.records import ProductRecord
from ben_sen1_assets.archive.store import ProductStore
from ben_sen1_assets.archive.verify import verify_product_zip

from ._damage import SYMLINK, member, rezip, scale_tiff_rows, unix_member

POLICY = RetryPolicy(
    max_attempts=4, max_requests=40, max_seconds=20.0, max_restarts=2, max_range_restarts=3,
    backoff=0.01, max_backoff=0.05, max_retry_after=30.0, connect_timeout=2.0, read_timeout=0.5,
)
MAINTENANCE = (b"<!DOCTYPE html><html><head><title>Service unavailable</title></head><body><h1>Maintenance</h1>"
               b"<p>The download service is back at 14:00 UTC.</p></body></html>")
LOGIN = (b"<html><head><title>Sign in</title></head><body><form action='/login'><input name='username'>"
         b"<input type=\"password\" name='password'></form></body></html>")


@dataclass
class Case:
    """One server behaviour and what must come of it."""

    behaviour: str
    outcome: type[Exception] | None  # None: a verified product
    match: str = ""  # regex on the error message
    seconds: float = 5.0  # bound on the whole fetch
    max_requests: int = 12  # bound on the requests the server saw
    with_size: bool = True  # the record gives size and MD5
    body: str = "product"  # what the server holds: "product", "plus6db", "traversal", "truncated"
    auth: bool = False
    policy: dict = field(default_factory=dict)  # RetryPolicy fields that differ from POLICY


class MatrixServer:
    """Serves one body at /p.zip (and /login) through a behaviour ``fn(h, n, start, data)``."""

    def __init__(self, loopback, data: bytes, behaviour: Callable) -> None:
        self.data = data
        self.behaviour = behaviour
        self.count = 0
        self.server = loopback(self._route)
        self.url = f"{self.server.url}/p.zip"

    def _route(self, h, _body) -> None:
        self.count += 1
        if h.path.startswith("/login"):
            return send(h, LOGIN, ctype="text/html")
        rng = h.headers.get("Range")
        start = int(rng.split("=", 1)[1].split("-", 1)[0]) if rng else 0
        self.behaviour(h, self.count, start, self.data)


def send(h, body: bytes, *, status: int = 200, ctype: str = "application/zip", start: int = 0, total: int | None = None,
         declared: int | None = None, drop_after: int | None = None, stall: float = 0.0, headers: dict | None = None,
         content_range: str | None = None, trickle: float = 0.0) -> None:
    """Answer with ``body[start:]`` (206 when ``start``), optionally lying or failing midway."""
    payload = body[start:]
    if start and status == 200:
        status = 206
    h.send_response(status)
    if status == 206:
        h.send_header("Content-Range", content_range or f"bytes {start}-{len(body) - 1}/{total or len(body)}")
    h.send_header("Content-Type", ctype)
    h.send_header("Content-Length", str(len(payload) if declared is None else declared))
    for k, v in (headers or {}).items():
        h.send_header(k, v)
    h.end_headers()
    if trickle:
        for i in range(len(payload)):
            h.wfile.write(payload[i : i + 1])
            h.wfile.flush()
            time.sleep(trickle)
        return
    if drop_after is not None or stall:
        h.wfile.write(payload[: drop_after if drop_after is not None else len(payload) // 2])
        h.wfile.flush()
        time.sleep(stall)
        h.close_connection = True
        try:
            h.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        return
    h.wfile.write(payload)


def normal(h, n, start, data):
    if start >= len(data):
        h.send_response(416)
        h.send_header("Content-Range", f"bytes */{len(data)}")
        h.send_header("Content-Length", "0")
        h.end_headers()
        return
    send(h, data, start=start)


def first(fault: Callable, times: int = 1) -> Callable:
    """``fault`` for the first ``times`` requests, then normal service."""
    return lambda h, n, start, data: fault(h, n, start, data) if n <= times else normal(h, n, start, data)


def flipped(data: bytes, at: int) -> bytes:
    out = bytearray(data)
    out[at] ^= 0xFF
    return bytes(out)


BEHAVIOURS: dict[str, Callable] = {
    "normal": normal,
    "drop once": first(lambda h, n, s, d: send(h, d, start=s, drop_after=300_000)),
    "drop every 100 kB": lambda h, n, s, d: send(h, d, start=s, drop_after=100_000),
    "stall once": first(lambda h, n, s, d: send(h, d, start=s, stall=2.0)),
    "stall for ever": lambda h, n, s, d: send(h, d, start=s, drop_after=0, stall=3.0),
    "1 kB then stall, every time": lambda h, n, s, d: send(h, d, start=s, drop_after=1000, stall=3.0),
    "short Content-Length": first(lambda h, n, s, d: send(h, d[: len(d) - 50_000], start=s, total=len(d))),
    "long Content-Length": first(lambda h, n, s, d: send(h, d, start=s, declared=len(d) + 50_000 - s)),
    "wrong Content-Range": first(lambda h, n, s, d: send(h, d, start=s or 1000, content_range="bytes 1000-1/1")),
    "ignores Range": lambda h, n, s, d: send(h, d, drop_after=400_000 if n == 1 else None),
    "ignores Range and drops": lambda h, n, s, d: send(h, d, drop_after=200_000 + 1000 * n),
    "HTML page once": first(lambda h, n, s, d: send(h, MAINTENANCE, ctype="text/html")),
    "HTML page always": lambda h, n, s, d: send(h, MAINTENANCE, ctype="text/html; charset=utf-8"),
    "JSON error with 200": lambda h, n, s, d: send(h, json.dumps({"detail": "Product is offline; order it first"}).encode(),
                                                   ctype="application/json"),
    "redirect to a login page": lambda h, n, s, d: (h.send_response(302), h.send_header("Location", "/login?next=/p.zip"),
                                                     h.send_header("Content-Length", "0"), h.end_headers()),
    "401 always": lambda h, n, s, d: send(h, b'{"detail": "Invalid token"}', status=401, ctype="application/json"),
    "403": lambda h, n, s, d: send(h, b'{"detail": "Quota exceeded for this account"}', status=403, ctype="application/json"),
    "404": lambda h, n, s, d: send(h, b'{"detail": "Product not found"}', status=404, ctype="application/json"),
    "410": lambda h, n, s, d: send(h, b"<html><title>Gone</title></html>", status=410, ctype="text/html"),
    "400 with a message": lambda h, n, s, d: send(h, b'{"message": "Malformed product id"}', status=400, ctype="application/json"),
    "429 Retry-After 1": first(lambda h, n, s, d: send(h, b"", status=429, headers={"Retry-After": "1"})),
    "429 Retry-After a day": lambda h, n, s, d: send(h, b"", status=429, headers={"Retry-After": "86400"}),
    "503 always": lambda h, n, s, d: send(h, b"busy", status=503, ctype="text/plain"),
    "500 twice": first(lambda h, n, s, d: send(h, b"oops", status=500, ctype="text/plain"), times=2),
    "corrupt byte once": first(lambda h, n, s, d: send(h, flipped(d, len(d) // 3), start=s)),
    "corrupt byte always": lambda h, n, s, d: send(h, flipped(d, len(d) // 3), start=s),
    "trickle (1 B / 5 ms)": lambda h, n, s, d: send(h, d, start=s, trickle=0.005),
    "connection refused": None,  # no server listening
}


CASES = [
    Case("normal", None, max_requests=1),
    Case("normal", None, with_size=False, max_requests=1),
    Case("drop once", None, max_requests=2),
    Case("drop every 100 kB", None, max_requests=12),  # ~1 MB / 100 kB
    Case("stall once", None, max_requests=2),
    Case("stall for ever", DownloadError, r"giving up after 5 consecutive failed attempts without progress", seconds=6,
         max_requests=5),
    Case("1 kB then stall, every time", DownloadError, r"giving up after 10 requests \(budget max_requests=10\)", seconds=8,
         max_requests=10, policy={"max_requests": 10}),
    Case("short Content-Length", None, max_requests=2),
    Case("long Content-Length", None, max_requests=2),
    Case("wrong Content-Range", None, max_requests=3),
    Case("ignores Range", None, max_requests=2),
    Case("ignores Range and drops", DownloadError, r"ignores Range requests and did not deliver the whole product in 4 downloads",
         max_requests=5),
    Case("HTML page once", None, max_requests=2),
    Case("HTML page always", DownloadError,
         r"answered an HTML page \('Service unavailable; Maintenance; The download service is back at 14:00 UTC.'\) instead "
         r"of the product \(HTTP 200, text/html", max_requests=3),
    Case("HTML page always", DownloadError, r"answered an HTML page .*instead of the product", with_size=False, max_requests=3),
    Case("JSON error with 200", DownloadError, r"answered a JSON document \('Product is offline; order it first'\)",
         with_size=False, max_requests=3),
    Case("redirect to a login page", AuthError, r"answered with a login page instead of the product", max_requests=2),
    Case("401 always", AuthError, r"refused a freshly refreshed token \(HTTP 401\)", auth=True, max_requests=2),
    Case("403", AuthError, r"HTTP 403 .*credentials refused or missing.*Quota exceeded for this account", max_requests=1),
    Case("404", ProductNotFoundError, r"HTTP 404 .*does not know this product.*Product not found", max_requests=1),
    Case("410", ProductNotFoundError, r"HTTP 410 .*'Gone'", max_requests=1),
    Case("400 with a message", DownloadError, r"HTTP 400 .*Malformed product id", max_requests=1),
    Case("429 Retry-After 1", None, max_requests=2),
    Case("429 Retry-After a day", DownloadError, r"asks to retry after 86400 s \(Retry-After\), more than max_retry_after=30 s",
         max_requests=1),
    Case("503 always", DownloadError, r"giving up after 5 consecutive failed attempts .*5× HTTP 503", max_requests=5),
    Case("500 twice", None, max_requests=3),
    Case("corrupt byte once", None, max_requests=2),
    Case("corrupt byte always", ChecksumMismatchError, r"MD5 mismatch: .* after 3 complete download", max_requests=3),
    Case("corrupt byte always", InvalidProductError, r"unreadable \(Bad CRC-32 .* after 3 complete download", with_size=False,
         max_requests=3),
    Case("normal", InvalidProductError, r"not a readable zip archive.* after 3 complete download", body="truncated",
         with_size=False, max_requests=3),
    Case("normal", InvalidProductError, r"MD5 .*manifest.safe says .*matches the catalogue's checksum, so the server's copy "
         r"itself is invalid", body="plus6db", max_requests=1),
    Case("normal", InvalidProductError, r"unsafe zip members: .*'/etc/cron.d/evil' is absolute.*is a symbolic link",
         body="traversal", max_requests=1),
    Case("trickle (1 B / 5 ms)", DownloadError, r"took longer than its budget of 2 s", seconds=4, max_requests=1,
         policy={"max_seconds": 2.0}),
    Case("connection refused", DownloadError, r"giving up after 5 consecutive .*ConnectionError connecting", max_requests=0),
]


@pytest.fixture(scope="module")
def bodies(product, tmp_path_factory):
    folder = tmp_path_factory.mktemp("bodies")
    vv = member(product.path, "-001.tiff")
    top = f"{product.name}.SAFE"
    plus6 = rezip(product.path, folder / "plus6.zip", lambda n, d: scale_tiff_rows(d, 2.0, slice(0, 32)) if n == vv else d)
    traversal = rezip(product.path, folder / "traversal.zip", extra=[
        (zipfile.ZipInfo("/etc/cron.d/evil"), b"* * * * * root sh"),
        unix_member(f"{top}/annotation/link", SYMLINK, b"/etc/shadow"),
    ])
    return {
        "product": product.data,
        "plus6db": plus6.read_bytes(),
        "traversal": traversal.read_bytes(),
        "truncated": product.data[: product.size - 5000],
    }


def _record(product, url: str, data: bytes, with_size: bool) -> ProductRecord:
    import hashlib

    return ProductRecord(
        name=product.name, provider_id="id", start=datetime(2021, 8, 9, 17, 40, 4, tzinfo=timezone.utc),
        stop=datetime(2021, 8, 9, 17, 40, 5, tzinfo=timezone.utc), mission="S1A", absolute_orbit=39156,
        relative_orbit=59, pass_direction="ASCENDING", polarisations=("VV", "VH"), footprint=box(3, 45, 4, 46),
        size=len(data) if with_size else None, checksums={"MD5": hashlib.md5(data).hexdigest()} if with_size else {},
        download_url=url, source="cdse",
    )


def _id(case: Case) -> str:
    extra = "" if case.body == "product" else f" [{case.body}]"
    return f"{case.behaviour}{extra}{'' if case.with_size else ' (no size/MD5)'}"


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_fault_matrix(case: Case, product, bodies, loopback, tmp_path):
    data = bodies[case.body]
    behaviour = BEHAVIOURS[case.behaviour]
    if behaviour is None:  # a port nobody listens on
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            url = f"http://127.0.0.1:{s.getsockname()[1]}/p.zip"
        srv = None
    else:
        srv = MatrixServer(loopback, data, behaviour)
        url = srv.url
    policy = RetryPolicy(**{**POLICY.__dict__, **case.policy})
    downloader = Downloader(policy=policy, chunk_size=64 * 1024, auth=StaticBearer("t0ken") if case.auth else None)
    store = ProductStore(tmp_path / "store")
    t0 = time.monotonic()
    error: Exception | None = None
    try:
        path = store.fetch(_record(product, url, data, case.with_size), downloader)
    except Exception as exc:  # checked below
        error = exc
    elapsed = time.monotonic() - t0
    n_requests = srv.count if srv else 0
    print(f"\nMATRIX {_id(case)!r}: {type(error).__name__ if error else 'verified'} in {elapsed:.2f} s, "
          f"{n_requests} request(s){': ' + str(error) if error else ''}")

    final = store.path_for(product.name)
    if case.outcome is None:
        assert error is None, error
        assert path == final and final.read_bytes() == product.data and store.has(product.name)
    else:
        assert isinstance(error, case.outcome), repr(error)
        assert __import__("re").search(case.match, str(error)), str(error)
        assert not final.exists() and not store.has(product.name)
        assert "t0ken" not in str(error)
    # never anything at the final path that fails verification, nor a record without it
    if final.exists():
        verify_product_zip(final, product.name)
    assert elapsed < case.seconds, f"took {elapsed:.1f} s (bound {case.seconds} s)"
    assert n_requests <= case.max_requests, f"{n_requests} requests (bound {case.max_requests})"
    assert list((tmp_path / "store" / ".locks").iterdir()) == []  # lock released whatever happened


def test_the_matrix_covers_at_least_20_behaviours():
    assert len({c.behaviour for c in CASES}) >= 20 and len(CASES) >= 30
