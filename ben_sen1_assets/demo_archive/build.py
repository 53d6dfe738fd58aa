"""Build one demo SAFE product (zip) from a real sample's metadata and the simulated scene."""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import Window

from ..sar.annotation import parse_annotation
from ..sar.luts import parse_calibration, parse_noise
from ..sar.radiometry import calibration_window, noise_window
from ..sar.safe import open_safe
from . import metadata_edit as xe
from . import preview as pv
from . import safe_writer as sw
from .preview import QUICKLOOK_STEP
from .backscatter import BackscatterModel, encode_dn_kernel, gamma_quantile_table, seed_key
from .geometry import GcpGrid
from .placement import SceneRenderer
from .scenes import DemoProduct, sample_path, terrain_for

GENERATOR_VERSION = "2"
REPEAT_CYCLE = np.timedelta64(12 * 86400, "s")  # 12 days
ORBITS_PER_CYCLE = 175
DATATAKE_STEP = 1000  # made-up datatake increment per repeat cycle (stated in SIMULATED.txt)
BLOCK_ROWS = 256
_IMAGE_NUMBER = {"VV": "001", "VH": "002", "HH": "001", "HV": "002"}


@dataclass(frozen=True)
class Identity:
    """Naming fields of a demo product."""

    mission: str
    start: np.datetime64
    stop: np.datetime64
    absolute_orbit: int
    datatake_id: int
    unique_id: str

    @staticmethod
    def _compact(t: np.datetime64) -> str:
        s = str(np.datetime64(t, "s"))  # truncated to whole seconds, as ESA names products
        return s.replace("-", "").replace(":", "")

    @property
    def name(self) -> str:
        return (f"{self.mission}_IW_GRDH_1SDV_{self._compact(self.start)}_{self._compact(self.stop)}_"
                f"{self.absolute_orbit:06d}_{self.datatake_id:06X}_{self.unique_id}")

    @property
    def file_stem(self) -> str:
        """``20211223t051122-20211223t051147-030148-039993`` (the part shared by all XML/TIFF names)."""
        return (f"{self._compact(self.start).lower()}-{self._compact(self.stop).lower()}-"
                f"{self.absolute_orbit:06d}-{self.datatake_id:06x}")

    def file_name(self, pol: str, ext: str, prefix: str = "") -> str:
        return f"{prefix}{self.mission.lower()}-iw-grd-{pol.lower()}-{self.file_stem}-{_IMAGE_NUMBER[pol]}.{ext}"


def unique_id(name_without_uid: str, label: str) -> str:
    """The 4-hex product unique id: generated (BLAKE2b of the rest of the name and the label)."""
    return hashlib.blake2b(f"{name_without_uid}|{label}".encode(), digest_size=2).hexdigest().upper()


def _source_files(src: Path) -> dict[tuple[str, str], Path]:
    """(kind, pol) → XML path of the sample (annotation, calibration, noise, rfi)."""
    out = {}
    for p in (src / "annotation").rglob("*.xml"):
        m = re.match(r"(?:(calibration|noise|rfi)-)?s1[ab]-iw-grd-(vv|vh)-", p.name)
        if m:
            out[(m.group(1) or "annotation", m.group(2).upper())] = p
    return out


def _derived_pol_bytes(data: bytes, src_pol: str, pol: str) -> bytes:
    """A polarisation's XML made from another's (S1B sample: VH from VV)."""
    data = data.replace(f"<polarisation>{src_pol}</polarisation>".encode(), f"<polarisation>{pol}</polarisation>".encode())
    return data.replace(f"<imageNumber>{_IMAGE_NUMBER[src_pol]}</imageNumber>".encode(),
                        f"<imageNumber>{_IMAGE_NUMBER[pol]}</imageNumber>".encode())


