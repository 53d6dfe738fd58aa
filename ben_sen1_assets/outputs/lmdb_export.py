"""BigEarthNet v2 as ConfigILM / rico-hdl read it: an LMDB of safetensors, keyed by patch name.

rico-hdl's encoding of BigEarthNet v2 (the format ConfigILM's ``BENv2DataSet`` reads): one LMDB
environment (a folder with ``data.mdb``); key = the S1 patch name (UTF-8), value = a safetensors
file (bytes) of the dict ``{"VV": float32[120, 120], "VH": float32[120, 120]}`` in dB. Patches
are looked up from the export's ``metadata.parquet`` (``patch_id`` -> ``s1_name``), so the LMDB
holds exactly the patches the export's two metadata tables name.

Written in a local staging folder, then published whole (``data.mdb`` last on object stores).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import xarray as xr
from upath import UPath

from ben_sen1_assets.formats.atomic import atomic_directory

from .errors import OutputError
from .export import open_patch_store
from .patches import BANDS, VARIABLE

__all__ = ["LMDB_DIR", "encode_patch", "decode_patch", "metadata_s1_names", "write_bigearthnet_lmdb"]

LMDB_DIR = "BigEarthNet-S1.lmdb"
_COMMIT_EVERY = 1000
# one value: the safetensors header (~150 B) + 2 x 57,600 B; LMDB pages add a little
_BYTES_PER_PATCH = 2 * 120 * 120 * 4 + 4096


def encode_patch(vv: np.ndarray, vh: np.ndarray) -> bytes:
    """The safetensors bytes of one patch: ``{"VV", "VH"}`` float32 120 x 120."""
    from safetensors.numpy import save

    return save({"VV": np.ascontiguousarray(vv, dtype=np.float32),
                 "VH": np.ascontiguousarray(vh, dtype=np.float32)})


def decode_patch(value: bytes) -> dict[str, np.ndarray]:
    from safetensors.numpy import load

    return load(bytes(value))


def write_bigearthnet_lmdb(
    stores: Iterable[UPath | str | xr.Dataset], s1_names: Iterable[str], path: UPath | str
) -> int:
    """Write the patches named ``s1_names`` (found in ``stores``) to the LMDB folder ``path``;
    returns the number written. Every name must be found in a store."""
    import lmdb

    wanted = set(s1_names)
    path = UPath(path)
    n = 0
    with atomic_directory(path, root_file="data.mdb") as stage:
        stage.mkdir(parents=True, exist_ok=True)
        env = lmdb.open(str(stage), map_size=max(len(wanted), 1) * _BYTES_PER_PATCH + (64 << 20),
                        subdir=True, lock=False, sync=False)
        try:
            txn = env.begin(write=True)
            for store in stores:
                ds = open_patch_store(store)
                names = ds["s1_name"].values
                band = list(ds["band"].values)
                ivv, ivh = band.index("VV"), band.index("VH")
                for i in np.flatnonzero(np.isin(names, list(wanted))):
                    data = ds[VARIABLE].isel(patch=int(i)).values
                    txn.put(str(names[i]).encode(), encode_patch(data[ivv], data[ivh]), overwrite=True)
                    wanted.discard(str(names[i]))
                    n += 1
                    if n % _COMMIT_EVERY == 0:
                        txn.commit()
                        txn = env.begin(write=True)
            txn.commit()
            env.sync(True)
        finally:
            env.close()
        if wanted:
            raise OutputError(f"{path}: {len(wanted)} patches named by the metadata are in no patch "
                              f"store, e.g. {sorted(wanted)[:3]}; expected the stores the export was made from")
    return n


def metadata_s1_names(root: UPath | str) -> pd.Series:
    """``s1_name`` of every patch in the export's two metadata tables."""
    from .bigearthnet_layout import METADATA, METADATA_FLAGGED

    root = UPath(root)
    frames = []
    for name in (METADATA, METADATA_FLAGGED):
        p = root / name
        if not p.exists():
            raise OutputError(f"{p}: missing; expected bigearthnet_export to have written it")
        with p.open("rb") as f:
            frames.append(pd.read_parquet(f, columns=["s1_name"]))
    return pd.concat(frames, ignore_index=True)["s1_name"]
