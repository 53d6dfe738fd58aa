"""Bad input: each case raises a SafeError subclass whose message names the file and the problem."""

from __future__ import annotations

import shutil
import zipfile

import numpy as np
import pytest
from rasterio.windows import Window

from ben_sen1_assets.sar import (
    MissingFileError,
    SafeError,
    SafeFormatError,
    UnsupportedProductError,
    WindowError,
    open_safe,
)
from ben_sen1_assets.sar.radiometry import radiometry_window

from .conftest import S1A_2021_DESC, S1B_2021_ROME, ZIP_8255, safe_path


@pytest.fixture
def safe_copy(tmp_path):
    dst = tmp_path / f"{S1A_2021_DESC}.SAFE"
    shutil.copytree(safe_path(S1A_2021_DESC), dst)
    for p in dst.rglob("*"):
        p.chmod(0o644 if p.is_file() else 0o755)
    return dst


def test_truncated_zip(tmp_path):
    data = ZIP_8255.read_bytes()
    bad = tmp_path / ZIP_8255.name
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(SafeFormatError, match=rf"{bad.name}.*(zip|truncated)"):
        open_safe(bad)


def test_not_a_zip(tmp_path):
    bad = tmp_path / "S1A_garbage.zip"
    bad.write_bytes(b"this is not a zip archive" * 100)
    with pytest.raises(SafeFormatError, match="S1A_garbage.zip.*not a readable zip"):
        open_safe(bad)


