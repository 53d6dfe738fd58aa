"""Tile catalogs: which Sentinel-2 products (tile + sensing date) to build S1 patches for.

Three sources, all giving a :class:`TileCatalog` of :class:`TileEntry`:

* :func:`load_bigearthnet_catalog` - the 125 BigEarthNet v1.0 S2 products (shipped tables in
  ``ben_sen1_assets/data/bigearthnet/``), patches in scope = that product's BigEarthNet patches;
* :func:`load_catalog_file` - a user's CSV (columns ``mgrs``, ``sensing_time``, optional
  ``patches`` = ``"x_y;x_y;..."``, ``aoi_wkt`` (WGS84 lon/lat), ``name``);
* :func:`load_demo_catalog` - the shipped demo CSV (tiles around the Rome DEM sample).

The partition key of an entry is ``<MGRS>_<YYYYMMDD>`` (UTC sensing date).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

# numpy, pandas, pyarrow, shapely and the grid modules are imported where used: the code location
# reads the partition keys of the shipped catalogs (catalog_keys) at load time, and nothing more
if TYPE_CHECKING:
    import pandas as pd
    from shapely.geometry.base import BaseGeometry

    from .tile import TileGrid

__all__ = [
    "CatalogError",
    "TileEntry",
    "TileCatalog",
    "partition_key",
    "catalog_keys",
    "load_bigearthnet_catalog",
    "load_catalog_file",
    "load_demo_catalog",
    "bigearthnet_patch_table",
    "bigearthnet_labels_v2",
]

_DATA = files("ben_sen1_assets") / "data"
_USER_COLUMNS = ("mgrs", "sensing_time", "patches", "aoi_wkt", "name")
_PATCH_RE = re.compile(r"^\s*(\d{1,3})_(\d{1,3})\s*$")


class CatalogError(ValueError):
    """A bad tile catalog (file, row and field named in the message) or an unknown key."""


def partition_key(mgrs: str, sensing_time: datetime) -> str:
    """``<MGRS>_<YYYYMMDD>`` of the UTC sensing date, e.g. ``33UUP_20170613``."""
    return f"{mgrs}_{_utc(sensing_time):%Y%m%d}"


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)


@dataclass(frozen=True)
class TileEntry:
    """One S2 product to build: a tile, a sensing time, and the patches wanted.

    ``patches_in_scope`` is a tuple of ``(x, y)`` or ``None`` meaning all 91 x 91 whole patches.
    ``source`` is ``"bigearthnet"``, ``"demo"`` or the path of the user's catalog file.
    """

    partition_key: str
    mgrs: str
    sensing_time: datetime  # timezone-aware, UTC
    l1c_name: str | None
    cdse_id: str | None
    epsg: int
    patches_in_scope: tuple[tuple[int, int], ...] | None
    aoi_wgs84: BaseGeometry | None
    source: str
    name: str | None = None

    @property
    def tile(self) -> TileGrid:
        from .tile import tile_grid

        return tile_grid(self.mgrs)

    @property
    def patches(self) -> tuple[tuple[int, int], ...]:
        """Patches in scope, all whole patches (y-major order) when unrestricted."""
        from .patches import N_PATCHES_PER_SIDE

        if self.patches_in_scope is not None:
            return self.patches_in_scope
        r = range(N_PATCHES_PER_SIDE)
        return tuple((x, y) for y in r for x in r)

    @property
    def n_patches(self) -> int:
        from .patches import N_PATCHES_PER_SIDE

        n = N_PATCHES_PER_SIDE**2
        return n if self.patches_in_scope is None else len(self.patches_in_scope)


@dataclass(frozen=True)
class TileCatalog:
    """An ordered, key-unique collection of :class:`TileEntry`."""

    entries: tuple[TileEntry, ...]
    source: str = ""
    _by_key: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_key: dict[str, TileEntry] = {}
        for e in self.entries:
            if e.partition_key in by_key:
                raise CatalogError(f"{self.source}: duplicate partition key {e.partition_key!r}")
            by_key[e.partition_key] = e
        object.__setattr__(self, "_by_key", by_key)

    def keys(self) -> list[str]:
        """Partition keys in catalog order."""
        return list(self._by_key)

    def get(self, key: str) -> TileEntry:
        """The entry of ``key``; :class:`CatalogError` naming the catalog if unknown."""
        try:
            return self._by_key[key]
        except KeyError:
            some = ", ".join(list(self._by_key)[:3])
            raise CatalogError(
                f"partition key {key!r} not in catalog {self.source or '(unnamed)'}; expected one "
                f"of its {len(self._by_key)} keys of the form <MGRS>_<YYYYMMDD> (e.g. {some})"
            ) from None

    def __getitem__(self, key: str) -> TileEntry:
        return self.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    def __iter__(self) -> Iterator[TileEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def to_frame(self) -> pd.DataFrame:
        """One row per entry (no geometry objects; AOI as WKT)."""
        import pandas as pd

        return pd.DataFrame(
            [
                {
                    "partition_key": e.partition_key,
                    "mgrs": e.mgrs,
                    "sensing_time": e.sensing_time,
                    "l1c_name": e.l1c_name,
                    "cdse_id": e.cdse_id,
                    "epsg": e.epsg,
                    "n_patches": e.n_patches,
                    "aoi_wkt": None if e.aoi_wgs84 is None else e.aoi_wgs84.wkt,
                    "source": e.source,
                    "name": e.name,
                }
                for e in self.entries
            ]
        )


# ---------------------------------------------------------------------------------------------
# BigEarthNet (shipped tables)


@lru_cache(maxsize=1)
def _bigearthnet_tiles() -> pd.DataFrame:
    import pandas as pd

    with (_DATA / "bigearthnet" / "tiles.csv").open("rb") as f:
        return pd.read_csv(f, keep_default_na=False)


@lru_cache(maxsize=1)
def _bigearthnet_index() -> pd.DataFrame:
    import pyarrow.parquet as pq

    with (_DATA / "bigearthnet" / "patch_index.parquet").open("rb") as f:
        return pq.read_table(f).to_pandas()


@lru_cache(maxsize=1)
def _bigearthnet_slices() -> dict[str, slice]:
    """Row range of each product in the index (stored sorted by partition_key, y, x)."""
    import numpy as np

    codes = _bigearthnet_index()["partition_key"].cat.codes.to_numpy()
    cats = _bigearthnet_index()["partition_key"].cat.categories
    change = np.flatnonzero(np.diff(codes)) + 1
    starts = np.concatenate([[0], change])
    stops = np.concatenate([change, [len(codes)]])
    return {str(cats[codes[a]]): slice(int(a), int(b)) for a, b in zip(starts, stops)}


@lru_cache(maxsize=1)
def bigearthnet_labels_v2() -> tuple[str, ...]:
    """The 19 reBEN (v2) class names; bit ``i`` of ``labels_v2_mask`` is class ``i``."""
    text = (_DATA / "bigearthnet" / "labels_v2.txt").read_text(encoding="utf-8")
    return tuple(line for line in text.splitlines() if line)


@lru_cache(maxsize=1)
def load_bigearthnet_catalog() -> TileCatalog:
    """The 125 BigEarthNet v1.0 S2 products; patches in scope = their BigEarthNet patches."""
    tiles = _bigearthnet_tiles()
    index = _bigearthnet_index()
    groups = {
        k: tuple(zip(g["x"].tolist(), g["y"].tolist()))
        for k, g in index.groupby("partition_key", observed=True, sort=False)
    }
    entries = tuple(
        TileEntry(
            partition_key=r.partition_key,
            mgrs=r.mgrs,
            sensing_time=datetime.fromisoformat(r.sensing_time).astimezone(timezone.utc),
            l1c_name=r.l1c_name or None,
            cdse_id=r.cdse_id or None,
            epsg=int(r.epsg),
            patches_in_scope=groups[r.partition_key],
            aoi_wgs84=None,
            source="bigearthnet",
            name=r.l1c_name,
        )
        for r in tiles.itertuples(index=False)
    )
    return TileCatalog(entries, source="bigearthnet")


def bigearthnet_patch_table(key: str) -> pd.DataFrame | None:
    """The BigEarthNet patches of one product, or ``None`` if ``key`` is not a BigEarthNet key.

    Columns: ``x``, ``y`` (int8), ``s2v1_name``, ``v2_patch_id`` (None if not in reBEN),
    ``s1_name_official`` (the official S1 patch paired with it in reBEN, else None),
    ``labels_v2`` (tuple of reBEN 19-class names, empty if not in reBEN), ``split`` (None if
    not in reBEN), ``contains_seasonal_snow``, ``contains_cloud_or_shadow`` (nullable boolean,
    <NA> if not in reBEN), ``country`` (reBEN country, None if not in reBEN). String columns are object dtype with ``None`` for missing values.
    Ordered by y, then x.
    """
    import numpy as np
    import pandas as pd

    tiles = _bigearthnet_tiles()
    row = tiles[tiles["partition_key"] == key]
    if row.empty:
        return None
    r = row.iloc[0]
    idx = _bigearthnet_index()
    sub = idx.iloc[_bigearthnet_slices()[key]]
    prefixes = r["v1_prefixes"].split(";")
    v2_prefix, mgrs = str(r["v2_prefix"]), str(r["mgrs"])
    names = bigearthnet_labels_v2()
    x = sub["x"].to_numpy()
    y = sub["y"].to_numpy()
    reben = sub["in_reben"].to_numpy()
    scenes = sub["s1_scene"].astype(object).to_numpy()
    masks = sub["labels_v2_mask"].to_numpy()
    bits = np.arange(len(names), dtype=np.uint32)
    label_sets = {
        int(m): tuple(names[i] for i in bits[(m >> bits) & 1 == 1]) for m in np.unique(masks)
    }
    # indices were validated at derivation: build names directly (same formats as names.py)
    xs, ys = x.astype(str).astype(object), y.astype(str).astype(object)
    v1 = np.asarray(prefixes, dtype=object)[sub["v1_prefix_idx"].to_numpy()] + "_" + xs + "_" + ys
    xx = np.char.zfill(x.astype(str), 2).astype(object)
    yy = np.char.zfill(y.astype(str), 2).astype(object)
    v2 = np.where(reben, v2_prefix + "_" + xx + "_" + yy, None)
    has_s1 = np.array([isinstance(s, str) for s in scenes])
    s1 = np.where(has_s1, np.where(has_s1, scenes, "") + f"_{mgrs}_" + xs + "_" + ys, None)
    return pd.DataFrame(
        {
            "x": x,
            "y": y,
            "s2v1_name": pd.Series(v1, dtype=object),
            "v2_patch_id": pd.Series(v2, dtype=object),  # None where missing
            "s1_name_official": pd.Series(s1, dtype=object),
            "labels_v2": [label_sets[int(m)] for m in masks],
            "split": pd.Series(
                [v if isinstance(v, str) else None for v in sub["split"].astype(object)],
                dtype=object,
            ),
            "contains_seasonal_snow": pd.array(sub["contains_seasonal_snow"].to_numpy(), dtype="boolean"),
            "contains_cloud_or_shadow": pd.array(sub["contains_cloud_or_shadow"].to_numpy(), dtype="boolean"),
            "country": pd.Series(
                [v if isinstance(v, str) else None for v in sub["country"].astype(object)], dtype=object
            ),
        }
    )


# ---------------------------------------------------------------------------------------------
# user CSV


def _parse_time(text: str) -> datetime:
    t = text.strip()
    if t.endswith(("Z", "z")):
        t = t[:-1] + "+00:00"
    try:
        d = datetime.fromisoformat(t)
    except ValueError:
        d = datetime.combine(date.fromisoformat(t), datetime.min.time())  # date only: 00:00 UTC
    return _utc(d)


def load_catalog_file(path: str | Path, source: str | None = None) -> TileCatalog:
    """Read and validate a user's catalog CSV.

    Columns: ``mgrs`` (e.g. ``33TTG``), ``sensing_time`` (ISO 8601; naive = UTC; a bare date
    means 00:00 UTC), optional ``patches`` (``"x_y;x_y"``, 0..90), optional ``aoi_wkt``
    (WGS84 lon/lat polygon), optional ``name``. Patches in scope: the listed ``patches`` if
    given, else the whole patches lying fully inside the AOI if given, else all 91 x 91.
    Any problem raises :class:`CatalogError` naming the file, row, field and what was expected.
    """
    p = path if hasattr(path, "open") and not isinstance(path, str) else Path(path)
    label = str(path)
    try:
        with p.open("r", encoding="utf-8-sig", newline="") as f:
            text = f.read()
    except OSError as exc:
        raise CatalogError(f"{label}: cannot read catalog file ({exc})") from None
    return _parse_catalog(text, label, source or label)


def catalog_keys(catalog: str) -> list[str]:
    """The partition keys of a catalog, in catalog order, as cheaply as they can be had.

    ``catalog`` is ``"demo"``, ``"bigearthnet"`` or the path of a user's CSV. The shipped
    catalogs are read as plain CSV (the code location needs only their keys to load); a user's
    file is parsed and validated whole, so that a bad file fails when the code location loads.
    """
    if catalog == "bigearthnet":
        with (_DATA / "bigearthnet" / "tiles.csv").open("r", encoding="utf-8", newline="") as f:
            return [row["partition_key"] for row in csv.DictReader(f)]
    if catalog == "demo":
        text = (_DATA / "demo" / "demo_catalog.csv").read_text(encoding="utf-8")
        return [partition_key(row["mgrs"].strip(), _parse_time(row["sensing_time"]))
                for row in csv.DictReader(io.StringIO(text))]
    return load_catalog_file(catalog).keys()


def load_demo_catalog() -> TileCatalog:
    """The embedded demo catalog (``data/demo/demo_catalog.csv``): the S2 tiles containing the
    Rome DEM sample, sensing date 2021-12-23, patches fully inside the DEM extent."""
    res = _DATA / "demo" / "demo_catalog.csv"
    return _parse_catalog(res.read_text(encoding="utf-8"), "data/demo/demo_catalog.csv", "demo")


def _parse_catalog(text: str, label: str, source: str) -> TileCatalog:
    import shapely.wkt

    from .patches import N_PATCHES_PER_SIDE, patches_in_aoi
    from .tile import GridError, tile_grid

    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if not header:
        raise CatalogError(f"{label}: empty file; expected a CSV header with columns mgrs,sensing_time")
    reader.fieldnames = header
    missing = [c for c in ("mgrs", "sensing_time") if c not in header]
    unknown = [c for c in header if c not in _USER_COLUMNS]
    if missing or unknown:
        raise CatalogError(
            f"{label}: header {header}: missing columns {missing}, unknown columns {unknown}; "
            f"expected columns among {list(_USER_COLUMNS)} with mgrs and sensing_time required"
        )
    entries: list[TileEntry] = []
    seen: dict[str, int] = {}
    for rownum, row in enumerate(reader, start=1):
        where = f"{label}: row {rownum} (line {reader.line_num})"

        def err(field_: str, what: str, expected: str) -> CatalogError:
            return CatalogError(f"{where}, field {field_!r}: {what}; expected {expected}")

        if None in row:  # more cells than header columns
            raise err("(extra)", f"{len(row[None])} cells beyond the header", "one cell per column")
        value = {k: (v or "").strip() for k, v in row.items()}
        try:
            tile = tile_grid(value["mgrs"])
        except GridError as exc:
            raise err("mgrs", f"{value['mgrs']!r} is not a valid MGRS tile id ({exc})",
                      "an id like '33TTG'") from None
        try:
            t = _parse_time(value["sensing_time"])
        except ValueError:
            raise err("sensing_time", f"cannot parse {value['sensing_time']!r}",
                      "ISO 8601 like '2021-12-23T10:00:00Z' or '2021-12-23'") from None
        key = partition_key(tile.mgrs, t)
        if key in seen:
            raise err("sensing_time", f"duplicate partition key {key!r} (also row {seen[key]})",
                      "one entry per tile and UTC sensing date")
        seen[key] = rownum

        aoi = None
        if value.get("aoi_wkt"):
            try:
                aoi = shapely.wkt.loads(value["aoi_wkt"])
            except Exception as exc:  # shapely raises GEOSException / ValueError variants
                raise err("aoi_wkt", f"invalid WKT ({exc})",
                          "a WKT polygon in lon/lat, e.g. 'POLYGON((12.4 41.9, ...))'") from None
            if aoi.is_empty or aoi.geom_type not in ("Polygon", "MultiPolygon") or not aoi.is_valid:
                raise err("aoi_wkt", f"{aoi.geom_type} (valid={aoi.is_valid}, empty={aoi.is_empty})",
                          "a valid non-empty (Multi)Polygon in lon/lat")
            minx, miny, maxx, maxy = aoi.bounds
            if not (-180 <= minx and maxx <= 180 and -90 <= miny and maxy <= 90):
                raise err("aoi_wkt", f"bounds {aoi.bounds} outside lon/lat range",
                          "WGS84 lon in -180..180, lat in -90..90 (x = lon)")
            if not tile.footprint_wgs84().intersects(aoi):
                raise err("aoi_wkt", f"AOI does not intersect tile {tile.mgrs}",
                          f"an AOI overlapping {tile.mgrs}")

        patches: tuple[tuple[int, int], ...] | None = None
        if value.get("patches"):
            out = []
            for item in value["patches"].split(";"):
                if not item.strip():
                    continue
                m = _PATCH_RE.match(item)
                if m is None:
                    raise err("patches", f"item {item!r} malformed", "'x_y' items joined by ';'")
                x, y = int(m[1]), int(m[2])
                if not (0 <= x < N_PATCHES_PER_SIDE and 0 <= y < N_PATCHES_PER_SIDE):
                    raise err("patches", f"patch index {x}_{y} out of range",
                              "x and y in 0..90")
                out.append((x, y))
            if len(set(out)) != len(out):
                raise err("patches", "duplicate patch indices", "each x_y at most once")
            patches = tuple(sorted(out, key=lambda p: (p[1], p[0])))
        elif aoi is not None:
            patches = tuple(sorted(patches_in_aoi(tile, aoi, "within"), key=lambda p: (p[1], p[0])))
            if not patches:
                raise err("aoi_wkt", f"AOI contains no whole 1200 m patch of tile {tile.mgrs}",
                          "an AOI containing at least one whole patch, or a 'patches' list")

        entries.append(
            TileEntry(
                partition_key=key,
                mgrs=tile.mgrs,
                sensing_time=t,
                l1c_name=None,
                cdse_id=None,
                epsg=tile.epsg,
                patches_in_scope=patches,
                aoi_wgs84=aoi,
                source=source,
                name=value.get("name") or None,
            )
        )
    if not entries:
        raise CatalogError(f"{label}: no data rows; expected at least one tile entry")
    return TileCatalog(tuple(entries), source=source)
