"""Load one sample of an export the way a user does: through TorchGeo's BigEarthNet loaders.

Used by the blocking check on ``bigearthnet_export``. TorchGeo reads local folders only, so an
export on object storage is checked on a local mirror of the files one sample needs (the tables,
the split files, the sample's patch folders and reference map), laid out as in the export.
Where torchgeo cannot be imported, the same files are read with rasterio and the result says so.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from upath import UPath

from ben_sen1_assets.formats.atomic import is_local, local_path

from .bigearthnet_layout import (
    METADATA,
    S2_DIR,
    SPLITS,
    V1_DIR,
    V1_SPLIT_FILES,
    V2_DIR,
    reference_map_path,
)
from .errors import OutputError
from .export import s1_scene_prefix

__all__ = ["load_one_sample"]

_TORCHGEO_SPLIT = {"train": "train", "validation": "val", "test": "test"}


def _pick(root: UPath) -> tuple[str, pd.Series]:
    path = root / METADATA
    if not path.exists():
        raise OutputError(f"{path}: missing; expected the export's metadata.parquet")
    with path.open("rb") as f:
        meta = pd.read_parquet(f)
    for split in SPLITS:
        rows = meta[meta["split"] == split].reset_index(drop=True)
        if len(rows):
            return split, rows.iloc[0]
    raise OutputError(f"{path}: no patch in any split {SPLITS}; expected at least one exported patch")


def _mirror(root: UPath, row: pd.Series, dest: Path) -> Path:
    """Copy what one sample needs from ``root`` (any fsspec storage) to ``dest``."""
    s1 = str(row["s1_name"])
    rels = [METADATA, *V1_SPLIT_FILES.values(), reference_map_path(str(row["patch_id"]))]
    for band in ("VV", "VH"):
        rels.append(f"{V1_DIR}/{s1}/{s1}_{band}.tif")
        rels.append(f"{V2_DIR}/{s1_scene_prefix(s1)}/{s1}/{s1}_{band}.tif")
    rels.append(f"{V1_DIR}/{s1}/{s1}_labels_metadata.json")
    for rel in rels:
        src = root / rel
        if not src.exists():
            raise OutputError(f"{src}: missing; the export's tables name it")
        out = dest / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        src.fs.get_file(src.path, str(out))
    (dest / S2_DIR).mkdir(exist_ok=True)
    return dest


def load_one_sample(root: UPath | str) -> dict:
    """Load the first patch of the first non-empty split through ``BigEarthNetV2(root,
    bands="s1")`` and ``BigEarthNet(root, bands="s1")``; return what was loaded. Raises
    ``OutputError`` (or the loader's own error) when the export does not load."""
    root = UPath(root)
    split, row = _pick(root)
    with tempfile.TemporaryDirectory(prefix="ben_sen1_loadcheck_") as tmp:
        local = local_path(root) if is_local(root) else _mirror(root, row, Path(tmp))
        try:
            from torchgeo.datasets import BigEarthNet, BigEarthNetV2
        except Exception as exc:  # ImportError, or torchvision failing to load its C++ ops
            return _rasterio_fallback(local, split, row, f"{type(exc).__name__}: {exc}")
        v2 = BigEarthNetV2(root=str(local), split=_TORCHGEO_SPLIT[split], bands="s1")
        sample = v2[list(v2.metadata_df["patch_id"]).index(row["patch_id"])]
        image, label = sample["image"].numpy(), sample["label"].numpy()
        v1 = BigEarthNet(root=str(local), split=_TORCHGEO_SPLIT[split], bands="s1", num_classes=19)
        names = [Path(f["s1"]).name for f in v1.folders]
        v1_image = v1[names.index(row["s1_name"])]["image"].numpy()
    problems = []
    if image.shape != (2, 120, 120) or v1_image.shape != (2, 120, 120):
        problems.append(f"image shapes {image.shape} (v2), {v1_image.shape} (v1); expected (2, 120, 120)")
    if not np.array_equal(image, v1_image):
        problems.append("v1 and v2 layouts load different pixels")
    expected = sorted(BigEarthNetV2.class_set.index(n) for n in row["labels"])
    if list(np.flatnonzero(label)) != expected:
        problems.append(f"label vector {list(np.flatnonzero(label))}; expected classes {expected}")
    if problems:
        raise OutputError(f"{root}: sample {row['s1_name']}: " + "; ".join(problems))
    return {
        "loader": "torchgeo.datasets.BigEarthNetV2 + BigEarthNet (bands='s1')",
        "split": split, "patch_id": str(row["patch_id"]), "s1_name": str(row["s1_name"]),
        "n_split_v2": len(v2), "n_split_v1": len(v1), "image_shape": list(image.shape),
        "n_labels": int(label.sum()),
        "vh_mean_db": float(image[0].mean()), "vv_mean_db": float(image[1].mean()),
    }


def _rasterio_fallback(local: Path, split: str, row: pd.Series, reason: str) -> dict:
    import rasterio

    s1 = str(row["s1_name"])
    folder = local / V2_DIR / s1_scene_prefix(s1) / s1
    bands = []
    for band in ("VH", "VV"):  # TorchGeo's order: sorted file names
        with rasterio.open(folder / f"{s1}_{band}.tif") as src:
            bands.append(src.read(1))
    image = np.stack(bands)
    if image.shape != (2, 120, 120):
        raise OutputError(f"{folder}: image shape {image.shape}; expected (2, 120, 120)")
    return {"loader": f"rasterio (torchgeo not importable: {reason})", "split": split,
            "patch_id": str(row["patch_id"]), "s1_name": s1, "image_shape": list(image.shape),
            "vh_mean_db": float(image[0].mean()), "vv_mean_db": float(image[1].mean())}
