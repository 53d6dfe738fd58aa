"""GDAL VRTs beside the raster outputs, so GDAL/QGIS open each as one raster with named bands.

* ``preprocessed_s1/<key>.vrt``: every product of the tile's ``<key>.cogs/`` collection on the
  union of their windows, bands ``<product> <band>`` for each of its bands: ``VV``, ``VH``
  (float32, nodata NaN; unit ``dB`` when the COG's ``units`` tag says dB, none for linear
  backscatter), ``local_incidence_angle`` (float32, ``degree``, NaN) and ``mask`` (Byte);
* ``mosaics/<key>.vrt``: the mosaic's ``VV``, ``VH`` (float32, ``dB``, NaN), its provenance
  band as an integer: ``source_index`` Int16 with nodata -1, or ``source_mask`` UInt32 with
  nodata 0, and ``local_incidence_angle`` / ``mask`` as above. The band's description names the
  products (index i = i-th of ``source_products``).

Integer bands are stored as float32 with NaN in the COGs, because a GeoTIFF has one data type
for all bands; the VRT gives them their integer type. ``mask`` (uint8 bits of
:mod:`ben_sen1_assets.sar.masks`, 0 = clean, bit 128 unused) has nodata 255 where no source
covers the pixel; its description lists the bits (the COG's ``mask_bits`` tag).

Sources are referenced relative to the VRT, so a copied or uploaded storage root still opens
(``/vsis3/...`` for S3). Written atomically, after the rasters they describe.
"""

from __future__ import annotations

import json

from upath import UPath

from ben_sen1_assets.formats.atomic import atomic_file
from ben_sen1_assets.formats.cog import COLLECTION_INDEX, open_raster
from ben_sen1_assets.formats.vrt import VrtBand, vrt_xml

__all__ = ["write_gdal_vrts", "PROVENANCE_NODATA", "INTEGER_BANDS"]

PROVENANCE_NODATA = {"source_index": (-1, "int16"), "source_mask": (0, "uint32")}
INTEGER_BANDS = {**PROVENANCE_NODATA, "mask": (255, "uint8")}
UNITS = {"local_incidence_angle": "degree"}


def _keys(base: UPath, suffix: str) -> list[str]:
    if not base.exists():
        return []
    return sorted(p.name[: -len(suffix)] for p in base.iterdir() if p.name.endswith(suffix))


def _write(path: UPath, text: str) -> None:
    with atomic_file(path, suffix=".vrt") as tmp:
        tmp.write_text(text, encoding="utf-8")


def _union_grid(infos):
    from affine import Affine

    t0 = infos[0]["transform"]
    left = min(i["transform"].c for i in infos)
    top = max(i["transform"].f for i in infos)
    right = max(i["transform"].c + i["width"] * t0.a for i in infos)
    bottom = min(i["transform"].f + i["height"] * t0.e for i in infos)
    transform = Affine(t0.a, 0.0, left, 0.0, t0.e, top)
    return transform, (round((bottom - top) / t0.e), round((right - left) / t0.a))


def _unit(tags: dict, band: str) -> str | None:
    """``dB`` for backscatter bands stored in dB (tag ``units``; mosaics are always dB), the
    angle's unit for the local incidence angle."""
    if band not in ("VV", "VH"):
        return UNITS.get(band)
    return "dB" if tags.get("units", "dB") == "dB" else None


def _band(common: dict, desc: str, dtype: str, tags: dict, label: str, products: list[str]) -> "VrtBand":
    """One VRT band over a COG band named ``desc`` (``label`` is its VRT description)."""
    if desc not in INTEGER_BANDS:
        return VrtBand(**common, dtype=dtype, description=label, unit=_unit(tags, desc))
    nodata, int_type = INTEGER_BANDS[desc]
    if desc == "mask":
        what = f"{label}: quality bits {tags.get('mask_bits', '')} (0 = clean); {nodata} = not covered"
    else:
        kind = "index into" if desc == "source_index" else "bit mask (2**i) of"
        what = f"{label}: {kind} source products {products}; {nodata} = no data"
    return VrtBand(**common, dtype=int_type, nodata=nodata, unit=None, description=what)


def _info(path: UPath) -> dict:
    with open_raster(path) as src:
        return {"transform": src.transform, "width": src.width, "height": src.height,
                "crs_wkt": src.crs.to_wkt(), "descriptions": list(src.descriptions),
                "dtypes": list(src.dtypes), "tags": src.tags()}


def preprocessed_vrt(folder: UPath) -> str:
    """The VRT text of one ``<key>.cogs`` collection (paths relative to its sibling ``<key>.vrt``)."""
    members = json.loads((folder / COLLECTION_INDEX).read_text())["members"]
    infos = [_info(folder / f"{m}.tif") | {"name": m} for m in members]
    transform, shape = _union_grid(infos)
    bands = []
    for info in infos:
        for b, desc in enumerate(info["descriptions"], start=1):
            common = dict(source=f"{folder.name}/{info['name']}.tif", band=b, source_transform=info["transform"],
                          source_shape=(info["height"], info["width"]), source_dtype=info["dtypes"][b - 1])
            bands.append(_band(common, desc, info["dtypes"][b - 1], info["tags"], f"{info['name']} {desc}", []))
    return vrt_xml(bands, infos[0]["crs_wkt"], transform, shape)


def mosaic_vrt(path: UPath) -> str:
    """The VRT text of one mosaic COG (its sibling ``<key>.vrt``)."""
    info = _info(path)
    products = json.loads(info["tags"].get("source_products", "[]"))
    bands = []
    for b, desc in enumerate(info["descriptions"], start=1):
        common = dict(source=path.name, band=b, source_transform=info["transform"],
                      source_shape=(info["height"], info["width"]), source_dtype=info["dtypes"][b - 1])
        bands.append(_band(common, desc, info["dtypes"][b - 1], info["tags"], desc, products))
    return vrt_xml(bands, info["crs_wkt"], info["transform"], (info["height"], info["width"]))


def write_gdal_vrts(root: UPath | str) -> list[str]:
    """Write the VRTs of every preprocessed collection and mosaic under ``root``; returns their
    paths relative to ``root``."""
    root = UPath(root)
    written = []
    pre = root / "preprocessed_s1"
    for key in _keys(pre, ".cogs"):
        if (pre / f"{key}.cogs" / COLLECTION_INDEX).exists():
            _write(pre / f"{key}.vrt", preprocessed_vrt(pre / f"{key}.cogs"))
            written.append(f"preprocessed_s1/{key}.vrt")
    mos = root / "mosaics"
    for key in _keys(mos, ".tif"):
        _write(mos / f"{key}.vrt", mosaic_vrt(mos / f"{key}.tif"))
        written.append(f"mosaics/{key}.vrt")
    return written
