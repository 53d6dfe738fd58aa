"""Loopback HTTP(S) servers for the archive tests (127.0.0.1 only).

``LoopbackServer`` runs ``http.server.ThreadingHTTPServer`` in a thread; a test gives it a
``route(handler)`` function. ``FaultyProductServer`` serves one generated product file with
range support and scripted faults (dropped connections, corrupt bytes, wrong lengths, 401, 429,
503, stalls).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import ssl
import sys
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from ben_sen1_assets_tests.conftest import Product

DATA = Path(__file__).resolve().parents[1] / "data" / "catalog_responses"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def log_message(self, *args: Any) -> None:  # keep pytest output clean
        pass

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.owner.requests.append(
            {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
        )
        try:
            self.server.owner.route(self, body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    do_GET = do_POST = do_HEAD = _dispatch

    # helpers for routes
    def send_json(self, obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(obj).encode() if not isinstance(obj, (bytes, str)) else (obj.encode() if isinstance(obj, str) else obj)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: "LoopbackServer"

    def handle_error(self, request, client_address) -> None:
        # clients hanging up on a stalled or faulty answer are what these tests provoke
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class LoopbackServer:
    """An HTTP(S) server on 127.0.0.1 with a random free port, running in a daemon thread."""

    def __init__(self, route: Callable[[_Handler, bytes], None], ssl_context: ssl.SSLContext | None = None):
        self.route = route
        self.requests: list[dict[str, Any]] = []
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.owner = self
        if ssl_context is not None:
            self.httpd.socket = ssl_context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        scheme = "https" if ssl_context is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def loopback():
    """Factory: ``loopback(route, ssl_context=None) -> LoopbackServer`` (closed after the test)."""
    servers: list[LoopbackServer] = []

    def make(route, ssl_context=None) -> LoopbackServer:
        srv = LoopbackServer(route, ssl_context)
        servers.append(srv)
        return srv

    yield make
    for srv in servers:
        srv.close()


# ---------------------------------------------------------------------------------------------
# a real product, small (see ben_sen1_assets_tests/conftest.py: small_product)
@pytest.fixture(scope="session")
def product(small_product) -> Product:
    return small_product


@dataclass
class Fault:
    """What the server does to one request (consumed in order; then it serves normally).

    kind: "drop" (close after ``at`` body bytes), "corrupt" (flip the byte at absolute offset
    ``at``), "status" (answer ``status`` with ``headers``), "stall" (send ``at`` bytes then sleep
    ``seconds``), "ignore_range" (200 with the whole file), "short_length" (declare a
    Content-Length ``at`` bytes short of the truth and send only that).
    """

    kind: str
    at: int = 0
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


class FaultyProductServer:
    """Serves ``product.data`` at ``/<name>.zip`` with ranges, auth and scripted faults."""

    def __init__(self, loopback, product: Product, *, token: str | None = None, body: bytes | None = None):
        self.product = product
        self.body = product.data if body is None else body
        self.faults: list[Fault] = []
        self.token = token
        self.chunk_delay = 0.0  # seconds between 256 KiB chunks (to make downloads overlap)
        self.lock = threading.Lock()
        self.fetches = 0  # requests that started sending body bytes at offset 0
        self.server = loopback(self._route)
        self.url = f"{self.server.url}/{product.name}.zip"

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self.server.requests

    def _route(self, h: _Handler, _body: bytes) -> None:
        with self.lock:
            fault = self.faults.pop(0) if self.faults else None
        if self.token is not None and h.headers.get("Authorization") != f"Bearer {self.token}":
            h.send_json({"detail": "Expired signature!"}, status=401)
            return
        if fault is not None and fault.kind == "status":
            h.send_json({"detail": f"HTTP {fault.status}"}, status=fault.status, headers=fault.headers)
            return
        data = self.body
        start = 0
        rng = h.headers.get("Range")
        if rng and not (fault and fault.kind == "ignore_range"):
            start = int(rng.split("=", 1)[1].split("-", 1)[0])
            if start >= len(data):
                h.send_response(416)
                h.send_header("Content-Range", f"bytes */{len(data)}")
                h.send_header("Content-Length", "0")
                h.end_headers()
                return
            h.send_response(206)
            h.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            h.send_response(200)
        payload = bytearray(data[start:])
        if start == 0:
            with self.lock:
                self.fetches += 1
        if fault is not None and fault.kind == "corrupt" and fault.at >= start:
            payload[fault.at - start] ^= 0xFF
        declared = len(payload)
        if fault is not None and fault.kind == "short_length":
            declared -= fault.at
            payload = payload[:declared]
        h.send_header("Content-Type", "application/zip")
        h.send_header("Content-Length", str(declared))
        h.send_header("Accept-Ranges", "bytes")
        h.end_headers()
        if fault is not None and fault.kind in ("drop", "stall"):
            h.wfile.write(bytes(payload[: fault.at]))
            h.wfile.flush()
            if fault.kind == "stall":
                time.sleep(fault.seconds)
            h.close_connection = True
            try:
                h.connection.shutdown(2)
            except OSError:
                pass
            return
        view = memoryview(payload)
        for i in range(0, len(view), 256 * 1024):
            h.wfile.write(view[i : i + 256 * 1024])
            if self.chunk_delay:
                time.sleep(self.chunk_delay)


@pytest.fixture
def product_server(loopback, product):
    """Factory: ``product_server(token=None, body=None) -> FaultyProductServer``."""

    def make(**kw) -> FaultyProductServer:
        return FaultyProductServer(loopback, product, **kw)

    return make


class RecordingSleep:
    """An injectable ``sleep`` that records the requested delays (and sleeps a tiny bit)."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        time.sleep(min(seconds, 0.01))


@pytest.fixture
def recording_sleep() -> RecordingSleep:
    return RecordingSleep()


def http_date(seconds_from_now: float) -> str:
    when = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=seconds_from_now)
    return when.strftime("%a, %d %b %Y %H:%M:%S GMT")


@pytest.fixture(scope="session")
def moto_s3():
    """A moto S3 server on 127.0.0.1 (server mode); yields fsspec storage options for it."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    options = {
        "key": "testing-key-id",
        "secret": "testing-secret-value",
        "client_kwargs": {"endpoint_url": f"http://{host}:{port}", "region_name": "us-east-1"},
    }
    import boto3

    boto3.client(
        "s3", endpoint_url=f"http://{host}:{port}", region_name="us-east-1",
        aws_access_key_id=options["key"], aws_secret_access_key=options["secret"],
    ).create_bucket(Bucket="products-bucket")
    yield options
    server.stop()


@pytest.fixture(scope="session")
def loopback_tls(tmp_path_factory):
    """(server SSLContext, CA file) for a throw-away self-signed certificate of 127.0.0.1."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_file, key_file)
    return ctx, str(cert_file)
