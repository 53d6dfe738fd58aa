"""stac_catalog (datasets_job): pystac walks the catalog to items with assets, locally and on
S3 (moto's server on loopback); the items' proj/raster/sar fields agree with what rasterio and
pyproj read from the assets they point to."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import rasterio
from pyproj import Transformer

from .conftest import DEMO_KEYS

pystac = pytest.importorskip("pystac")  # a core dependency: never skipped in practice


def _catalog_root(e2e) -> Path:
    return Path(e2e.settings.storage) / "stac"


def _check_items(catalog, open_asset):
    items = list(catalog.get_items(recursive=True))
    by_collection = {}
    for item in items:
        by_collection.setdefault(item.collection_id, []).append(item)
    assert sorted(by_collection) == ["mosaics", "patches", "preprocessed_s1"]
    assert sorted(i.id for i in by_collection["mosaics"]) == sorted(DEMO_KEYS)
    assert sorted(i.id for i in by_collection["patches"]) == sorted(DEMO_KEYS)
    assert len(by_collection["preprocessed_s1"]) == 4  # one product feeds both Rome tiles
    for item in items:
        assert item.assets["data"].href.startswith("../")  # relative: the root can be copied
        exts = " ".join(item.stac_extensions)
        for ext in ("sar", "sat", "projection", "raster", "processing"):
            assert f"/{ext}/" in exts, (item.id, ext)
        assert item.properties["sar:polarizations"] == ["VV", "VH"]
        sources = [link for link in item.links if link.rel == "derived_from"]
        assert any("catalogue.dataspace.copernicus.eu" in link.href for link in sources)
        if item.collection_id == "patches":
            continue
        with open_asset(item.assets["data"].get_absolute_href()) as src:
            assert item.properties["proj:code"] == f"EPSG:{src.crs.to_epsg()}"
            assert item.properties["proj:shape"] == [src.height, src.width]
            assert item.properties["proj:transform"] == list(src.transform)[:6]
            bands = item.assets["data"].extra_fields["raster:bands"]
            unit = "dB" if src.tags().get("units", "dB") == "dB" else None
            assert len(bands) == src.count and [b.get("unit") for b in bands[:2]] == [unit, unit]
            assert [b["name"] for b in item.assets["data"].extra_fields["bands"]] == list(src.descriptions)
            # bbox: the raster's corners reprojected by pyproj
            tr = Transformer.from_crs(src.crs.to_epsg(), 4326, always_xy=True)
            lon, lat = tr.transform([src.bounds.left, src.bounds.right], [src.bounds.bottom, src.bounds.top])
            assert item.bbox[0] <= min(lon) + 1e-9 and item.bbox[2] >= max(lon) - 1e-9
            assert item.bbox[1] <= min(lat) + 1e-9 and item.bbox[3] >= max(lat) - 1e-9
            if item.collection_id == "mosaics":
                products = json.loads(src.tags()["source_products"])
                for p in products:
                    assert any(p in link.href for link in sources)
    return by_collection


def test_pystac_walks_local_catalog_to_assets(e2e):
    catalog = pystac.Catalog.from_file(str(_catalog_root(e2e) / "catalog.json"))
    by_collection = _check_items(catalog, rasterio.open)
    patch_item = by_collection["patches"][0]
    assert Path(patch_item.assets["data"].get_absolute_href(), "zarr.json").exists()
    coll = catalog.get_child("patches")
    assert Path(coll.assets["metadata_parquet"].get_absolute_href()).exists()


SCHEMAS = Path(__file__).resolve().parents[1] / "data" / "stac_extension_schemas"


def test_catalog_validates_against_the_stac_schemas(e2e):
    """pystac's validator (jsonschema) on every object of the catalog: the STAC core schemas
    pystac ships, and each declared extension's schema at the declared version (served from the
    copies in `data/stac_extension_schemas/`; any other URL fails the test, nothing is skipped)."""
    from pystac.stac_io import DefaultStacIO
    from pystac.validation import JsonSchemaSTACValidator, set_validator

    local = {f"https://stac-extensions.github.io/{p.stem.rsplit('-', 1)[0]}/{p.stem.rsplit('-', 1)[1]}/schema.json": p
             for p in SCHEMAS.glob("*.json")}
    served = set()

    class LocalSchemas(DefaultStacIO):
        def read_text(self, source, *args, **kwargs):
            if str(source) in local:
                served.add(str(source))
                return local[str(source)].read_text()
            assert not str(source).startswith("http"), f"schema not available offline: {source}"
            return super().read_text(source, *args, **kwargs)

    default = pystac.StacIO._default_io
    pystac.StacIO.set_default(LocalSchemas)
    set_validator(JsonSchemaSTACValidator())  # a fresh schema cache
    try:
        catalog = pystac.Catalog.from_file(str(_catalog_root(e2e) / "catalog.json"))
        n_items = catalog.validate_all()  # raises STACValidationError on the first invalid object
    finally:
        pystac.StacIO._default_io = default
        set_validator(JsonSchemaSTACValidator())
    assert n_items == 10
    declared = {e for item in catalog.get_items(recursive=True) for e in item.stac_extensions}
    assert served == declared == set(local)


def test_stac_catalog_on_s3(e2e, s3_bucket):
    """The storage root uploaded whole to S3; the catalog written there by the same code; pystac
    reads it through fsspec and rasterio opens the assets it points to over S3."""
    from upath import UPath

    from ben_sen1_assets.outputs.stac import write_stac_catalog

    base, options = s3_bucket
    root = UPath(base, **options)
    storage = Path(e2e.settings.storage)
    for folder in ("preprocessed_s1", "mosaics", "patches"):
        for f in (storage / folder).rglob("*"):
            if f.is_file():
                root.fs.put_file(str(f), f"{root.path}/{f.relative_to(storage).as_posix()}")
    counts = write_stac_catalog(root)
    assert counts == {"preprocessed_s1": 4, "mosaics": 3, "patches": 3}

    fs = root.fs

    class FsspecStacIO(pystac.StacIO):
        def read_text(self, source, *args, **kwargs):
            return fs.cat_file(str(source).removeprefix("s3://")).decode()

        def write_text(self, dest, txt, *args, **kwargs):
            fs.pipe_file(str(dest).removeprefix("s3://"), txt.encode())

    catalog = pystac.Catalog.from_file(f"{base}/stac/catalog.json", stac_io=FsspecStacIO())

    def open_s3(href):
        assert href.startswith("s3://")
        return rasterio.open(href.removeprefix("s3://"), opener=fs)

    _check_items(catalog, open_s3)
