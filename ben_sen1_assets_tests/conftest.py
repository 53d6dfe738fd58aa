"""Fixtures shared by the whole suite: a real S3 API server on loopback, a small real-format product."""

from __future__ import annotations

import hashlib
import os
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def s3_server():
    """moto in server mode on 127.0.0.1: a real HTTP S3 API, not an in-process mock."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
    # moto accepts any credentials; these are not secrets
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    yield endpoint
    server.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def s3_bucket(s3_server):
    """A fresh bucket on the loopback S3 server; yields (base URL, fsspec storage options)."""
    import s3fs

    options = {"endpoint_url": s3_server}  # credentials: the AWS_* variables s3_server set
    fs = s3fs.S3FileSystem(**options)
    bucket = f"ben-{uuid.uuid4().hex[:10]}"
    fs.mkdir(bucket)
    yield f"s3://{bucket}/assets", options


@dataclass(frozen=True)
class Product:
    """A product zip on disk, its bytes and their MD5 / BLAKE3."""

    name: str
    data: bytes
    md5: str
    blake3: str
    path: Path

    @property
    def size(self) -> int:
        return len(self.data)


def build_small_product(folder: Path) -> Path:
    """A real-format demo product (SAFE zip, manifest sizes and MD5s, simulated pixels) cropped
    to a 64 × 64 px window of the France scene: ~1 MB, fast to serve and to verify."""
    from ben_sen1_assets.demo_archive import build_product
    from ben_sen1_assets.demo_archive.metadata_edit import Crop
    from ben_sen1_assets.demo_archive.scenes import FRANCE_SOURCE, DemoProduct

    return build_product(DemoProduct(FRANCE_SOURCE, "france", 0, Crop(7800, 12400, 64, 64), "small"), folder, 1)


@pytest.fixture(scope="session")
def small_product(tmp_path_factory) -> Product:
    import blake3

    path = build_small_product(tmp_path_factory.mktemp("small_product"))
    data = path.read_bytes()
    return Product(path.name.removesuffix(".zip"), data, hashlib.md5(data).hexdigest(), blake3.blake3(data).hexdigest(), path)


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder that refuses writes: a read-only tmpfs as root (root ignores permission bits),
    else mode 0555. Yields (folder, how)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder, "permissions"
        folder.chmod(0o755)
        return
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode == 0:
        try:
            yield folder, "read-only mount"
        finally:
            subprocess.run(["umount", str(folder)], check=False)
        return
    # no mount privilege: a file where the store needs a folder fails the same way, as early
    (folder / ".locks").write_text("in the way")
    yield folder, "a file in the way"