def build_product(
    product: DemoProduct,
    out_dir: Path,
    seed: int,
    model: BackscatterModel = BackscatterModel(),
    progress: Callable[[str], None] | None = None,
    block_rows: int = BLOCK_ROWS,
) -> Path:
    """Generate ``product`` as ``<out_dir>/<name>.zip``; returns the zip path."""
    say = progress or (lambda msg: None)
    t_start = time.perf_counter()
    src = sample_path(product.source)
    with open_safe(src) as sample:
        manifest = sample.manifest
        src_ann_bytes = sample.read_bytes(sample.manifest.file("annotation", "VV").href)
    src_files = _source_files(src)
    delta = product.cycle_shift * REPEAT_CYCLE
    delta_ns = np.timedelta64(delta, "ns")

    # geometry of the (shifted, uncropped) source, read by the project's reader
    src_ann = parse_annotation(xe.shift_times(src_ann_bytes, delta_ns), f"{product.source}/annotation (shifted)")
    ati = src_ann.azimuth_time_interval
    crop = product.crop or xe.Crop(0, 0, src_ann.number_of_lines, src_ann.number_of_samples)
    if product.crop is None:
        t0, t1 = src_ann.first_line_time, src_ann.last_line_time
    else:
        t0 = src_ann.first_line_time + np.timedelta64(int(round(crop.row_off * ati * 1e9)), "ns")
        t1 = t0 + np.timedelta64(int(round((crop.nrows - 1) * ati * 1e9)), "ns")
    src_grid = GcpGrid.from_annotation(src_ann.geolocation_grid, src_ann.first_line_time)

    orig_dt = int(product.source.split("_")[-2], 16)
    orbit = manifest.absolute_orbit + ORBITS_PER_CYCLE * product.cycle_shift
    datatake = orig_dt + DATATAKE_STEP * product.cycle_shift
    mission = manifest.mission
    provisional = Identity(mission, t0, t1, orbit, datatake, "0000")
    ident = Identity(mission, t0, t1, orbit, datatake, unique_id(provisional.name[:-5], product.label))
    name = ident.name
    say(f"{name}: from {product.source} (cycle shift {product.cycle_shift:+d}, window {product.describe()['crop']})")

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=out_dir))
    try:
        safe = work / f"{name}.SAFE"
        (safe / "annotation" / "calibration").mkdir(parents=True)
        (safe / "annotation" / "rfi").mkdir(parents=True)
        (safe / "measurement").mkdir(parents=True)
        written: dict[str, Path] = {}
        parsed: dict[str, tuple] = {}
        ann_roots = {}
        for pol in product.polarisations:
            for kind in ("annotation", "calibration", "noise", "rfi"):
                if (kind, pol) in src_files:
                    data = src_files[(kind, pol)].read_bytes()
                elif (kind, "VV") in src_files:
                    data = _derived_pol_bytes(src_files[(kind, "VV")].read_bytes(), "VV", pol)
                else:
                    continue
                root = xe.parse(xe.shift_times(data, delta_ns))
                if product.crop is not None:
                    if kind == "annotation":
                        xe.crop_annotation(root, src_grid, src_ann.first_line_time, crop, src_ann.first_line_time,
                                           ati, src_ann.range_pixel_spacing)
                    elif kind == "calibration":
                        xe.crop_calibration(root, crop, t0, t1)
                    elif kind == "noise":
                        xe.crop_noise(root, crop, t0, t1)
                    else:
                        xe.set_header(root, start=t0, stop=t1)
                xe.set_header(root, absolute_orbit=orbit, datatake_id=datatake)
                out = xe.serialise(root)
                if kind == "annotation":
                    rel = f"annotation/{ident.file_name(pol, 'xml')}"
                    ann_roots[pol] = root
                else:
                    sub = "rfi" if kind == "rfi" else "calibration"
                    rel = f"annotation/{sub}/{ident.file_name(pol, 'xml', prefix=kind + '-')}"
                (safe / rel).write_bytes(out)
                written[rel] = safe / rel
                parsed.setdefault(pol, {})[kind] = out

        # the product's own metadata, read back by the project's reader
        pol0 = product.polarisations[0]
        ann = parse_annotation(parsed[pol0]["annotation"], f"{name}/annotation/{pol0}")
        grid = GcpGrid.from_annotation(ann.geolocation_grid, ann.first_line_time)
        cal = {p: parse_calibration(parsed[p]["calibration"], f"{name}/calibration/{p}") for p in product.polarisations}
        noise = {p: parse_noise(parsed[p]["noise"], f"{name}/noise/{p}") for p in product.polarisations}
        terrain = terrain_for(product, grid)
        scene = SceneRenderer(ann, terrain.raster, model)
        lines, samples = ann.shape

        gcps = sw.gcps_from_annotation(ann_roots[pol0])
        ipf = manifest.ipf_version
        proc_time = str(np.datetime64(t1 + np.timedelta64(40 * 60, "s"), "s")).replace("-", ":").replace("T", " ")
        writers = {
            p: sw.MeasurementWriter(safe / "measurement" / ident.file_name(p, "tiff"), (lines, samples), gcps,
                                    mission, ipf, proc_time)
            for p in product.polarisations
        }
        table = gamma_quantile_table(model.looks)
        keys = {p: seed_key(seed, product.source, p, product.label) for p in product.polarisations}
        ql_rows: dict[str, list[np.ndarray]] = {p: [] for p in product.polarisations}
        env = rasterio.Env(GDAL_PAM_ENABLED="NO")  # no .aux.xml side files
        env.__enter__()
        for w in writers.values():
            w.__enter__()
        try:
            for r0 in range(0, lines, block_rows):
                nr = min(block_rows, lines - r0)
                beta0, _, _ = scene.render(r0, 0, nr, samples)
                win = Window(0, r0, samples, nr)
                dn = np.empty((nr, samples), np.uint16)
                for p in product.polarisations:
                    a = calibration_window(cal[p], win, "beta0")
                    n = noise_window(noise[p], win)
                    encode_dn_kernel(beta0, a, n, r0 + crop.row_off, crop.col_off, keys[p], model.pol_factor(p),
                                     table, dn)
                    writers[p].write(r0, dn)
                    first = (-r0) % QUICKLOOK_STEP
                    ql_rows[p].append(dn[first::QUICKLOOK_STEP, ::QUICKLOOK_STEP].copy())
                if r0 // block_rows % 16 == 0:
                    say(f"  rows {r0 + nr}/{lines}")
        except BaseException as exc:
            for w in writers.values():
                w.__exit__(type(exc), exc, None)
            env.__exit__(None, None, None)
            raise
        for w in writers.values():
            w.__exit__(None, None, None)
            written[f"measurement/{w.path.name}"] = w.path
        env.__exit__(None, None, None)

        note = (f"SIMULATED pixels (ben_sen1_assets.demo_archive v{GENERATOR_VERSION}) on the real metadata of "
                f"{product.source}")
        (safe / "SIMULATED.txt").write_text(_simulated_text(product, ident, seed, model, terrain.statement, crop, ann))

        footprint = [
            (grid.latitude[-1, 0], grid.longitude[-1, 0]), (grid.latitude[-1, -1], grid.longitude[-1, -1]),
            (grid.latitude[0, -1], grid.longitude[0, -1]), (grid.latitude[0, 0], grid.longitude[0, 0]),
        ]
        (safe / "preview").mkdir()
        previews = {
            "preview/quick-look.png": pv.quicklook_png({p: np.concatenate(v) for p, v in ql_rows.items()}),
            "preview/map-overlay.kml": pv.map_overlay_kml(footprint),
        }
        for rel, data in previews.items():
            (safe / rel).write_bytes(data)
            written[rel] = safe / rel
        (safe / "preview" / "product-preview.html").write_bytes(pv.product_preview_html(name, safe))
        written["preview/product-preview.html"] = safe / "preview" / "product-preview.html"
        mdata = xe.shift_times((src / "manifest.safe").read_bytes(), delta_ns)
        old_stem = re.search(rb"\d{8}t\d{6}-\d{8}t\d{6}-\d{6}-[0-9a-f]{6}", mdata).group(0)
        new_stem = ident.file_stem.encode()
        mdata = mdata.replace(old_stem, new_stem).replace(old_stem.replace(b"-", b""), new_stem.replace(b"-", b""))
        old_tok = f"_{manifest.absolute_orbit:06d}_{orig_dt:06X}_".encode()
        mdata = mdata.replace(old_tok, f"_{orbit:06d}_{datatake:06X}_".encode())
        cycle = int(re.search(rb"<safe:cycleNumber>(\d+)<", mdata).group(1)) + product.cycle_shift
        root = sw.edit_manifest(
            mdata, start=t0, stop=t1,
            anx_shift_ms=float((t0 - src_ann.first_line_time) / np.timedelta64(1, "ns")) / 1e6,
            absolute_orbit=orbit, cycle_number=cycle, datatake_id=datatake, footprint_latlon=footprint, note=note,
        )
        sw.drop_data_objects(root, set(written))

        def manifest_bytes(checksums: dict[str, tuple[int, str]]) -> bytes:
            sw.set_checksums(root, {k: v for k, v in checksums.items() if k in written})
            return sw.serialise_manifest(root)

        say(f"  zipping {name}")
        zip_path = out_dir / f"{name}.zip"
        sw.zip_safe(safe, zip_path, manifest_bytes)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    say(f"  {zip_path.name}: {zip_path.stat().st_size / 1e6:.1f} MB in {time.perf_counter() - t_start:.1f} s")
    return zip_path


