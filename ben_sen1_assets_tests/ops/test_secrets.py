"""No secret at rest or in logs: a whole tile run with distinctive credentials, then a search of
everything it left for them.

The run: ``dagster job execute`` of ``tile_job`` (compute logs captured per step) on an instance
on disk, asset storage and product store in S3 (moto on loopback; keys
only in ``AWS_*``), products searched, logged in for and downloaded from a CDSE stand-in on
loopback (OData catalogue, identity token endpoint, zipper with bearer tokens) serving the demo
products. Searched afterwards: every file under ``DAGSTER_HOME`` (the sqlite databases cell by
cell, zlib-compressed snapshots decompressed, compute logs), every object written to S3, and
the console. Positive controls show the search reads what it must (the snapshot names the
``CDSE_USERNAME`` variable; the event log names the partition).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import subprocess
import zlib
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from ben_sen1_assets_tests.archive.conftest import LoopbackServer
from ben_sen1_assets_tests.ops.conftest import BIN, ROOT, make_ops_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

KEY = "31TEL_20210809"
TOKEN = secrets.token_hex(4)
SECRETS = {
    "AWS_ACCESS_KEY_ID": f"AKIAB3NSEN1{TOKEN.upper()}",
    "AWS_SECRET_ACCESS_KEY": f"aws-secret-{TOKEN}-Zq8",
    "CDSE_USERNAME": f"cdse-user-{TOKEN}@example.org",
    "CDSE_PASSWORD": f"cdse-pass-{TOKEN}-!x",
}


class CdseStandIn:
    """OData catalogue, Keycloak token endpoint and zipper on one loopback server."""

    def __init__(self, products: list[Path]) -> None:
        import hashlib

        from ben_sen1_assets.archive.local import read_product_record

        self.items, self.files = [], {}
        for k, path in enumerate(products):
            record = read_product_record(path)
            data = path.read_bytes()
            pid = f"00000000-0000-0000-0000-{k:012d}"
            self.files[pid] = data
            self.items.append({
                "Id": pid, "Name": f"{record.name}.SAFE", "ContentLength": len(data),
                "Checksum": [{"Algorithm": "MD5", "Value": hashlib.md5(data).hexdigest()}],
                "ContentDate": {"Start": record.start.isoformat(), "End": record.stop.isoformat()},
                "GeoFootprint": json.loads(json.dumps(record.footprint.__geo_interface__)),
                "Attributes": [
                    {"Name": "productType", "Value": "IW_GRDH_1S"},
                    {"Name": "orbitDirection", "Value": record.pass_direction},
                    {"Name": "relativeOrbitNumber", "Value": record.relative_orbit},
                    {"Name": "orbitNumber", "Value": record.absolute_orbit},
                    {"Name": "polarisationChannels", "Value": "&".join(record.polarisations)},
                ],
            })
        self.tokens: list[str] = []
        self.server = LoopbackServer(self.route)
        self.url = self.server.url

    def route(self, h, body: bytes) -> None:
        if h.path.endswith("/protocol/openid-connect/token"):
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            if form.get("grant_type") == "password" and (form.get("username"), form.get("password")) != (
                    SECRETS["CDSE_USERNAME"], SECRETS["CDSE_PASSWORD"]):
                return h.send_json({"error": "invalid_grant"}, status=401)
            token = f"cdse-access-{secrets.token_hex(8)}"
            self.tokens += [token, f"refresh-{token}"]
            return h.send_json({"access_token": token, "expires_in": 600, "refresh_token": f"refresh-{token}",
                                "refresh_expires_in": 3600, "token_type": "Bearer"})
        if "/Products(" in h.path:
            if h.headers.get("Authorization") not in {f"Bearer {t}" for t in self.tokens}:
                return h.send_json({"detail": "Expired signature!"}, status=401)
            data = self.files[h.path.split("(", 1)[1].split(")", 1)[0]]
            h.send_response(200)
            h.send_header("Content-Type", "application/zip")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
            return
        if "/Products" in h.path:
            return h.send_json({"value": self.items})
        h.send_json({"detail": "not found"}, status=404)


def _cells(db: Path):
    """Every text or blob cell of a sqlite database, blobs and zlib streams decompressed."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        tables = [r[0] for r in conn.execute("select name from sqlite_master where type='table'")]
        for table in tables:
            for row in conn.execute(f'select * from "{table}"'):
                for cell in row:
                    if isinstance(cell, str):
                        yield table, cell.encode()
                    elif isinstance(cell, bytes):
                        yield table, cell
                        try:
                            yield table, zlib.decompress(cell)
                        except zlib.error:
                            pass