def test_corrupt_zip_member(tmp_path):
    bad = tmp_path / ZIP_8255.name
    shutil.copy(ZIP_8255, bad)
    bad.chmod(0o644)
    with zipfile.ZipFile(bad) as zf:
        info = next(i for i in zf.infolist() if i.filename.endswith("-001.xml") and "/annotation/s1a" in i.filename)
    raw = bytearray(bad.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for k in range(start + 100, start + 400):
        raw[k] ^= 0x5A  # damage compressed data, keep the central directory
    bad.write_bytes(bytes(raw))
    product = open_safe(bad)
    with pytest.raises(SafeFormatError, match=r"annotation/s1a-iw-grd-vv-.*\.xml"):
        product.annotation("VV")


def test_malformed_xml(safe_copy):
    ann = next((safe_copy / "annotation").glob("s1a-iw-grd-vv-*.xml"))
    ann.write_bytes(ann.read_bytes()[:5000])
    with pytest.raises(SafeFormatError, match=rf"{ann.name}: malformed XML"):
        open_safe(safe_copy).annotation("VV")


def _with_doctype(ann, entities: str, field: str, value: str) -> None:
    head, body = ann.read_text().split("<product>", 1)
    body = body.replace(f"<{field}>", f"<{field}>{value}", 1)
    ann.write_text(f"{head}<!DOCTYPE product [{entities}]><product>{body}")


def test_xml_external_entity_is_not_read(safe_copy, tmp_path):
    """A hostile annotation whose mode is an external entity naming a local file: the file is not
    read (its text, a valid mode, never reaches the field); the field reads as empty, an error
    naming the file and the field."""
    secret = tmp_path / "secret.txt"
    secret.write_text("IW")
    ann = next((safe_copy / "annotation").glob("s1a-iw-grd-vv-*.xml"))
    text = ann.read_text()
    ann.write_text(text.replace("<mode>IW</mode>", "<mode></mode>", 1))
    _with_doctype(ann, f'<!ENTITY leak SYSTEM "{secret.as_uri()}">', "mode", "&leak;")
    with pytest.raises(SafeFormatError, match=rf"{ann.name}: element 'mode' under <adsHeader> is empty"):
        open_safe(safe_copy).annotation("VV")


def test_xml_entity_bomb_is_refused(safe_copy):
    """An entity bomb (10⁸ expansions) in an annotation: refused by the parser, not expanded."""
    ann = next((safe_copy / "annotation").glob("s1a-iw-grd-vv-*.xml"))
    bomb = '<!ENTITY l0 "lol">' + "".join(f'<!ENTITY l{k} "{f"&l{k - 1};" * 10}">' for k in range(1, 9))
    _with_doctype(ann, bomb, "swath", "&l8;")
    with pytest.raises(SafeFormatError, match=rf"{ann.name}: malformed XML \(.*amplification"):
        open_safe(safe_copy).annotation("VV")


def test_missing_field(safe_copy):
    ann = next((safe_copy / "annotation").glob("s1a-iw-grd-vv-*.xml"))
    text = ann.read_text()
    ann.write_text(text.replace("<numberOfLines>16854</numberOfLines>", ""))
    with pytest.raises(SafeFormatError, match=rf"{ann.name}: missing element 'numberOfLines'"):
        open_safe(safe_copy).annotation("VV")


def test_malformed_manifest(safe_copy):
    (safe_copy / "manifest.safe").write_text("<xfdu:XFDU")
    with pytest.raises(SafeFormatError, match="manifest.safe: malformed XML"):
        open_safe(safe_copy)


def test_listed_but_missing_polarisation_file(safe_copy):
    cal = next((safe_copy / "annotation" / "calibration").glob("calibration-*-vh-*.xml"))
    cal.unlink()
    product = open_safe(safe_copy)  # opening works; VV is intact
    assert product.available_polarisations == ("VV",)
    product.calibration("VV")
    with pytest.raises(MissingFileError, match=rf"{cal.name} \(calibration, polarisation VH\) is listed in manifest.safe but missing"):
        product.calibration("VH")
    with pytest.raises(MissingFileError, match="polarisation HH not in this product"):
        product.annotation("HH")


def test_missing_measurement(safe_copy):
    with pytest.raises(MissingFileError, match=r"measurement/s1a-iw-grd-vv-.*\.tiff"):
        open_safe(safe_copy).read_measurement("VV", Window(0, 0, 10, 10))


@pytest.mark.parametrize(
    ("old", "new", "what"),
    [
        ("<s1sarl1:productType>GRD</s1sarl1:productType>", "<s1sarl1:productType>SLC</s1sarl1:productType>", "IW SLC"),
        ("<s1sarl1:mode>IW</s1sarl1:mode>", "<s1sarl1:mode>EW</s1sarl1:mode>", "EW GRD"),
    ],
)
def test_not_iw_grd(safe_copy, old, new, what):
    manifest = safe_copy / "manifest.safe"
    text = manifest.read_text()
    assert old in text
    manifest.write_text(text.replace(old, new))
    with pytest.raises(UnsupportedProductError, match=rf"manifest.safe: product is {what}.*only IW GRD"):
        open_safe(safe_copy)


def test_relative_orbit_mismatch(safe_copy):
    manifest = safe_copy / "manifest.safe"
    manifest.write_text(manifest.read_text().replace('relativeOrbitNumber type="start">79<', 'relativeOrbitNumber type="start">80<'))
    with pytest.raises(SafeFormatError, match="relativeOrbitNumber=80 disagrees with absolute orbit 36201 \\(expected 79"):
        open_safe(safe_copy)


def test_no_such_product(tmp_path):
    with pytest.raises(MissingFileError, match="no such product"):
        open_safe(tmp_path / "S1A_nothing.SAFE")
    empty = tmp_path / "empty.SAFE"
    empty.mkdir()
    with pytest.raises(SafeFormatError, match="found 0"):
        open_safe(empty)


@pytest.mark.parametrize(
    "window",
    [
        Window(col_off=26100, row_off=0, width=10, height=10),  # past the last sample
        Window(col_off=0, row_off=-1, width=10, height=10),
        Window(col_off=0, row_off=16700, width=10, height=10),  # past the last line
        Window(col_off=0, row_off=0, width=0, height=10),
        Window(col_off=0.5, row_off=0, width=10, height=10),
    ],
)
def test_window_outside_image(window):
    product = open_safe(safe_path(S1B_2021_ROME))
    with pytest.raises(WindowError, match=rf"{S1B_2021_ROME}.*(outside the image \(16705 lines × 26102 samples\)|integer)"):
        product.read_measurement("VV", window)
    with pytest.raises(SafeError):
        radiometry_window(product, "VV", window)


def test_zero_measurement_gives_nan():
    # the placeholder TIFF is all zero: zero DN is no data
    product = open_safe(safe_path(S1B_2021_ROME))
    out = radiometry_window(product, "VV", Window(col_off=21640, row_off=7470, width=16, height=8))
    assert out.shape == (8, 16) and out.dtype == np.float32 and np.isnan(out).all()


# -- invalid radiometric metadata: fails with the file, vector, field and first bad value ----------
def _edit_element(path, tag: str, edit, which: int | None = 0) -> None:
    """Rewrite the text of the ``which``-th ``<tag count=..>`` element (all of them if None)."""
    import re

    text = path.read_text()
    pattern = re.compile(rf"(<{tag}[^>]*>)([^<]*)(</{tag}>)")
    k = -1

    def sub(m):
        nonlocal k
        k += 1
        if which is not None and k != which:
            return m.group(0)
        values = m.group(2).split()
        new = edit(values)
        head = re.sub(r'count="\d+"', f'count="{len(new)}"', m.group(1))
        return head + " ".join(new) + m.group(3)

    path.write_text(pattern.sub(sub, text))


def _lut(safe_copy, kind: str):
    return next((safe_copy / "annotation" / "calibration").glob(f"{kind}-*-vv-*.xml"))


@pytest.mark.parametrize(
    ("kind", "tag", "which", "edit", "message"),
    [
        ("calibration", "sigmaNought", None, lambda v: ["nan"] * len(v),
         r"calibrationVector\[0\] \(line 0\) sigmaNought: 650 of 650 values NaN, infinite, zero or negative \(first: "
         r"nan at pixel 0\); 27 of 27 vectors affected; calibration coefficients must be finite and > 0"),
        ("calibration", "sigmaNought", None, lambda v: ["0"] * len(v), r"calibrationVector\[0\] \(line 0\) sigmaNought: 650 of 650 values .*first: 0 at pixel 0"),
        ("calibration", "betaNought", 5, lambda v: v[:3] + ["-4.74e+02"] + v[4:],
         r"calibrationVector\[5\] \(line 3371\) betaNought: 1 of 650 values .* \(first: -474 at pixel 120\)"),
        ("calibration", "gamma", 2, lambda v: v[:9] + ["inf"] + v[10:], r"calibrationVector\[2\] .*gamma: 1 of 650 .*inf"),
        ("calibration", "absoluteCalibrationConstant", 0, lambda v: ["0.0"],
         r"calibrationInformation/absoluteCalibrationConstant = 0.0; expected a finite value > 0"),
        ("calibration", "pixel", None, lambda v: [], r"calibrationVector\[0\]/pixel is empty"),
        ("noise", "noiseRangeLut", 3, lambda v: ["nan"] + v[1:], r"noiseRangeVector\[3\] noiseRangeLut: 1 of 653 values NaN"),
        ("noise", "noiseRangeLut", 0, lambda v: ["-1.0"] * len(v), r"noiseRangeVector\[0\] noiseRangeLut: 653 of 653 .*negative"),
        ("noise", "noiseRangeLut", 1, lambda v: ["1e12"] + v[1:], r"noiseRangeVector\[1\] .*above 4.295e\+09 \(65535²\)"),
        ("noise", "noiseRangeLut", None, lambda v: ["0"] * len(v),
         r"every noiseRangeLut value of the 27 vectors is 0: no thermal noise information; process with thermal_noise=False"),
        ("noise", "noiseAzimuthLut", 1, lambda v: ["0"] * len(v), r"noiseAzimuthVector\[1\] noiseAzimuthLut: .* <= 0 or above 10"),
        ("noise", "noiseAzimuthLut", 0, lambda v: v[:-1] + ["nan"], r"noiseAzimuthVector\[0\] noiseAzimuthLut: 1 of"),
    ],
)
def test_invalid_luts_fail_naming_file_vector_and_field(safe_copy, kind, tag, which, edit, message):
    path = _lut(safe_copy, kind)
    _edit_element(path, tag, edit, which)
    product = open_safe(safe_copy)
    read = product.calibration if kind == "calibration" else product.noise
    with pytest.raises(SafeFormatError, match=rf"{path.name}: {message}"):
        read("VV")


def test_real_luts_pass_the_checks():
    """Every sample's LUTs, including their zero noise values at swath edges, are accepted."""
    from .conftest import PRODUCT_POLS

    for name, pol in PRODUCT_POLS:
        product = open_safe(safe_path(name))
        cal, noise = product.calibration(pol), product.noise(pol)
        assert (cal.sigma_nought > 0).all() and any((v == 0).any() for v in noise.range_vectors.values)


# -- duplicated, missing and non-numeric elements: the first of duplicates is read (lxml's find) ----
def test_children_find_what_find_finds():
    """``_xml.Children`` (an element's children looked up by tag once) returns for every path what
    ``el.find`` returns: the first of duplicates, None when missing, a namespaced twin ignored, and
    for ``a/b`` the first ``b`` under any ``a`` (here the first ``w`` has no ``a``)."""
    from ben_sen1_assets.sar import _xml

    root = _xml.parse_xml(
        b'<p xmlns:n="urn:n"><n:x>ns</n:x><x>1</x><y>2</y><x>3</x><v><a>4</a><a>5</a></v>'
        b"<w><b>6</b></w><w><a>7</a></w><w><a>8</a></w></p>",
        "SRC",
    )
    kids = _xml.Children(root)
    paths = ["x", "y", "z", "v", "v/a", "v/b", "w", "w/a", "w/b", "w/c", "z/a", "x/a", "{urn:n}x", "*", "w/*", ".//a"]
    for path in paths:
        assert kids.find(path) is root.find(path), path
    assert (kids.find("x").text, kids.find("v/a").text, kids.find("w/a").text) == ("1", "4", "7")
    for path in ("z", "v/b", "w/c"):
        with pytest.raises(SafeFormatError, match=rf"^SRC: missing element '{path}' under <p>$"):
            _xml.number(kids, path, "SRC")


def _edited(path, edit) -> bytes:
    from lxml import etree

    root = etree.fromstring(path.read_bytes())
    edit(root)
    return etree.tostring(root)


def _twin(el, text: str | None, before: bool) -> None:
    """A copy of ``el`` next to it, its text (or its first child's) replaced by ``text``."""
    import copy

    twin = copy.deepcopy(el)
    (twin if len(twin) == 0 else twin[0]).text = text
    (el.addprevious if before else el.addnext)(twin)


def test_duplicated_element_first_is_read_missing_one_is_named():
    """In a real annotation: of two ``latitude`` (or ``position``) elements the first is read; an
    orbit vector whose first ``position`` lacks ``x`` reads the ``x`` of its second; a missing
    field fails naming the file, the element and its parent."""
    from ben_sen1_assets.sar.annotation import parse_annotation

    path = next((safe_path(S1A_2021_DESC) / "annotation").glob("s1a-iw-grd-vv-*.xml"))
    point = lambda root, k: root.findall(".//geolocationGridPoint")[k]  # noqa: E731
    orbit = lambda root, k: root.findall(".//orbitList/orbit")[k]  # noqa: E731
    ref = parse_annotation(path.read_bytes(), path.name)

    ann = parse_annotation(_edited(path, lambda r: _twin(point(r, 3).find("latitude"), "-89.5", before=False)), path.name)
    np.testing.assert_array_equal(ann.geolocation_grid.latitude, ref.geolocation_grid.latitude)
    ann = parse_annotation(_edited(path, lambda r: _twin(point(r, 3).find("latitude"), "-89.5", before=True)), path.name)
    assert ann.geolocation_grid.latitude[3] == -89.5
    np.testing.assert_array_equal(np.delete(ann.geolocation_grid.latitude, 3), np.delete(ref.geolocation_grid.latitude, 3))

    ann = parse_annotation(_edited(path, lambda r: _twin(orbit(r, 2).find("position"), "1.5", before=False)), path.name)
    np.testing.assert_array_equal(ann.orbit.position, ref.orbit.position)
    ann = parse_annotation(_edited(path, lambda r: _twin(orbit(r, 2).find("position"), "1.5", before=True)), path.name)
    assert ann.orbit.position[2, 0] == 1.5 and (ann.orbit.position[2, 1:] == ref.orbit.position[2, 1:]).all()

    def x_in_second_position(root):
        first = orbit(root, 2).find("position")
        _twin(first, "2.5", before=False)
        first.remove(first.find("x"))

    ann = parse_annotation(_edited(path, x_in_second_position), path.name)
    assert ann.orbit.position[2, 0] == 2.5 and (ann.orbit.position[2, 1:] == ref.orbit.position[2, 1:]).all()

    def no_height(root):
        point(root, 5).remove(point(root, 5).find("height"))

    with pytest.raises(SafeFormatError, match=rf"^{path.name}: missing element 'height' under <geolocationGridPoint>$"):
        parse_annotation(_edited(path, no_height), path.name)
    with pytest.raises(SafeFormatError, match=rf"^{path.name}: missing element 'position/y' under <orbit>$"):
        parse_annotation(_edited(path, lambda r: orbit(r, 4).find("position").remove(orbit(r, 4).find("position/y"))), path.name)

    def text_of(value):
        def edit(root):
            point(root, 5).find("line").text = value
        return edit

    for value in ("inf", "1e400", "nan"):  # an integer field no int can hold: the same clear error
        with pytest.raises(SafeFormatError, match=rf"^{path.name}: element 'line' = '{value}' is not a int$"):
            parse_annotation(_edited(path, text_of(value)), path.name)


def test_calibration_lists_duplicated_non_numeric_or_miscounted():
    """A calibration vector's lists: the first of two ``sigmaNought`` is read; a non-numeric value
    or a ``count`` that disagrees fails naming the file and the element, also for a list whose
    text (as in every real calibration file) is the same in every vector."""
    from ben_sen1_assets.sar.luts import parse_calibration

    path = next((safe_path(S1A_2021_DESC) / "annotation" / "calibration").glob("calibration-*-vv-*.xml"))
    vector = lambda root, k: root.findall(".//calibrationVector")[k]  # noqa: E731
    ref = parse_calibration(path.read_bytes(), path.name)

    cal = parse_calibration(_edited(path, lambda r: _twin(vector(r, 3).find("sigmaNought"), "abc", before=False)), path.name)
    np.testing.assert_array_equal(cal.sigma_nought, ref.sigma_nought)

    def non_numeric(root):
        lut = vector(root, 6).find("gamma")
        values = lut.text.split()
        values[10] = "1,5"
        lut.text = " ".join(values)

    with pytest.raises(SafeFormatError, match=rf"^{path.name}: element 'gamma' holds non-numeric values$"):
        parse_calibration(_edited(path, non_numeric), path.name)

    def miscounted(root):
        lut = vector(root, 2).find("betaNought")  # the same text as the vectors before it
        lut.set("count", str(int(lut.get("count")) + 1))

    with pytest.raises(SafeFormatError, match=rf"^{path.name}: element 'betaNought' has count=651 but 650 values$"):
        parse_calibration(_edited(path, miscounted), path.name)