def _simulated_text(product: DemoProduct, ident: Identity, seed: int, model: BackscatterModel, terrain: str,
                    crop: xe.Crop, ann) -> str:
    return f"""THIS PRODUCT'S MEASUREMENT PIXELS ARE SIMULATED.

Product            {ident.name}
Made from          {product.source} (real ESA metadata: manifest, annotation, calibration, noise, RFI XMLs)
Generator          ben_sen1_assets.demo_archive version {GENERATOR_VERSION}, seed {seed}, label {product.label!r}
Window of source   lines {crop.row_off}..{crop.last_row}, samples {crop.col_off}..{crop.last_col} ({ann.number_of_lines} x {ann.number_of_samples})
Time shift         {product.cycle_shift:+d} repeat cycles (12 days, {ORBITS_PER_CYCLE} orbits each): absolute orbit
                   {ident.absolute_orbit}, datatake id = source + {DATATAKE_STEP} x shift = {ident.datatake_id:06X}
Unique id          {ident.unique_id}: GENERATED (BLAKE2b of the rest of the name and the label), not an ESA id

Terrain            {terrain}
Geometry           the project's range-Doppler model (annotation orbit, srgr polynomials) inverted on
                   tie points, heights from the terrain (see ben_sen1_assets/demo_archive/placement.py)
sigma0 (VV)        land  {model.k_land} * cos^{model.n_land}(theta_local); water {model.k_water} * cos^{model.n_water}(theta_local);
                   radar shadow 0; VH = VV - {model.vh_minus_vv_db} dB
Brightness         beta0 = gamma0 * A_gamma/A_beta, gamma0 = sigma0/cos(theta_local), area factor
                   cos(theta_local)/|n.(V x s)| (Small 2011; cot(theta) on flat ground)
Speckle and noise  intensity = (beta0 * A^2 + N) * S, S ~ Gamma({model.looks} looks, mean 1);
                   A = betaNought LUT, N = thermal noise (range x azimuth LUTs) of this product;
                   DN = round(sqrt(intensity)) in 1..65535; DN = 0 where the noise LUT is 0 (invalid swath border)

Contains modified Copernicus Sentinel data [2021] (metadata only).
"""