def _find(haystacks, needles: dict[str, str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for where, data in haystacks:
        for name, value in needles.items():
            if value.encode() in data:
                found.setdefault(name, []).append(where)
    return found


@pytest.fixture(scope="module")
def secret_run(tmp_path_factory, s3_server):
    import boto3

    from ben_sen1_assets.demo_archive import build_demo_archive

    root = tmp_path_factory.mktemp("secrets")
    ops_env = make_ops_env(root)
    products = build_demo_archive(root / "cdse_side")
    cdse = CdseStandIn([p for p in products if "20210809" in p.name or "20210821" in p.name])
    s3 = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1",
                      aws_access_key_id=SECRETS["AWS_ACCESS_KEY_ID"], aws_secret_access_key=SECRETS["AWS_SECRET_ACCESS_KEY"])
    for bucket in ("assets", "products"):
        s3.create_bucket(Bucket=f"{bucket}-{TOKEN}")
    env = {
        **ops_env.env, **SECRETS, "AWS_DEFAULT_REGION": "us-east-1", "TEST_CDSE_URL": cdse.url,
        "BEN_SEN1_PROVIDER": "cdse", "BEN_SEN1_STORAGE": f"s3://assets-{TOKEN}/ben",
        "BEN_SEN1_PRODUCT_STORE": f"s3://products-{TOKEN}/s1",
        "BEN_SEN1_STORAGE_OPTIONS": json.dumps({"endpoint_url": s3_server}),
        "BEN_SEN1_EXECUTOR": "in_process",  # compute logs are captured per step all the same
    }
    out = subprocess.run(
        [str(BIN / "dagster"), "job", "execute", "-m", "ben_sen1_assets_tests.ops._secrets_location", "-j", "tile_job",
         "--tags", json.dumps({"dagster/partition": KEY})],
        cwd=ROOT, env=env, capture_output=True, timeout=800,
    )
    (ops_env.logs / "execute.log").write_bytes(out.stdout + b"\n---- stderr ----\n" + out.stderr)
    print(f"run console: {ops_env.logs / 'execute.log'}")
    objects = {}
    for bucket in (f"assets-{TOKEN}", f"products-{TOKEN}"):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                objects[f"s3://{bucket}/{obj['Key']}"] = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
    yield ops_env, out, objects, cdse, env, s3_server
    cdse.server.close()


def test_the_run_succeeds_with_credentials_from_the_environment_only(secret_run):
    ops_env, out, objects, cdse, _, _ = secret_run
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-5000:]
    assert any(k.endswith(f"patches/{KEY}.zarr/zarr.json") for k in objects), sorted(objects)[:20]
    assert any(k.endswith(".zip") for k in objects) and cdse.tokens  # downloaded with a token


def test_no_secret_in_the_instance_the_outputs_or_the_console(secret_run):
    ops_env, out, objects, cdse, _, _ = secret_run
    needles = {**SECRETS, **{f"issued token {k}": t for k, t in enumerate(cdse.tokens)}}
    haystacks = [("console (stdout)", out.stdout), ("console (stderr)", out.stderr)]
    files = sorted(p for p in ops_env.dagster_home.rglob("*") if p.is_file())
    compute_logs = [p for p in files if p.suffix in (".out", ".err", ".complete") or "compute_logs" in str(p)]
    assert compute_logs, "the run captured compute logs"
    for path in files:
        haystacks.append((str(path), path.read_bytes()))
        if path.suffix == ".db":
            haystacks += [(f"{path.name}:{table}", cell) for table, cell in _cells(path)]
    haystacks += list(objects.items())
    assert _find(haystacks, needles) == {}
    # positive controls: the search reads the compressed run snapshots and the event logs
    controls = _find(haystacks, {"the EnvVar's name": "CDSE_USERNAME", "the partition": KEY})
    assert any(":snapshots" in w for w in controls.get("the EnvVar's name", [])), controls
    assert any(":event_logs" in w for w in controls.get("the partition", [])), controls


def test_credentials_in_storage_options_are_refused_naming_the_variables(secret_run, tmp_path):
    ops_env, _, _, _, env, s3_server = secret_run
    options = {"endpoint_url": s3_server, "key": SECRETS["AWS_ACCESS_KEY_ID"], "secret": SECRETS["AWS_SECRET_ACCESS_KEY"]}
    out = subprocess.run(
        [str(BIN / "dagster"), "job", "execute", "-m", "ben_sen1_assets_tests.ops._secrets_location", "-j", "tile_job",
         "--tags", json.dumps({"dagster/partition": KEY})],
        cwd=ROOT, env={**env, "BEN_SEN1_STORAGE_OPTIONS": json.dumps(options)}, capture_output=True, text=True, timeout=300,
    )
    text = out.stdout + out.stderr
    assert out.returncode != 0
    assert "BEN_SEN1_STORAGE_OPTIONS holds credentials (key, secret)" in text
    assert "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY" in text
    assert SECRETS["AWS_SECRET_ACCESS_KEY"] not in text and SECRETS["AWS_ACCESS_KEY_ID"] not in text
