"""The local-folder catalogue on copies of the real SAFE samples (folders and the zip)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from datetime import datetime, timedelta, timezone
from importlib.resources import as_file, files
from pathlib import Path

import numpy as np
import pytest
import shapely

from ben_sen1_assets.archive.errors import CatalogError, StorageError, is_transient
from ben_sen1_assets.archive.local import INDEX_NAME, LocalCatalog, footprint_from_manifest
from ben_sen1_assets.grid.catalog import load_demo_catalog
from ben_sen1_assets.grid.tile import tile_grid

UTC = timezone.utc
S1B = "S1B_IW_GRDH_1SDV_20211223T051122_20211223T051147_030148_039993_5371"
MOZ = "S1A_IW_GRDH_1SDV_20210119T031653_20210119T031718_036201_043ED0_8255"
FRA = "S1A_IW_GRDH_1SDV_20210809T173953_20210809T174018_039156_049F13_6FF8"
GRC = "S1A_IW_GRDH_1SDV_20150203T043109_20150203T043134_004454_00574F_6D00"
BOGUS = "S1A_IW_GRDH_1SDV_20170613T165043_20170613T165108_017013_01C5A9_8C1E"


@pytest.fixture(scope="module")
def samples() -> Path:
    with as_file(files("ben_sen1_assets") / "data" / "s1_samples") as p:
        yield Path(p)


@pytest.fixture
def archive(tmp_path: Path, samples: Path) -> Path:
    """root/{S1B,FRA,MOZ}.SAFE, root/2015/GRC.SAFE, root/zips/MOZ.zip (duplicate of the folder),
    root/a/b/MOZ.zip (two levels down: not scanned), a corrupt and a truncated zip, a README."""
    root = tmp_path / "archive"
    root.mkdir()
    for name in (S1B, FRA, MOZ):
        shutil.copytree(samples / f"{name}.SAFE", root / f"{name}.SAFE")
    (root / "2015").mkdir()
    shutil.copytree(samples / f"{GRC}.SAFE", root / "2015" / f"{GRC}.SAFE")
    (root / "zips").mkdir()
    shutil.copy2(samples / "zips" / f"{MOZ}.zip", root / "zips" / f"{MOZ}.zip")
    (root / "a" / "b").mkdir(parents=True)
    shutil.copy2(samples / "zips" / f"{MOZ}.zip", root / "a" / "b" / f"{MOZ}.zip")
    (root / f"{BOGUS}.zip").write_bytes(b"PK\x03\x04 this is not a zip archive" * 10)
    data = (samples / "zips" / f"{MOZ}.zip").read_bytes()
    (root / "zips" / "truncated.zip").write_bytes(data[: len(data) // 2])
    (root / "README.txt").write_text("not a product")
    return root


def by_name(records):
    return {r.name: r for r in records}


def test_scan_records_and_problems(archive: Path):
    cat = LocalCatalog(archive)
    scan = cat.scan()
    recs = by_name(scan.records)
    assert set(recs) == {S1B, FRA, MOZ, GRC}
    # the zip is kept over the folder copy of the same product; md5/size of the file itself
    moz_zip = archive / "zips" / f"{MOZ}.zip"
    moz = recs[MOZ]
    assert moz.download_url == str(moz_zip) and moz.provider_id == f"zips/{MOZ}.zip"
    assert moz.size == moz_zip.stat().st_size
    assert moz.checksums == {"MD5": hashlib.md5(moz_zip.read_bytes()).hexdigest()}
    assert all(r.source == "local" for r in scan.records)
    # folders: size = sum of the files, no checksum
    s1b_dir = archive / f"{S1B}.SAFE"
    assert recs[S1B].size == sum(f.stat().st_size for f in s1b_dir.rglob("*") if f.is_file())
    assert recs[S1B].checksums == {} and recs[S1B].download_url == str(s1b_dir)
    assert recs[GRC].download_url == str(archive / "2015" / f"{GRC}.SAFE")
    # manifest facts (sample README): S1B VV only (VH listed but absent), orbits, pass, times
    assert recs[S1B].polarisations == ("VV",)
    assert recs[MOZ].polarisations == ("VV", "VH") and recs[FRA].polarisations == ("VV", "VH")
    assert (recs[S1B].mission, recs[S1B].absolute_orbit, recs[S1B].relative_orbit) == ("S1B", 30148, 22)
    assert recs[FRA].pass_direction == "ASCENDING" and recs[S1B].pass_direction == "DESCENDING"
    assert recs[S1B].start == datetime(2021, 12, 23, 5, 11, 22, 594441, tzinfo=UTC)
    # sarsen's own test bbox of the S1B product: lon 11.868-15.322, lat 40.879-42.781
    assert np.allclose(recs[S1B].footprint.bounds, (11.8657, 40.8767, 15.3219, 42.7804), atol=1e-3)
    problems = {p.path: p.reason for p in scan.problems}
    assert set(problems) == {str(archive / f"{BOGUS}.zip"), str(archive / "zips" / "truncated.zip"),
                             str(archive / f"{MOZ}.SAFE")}
    assert "zip" in problems[str(archive / f"{BOGUS}.zip")].lower()
    assert "duplicate" in problems[str(archive / f"{MOZ}.SAFE")]
    assert cat.problems == scan.problems  # also on the catalogue
    assert scan.n_hashed == 1


def test_search_by_demo_tile_time_and_polarisation(archive: Path):
    cat = LocalCatalog(archive)
    entry = load_demo_catalog()["32TQM_20211223"]
    fp = entry.tile.footprint_wgs84()
    t = entry.sensing_time
    window = (t - timedelta(days=6), t + timedelta(days=6))
    assert [r.name for r in cat.search(fp, *window, polarisation="VV")] == [S1B]
    assert cat.search(fp, *window, polarisation="VV&VH") == []  # no VH files in the S1B sample
    assert cat.search(fp, *window) == []  # default VV&VH
    assert [r.name for r in cat.search(fp, *window, polarisation=None)] == [S1B]
    # time window: start inclusive, the product starts at 05:11:22.594
    s1b_start = datetime(2021, 12, 23, 5, 11, 22, 594441, tzinfo=UTC)
    assert cat.search(fp, s1b_start, s1b_start + timedelta(hours=1), polarisation="VV")
    assert not cat.search(fp, s1b_start + timedelta(seconds=1), t + timedelta(days=6), polarisation="VV")
    assert not cat.search(fp, t - timedelta(days=30), s1b_start - timedelta(seconds=1), polarisation="VV")
    # another place and time: the Greek 2015 product in the sub-folder, the Mozambique zip
    grc = cat.search(shapely.Point(23.0, 38.4).buffer(0.1), datetime(2015, 2, 1), datetime(2015, 2, 5))
    assert [r.name for r in grc] == [GRC]
    moz = cat.search(shapely.box(33, -18.5, 34, -18), datetime(2021, 1, 19, tzinfo=UTC), datetime(2021, 1, 20, tzinfo=UTC))
    assert [r.download_url for r in moz] == [str(archive / "zips" / f"{MOZ}.zip")]
    # Rome is not in Mozambique
    assert cat.search(fp, datetime(2021, 1, 1), datetime(2021, 2, 1), polarisation=None) == []


def test_index_reuse(archive: Path):
    first = LocalCatalog(archive).scan()
    assert (first.n_hashed, first.n_from_index) == (1, 0)
    index = archive / INDEX_NAME
    data = json.loads(index.read_text())
    assert set(data["entries"]) == {f"zips/{MOZ}.zip"}
    # a second catalogue on the same folder takes the zip from the index: nothing re-hashed or
    # re-opened. Proof that the value comes from the index: plant a marker digest there.
    data["entries"][f"zips/{MOZ}.zip"]["md5"] = "f" * 32
    index.write_text(json.dumps(data))
    second = LocalCatalog(archive).scan()
    assert (second.n_hashed, second.n_from_index) == (0, 1)
    assert by_name(second.records)[MOZ].checksums == {"MD5": "f" * 32}
    assert by_name(second.records)[MOZ].footprint.equals(by_name(first.records)[MOZ].footprint)
    assert by_name(second.records)[MOZ].start == by_name(first.records)[MOZ].start
    # a changed modification time invalidates the entry
    zp = archive / "zips" / f"{MOZ}.zip"
    st = zp.stat()
    os.utime(zp, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    third = LocalCatalog(archive).scan()
    assert (third.n_hashed, third.n_from_index) == (1, 0)
    assert by_name(third.records)[MOZ].checksums["MD5"] == hashlib.md5(zp.read_bytes()).hexdigest()
    # no index at all
    assert LocalCatalog(archive, use_index=False).scan().n_hashed == 1


def test_unreadable_or_unwritable_index_is_reported(archive: Path, tmp_path: Path):
    (archive / INDEX_NAME).write_text("{not json")
    scan = LocalCatalog(archive).scan()
    assert any(p.path.endswith(INDEX_NAME) and "unreadable" in p.reason for p in scan.problems)
    assert json.loads((archive / INDEX_NAME).read_text())["version"] == 1  # rebuilt
    blocker = tmp_path / "file"
    blocker.write_text("x")
    scan = LocalCatalog(archive, index_path=str(blocker / "index.json")).scan()
    assert {r.name for r in scan.records} == {S1B, FRA, MOZ, GRC}
    assert any("cannot write index" in p.reason for p in scan.problems)


def test_bad_folder_is_a_clear_error(tmp_path: Path):
    with pytest.raises(StorageError, match=r"local archive .*missing' does not exist; check BEN_SEN1_ARCHIVE"):
        LocalCatalog(tmp_path / "missing").scan()
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(StorageError, match="is not a folder"):
        LocalCatalog(tmp_path / "a_file").scan()
    (tmp_path / "empty").mkdir()
    empty = LocalCatalog(tmp_path / "empty")
    assert empty.records == () and empty.problems == ()
    assert not StorageError.transient and not is_transient(StorageError("x"))


def test_links_fifos_and_sockets_are_named_not_passed_over(archive: Path, tmp_path: Path):
    """A dangling link or a FIFO named like a product is reported (reading a FIFO would block the
    scan for ever); a link to a real product or folder is followed."""
    import socket

    os.symlink(tmp_path / "nowhere.zip", archive / f"{BOGUS}.SAFE")
    os.mkfifo(archive / "zips" / "S1A_IW_GRDH_1SDV_20210119T031653_20210119T031718_036201_043ED0_FIFO.zip")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(archive / "a.sock"))
    linked = tmp_path / "elsewhere"
    shutil.move(archive / f"{FRA}.SAFE", linked)
    os.symlink(linked, archive / f"{FRA}.SAFE")
    scan = LocalCatalog(archive).scan()
    assert {r.name for r in scan.records} == {S1B, FRA, MOZ, GRC}
    reasons = {Path(p.path).name: p.reason for p in scan.problems}
    assert reasons[f"{BOGUS}.SAFE"] == "a dangling symbolic link, not a product file or folder; skipped"
    assert reasons["S1A_IW_GRDH_1SDV_20210119T031653_20210119T031718_036201_043ED0_FIFO.zip"].startswith("a FIFO")
    assert reasons["a.sock"].startswith("a socket")
    sock.close()


def test_antimeridian_manifest_footprint():
    ring = np.array([[179.5, -17.0], [-179.2, -17.2], [-179.0, -16.0], [179.7, -15.8]])
    fp = footprint_from_manifest(ring)
    assert fp.geom_type == "MultiPolygon" and len(fp.geoms) == 2
    assert fp.bounds[0] == -180.0 and fp.bounds[2] == 180.0
    assert fp.intersects(shapely.Point(179.9, -16.5)) and fp.intersects(shapely.Point(-179.5, -16.5))
    assert not fp.intersects(shapely.Point(0.0, -16.5))
    # the antimeridian tile 01KAB is found by it
    assert fp.intersects(tile_grid("01KAB").footprint_wgs84())


def test_fsspec_url_on_s3(s3_bucket, samples: Path):
    import s3fs

    base, options = s3_bucket
    fs = s3fs.S3FileSystem(**options)
    fs.put(str(samples / "zips" / f"{MOZ}.zip"), f"{base}/{MOZ}.zip")
    fs.put(str(samples / f"{S1B}.SAFE"), f"{base}/sub/{S1B}.SAFE", recursive=True)
    fs.pipe(f"{base}/broken.zip", b"garbage")
    cat = LocalCatalog(base, options)
    scan = cat.scan()
    recs = by_name(scan.records)
    assert set(recs) == {MOZ, S1B}
    assert recs[MOZ].download_url == f"{base}/{MOZ}.zip"
    assert recs[MOZ].checksums["MD5"] == hashlib.md5((samples / "zips" / f"{MOZ}.zip").read_bytes()).hexdigest()
    assert recs[S1B].polarisations == ("VV",)
    assert [p.path for p in scan.problems] == [f"{base}/broken.zip"]
    assert fs.exists(f"{base}/{INDEX_NAME}")
    again = LocalCatalog(base, options).scan()
    assert (again.n_hashed, again.n_from_index) == (0, 1)


def test_search_and_select_over_the_local_catalogue(archive: Path):
    from ben_sen1_assets.archive.selection import SelectionConfig, search_and_select

    cat = LocalCatalog(archive)
    for key in ("32TQM_20211223", "33TTG_20211223"):
        entry = load_demo_catalog()[key]
        res = search_and_select(cat, entry, SelectionConfig(polarisations=("VV",)))
        assert res.product_names == (S1B,) and res.uncovered == ()
        assert res.to_geodataframe()["download_url"].tolist() == [str(archive / f"{S1B}.SAFE")]
        # default VV&VH: the catalogue already leaves the VV-only sample out
        none = search_and_select([cat], entry)
        assert none.products == () and none.rejected == () and none.coverage_fraction == 0.0
