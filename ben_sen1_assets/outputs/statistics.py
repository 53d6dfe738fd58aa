"""Per-band statistics of an export's patches: the numbers ML loaders normalise with.

For each band (``VV``, ``VH``, dB) and scope (all exported patches, then each split): number of
patches and finite pixels, mean, standard deviation (population, ddof = 0), min and max. Sums are
accumulated per patch in float64 and merged with Chan et al.'s pairwise update, so a long
run over many tiles neither loses precision nor holds more than one patch store at a time.
Written as ``exports/band_statistics.json`` ({scope: {band: {...}}}).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr
from upath import UPath

from ben_sen1_assets.formats.atomic import atomic_file

from .export import open_patch_store
from .patches import VARIABLE

__all__ = ["STATISTICS_FILE", "band_statistics", "write_band_statistics"]

STATISTICS_FILE = "band_statistics.json"


@dataclass
class _Acc:
    n: int = 0
    mean: float = 0.0
    m2: float = 0.0
    lo: float = np.inf
    hi: float = -np.inf
    patches: int = 0

    def add(self, values: np.ndarray) -> None:
        v = values[np.isfinite(values)].astype(np.float64)
        self.patches += 1
        if not v.size:
            return
        n_b, mean_b = v.size, float(v.mean())
        m2_b = float(((v - mean_b) ** 2).sum())
        n = self.n + n_b
        delta = mean_b - self.mean
        self.mean += delta * n_b / n
        self.m2 += m2_b + delta * delta * self.n * n_b / n
        self.n = n
        self.lo, self.hi = min(self.lo, float(v.min())), max(self.hi, float(v.max()))


def band_statistics(stores: Iterable[UPath | str | xr.Dataset], splits: Mapping[str, str]) -> pd.DataFrame:
    """Statistics of the patches named in ``splits`` (S1 patch name -> split) found in ``stores``.

    Columns: ``scope`` (``all`` or a split), ``band``, ``n_patches``, ``n_pixels``, ``mean_db``,
    ``std_db``, ``min_db``, ``max_db``.
    """
    accs: dict[tuple[str, str], _Acc] = {}
    for store in stores:
        ds = open_patch_store(store)
        names = ds["s1_name"].values
        bands = [str(b) for b in ds["band"].values]
        for i in np.flatnonzero(np.isin(names, list(splits))):
            data = ds[VARIABLE].isel(patch=int(i)).values
            for scope in ("all", splits[str(names[i])]):
                for b, band in enumerate(bands):
                    accs.setdefault((scope, band), _Acc()).add(data[b])
    rows = []
    for (scope, band), a in sorted(accs.items(), key=lambda kv: (kv[0][0] != "all", kv[0])):
        rows.append({"scope": scope, "band": band, "n_patches": a.patches, "n_pixels": a.n,
                     "mean_db": a.mean if a.n else np.nan,
                     "std_db": float(np.sqrt(a.m2 / a.n)) if a.n else np.nan,
                     "min_db": a.lo if a.n else np.nan, "max_db": a.hi if a.n else np.nan})
    return pd.DataFrame(rows, columns=["scope", "band", "n_patches", "n_pixels", "mean_db", "std_db",
                                       "min_db", "max_db"])


def write_band_statistics(table: pd.DataFrame, path: UPath | str) -> None:
    """``{scope: {band: {n_patches, n_pixels, mean_db, std_db, min_db, max_db}}}`` as JSON, atomically."""
    doc: dict = {}
    for r in table.to_dict("records"):
        scope, band = r.pop("scope"), r.pop("band")
        doc.setdefault(scope, {})[band] = {k: (int(v) if k.startswith("n_") else float(v)) for k, v in r.items()}
    with atomic_file(UPath(path), suffix=".json") as tmp:
        tmp.write_text(json.dumps(doc, indent=1), encoding="utf-8")
