"""IO managers on Dagster's ``UPathIOManager``: GeoParquet, Zarr v3, Cloud-Optimized GeoTIFF.

One class per format serves a local folder (the default) and object storage (``s3://``,
``gs://``, ``az://``): the path is a ``UPath`` built from ``base_path`` + fsspec options.
Layout: ``<base>/<asset>/<partition key><ext>``. All writes are atomic (see
``ben_sen1_assets.formats.atomic``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field, field_validator
from upath import UPath

from ben_sen1_assets.failures import storage_writes
from ben_sen1_assets.settings import check_no_credentials

# geopandas, xarray, rasterio and zarr are imported where a value is written or read, so that
# loading the code location stays cheap


class GeoParquetIOManager(dg.UPathIOManager):
    """GeoDataFrames as GeoParquet (geometry encoding WKB, CRS in the GeoParquet metadata)."""

    extension = ".parquet"

    def dump_to_path(self, context: dg.OutputContext, obj, path: UPath) -> None:
        import geopandas as gpd

        from ben_sen1_assets.formats.atomic import atomic_file

        if not isinstance(obj, gpd.GeoDataFrame):
            raise TypeError(f"{context.asset_key.to_user_string()}: expected a GeoDataFrame, got {type(obj).__name__}")
        with storage_writes(path), atomic_file(path, suffix=".parquet") as tmp:
            obj.to_parquet(tmp, index=False)

    def load_from_path(self, context: dg.InputContext, path: UPath):
        import geopandas as gpd

        with path.open("rb") as f:
            return gpd.read_parquet(f)

    def get_metadata(self, context: dg.OutputContext, obj) -> dict[str, Any]:
        return {"dagster/row_count": len(obj), "crs": str(obj.crs)}


class ZarrIOManager(dg.UPathIOManager):
    """xarray Datasets as Zarr v3 stores (consolidated; opened lazily on load).

    An output is an xarray Dataset, or the local ``Path`` of a finished Zarr store that a
    streaming producer wrote in a staging folder (published, then removed there).
    """

    extension = ".zarr"

    def dump_to_path(self, context: dg.OutputContext, obj, path: UPath) -> None:
        import xarray as xr

        from ben_sen1_assets.formats.cog import discard_staged
        from ben_sen1_assets.formats.zarr_store import publish_zarr, write_zarr

        if isinstance(obj, Path):
            with storage_writes(path):
                publish_zarr(obj, path)
            discard_staged([obj])
            return
        if not isinstance(obj, xr.Dataset):
            raise TypeError(f"{context.asset_key.to_user_string()}: expected an xarray Dataset, got {type(obj).__name__}")
        with storage_writes(path):
            write_zarr(obj, path)

    def load_from_path(self, context: dg.InputContext, path: UPath):
        from ben_sen1_assets.formats.zarr_store import open_zarr

        return open_zarr(path)

    def get_metadata(self, context: dg.OutputContext, obj) -> dict[str, Any]:
        if isinstance(obj, Path):
            return {}
        return {"dims": dg.MetadataValue.json({k: int(v) for k, v in obj.sizes.items()})}


class CogIOManager(dg.UPathIOManager):
    """Rasters on a tile grid as Cloud-Optimized GeoTIFF.

    An output is a ``Raster``, a finished local GeoTIFF ``Path`` (converted to COG), or a mapping
    of names to either (a folder of COGs with an ``index.json``). Loading gives the ``UPath`` of
    the COG (or a dict of them): consumers read windows, never whole tiles.
    """

    extension = ".tif"

    def dump_to_path(self, context: dg.OutputContext, obj: Any, path: UPath) -> None:
        from ben_sen1_assets.formats.cog import Raster, discard_staged, write_cog, write_cog_collection

        if isinstance(obj, Mapping):
            with storage_writes(path.with_suffix(".cogs")):
                write_cog_collection(obj, path.with_suffix(".cogs"))
            discard_staged(obj.values())
        elif isinstance(obj, (Raster, Path)):
            with storage_writes(path):
                write_cog(obj, path)
            discard_staged([obj])
        else:
            raise TypeError(
                f"{context.asset_key.to_user_string()}: expected a Raster, a GeoTIFF path or a mapping "
                f"of them, got {type(obj).__name__}"
            )

    def load_from_path(self, context: dg.InputContext, path: UPath) -> UPath | dict[str, UPath]:
        from ben_sen1_assets.formats.cog import read_cog_collection

        collection = path.with_suffix(".cogs")
        if collection.exists():
            return read_cog_collection(collection)
        if not path.exists():
            raise FileNotFoundError(str(path))
        return path

    def path_exists(self, path: UPath) -> bool:
        return path.exists() or path.with_suffix(".cogs").exists()

    def get_metadata(self, context: dg.OutputContext, obj: Any) -> dict[str, Any]:
        if not isinstance(obj, Mapping):
            return {}
        # a collection lives in <key>.cogs/: replace the base class's <key>.tif path metadata
        if context.has_asset_partitions:
            path = next(iter(self._get_paths_for_partitions(context).values()))
        else:
            path = self._get_path(context)
        return {"path": dg.MetadataValue.path(str(path.with_suffix(".cogs"))), "n_cogs": len(obj)}


class _UPathIOManagerFactory(dg.ConfigurableIOManagerFactory):
    base_path: str = Field(description="Folder or fsspec URL (s3://bucket/prefix) of asset storage")
    storage_options: dict[str, Any] = Field(
        default={}, description="fsspec options, e.g. endpoint_url; no credentials (AWS_* variables instead)"
    )

    @field_validator("storage_options")
    @classmethod
    def _no_credentials(cls, options: dict[str, Any]) -> dict[str, Any]:
        # resource config is stored in every run's snapshot in the instance: never a secret
        check_no_credentials(options, "storage_options of the asset storage")
        return options

    def _base(self) -> UPath:
        return UPath(self.base_path, **self.storage_options)


class GeoParquetIOManagerFactory(_UPathIOManagerFactory):
    """GeoParquet storage for tables (footprints, selections, mappings)."""

    def create_io_manager(self, context) -> GeoParquetIOManager:
        return GeoParquetIOManager(base_path=self._base())


class ZarrIOManagerFactory(_UPathIOManagerFactory):
    """Zarr v3 storage for patch stacks."""

    def create_io_manager(self, context) -> ZarrIOManager:
        return ZarrIOManager(base_path=self._base())


class CogIOManagerFactory(_UPathIOManagerFactory):
    """Cloud-Optimized GeoTIFF storage for rasters on tile grids."""

    def create_io_manager(self, context) -> CogIOManager:
        return CogIOManager(base_path=self._base())
