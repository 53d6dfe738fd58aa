"""Cloud-Optimized GeoTIFF on a tile grid: an in-memory raster value, writing and opening."""

from __future__ import annotations

import json
import shutil

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from affine import Affine
from rasterio.crs import CRS
from upath import UPath

from ben_sen1_assets.formats.atomic import atomic_directory, atomic_file, is_local, local_path
from ben_sen1_assets.formats.cog_writer import COG_OPTIONS, CogWriter


@dataclass
class Raster:
    """A georeferenced stack of bands: ``data`` has shape (bands, rows, cols)."""

    data: np.ndarray
    transform: Affine
    crs: CRS | str | int
    band_names: tuple[str, ...] = ()
    nodata: float | None = float("nan")
    tags: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.data.ndim == 2:
            self.data = self.data[np.newaxis]
        if self.data.ndim != 3:
            raise ValueError(f"Raster data must be (bands, rows, cols), got shape {self.data.shape}")
        if self.band_names and len(self.band_names) != self.data.shape[0]:
            raise ValueError(
                f"{len(self.band_names)} band names for {self.data.shape[0]} bands: {self.band_names}"
            )

    @property
    def profile(self) -> dict:
        crs = self.crs if isinstance(self.crs, CRS) else CRS.from_user_input(self.crs)
        count, height, width = self.data.shape
        return {
            "driver": "GTiff",
            "count": count,
            "height": height,
            "width": width,
            "dtype": self.data.dtype.name,
            "crs": crs,
            "transform": self.transform,
            "nodata": self.nodata,
        }


def write_cog(source: Raster | Path, path: UPath) -> None:
    """Write ``source`` (a Raster, or a finished local GeoTIFF) as a COG at ``path``, atomically.

    A Raster is encoded once with its averaged overviews (:class:`.cog_writer.CogWriter`); a plain
    GeoTIFF is converted by GDAL's COG driver with the same options; a COG is copied as it is.
    """
    if isinstance(source, Raster):
        profile = source.profile
        count, height, width = source.data.shape
        with CogWriter(path, height, width, count, source.data.dtype, profile["crs"], source.transform,
                       band_names=source.band_names, nodata=source.nodata, tags=source.tags) as writer:
            for row in range(0, height, 1024):
                writer.write(source.data[:, row : row + 1024])
        return
    with atomic_file(path, suffix=".tif") as tmp:
        if is_cog(Path(source)):
            shutil.copyfile(source, tmp)  # already a COG: no re-encoding
        else:
            rasterio.shutil.copy(Path(source), tmp, driver="COG", **COG_OPTIONS)


def is_cog(path: Path) -> bool:
    """True if the file has the COG layout: tiled, every IFD before any data, each overview's data
    before that of the level above it. GDAL says so (``LAYOUT=COG``) for what its COG driver wrote;
    the band-interleaved files of :class:`.cog_writer.CogWriter` are checked from the offsets
    GDAL reports, as GDAL's COG validation does."""
    with rasterio.open(path) as src:
        if src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG":
            return True
        if not src.profile.get("tiled"):
            return False
        levels = [None, *range(len(src.overviews(1)))]
        ifds = [int(src.get_tag_item("IFD_OFFSET", "TIFF", bidx=1, ovr=o)) for o in levels]
        # first block of each band, per level (full resolution first)
        data = [[int(src.get_tag_item("BLOCK_OFFSET_0_0", "TIFF", bidx=b, ovr=o) or 0) for b in src.indexes]
                for o in levels]
    starts = [min(d) for d in data]
    return (ifds == sorted(ifds) and max(ifds) < min(starts) and 0 not in (v for d in data for v in d)
            and all(starts[k + 1] < starts[k] for k in range(len(starts) - 1)))


def open_raster(path: UPath | str) -> rasterio.DatasetReader:
    """Open a COG from a local path or any fsspec URL (reads only the blocks asked for)."""
    path = UPath(path) if not isinstance(path, UPath) else path
    if is_local(path):
        return rasterio.open(local_path(path))
    return rasterio.open(path.path, opener=path.fs)


def read_raster(path: UPath | str) -> Raster:
    """Read a whole (small) COG into memory with its band names and tags."""
    with open_raster(path) as src:
        return Raster(
            data=src.read(),
            transform=src.transform,
            crs=src.crs,
            band_names=tuple(d or f"band_{i + 1}" for i, d in enumerate(src.descriptions)),
            nodata=src.nodata,
            tags=src.tags(),
        )


COLLECTION_INDEX = "index.json"
STAGING_PREFIX = "ben_sen1_staged_"


def new_staging_dir() -> Path:
    """A private local folder for rasters a producer hands over to be published (then removed;
    one left by a killed process is removed by the next call, see ``formats.staging``)."""
    from .staging import new_dir

    return new_dir(STAGING_PREFIX)


def discard_staged(items) -> None:
    """Remove handed-over local files that live in a staging folder (after they were published)."""
    for item in items:
        if isinstance(item, Path) and item.parent.name.startswith(STAGING_PREFIX):
            if item.is_dir():
                shutil.rmtree(item, ignore_errors=True)
            else:
                item.unlink(missing_ok=True)
            try:
                item.parent.rmdir()
            except OSError:
                pass  # other staged files still there


def write_cog_collection(items: Mapping[str, Raster | Path], folder: UPath) -> None:
    """Write one COG per key into ``folder`` (e.g. one per source product of a tile), atomically.

    ``index.json`` (written last) lists the members; a folder without it is incomplete.
    """
    with atomic_directory(folder, root_file=COLLECTION_INDEX) as stage:
        stage.mkdir(parents=True)
        for name, item in items.items():
            write_cog(item, UPath(stage / f"{name}.tif"))
        (stage / COLLECTION_INDEX).write_text(json.dumps({"members": sorted(items)}, indent=1))


def read_cog_collection(folder: UPath) -> dict[str, UPath]:
    """The members of a COG collection folder, by name."""
    index = folder / COLLECTION_INDEX
    if not index.exists():
        raise FileNotFoundError(f"{folder}: no {COLLECTION_INDEX}; not a complete COG collection")
    members = json.loads(index.read_text())["members"]
    return {name: folder / f"{name}.tif" for name in members}
