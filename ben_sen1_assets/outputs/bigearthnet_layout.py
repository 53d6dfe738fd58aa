"""A BigEarthNet export root that loaders open as it is: the files they index patches by.

``export_bigearthnet(stores, root)`` writes, beside the patch folders of
:mod:`ben_sen1_assets.outputs.export`, everything TorchGeo's ``BigEarthNet`` (v1, ``bands="s1"``)
and ``BigEarthNetV2`` (``bands="s1"``) and ConfigILM's BENv2 data set read::

    root/BigEarthNet-S1-v1.0/<S1 patch>/...                 v1 patch folders
    root/bigearthnet-{train,val,test}.csv                   v1 splits: "<S2 v1 patch>,<S1 patch>"
    root/BigEarthNet-S1/<S1 scene>/<S1 patch>/...           v2 (reBEN) patch folders
    root/metadata.parquet                                   reBEN columns, patches not flagged
    root/metadata_for_patches_with_snow_cloud_or_shadow.parquet   reBEN columns, flagged patches
    root/Reference_Maps/<patch dir>/<patch_id>/<patch_id>_reference_map.tif
    root/BigEarthNet-S2/README.txt                          S1-only export (TorchGeo checks the folder)

Rows (``export_records``), one per exported patch:

* ``patch_id``: the reBEN (v2) S2 patch id where the patch is in reBEN; otherwise
  ``<partition key>_<xx>_<yy>`` (e.g. ``33TTG_20211223_61_39``), which names no S2 product.
* ``labels``: the reBEN 19-class names; ``[]`` outside reBEN (no labels are made up).
* ``split``: the reBEN split where the patch is in reBEN; otherwise :func:`block_split`: the
  91 x 91 patch grid of the MGRS tile is cut into blocks of 10 x 10 patches (12 km) and each
  block goes whole to train / validation / test (0.5 / 0.25 / 0.25, about reBEN's proportions)
  by a SHA-256 hash of ``<MGRS>:<block x>:<block y>``. Whole blocks keep neighbouring patches in
  one split; keying by MGRS (not date) keeps one place in one split across acquisition dates.
  Overlapping MGRS tiles are hashed independently.
* ``country`` (reBEN's, else ""), ``s1_name`` (ours: the product this project cut the patch
  from), ``s2v1_name`` (None outside BigEarthNet v1), ``contains_seasonal_snow``,
  ``contains_cloud_or_shadow`` (reBEN's flags; False where reBEN has none: not flagged).

Reference maps: reBEN's are CLC 2018 rasters, which are not available offline. TorchGeo's
``BigEarthNetV2`` opens one for every sample, so each exported patch gets a 120 x 120 uint16
map filled with CLC's "no data" code 999 (also the nodata value): it says "no pixel labels",
and TorchGeo passes 999 through unchanged (use it as the ignore index).

The v1 split files give the reBEN split (``validation`` written to ``-val``) where the patch is
in reBEN (BigEarthNet v1's own splits are not available offline), else the block rule.

Tables are written last, so a reader indexing the root finds every file they name.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio
import xarray as xr
from upath import UPath

from ben_sen1_assets.formats.atomic import atomic_file
from ben_sen1_assets.grid.catalog import bigearthnet_patch_table
from ben_sen1_assets.grid.patches import PATCH_SIZE_PX

from .export import (
    _publish,
    _stage_dir,
    export_bigearthnet_v1,
    export_bigearthnet_v2,
    open_patch_store,
    selected_patches,
)

__all__ = [
    "REBEN_COLUMNS",
    "SPLITS",
    "REFERENCE_MAP_NODATA",
    "ExportSummary",
    "block_split",
    "export_bigearthnet",
    "export_records",
    "reference_map_path",
    "v2_patch_dir",
]

V1_DIR = "BigEarthNet-S1-v1.0"
V2_DIR = "BigEarthNet-S1"
S2_DIR = "BigEarthNet-S2"
MAPS_DIR = "Reference_Maps"
METADATA = "metadata.parquet"
METADATA_FLAGGED = "metadata_for_patches_with_snow_cloud_or_shadow.parquet"
REBEN_COLUMNS = ["patch_id", "labels", "split", "country", "s1_name", "s2v1_name",
                 "contains_seasonal_snow", "contains_cloud_or_shadow"]
SPLITS = ("train", "validation", "test")
V1_SPLIT_FILES = {"train": "bigearthnet-train.csv", "validation": "bigearthnet-val.csv",
                  "test": "bigearthnet-test.csv"}
SPLIT_BLOCK_PATCHES = 10
SPLIT_FRACTIONS = (("train", 0.5), ("validation", 0.25), ("test", 0.25))
REFERENCE_MAP_NODATA = 999  # CLC "NODATA"


def block_split(mgrs: str, x: int, y: int) -> str:
    """The split of patch ``x_y`` of an MGRS tile outside reBEN (module docstring)."""
    bx, by = int(x) // SPLIT_BLOCK_PATCHES, int(y) // SPLIT_BLOCK_PATCHES
    digest = hashlib.sha256(f"{mgrs}:{bx}:{by}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2.0**64
    edge = 0.0
    for name, fraction in SPLIT_FRACTIONS:
        edge += fraction
        if u < edge:
            return name
    return SPLIT_FRACTIONS[-1][0]


def v2_patch_dir(patch_id: str) -> str:
    """The reBEN folder of a patch id: the id without its ``_<x>_<y>`` (as TorchGeo builds it)."""
    return patch_id.rsplit("_", 2)[0]


def reference_map_path(patch_id: str) -> str:
    """Relative path of a patch's reference map under the export root."""
    return f"{MAPS_DIR}/{v2_patch_dir(patch_id)}/{patch_id}/{patch_id}_reference_map.tif"


