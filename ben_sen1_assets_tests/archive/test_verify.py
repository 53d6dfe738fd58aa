"""Product verification on ingestion, on damaged copies of a real-format product."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from ben_sen1_assets.archive.errors import InvalidProductError
from ben_sen1_assets.archive.verify import Verification, describe_content, verify_product_zip
from ben_sen1_assets.sar.manifest import parse_manifest

from ._damage import FIFO, SYMLINK, member, members, rezip, scale_tiff_rows, unix_member


def test_a_valid_product_is_verified_member_by_member(product):
    result = verify_product_zip(product.path, product.name)
    with zipfile.ZipFile(product.path) as zf:
        manifest = parse_manifest(zf.read(f"{product.name}.SAFE/manifest.safe"), "manifest.safe", product.name)
        assert result.members == len(zf.infolist())
    assert result.md5_checked == sum(1 for f in manifest.files if f.md5) > 10
    assert result.size == product.size and result.name == product.name
    assert result.polarisations == ("VV", "VH")
    assert Verification.from_json(result.to_json()) == result


def test_a_block_of_the_measurement_at_plus_6_db_is_caught_by_the_manifest_md5(product, tmp_path):
    """The zip itself is consistent (CRCs recomputed, as a re-zipping tool would): only the
    manifest's MD5 of the member tells, and it names the member."""
    vv = member(product.path, "-001.tiff")
    bad = rezip(product.path, tmp_path / product.path.name,
                lambda n, d: scale_tiff_rows(d, 2.0, slice(10, 20)) if n == vv else d)
    with zipfile.ZipFile(bad) as zf:
        assert zf.testzip() is None  # a valid zip
    with pytest.raises(InvalidProductError, match=rf"{bad.name}: measurement/{vv.rsplit('/', 1)[1]}: MD5 [0-9a-f]{{32}}, manifest.safe says"):
        verify_product_zip(bad, product.name)


def test_a_flipped_byte_in_a_stored_member_fails_its_crc(product, tmp_path):
    data = bytearray(product.data)
    with zipfile.ZipFile(product.path) as zf:
        info = zf.getinfo(member(product.path, "-002.tiff"))
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + info.compress_size // 2] ^= 0x01
    bad = tmp_path / product.path.name
    bad.write_bytes(bytes(data))
    with pytest.raises(InvalidProductError, match=r"-002\.tiff: unreadable \(Bad CRC-32"):
        verify_product_zip(bad)


def test_truncated_and_empty_files(product, tmp_path):
    bad = tmp_path / "t.zip"
    bad.write_bytes(product.data[: product.size // 2])
    with pytest.raises(InvalidProductError, match="t.zip: not a readable zip archive, truncated or corrupt"):
        verify_product_zip(bad)
    bad.write_bytes(b"")
    with pytest.raises(InvalidProductError, match="t.zip: not a product zip but an empty body"):
        verify_product_zip(bad)


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b"<!DOCTYPE html><html><head><title>Scheduled maintenance</title></head><body><h1>Down</h1>"
         b"<p>Back at 14:00 UTC</p></body></html>", "an HTML page ('Scheduled maintenance; Down; Back at 14:00 UTC')"),
        (json.dumps({"detail": {"message": "Product 1234 is offline, ordered"}}).encode(),
         "a JSON document ('Product 1234 is offline, ordered')"),
        (b'<?xml version="1.0"?><Error><Code>NoSuchKey</Code><Message>The key does not exist</Message></Error>',
         "an XML document ('NoSuchKey The key does not exist')"),
        (b"\x89PNG\r\n\x1a\n" + bytes(100), "not a zip archive (first bytes 89 50 4e 47 0d 0a 1a 0a, expected 50 4b 03 04)"),
    ],
)
def test_what_is_not_a_zip_is_told_by_what_it_says(tmp_path, body, said):
    assert describe_content(body) == said
    bad = tmp_path / "p.zip"
    bad.write_bytes(body)
    with pytest.raises(InvalidProductError) as err:
        verify_product_zip(bad)
    assert str(err.value) == f"p.zip: not a product zip but {said}"


