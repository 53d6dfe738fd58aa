"""BigEarthNet-S1 folder layouts exported from patch Zarr stores.

* v1.0: ``<root>/<S1 patch>/<S1 patch>_{VV,VH}.tif`` + ``<S1 patch>_labels_metadata.json``
  (``root`` is the ``BigEarthNet-S1-v1.0`` folder);
* v2.0 (reBEN): ``<root>/<S1 scene prefix>/<S1 patch>/<S1 patch>_{VV,VH}.tif`` with the scene
  prefix = the S1 patch name without ``_<MGRS>_<x>_<y>`` (e.g.
  ``S1A_IW_GRDH_1SDV_20170613T165043``; ``root`` is the ``BigEarthNet-S1`` folder).

The split files, ``metadata.parquet`` and reference maps that loaders index these folders by are
written by :mod:`ben_sen1_assets.outputs.bigearthnet_layout`.

The GeoTIFFs copy the real v1 files' format (checked on the shipped examples): 120 x 120, one
band, float32, uncompressed, striped (GDAL's default 17-row strips), band interleave, the tile's
UTM CRS as an EPSG code, PixelIsArea with the tiepoint at the patch's upper-left corner, no
nodata tag, no band description.

Labels: the v1 JSON ``labels`` are the 43-class CLC names of BigEarthNet v1 (TorchGeo's v1 loader
maps exactly those names, and fails on any other). Those labels are not available offline (the
shipped tables carry the reBEN 19-class labels only), so ``labels`` is ``[]``; the 19-class labels
are in the export's ``metadata.parquet`` (the v2 layout).

Atomic: everything is written to a local staging folder first; each patch folder is then
published whole (local: renamed into place; object stores: files uploaded with the JSON last).
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pyproj
import rasterio
import xarray as xr
from upath import UPath

from ben_sen1_assets.formats import staging
from ben_sen1_assets.formats.atomic import is_local, local_path
from ben_sen1_assets.formats.zarr_store import open_zarr
from ben_sen1_assets.grid.patches import PATCH_SIZE_M, PATCH_SIZE_PX

from .errors import OutputError
from .patches import BANDS, VARIABLE, patch_transform

__all__ = [
    "bigearthnet_projection_wkt",
    "labels_metadata",
    "export_bigearthnet_v1",
    "export_bigearthnet_v2",
    "open_patch_store",
    "selected_patches",
    "s1_scene_prefix",
]


def bigearthnet_projection_wkt(epsg: int) -> str:
    """The ``projection`` WKT as the real v1 JSON files have it: GDAL's WKT1 of the UTM CRS
    with the base geographic CRS written with its EPSG:4326 axes (latitude, longitude)."""
    crs = pyproj.CRS.from_epsg(epsg)
    wkt = crs.to_wkt("WKT1_GDAL")
    # PROJ's WKT1 leaves out the geographic axes that GDAL 3.0 wrote (EPSG order: lat, lon)
    base = crs.geodetic_crs
    axes = ",".join(
        f'AXIS["{"Latitude" if a.direction == "north" else "Longitude"}",{a.direction.upper()}]'
        for a in base.axis_info
    )
    marker = f',AUTHORITY["EPSG","{base.to_epsg()}"]],PROJECTION['
    if marker not in wkt:
        raise OutputError(f"EPSG:{epsg}: unexpected WKT1 layout {wkt[:80]}...; expected a UTM CRS")
    return wkt.replace(marker, f",{axes}{marker}", 1)


def s1_scene_prefix(s1_name: str) -> str:
    """``S1A_IW_GRDH_1SDV_20170613T165043_33UUP_61_39`` -> ``S1A_IW_GRDH_1SDV_20170613T165043``."""
    parts = s1_name.split("_")
    if len(parts) != 8:
        raise OutputError(f"S1 patch name {s1_name!r} malformed; expected 8 '_'-separated parts")
    return "_".join(parts[:5])


def _int_if_whole(v: float):
    return int(v) if float(v).is_integer() else float(v)


def labels_metadata(ds: xr.Dataset, i: int, labels: list[str] = ()) -> dict:
    """The v1 ``<S1 patch>_labels_metadata.json`` content of patch ``i`` (key order as real)."""
    ulx, uly = float(ds["patch_ulx"][i]), float(ds["patch_uly"][i])
    t = ds["acquisition_time"].values[i]
    return {
        "labels": list(labels),
        "coordinates": {
            "ulx": _int_if_whole(ulx),
            "uly": _int_if_whole(uly),
            "lrx": _int_if_whole(ulx + PATCH_SIZE_M),
            "lly": _int_if_whole(uly - PATCH_SIZE_M),  # sic: the real files say lly for lr y
        },
        "projection": bigearthnet_projection_wkt(int(ds.attrs["epsg"])),
        "corresponding_s2_patch": str(ds["s2v1_name"].values[i]),
        "scene_source": str(ds["scene_source"].values[i]),
        "acquisition_time": np.datetime_as_string(t, unit="s"),
    }


def _write_tif(path: Path, data: np.ndarray, ds: xr.Dataset, i: int) -> None:
    profile = dict(
        driver="GTiff", width=PATCH_SIZE_PX, height=PATCH_SIZE_PX, count=1, dtype="float32",
        crs=rasterio.crs.CRS.from_epsg(int(ds.attrs["epsg"])), transform=patch_transform(ds, i),
        nodata=None,
    )
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data.astype(np.float32, copy=False), 1)


def selected_patches(ds: xr.Dataset, min_valid_fraction: float, only_bigearthnet: bool) -> list[int]:
    """Indices of the patches an export writes (see :func:`export_bigearthnet_v1`)."""
    s1 = ds["s1_name"].values
    ok = (s1 != "") & (ds["valid_fraction"].values >= min_valid_fraction)
    if only_bigearthnet:
        ok &= ds["s2v1_name"].values != ""
    return [int(i) for i in np.flatnonzero(ok)]


_REQUIRED = ("backscatter", "s1_name", "s2v1_name", "scene_source", "acquisition_time",
             "valid_fraction", "patch_x", "patch_y", "patch_ulx", "patch_uly")


def open_patch_store(store: UPath | str | xr.Dataset) -> xr.Dataset:
    ds = store if isinstance(store, xr.Dataset) else open_zarr(UPath(store))
    missing = [k for k in _REQUIRED if k not in ds.variables]
    missing += [k for k in ("epsg", "partition_key") if k not in ds.attrs]
    if missing:
        label = store if not isinstance(store, xr.Dataset) else ds.attrs.get("partition_key", "dataset")
        raise OutputError(f"patch store {label}: {missing} missing; expected a patch store "
                          "written by outputs.patches")
    return ds


def _stage_dir(root: UPath) -> Path:
    if is_local(root):
        final = local_path(root)
        final.parent.mkdir(parents=True, exist_ok=True)
        stage = staging.temp_sibling(final, "stage")
        stage.mkdir()
        return stage
    return staging.new_dir("ben_sen1_export_")


def _publish(stage: Path, root: UPath, folders: list[str], last_suffix: str) -> None:
    """Move each staged patch folder (relative path) to ``root``, replacing an older one."""
    if is_local(root):
        base = local_path(root)
        for rel in folders:
            src, dst = stage / rel, base / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            if dst.exists():
                old = dst.with_name(f".{dst.name}.{uuid.uuid4().hex[:12]}.old")
                os.replace(dst, old)
                os.replace(src, dst)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(src, dst)
        return
    fs = root.fs
    base = root.path.rstrip("/")
    for rel in folders:
        files = sorted((stage / rel).iterdir(), key=lambda p: (p.name.endswith(last_suffix), p.name))
        for f in files:  # the JSON (the file readers index) goes last
            fs.put_file(str(f), f"{base}/{rel}/{f.name}")


def _export(stores, root, *, v2: bool, min_valid_fraction: float,
            only_bigearthnet: bool) -> list[str]:
    root = UPath(root)
    stage = _stage_dir(root)
    published: list[str] = []
    try:
        folders: list[str] = []
        for store in stores:
            ds = open_patch_store(store)
            for i in selected_patches(ds, min_valid_fraction, only_bigearthnet):
                name = str(ds["s1_name"].values[i])
                rel = f"{s1_scene_prefix(name)}/{name}" if v2 else name
                folder = stage / rel
                folder.mkdir(parents=True, exist_ok=False)
                data = ds[VARIABLE].isel(patch=i).values  # one chunk
                for b, band in enumerate(BANDS):
                    _write_tif(folder / f"{name}_{band}.tif", data[b], ds, i)
                if not v2:
                    meta = labels_metadata(ds, i)
                    (folder / f"{name}_labels_metadata.json").write_text(json.dumps(meta), encoding="utf-8")
                folders.append(rel)
        _publish(stage, root, folders, last_suffix=".json")
        published = [f.rsplit("/", 1)[-1] for f in folders]
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return published


def export_bigearthnet_v1(
    stores: Iterable[UPath | str | xr.Dataset],
    root: UPath | str,
    *,
    min_valid_fraction: float = 1.0,
    only_bigearthnet: bool = False,
) -> list[str]:
    """Export patch stores in the BigEarthNet-S1 v1.0 layout under ``root``; returns the S1
    patch names written.

    Patches are exported when they have an S1 name and at least ``min_valid_fraction`` of
    valid pixels (default 1.0: complete patches only, as in BigEarthNet; lower it to export
    patches containing NaN). ``only_bigearthnet`` keeps only patches with a BigEarthNet S2
    partner. ``labels`` in the JSON is ``[]`` (see the module docstring).
    """
    return _export(stores, root, v2=False, min_valid_fraction=min_valid_fraction,
                   only_bigearthnet=only_bigearthnet)


def export_bigearthnet_v2(
    stores: Iterable[UPath | str | xr.Dataset],
    root: UPath | str,
    *,
    min_valid_fraction: float = 1.0,
    only_bigearthnet: bool = False,
) -> list[str]:
    """Export patch stores in the reBEN (v2.0) layout under ``root`` (the ``BigEarthNet-S1``
    folder): ``<scene prefix>/<S1 patch>/<S1 patch>_{VV,VH}.tif``; returns the names written."""
    return _export(stores, root, v2=True, min_valid_fraction=min_valid_fraction,
                   only_bigearthnet=only_bigearthnet)
