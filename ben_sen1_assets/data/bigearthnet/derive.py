"""Derive the shipped BigEarthNet tables (tiles.csv, patch_index.parquet, labels_v2.txt).

Usage::

    python -m ben_sen1_assets.data.bigearthnet.derive SRC_DIR [OUT_DIR]

``SRC_DIR`` holds ``bigearthnet_s2_tiles.csv``, ``tile_names_and_links.csv.bz2`` and the two
``reben_metadata*.parquet`` files (see README.md). ``OUT_DIR`` defaults to this folder.

The tile UTM bounds and EPSG are COPIED from ``bigearthnet_s2_tiles.csv`` (derived from real
files); they are never recomputed with ``ben_sen1_assets.grid`` so tests can compare the two.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

_S2V1 = r"^(?P<prefix>S2[AB]_MSIL2A_\d{8}T\d{5,6})_(?P<x>\d{1,2})_(?P<y>\d{1,2})$"
_S1 = r"^(?P<scene>S1[AB]_IW_GRDH_1SDV_\d{8}T\d{6})_(?P<mgrs>\w{5})_(?P<x>\d{1,2})_(?P<y>\d{1,2})$"


def _atomic_write(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def derive_tiles(src: Path) -> pd.DataFrame:
    s = pd.read_csv(src / "bigearthnet_s2_tiles.csv")
    key = s["mgrs_tile"] + "_" + s["sensing_time"].str[:10].str.replace("-", "")
    if key.duplicated().any():
        raise ValueError(f"duplicate partition keys: {sorted(key[key.duplicated()])}")
    countries = s["country_v2"].fillna("").str.replace(r":\d+", "", regex=True)
    countries = countries.where(countries != "", s["countries_of_mgrs_tile_v2"].fillna(""))
    tiles = pd.DataFrame(
        {
            "partition_key": key,
            "mgrs": s["mgrs_tile"],
            "sensing_time": s["sensing_time"] + "Z",
            "l1c_name": s["l1c_product_name"],
            "cdse_id": s["cdse_id"],
            "s2_relative_orbit": s["s2_relative_orbit"],
            # copied verbatim from the source table (derived from real files)
            "epsg": s["epsg"],
            "ulx": s["ulx"],
            "uly": s["uly"],
            "lrx": s["lrx"],
            "lry": s["lry"],
            # prefixes only (the source appends ':count'); order = prefix index in patch_index
            "v1_prefixes": s["v1_patch_prefixes"].str.replace(r":\d+", "", regex=True),
            "v2_prefix": s["v2_patch_prefix"],
            "n_patches_v1": s["n_patches_v1"],
            "n_patches_v2": s["n_patches_v2"],
            "in_reben": s["in_reben"],
            "countries": countries,
        }
    )
    return tiles.sort_values("partition_key", ignore_index=True)


def derive_patch_index(src: Path, tiles: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    links = pd.read_csv(
        src / "tile_names_and_links.csv.bz2", header=None, usecols=[0, 1], names=["s2v1_name", "l1c"]
    )
    links["l1c"] = links["l1c"].str.removesuffix(".SAFE")
    parts = links["s2v1_name"].str.extract(_S2V1)
    if parts.isna().any().any():
        raise ValueError("malformed v1 S2 names in tile_names_and_links")
    prod = tiles.reset_index().set_index("l1c_name")
    idx = links["l1c"].map(prod["index"])
    if idx.isna().any():
        raise ValueError(f"unknown L1C products: {links['l1c'][idx.isna()].unique()[:5]}")
    idx = idx.astype(int).to_numpy()

    # prefix index within the product's prefix list
    prefix_lists = tiles["v1_prefixes"].str.split(";").tolist()
    lookup = {(i, p): j for i, ps in enumerate(prefix_lists) for j, p in enumerate(ps)}
    pidx = [lookup[(i, p)] for i, p in zip(idx, parts["prefix"])]

    reben = pd.concat(
        [
            pd.read_parquet(src / "reben_metadata.parquet"),
            pd.read_parquet(src / "reben_metadata_for_patches_with_snow_cloud_or_shadow.parquet"),
        ],
        ignore_index=True,
    ).set_index("s2v1_name")
    labels_v2 = sorted(set(np.concatenate(reben["labels"].to_numpy())))
    bit = {name: np.uint32(1) << np.uint32(i) for i, name in enumerate(labels_v2)}
    mask = np.array([np.bitwise_or.reduce([bit[n] for n in ls]) for ls in reben["labels"]], np.uint32)
    reben["labels_v2_mask"] = mask
    s1 = reben["s1_name"].str.extract(_S1)
    reben["s1_scene"] = s1["scene"]
    x = parts["x"].astype(int).to_numpy()
    y = parts["y"].astype(int).to_numpy()
    # the official mapping keeps tile and x_y: check, so s1_name can be rebuilt from s1_scene
    r = reben.reindex(links["s2v1_name"])
    has = r["s1_name"].notna().to_numpy()
    if len(reben) != has.sum():
        raise ValueError("some reBEN s2v1_name are not in tile_names_and_links")
    s1r = s1.reindex(reben.index).reindex(links["s2v1_name"])
    ok = (
        (s1r["mgrs"].to_numpy()[has] == tiles["mgrs"].to_numpy()[idx][has]).all()
        and (s1r["x"].astype(float).to_numpy()[has] == x[has]).all()
        and (s1r["y"].astype(float).to_numpy()[has] == y[has]).all()
    )
    if not ok:
        raise ValueError("reBEN s1_name tile/x/y differ from the S2 patch's: cannot store compactly")

    df = pd.DataFrame(
        {
            "partition_key": pd.Categorical.from_codes(idx, categories=tiles["partition_key"]),
            "x": x.astype(np.int8),
            "y": y.astype(np.int8),
            "v1_prefix_idx": np.asarray(pidx, np.int8),
            "in_reben": has,
            "s1_scene": pd.Categorical(r["s1_scene"].to_numpy()),
            "labels_v2_mask": r["labels_v2_mask"].fillna(0).astype(np.uint32).to_numpy(),
            "split": pd.Categorical(r["split"].to_numpy(), categories=["train", "validation", "test"]),
            "contains_seasonal_snow": r["contains_seasonal_snow"].astype("boolean").to_numpy(),
            "contains_cloud_or_shadow": r["contains_cloud_or_shadow"].astype("boolean").to_numpy(),
            "country": pd.Categorical(r["country"].to_numpy()),
        }
    )
    df = df.sort_values(["partition_key", "y", "x"], ignore_index=True)
    if df.duplicated(["partition_key", "x", "y"]).any():
        raise ValueError("duplicate (product, x, y) patches")
    return df, labels_v2


def main(argv: list[str]) -> None:
    if not 1 <= len(argv) <= 2:
        sys.exit(__doc__)
    src = Path(argv[0])
    out = Path(argv[1]) if len(argv) == 2 else Path(__file__).parent
    tiles = derive_tiles(src)
    index, labels_v2 = derive_patch_index(src, tiles)
    counts = index.groupby("partition_key", observed=False).agg(
        v1=("x", "size"), v2=("in_reben", "sum")
    )
    if not (
        (counts["v1"].to_numpy() == tiles["n_patches_v1"].to_numpy()).all()
        and (counts["v2"].to_numpy() == tiles["n_patches_v2"].to_numpy()).all()
    ):
        raise ValueError("patch counts disagree with bigearthnet_s2_tiles.csv")
    _atomic_write(out / "tiles.csv", lambda p: tiles.to_csv(p, index=False))
    _atomic_write(
        out / "labels_v2.txt", lambda p: Path(p).write_text("\n".join(labels_v2) + "\n")
    )
    table = pa.Table.from_pandas(index, preserve_index=False)
    _atomic_write(
        out / "patch_index.parquet",
        lambda p: pq.write_table(table, p, compression="zstd", compression_level=19),
    )
    print(f"tiles.csv: {len(tiles)} products; patch_index.parquet: {len(index)} patches")


if __name__ == "__main__":
    main(sys.argv[1:])