def _reben_lookup(key: str) -> dict[tuple[int, int], tuple]:
    table = bigearthnet_patch_table(key)
    if table is None:
        return {}
    out = {}
    for r in table.itertuples(index=False):
        out[(int(r.x), int(r.y))] = (
            r.s2v1_name, r.v2_patch_id, list(r.labels_v2), r.split, r.country,
            bool(r.contains_seasonal_snow) if r.v2_patch_id else False,
            bool(r.contains_cloud_or_shadow) if r.v2_patch_id else False,
        )
    return out


def export_records(
    stores: Iterable[UPath | str | xr.Dataset],
    *,
    min_valid_fraction: float = 1.0,
    only_bigearthnet: bool = False,
) -> pd.DataFrame:
    """One row per exported patch: :data:`REBEN_COLUMNS`, then ``partition_key``, ``mgrs``,
    ``x``, ``y``, ``epsg``, ``ulx``, ``uly`` (the patch's upper-left corner, UTM metres)."""
    rows = []
    for store in stores:
        ds = open_patch_store(store)
        key, mgrs, epsg = ds.attrs["partition_key"], ds.attrs.get("mgrs"), int(ds.attrs["epsg"])
        mgrs = mgrs or key.split("_")[0]
        reben = _reben_lookup(key)
        for i in selected_patches(ds, min_valid_fraction, only_bigearthnet):
            x, y = int(ds["patch_x"][i]), int(ds["patch_y"][i])
            s2v1, v2, labels, split, country, snow, cloud = reben.get((x, y), (None,) * 5 + (False, False))
            s2v1 = s2v1 if isinstance(s2v1, str) and s2v1 else None
            country = country if isinstance(country, str) else ""
            if not v2:
                labels, split, country = [], block_split(mgrs, x, y), ""
                v2 = f"{key}_{x:02d}_{y:02d}"
            rows.append({
                "patch_id": v2, "labels": labels, "split": split, "country": country or "",
                "s1_name": str(ds["s1_name"].values[i]), "s2v1_name": s2v1 or None,
                "contains_seasonal_snow": snow, "contains_cloud_or_shadow": cloud,
                "partition_key": key, "mgrs": mgrs, "x": x, "y": y, "epsg": epsg,
                "ulx": float(ds["patch_ulx"][i]), "uly": float(ds["patch_uly"][i]),
            })
    cols = [*REBEN_COLUMNS, "partition_key", "mgrs", "x", "y", "epsg", "ulx", "uly"]
    df = pd.DataFrame(rows, columns=cols)
    # pandas turns None into NaN in a column that also holds strings (a tile only partly in
    # BigEarthNet): keep None, which the tables and split files write as null / empty
    df["s2v1_name"] = pd.Series([v if isinstance(v, str) else None for v in df["s2v1_name"]],
                                index=df.index, dtype=object)
    return df.astype({"contains_seasonal_snow": bool, "contains_cloud_or_shadow": bool})


