"""Build the demo archive folder once; rebuild only when its inputs change (a JSON stamp)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from .backscatter import BackscatterModel
from .build import GENERATOR_VERSION, build_product
from .scenes import DemoProduct, data_path, demo_products, sample_path

STAMP_NAME = "demo_archive.stamp.json"
DEFAULT_SEED = 20211223


def default_archive_folder() -> Path:
    """The project's archive setting: ``BEN_SEN1_ARCHIVE``, else ``<BEN_SEN1_HOME or ./.ben_sen1>/archive``
    (read through ``ben_sen1_assets.settings``, the one place that reads the environment)."""
    from ..settings import load_settings

    return Path(load_settings().archive)


def _hash_tree(h, folder: Path) -> None:
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.suffix in (".xml", ".safe"):
            h.update(p.relative_to(folder).as_posix().encode())
            h.update(hashlib.md5(p.read_bytes()).digest())


def inputs_hash(products: list[DemoProduct], seed: int, model: BackscatterModel) -> str:
    """Hash of everything a build depends on: generator version and code, products, model, seed,
    the real metadata files and the DEM."""
    h = hashlib.sha256()
    h.update(json.dumps({"version": GENERATOR_VERSION, "seed": seed, "model": asdict(model),
                         "products": [p.describe() for p in products]}, sort_keys=True).encode())
    for mod in sorted(Path(__file__).parent.glob("*.py")):
        h.update(mod.name.encode())
        h.update(mod.read_bytes())
    for source in sorted({p.source for p in products}):
        _hash_tree(h, sample_path(source))
    h.update(data_path("dem", "Rome-30m-DEM.tif").read_bytes())
    return h.hexdigest()


def build_demo_archive(
    folder: str | os.PathLike | None = None,
    seed: int = DEFAULT_SEED,
    full_size: bool = False,
    progress: Callable[[str], None] | None = None,
    model: BackscatterModel = BackscatterModel(),
    products: list[DemoProduct] | None = None,
) -> list[Path]:
    """Build (or reuse) the demo archive: zipped SAFE products in ``folder``; returns their paths.

    ``folder`` defaults to :func:`default_archive_folder`. A stamp file records a hash of the
    generator version and code, the product list, the σ0 model, the seed and the real metadata;
    when it matches and every listed zip exists, nothing is rebuilt. ``full_size`` adds the whole
    scenes (≈1.7 GB each) to the small windows. ``products`` overrides the product list
    (default :func:`demo_products`).
    """
    folder = Path(folder) if folder is not None else default_archive_folder()
    folder.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda msg: None)
    products = list(products) if products is not None else demo_products(full_size=full_size)
    digest = inputs_hash(products, seed, model)
    stamp_path = folder / STAMP_NAME
    if stamp_path.exists():
        try:
            stamp = json.loads(stamp_path.read_text())
        except (OSError, ValueError):
            stamp = {}
        paths = [folder / name for name in stamp.get("products", [])]
        if stamp.get("inputs_hash") == digest and paths and all(p.is_file() for p in paths):
            say(f"demo archive up to date in {folder} ({len(paths)} products)")
            return paths
    old = json.loads(stamp_path.read_text()).get("products", []) if stamp_path.exists() else []
    stamp_path.unlink(missing_ok=True)
    paths = []
    for k, product in enumerate(products, 1):
        say(f"[{k}/{len(products)}] building {product.label}")
        paths.append(build_product(product, folder, seed, model, progress=say))
    # products of an earlier build that this one no longer makes
    for name in old:
        if name not in {p.name for p in paths}:
            (folder / name).unlink(missing_ok=True)
    tmp = stamp_path.with_name(stamp_path.name + ".part")
    tmp.write_text(json.dumps({
        "generator_version": GENERATOR_VERSION, "inputs_hash": digest, "seed": seed, "full_size": full_size,
        "products": [p.name for p in paths],
    }, indent=1))
    os.replace(tmp, stamp_path)
    return paths