def scene_beta0(product, demo: DemoProduct, polarisation: str = "VV", window: Window | None = None,
                model: BackscatterModel = BackscatterModel()) -> np.ndarray:
    """The simulated (noise- and speckle-free) β0 of a generated product's ``window`` → float32:
    what its pixels encode (through the βnought LUT). ``product``: the opened demo product
    (``ben_sen1_assets.sar.open_safe``), ``demo`` the :class:`DemoProduct` it was made from."""
    ann = product.annotation(polarisation)
    lines, samples = ann.shape
    window = window or Window(0, 0, samples, lines)
    scene = SceneRenderer(ann, terrain_for(demo, None).raster, model)
    beta0, _, _ = scene.render(int(window.row_off), int(window.col_off), int(window.height), int(window.width))
    return beta0 * np.float32(model.pol_factor(polarisation))


def scene_sigma0(product, demo: DemoProduct, polarisation: str = "VV", window: Window | None = None,
                 model: BackscatterModel = BackscatterModel()) -> np.ndarray:
    """:func:`scene_beta0` calibrated to σ0 with the product's own LUTs (β0·A_β²/A_σ²), i.e. the
    σ0 the project's radiometry recovers from the pixels (terrain included: a slope facing the
    sensor is brighter than flat ground of the same cover)."""
    ann = product.annotation(polarisation)
    lines, samples = ann.shape
    window = window or Window(0, 0, samples, lines)
    cal = product.calibration(polarisation)
    ratio = (calibration_window(cal, window, "beta0") / calibration_window(cal, window, "sigma0")) ** 2
    return (scene_beta0(product, demo, polarisation, window, model) * ratio).astype(np.float32)