def test_path_traversal_absolute_names_links_and_fifos_are_named(product, tmp_path):
    top = f"{product.name}.SAFE"
    bad = rezip(product.path, tmp_path / product.path.name, extra=[
        (zipfile.ZipInfo(f"{top}/../../etc/cron.d/evil"), b"* * * * * root sh"),
        (zipfile.ZipInfo("/tmp/absolute"), b"x"),
        unix_member(f"{top}/annotation/link.xml", SYMLINK, b"/etc/passwd"),
        unix_member(f"{top}/preview/pipe", FIFO),
    ])
    with pytest.raises(InvalidProductError) as err:
        verify_product_zip(bad, product.name)
    msg = str(err.value)
    assert msg.startswith(f"{bad.name}: unsafe zip members: ")
    for expected in (f"'{top}/../../etc/cron.d/evil' climbs out of the product ('..')", "'/tmp/absolute' is absolute",
                     f"'{top}/annotation/link.xml' is a symbolic link", f"'{top}/preview/pipe' is a FIFO"):
        assert expected in msg


def test_duplicate_member_names_are_refused(product, tmp_path):
    name = member(product.path, "manifest.safe")
    with pytest.warns(UserWarning, match="Duplicate name"):
        bad = rezip(product.path, tmp_path / product.path.name, extra=[(zipfile.ZipInfo(name), b"<other/>")])
    with pytest.raises(InvalidProductError, match="manifest.safe' occurs twice"):
        verify_product_zip(bad)


def test_layout_and_listed_members(product, tmp_path):
    noise_vh = [n for n in members(product.path) if "/calibration/noise-" in n and "-002.xml" in n][0]
    missing = rezip(product.path, tmp_path / "missing.zip", lambda n, d: None if n == noise_vh else d)
    with pytest.raises(InvalidProductError, match=rf"missing.zip: annotation/calibration/{noise_vh.rsplit('/', 1)[1]} is listed in manifest.safe but missing"):
        verify_product_zip(missing)
    no_manifest = rezip(product.path, tmp_path / "nomanifest.zip", lambda n, d: None if n.endswith("manifest.safe") else d)
    with pytest.raises(InvalidProductError, match=r"nomanifest.zip: .*\.SAFE/manifest.safe is missing"):
        verify_product_zip(no_manifest)
    two_tops = rezip(product.path, tmp_path / "two.zip", extra=[(zipfile.ZipInfo("README.txt"), b"hello")])
    with pytest.raises(InvalidProductError, match=r"two.zip: expected one top folder <product>.SAFE/, found \['README.txt', 'S1A_"):
        verify_product_zip(two_tops)
    other = "S1B_IW_GRDH_1SDV_20211223T051133_20211223T051135_030148_039993_B379"
    with pytest.raises(InvalidProductError, match=rf"holds {product.name}.SAFE, expected {other}.SAFE"):
        verify_product_zip(product.path, other)
    wrong_size = rezip(product.path, tmp_path / "size.zip", lambda n, d: d + b"\0" if n.endswith("-001.xml") and "/calibration/calibration-" in n else d)
    with pytest.raises(InvalidProductError, match=r"size.zip: annotation/calibration/calibration-.*-001.xml: \d+ bytes, manifest.safe says \d+"):
        verify_product_zip(wrong_size)


def test_manifest_that_is_not_iw_grd_is_refused(product, tmp_path):
    bad = rezip(product.path, tmp_path / "ew.zip", lambda n, d: d.replace(b"<s1sarl1:mode>IW<", b"<s1sarl1:mode>EW<")
                if n.endswith("manifest.safe") else d)
    with pytest.raises(InvalidProductError, match=r"ew.zip/.*manifest.safe: product is EW GRD"):
        verify_product_zip(bad)


def test_unchanged_pixels_are_what_the_damage_helper_changes(product):
    """The +6 dB helper above really doubles the rows asked for, and only them (a check of the
    test's own tool, through rasterio)."""
    from rasterio.io import MemoryFile

    with zipfile.ZipFile(product.path) as zf:
        data = zf.read(member(product.path, "-001.tiff"))
    with MemoryFile(data) as a, MemoryFile(scale_tiff_rows(data, 2.0, slice(10, 20))) as b:
        with a.open() as da, b.open() as db:
            before, after = da.read(1).astype(np.int64), db.read(1).astype(np.int64)
    assert (after[10:20] == np.minimum(2 * before[10:20], 65535)).all()
    assert (after[:10] == before[:10]).all() and (after[20:] == before[20:]).all()
    assert 10 * np.log10((after[10:20] ** 2).mean() / (before[10:20] ** 2).mean()) == pytest.approx(6.02, abs=0.01)
