"""Zarr v3 stores of xarray Datasets on a local folder or an object store."""

from __future__ import annotations

import shutil
from pathlib import Path

import xarray as xr
import zarr
from upath import UPath

from ben_sen1_assets.formats.atomic import atomic_directory, is_local, local_path


def write_zarr(dataset: xr.Dataset, path: UPath) -> None:
    """Write ``dataset`` as a Zarr v3 store at ``path``; readers never see a partial store.

    Chunking comes from each variable's ``encoding["chunks"]`` (set by the producer, e.g. one
    chunk per patch); consolidated metadata lets ``xarray.open_zarr`` open it in one read.
    Fixed-width numpy strings are stored as Zarr v3 ``string`` (variable-length UTF-8): the
    fixed-width form has no Zarr v3 specification, so other Zarr libraries may not read it.
    """
    strings = [name for name, var in dataset.variables.items() if var.dtype.kind == "U"]
    if strings:
        dataset = dataset.assign({name: dataset[name].astype(object) for name in strings})
    with atomic_directory(path, root_file="zarr.json") as stage:
        dataset.to_zarr(str(stage), mode="w", zarr_format=3, consolidated=True)


def publish_zarr(local_store: Path, path: UPath) -> None:
    """Publish a finished local Zarr store (written by a streaming producer) at ``path``, atomically."""
    with atomic_directory(path, root_file="zarr.json") as stage:
        shutil.copytree(local_store, stage)


def open_zarr(path: UPath) -> xr.Dataset:
    """Open a Zarr store lazily (no dask needed) from a local path or an fsspec URL."""
    if is_local(path):
        store: str | zarr.storage.StoreLike = str(local_path(path))
        if not (local_path(path) / "zarr.json").exists():
            raise FileNotFoundError(f"{path}: no zarr.json; not a (complete) Zarr v3 store")
    else:
        if not (path / "zarr.json").exists():
            raise FileNotFoundError(f"{path}: no zarr.json; not a (complete) Zarr v3 store")
        store = zarr.storage.FsspecStore.from_url(
            str(path), storage_options=dict(path.storage_options), read_only=True
        )
    return xr.open_zarr(store, chunks=None, zarr_format=3, consolidated=True)