def _metadata_table(records: pd.DataFrame):
    """reBEN's ``metadata.parquet`` schema: labels a list of strings, flags boolean."""
    import pyarrow as pa

    schema = pa.schema([
        ("patch_id", pa.string()), ("labels", pa.list_(pa.string())), ("split", pa.string()),
        ("country", pa.string()), ("s1_name", pa.string()), ("s2v1_name", pa.string()),
        ("contains_seasonal_snow", pa.bool_()), ("contains_cloud_or_shadow", pa.bool_()),
    ])
    data = {c: records[c].tolist() for c in REBEN_COLUMNS}
    data["labels"] = [list(v) for v in data["labels"]]
    return pa.Table.from_pydict(data, schema=schema)


def _write_reference_map(path: Path, epsg: int, transform) -> None:
    profile = dict(driver="GTiff", width=PATCH_SIZE_PX, height=PATCH_SIZE_PX, count=1,
                   dtype="uint16", crs=rasterio.crs.CRS.from_epsg(epsg), transform=transform,
                   nodata=REFERENCE_MAP_NODATA, compress="deflate")
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.full((1, PATCH_SIZE_PX, PATCH_SIZE_PX), REFERENCE_MAP_NODATA, np.uint16))
        dst.set_band_description(1, "CLC 2018 code; 999 = no reference map (not available offline)")


def _write_reference_maps(records: pd.DataFrame, root: UPath) -> None:
    from affine import Affine

    stage = _stage_dir(root / MAPS_DIR)
    try:
        folders = []
        for r in records.itertuples(index=False):
            rel = f"{v2_patch_dir(r.patch_id)}/{r.patch_id}"
            (stage / rel).mkdir(parents=True, exist_ok=True)
            transform = Affine(10.0, 0.0, r.ulx, 0.0, -10.0, r.uly)
            _write_reference_map(stage / rel / f"{r.patch_id}_reference_map.tif", int(r.epsg), transform)
            folders.append(rel)
        _publish(stage, root / MAPS_DIR, folders, last_suffix=".tif")
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _write_text(path: UPath, text: str) -> None:
    with atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


S2_README = """This export holds Sentinel-1 patches only (BigEarthNet-S1 layout).

The folder exists because TorchGeo's BigEarthNetV2 checks for it; load with bands="s1".
For Sentinel-2, place the BigEarthNet-S2 patches here.
"""


@dataclass
class ExportSummary:
    """What :func:`export_bigearthnet` wrote."""

    root: str
    records: pd.DataFrame
    v1_names: list[str] = field(default_factory=list)
    v2_names: list[str] = field(default_factory=list)

    def split_counts(self) -> dict[str, int]:
        counts = self.records["split"].value_counts()
        return {s: int(counts.get(s, 0)) for s in SPLITS}


def export_bigearthnet(
    stores: Iterable[UPath | str | xr.Dataset],
    root: UPath | str,
    *,
    min_valid_fraction: float = 1.0,
    only_bigearthnet: bool = False,
) -> ExportSummary:
    """Write the v1 and v2 layouts and every file loaders index them by under ``root``
    (module docstring); the patches are those of :func:`ben_sen1_assets.outputs.export.export_bigearthnet_v1`."""
    root = UPath(root)
    stores = list(stores)
    opts = dict(min_valid_fraction=min_valid_fraction, only_bigearthnet=only_bigearthnet)
    records = export_records(stores, **opts)
    v1 = export_bigearthnet_v1(stores, root / V1_DIR, **opts)
    v2 = export_bigearthnet_v2(stores, root / V2_DIR, **opts)
    _write_reference_maps(records, root)
    _write_text(root / S2_DIR / "README.txt", S2_README)
    # tables last: they are what readers index the folders by
    for split, name in V1_SPLIT_FILES.items():
        sub = records[records["split"] == split]
        lines = [f"{s2 or ''},{s1}\n" for s2, s1 in zip(sub["s2v1_name"], sub["s1_name"])]
        _write_text(root / name, "".join(lines))
    import pyarrow.parquet as pq

    flagged = records["contains_seasonal_snow"] | records["contains_cloud_or_shadow"]
    for name, part in ((METADATA_FLAGGED, records[flagged]), (METADATA, records[~flagged])):
        with atomic_file(root / name, suffix=".parquet") as tmp:
            pq.write_table(_metadata_table(part), tmp)
    return ExportSummary(root=str(root), records=records, v1_names=v1, v2_names=v2)
