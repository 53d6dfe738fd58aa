"""A static STAC catalog of the outputs in a storage root (local folder or object store).

``<storage>/stac/catalog.json`` with three collections, one item per product or tile:

* ``preprocessed_s1``: one item per preprocessed product on a tile grid (``<key>.cogs/<product>.tif``);
* ``mosaics``: one item per tile (``mosaics/<key>.tif``);
* ``patches``: one item per tile (``patches/<key>.zarr``), with the BigEarthNet export's tables,
  split files and LMDB as collection assets where they exist.

Items carry the ``sar``, ``sat``, ``proj``, ``raster`` and ``processing`` extensions and link to
their sources (``derived_from``): the ESA product in the Copernicus Data Space catalogue (an
OData query by product name, resolvable whichever archive the product was fetched from), and
the items they were made from. Every href is relative, so the whole storage root can be copied
or uploaded and the catalog still resolves. Item geometries are the raster's (or the patches')
extent reprojected to WGS84, not the footprint of valid pixels.

The catalog is built under a virtual root (``/storage``) and saved self-contained into a local
staging folder, then published whole (``catalog.json`` last on object stores).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timezone

import numpy as np
from upath import UPath

from ben_sen1_assets.formats.atomic import atomic_directory
from ben_sen1_assets.formats.cog import COLLECTION_INDEX, open_raster

__all__ = ["STAC_DIR", "PROCESSING_SCHEMA", "build_catalog", "write_stac_catalog", "source_product_href"]

STAC_DIR = "stac"
PROCESSING_SCHEMA = "https://stac-extensions.github.io/processing/v1.2.0/schema.json"
_VROOT = "/storage"  # hrefs are computed under this virtual root, then made relative
_CDSE_ODATA = "https://catalogue.dataspace.copernicus.eu/odata/v1/Products?$filter=Name%20eq%20%27{}.SAFE%27"
S1_CENTER_FREQUENCY_GHZ = 5.405
ANGLE_UNIT = {"local_incidence_angle": "degree"}


def source_product_href(name: str) -> str:
    """The Copernicus Data Space catalogue entry of an S1 product, by its name."""
    return _CDSE_ODATA.format(name)


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def _footprint(src) -> tuple[dict, list[float]]:
    from rasterio.warp import transform_geom
    from shapely.geometry import box, mapping, shape

    left, bottom, right, top = src.bounds
    geom = transform_geom(src.crs, "EPSG:4326", mapping(box(left, bottom, right, top).segmentize((right - left) / 20)))
    return geom, list(shape(geom).bounds)


def _raster_bands(src, units: dict[str, str]) -> list:
    from pystac.extensions.raster import RasterBand

    bands = []
    for i, name in enumerate(src.descriptions):
        nodata = src.nodatavals[i]
        nodata = "nan" if nodata is not None and np.isnan(nodata) else nodata
        bands.append(RasterBand.create(nodata=nodata, data_type=src.dtypes[i], unit=units.get(name)))
    return bands


def _proj(obj, src) -> None:
    from pystac.extensions.projection import ProjectionExtension

    proj = ProjectionExtension.ext(obj, add_if_missing=True)
    proj.epsg = src.crs.to_epsg()
    proj.shape = [src.height, src.width]
    proj.transform = list(src.transform)[:6]
    proj.bbox = list(src.bounds)


def _processing(item, software_version: str, lineage: str, level: str, extra: dict | None = None) -> None:
    if PROCESSING_SCHEMA not in item.stac_extensions:
        item.stac_extensions.append(PROCESSING_SCHEMA)
    item.properties.update({
        "processing:level": level,
        "processing:lineage": lineage,
        "processing:software": {"ben_sen1_assets": software_version},
        **(extra or {}),
    })


def _sar_sat(item, mission: str, pass_direction: str, relative_orbit: int | None,
             absolute_orbits: list[int]) -> None:
    from pystac.extensions.sar import FrequencyBand, ObservationDirection, Polarization, SarExtension
    from pystac.extensions.sat import OrbitState, SatExtension

    sar = SarExtension.ext(item, add_if_missing=True)
    sar.apply(instrument_mode="IW", frequency_band=FrequencyBand.C,
              polarizations=[Polarization.VV, Polarization.VH], product_type="GRD",
              center_frequency=S1_CENTER_FREQUENCY_GHZ, observation_direction=ObservationDirection.RIGHT)
    sat = SatExtension.ext(item, add_if_missing=True)
    sat.orbit_state = OrbitState(pass_direction.lower())
    if relative_orbit is not None:
        sat.relative_orbit = int(relative_orbit)
    if len(absolute_orbits) == 1:
        sat.absolute_orbit = int(absolute_orbits[0])
    item.common_metadata.platform = f"sentinel-{mission[1:].lower()}" if mission else None
    item.common_metadata.constellation = "sentinel-1"
    item.common_metadata.instruments = ["c-sar"]


def _add_cog_asset(item, href: str, title: str, src, units: dict[str, str]) -> None:
    import pystac
    from pystac.extensions.raster import RasterExtension

    asset = pystac.Asset(href=href, media_type=pystac.MediaType.COG, title=title, roles=["data"])
    item.add_asset("data", asset)
    RasterExtension.ext(asset, add_if_missing=True).bands = _raster_bands(src, units)
    asset.extra_fields["bands"] = [{"name": d} for d in src.descriptions]


def _keys(root: UPath, folder: str, suffix: str) -> list[str]:
    base = root / folder
    if not base.exists():
        return []
    return sorted(p.name[: -len(suffix)] for p in base.iterdir() if p.name.endswith(suffix))


def _preprocessed_items(root: UPath, version: str):
    import pystac

    items = []
    for key in _keys(root, "preprocessed_s1", ".cogs"):
        folder = root / "preprocessed_s1" / f"{key}.cogs"
        if not (folder / COLLECTION_INDEX).exists():
            continue  # an incomplete collection is not published
        members = json.loads((folder / COLLECTION_INDEX).read_text())["members"]
        for product in members:
            with open_raster(folder / f"{product}.tif") as src:
                tags = src.tags()
                geom, bbox = _footprint(src)
                item = pystac.Item(
                    id=f"{product}_{key.split('_')[0]}", geometry=geom, bbox=bbox, datetime=None,
                    start_datetime=_time(tags["start_time"]),
                    end_datetime=_time(tags.get("stop_time", tags["start_time"])),
                    properties={"ben_sen1:partition_key": key, "ben_sen1:source_product": product},
                )
                item.common_metadata.start_datetime = _time(tags["start_time"])
                item.properties["datetime"] = tags["start_time"]
                _add_cog_asset(
                    item, f"{_VROOT}/preprocessed_s1/{key}.cogs/{product}.tif",
                    f"{tags.get('quantity', 'backscatter')} ({tags.get('units', 'dB')}) on the {key.split('_')[0]} grid",
                    src, ({"VV": "dB", "VH": "dB"} if tags.get("units", "dB") == "dB" else {}) | ANGLE_UNIT)
                _proj(item, src)
            _sar_sat(item, tags.get("mission", product[:3]), tags.get("pass_direction", "ascending"),
                     int(tags["relative_orbit"]) if "relative_orbit" in tags else None,
                     [int(tags["absolute_orbit"])] if "absolute_orbit" in tags else [])
            processing = json.loads(tags.get("processing", "{}"))
            _processing(item, version, level="L2",
                        lineage=("GRD border/thermal noise removal, radiometric calibration "
                                 f"({processing.get('calibration', tags.get('quantity'))}), speckle filter, "
                                 f"range-Doppler terrain correction onto the S2 tile grid, {tags.get('units', 'dB')}"),
                        extra={"ben_sen1:processing_fingerprint": tags.get("processing_fingerprint"),
                               "ben_sen1:ipf_version": tags.get("ipf_version")})
            item.add_link(pystac.Link("derived_from", source_product_href(product),
                                      media_type="application/json", title=f"{product} (Copernicus Data Space)"))
            items.append(item)
    return items


def _mosaic_items(root: UPath, version: str, preprocessed: dict[tuple[str, str], object]):
    import pystac

    items = []
    for key in _keys(root, "mosaics", ".tif"):
        with open_raster(root / "mosaics" / f"{key}.tif") as src:
            tags = src.tags()
            geom, bbox = _footprint(src)
            products = json.loads(tags.get("source_products", "[]"))
            starts = [_time(t) for t in json.loads(tags.get("source_start_times", "[]"))]
            source_tags = json.loads(tags.get("source_tags", "{}"))
            item = pystac.Item(
                id=key, geometry=geom, bbox=bbox, datetime=None,
                start_datetime=min(starts), end_datetime=max(starts),
                properties={"ben_sen1:partition_key": key, "ben_sen1:mosaic_rule": tags.get("mosaic_rule"),
                            "ben_sen1:s2_sensing_time": tags.get("s2_sensing_time")},
            )
            _add_cog_asset(item, f"{_VROOT}/mosaics/{key}.tif", f"mosaic of {len(products)} products, {key}",
                           src, {"VV": "dB", "VH": "dB"} | ANGLE_UNIT)
            if (root / "mosaics" / f"{key}.vrt").exists():
                item.add_asset("vrt", pystac.Asset(
                    href=f"{_VROOT}/mosaics/{key}.vrt", media_type="application/xml", roles=["data"],
                    title="GDAL VRT: VV, VH (dB), the provenance and mask bands as integers with nodata"))
            _proj(item, src)
        first = source_tags.get(products[0], {}) if products else {}
        orbits = sorted({int(t["absolute_orbit"]) for t in source_tags.values() if "absolute_orbit" in t})
        rel = {int(t["relative_orbit"]) for t in source_tags.values() if "relative_orbit" in t}
        _sar_sat(item, first.get("mission", ""), first.get("pass_direction", "ascending"),
                 rel.pop() if len(rel) == 1 else None, orbits)
        _processing(item, version, level="L2",
                    lineage=f"mosaic ({tags.get('mosaic_rule')}) of preprocessed products: {', '.join(products)}")
        for p in products:
            if (key, p) in preprocessed:
                item.add_link(pystac.Link("derived_from", preprocessed[(key, p)], media_type="application/json"))
            item.add_link(pystac.Link("derived_from", source_product_href(p), media_type="application/json",
                                      title=f"{p} (Copernicus Data Space)"))
        items.append(item)
    return items


def _patch_items(root: UPath, version: str, mosaics: dict[str, object]):
    import pystac
    from pyproj import Transformer

    from ben_sen1_assets.formats.zarr_store import open_zarr
    from shapely.geometry import box, mapping

    items = []
    for key in _keys(root, "patches", ".zarr"):
        store = root / "patches" / f"{key}.zarr"
        if not (store / "zarr.json").exists():
            continue
        ds = open_zarr(store)
        epsg = int(ds.attrs["epsg"])
        ulx, uly = ds["patch_ulx"].values, ds["patch_uly"].values
        left, right = float(ulx.min()), float(ulx.max()) + 1200.0
        bottom, top = float(uly.min()) - 1200.0, float(uly.max())
        tr = Transformer.from_crs(epsg, 4326, always_xy=True)
        lon, lat = tr.transform([left, right, right, left], [bottom, bottom, top, top])
        geom = mapping(box(min(lon), min(lat), max(lon), max(lat)))
        t = ds["acquisition_time"].values
        t = t[~np.isnat(t)]
        products = json.loads(ds.attrs.get("source_products", "[]"))
        start = datetime.fromtimestamp(t.min().astype("datetime64[us]").astype(int) / 1e6, timezone.utc) if len(t) else None
        end = datetime.fromtimestamp(t.max().astype("datetime64[us]").astype(int) / 1e6, timezone.utc) if len(t) else None
        item = pystac.Item(
            id=key, geometry=geom, bbox=[min(lon), min(lat), max(lon), max(lat)],
            datetime=None if start else _time(ds.attrs["s2_sensing_time"]),
            start_datetime=start, end_datetime=end,
            properties={"ben_sen1:partition_key": key, "ben_sen1:n_patches": int(ds.sizes["patch"]),
                        "ben_sen1:s2_sensing_time": ds.attrs.get("s2_sensing_time")},
        )
        from pystac.extensions.projection import ProjectionExtension
        from pystac.extensions.raster import RasterBand, RasterExtension

        ProjectionExtension.ext(item, add_if_missing=True).apply(epsg=epsg, bbox=[left, bottom, right, top])
        asset = pystac.Asset(href=f"{_VROOT}/patches/{key}.zarr", media_type="application/vnd+zarr",
                             title=f"{ds.sizes['patch']} patches of 120 x 120 px (Zarr v3), {key}",
                             roles=["data"])
        item.add_asset("data", asset)
        RasterExtension.ext(asset, add_if_missing=True).bands = [
            RasterBand.create(nodata="nan", data_type="float32", unit="dB") for _ in ds["band"].values]
        asset.extra_fields["bands"] = [{"name": str(b)} for b in ds["band"].values]
        ds.close()
        _sar_sat(item, products[0][:3] if products else "", _pass_of(mosaics.get(key)), None, [])
        _processing(item, version, level="L2", lineage="120 x 120 px patches cut from the tile mosaic")
        if key in mosaics:
            item.add_link(pystac.Link("derived_from", mosaics[key], media_type="application/json"))
        for p in products:
            item.add_link(pystac.Link("derived_from", source_product_href(p), media_type="application/json",
                                      title=f"{p} (Copernicus Data Space)"))
        items.append(item)
    return items


def _pass_of(mosaic_item) -> str:
    if mosaic_item is None or not hasattr(mosaic_item, "properties"):
        return "ascending"
    return mosaic_item.properties.get("sat:orbit_state", "ascending")


def _collection(cid: str, description: str, items: Iterable) -> object:
    import pystac

    items = list(items)
    bboxes = [i.bbox for i in items] or [[-180.0, -90.0, 180.0, 90.0]]
    bbox = [min(b[0] for b in bboxes), min(b[1] for b in bboxes), max(b[2] for b in bboxes), max(b[3] for b in bboxes)]
    times = [t for i in items for t in (i.common_metadata.start_datetime, i.common_metadata.end_datetime, i.datetime) if t]
    interval = [[min(times), max(times)]] if times else [[None, None]]
    coll = pystac.Collection(
        id=cid, description=description, license="other",
        extent=pystac.Extent(pystac.SpatialExtent([bbox]), pystac.TemporalExtent(interval)),
        providers=[pystac.Provider("ESA", roles=[pystac.ProviderRole.PRODUCER, pystac.ProviderRole.LICENSOR],
                                   url="https://sentinels.copernicus.eu")],
    )
    coll.extra_fields["ben_sen1:licence_note"] = "Contains modified Copernicus Sentinel data"
    for item in items:
        coll.add_item(item)
    return coll


def build_catalog(root: UPath | str, version: str = "0.1.0"):
    """The pystac Catalog of the outputs under ``root`` (hrefs under the virtual root)."""
    import pystac

    root = UPath(root)
    catalog = pystac.Catalog(id="ben_sen1_assets", description=(
        "BigEarthNet-S1-style Sentinel-1 outputs on the Sentinel-2 tile grid: preprocessed products, "
        "tile mosaics and 120 x 120 px patch stores"))
    pre = _preprocessed_items(root, version)
    c_pre = _collection("preprocessed_s1", "Sentinel-1 GRD products preprocessed onto an S2 tile grid (COGs; dB or linear, see raster:bands)", pre)
    catalog.add_child(c_pre)
    catalog.normalize_hrefs(f"{_VROOT}/{STAC_DIR}")
    pre_items = {(i.properties["ben_sen1:partition_key"], i.properties["ben_sen1:source_product"]): i for i in pre}
    mos = _mosaic_items(root, version, pre_items)
    c_mos = _collection("mosaics", "Per-tile mosaics of the preprocessed products (dB COGs with provenance band)", mos)
    catalog.add_child(c_mos)
    catalog.normalize_hrefs(f"{_VROOT}/{STAC_DIR}")
    patches = _patch_items(root, version, {i.id: i for i in mos})
    c_pat = _collection("patches", "120 x 120 px BigEarthNet-aligned patch stores per tile (Zarr v3)", patches)
    exports = root / "exports"
    for name, media, title in (
        ("metadata.parquet", "application/vnd.apache.parquet", "reBEN-style metadata (TorchGeo BigEarthNetV2, ConfigILM)"),
        ("metadata_for_patches_with_snow_cloud_or_shadow.parquet", "application/vnd.apache.parquet", "reBEN-style metadata, flagged patches"),
        ("bigearthnet-train.csv", "text/csv", "BigEarthNet v1 train split"),
        ("BigEarthNet-S1.lmdb/data.mdb", "application/octet-stream", "LMDB of safetensors {VV, VH} (ConfigILM BENv2)"),
    ):
        if (exports / name).exists():
            c_pat.add_asset(name.split("/")[0].replace(".", "_"), pystac.Asset(
                href=f"{_VROOT}/exports/{name}", media_type=media, title=title, roles=["metadata" if "lmdb" not in name.lower() else "data"]))
    catalog.add_child(c_pat)
    catalog.normalize_hrefs(f"{_VROOT}/{STAC_DIR}")
    catalog.make_all_asset_hrefs_relative()
    for coll in (c_pre, c_mos, c_pat):
        for a in coll.assets.values():
            a.href = _relative(a.href, coll.get_self_href())
    return catalog


def _relative(href: str, start: str) -> str:
    import posixpath

    if not href.startswith("/"):
        return href
    return posixpath.relpath(href, posixpath.dirname(start))


def write_stac_catalog(root: UPath | str, version: str = "0.1.0") -> dict[str, int]:
    """Build the catalog of ``root``'s outputs and publish it at ``root/stac``; returns the item
    count per collection."""
    import pystac

    root = UPath(root)
    catalog = build_catalog(root, version)
    counts = {c.id: len(list(c.get_items())) for c in catalog.get_children()}
    with atomic_directory(root / STAC_DIR, root_file="catalog.json") as stage:
        catalog.save(catalog_type=pystac.CatalogType.SELF_CONTAINED, dest_href=str(stage))
    return counts
