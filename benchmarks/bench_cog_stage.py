"""Benchmark: the COG writer with GDAL encoding its staged image at the end, or with the tiles
encoded as the blocks come (the default for several float bands); staged on disk or in memory.

A ``--size``² image of 4 float32 bands shaped like the chain's output (VV and VH in dB with
speckle, a smooth incidence angle, a mask of bit codes; NaN outside a diagonal swath edge) is
handed to :class:`~ben_sen1_assets.formats.cog_writer.CogWriter` in 1024-row blocks, as the chain
does, and published as a COG, in four ways taken in turn ``--rounds`` times each: GDAL's
encoding (``encode_tiles=False``) or the tiles encoded as they come (``True``), each staged on
disk (``memory_stage_mb=0``) and in memory; the fastest run of each is reported (and all runs).
Times: the whole write (``total_s``: the blocks handed over and staged or encoded, then the
file), what is left once the last block is handed over (``close_s``: its staging, then GDAL's
encoding or the file's assembly) and the CPU of the writer's threads (``staging_cpu_s``). Here
nothing else runs beside the writer: in the chain the blocks are encoded while the next ones are
computed (``bench_chain.py`` measures that). The outputs of one encoder are checked to be the same
bytes on disk and in memory, and the two encoders' outputs the same pixels at every level.

Run: ``python benchmarks/bench_cog_stage.py [--size 2048] [--rounds 7] [--work DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from affine import Affine
from upath import UPath

from ben_sen1_assets.formats.cog_writer import CogWriter, overview_shapes

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.bench_chain import host_reference_s  # noqa: E402

BLOCK_ROWS = 1024


def chain_like(size: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    data = np.empty((4, size, size), np.float32)
    data[0] = 10 * np.log10(rng.gamma(4.4, 0.05 / 4.4, (size, size)))
    data[1] = 10 * np.log10(rng.gamma(4.4, 0.01 / 4.4, (size, size)))
    data[2] = np.linspace(30.0, 45.0, size, dtype=np.float32)[None, :] + rng.normal(0, 2, (size, size))
    data[3] = rng.choice(np.array([0, 0, 0, 0, 1, 2, 64], np.float32), (size, size))
    rows, cols = np.mgrid[:size, :size]
    data[:, cols < rows // 3] = np.nan  # the swath's edge
    return data


def write(data: np.ndarray, out: Path, memory_stage_mb: float, encode_tiles: bool = True) -> dict:
    _, h, w = data.shape
    out.unlink(missing_ok=True)
    os.sync()
    t = time.perf_counter()
    writer = CogWriter(UPath(str(out)), h, w, 4, np.float32, "EPSG:32632", Affine(10, 0, 600000, 0, -10, 5000000),
                       categorical=(3,), memory_stage_mb=memory_stage_mb, encode_tiles=encode_tiles)
    with writer:
        for r in range(0, h, BLOCK_ROWS):
            writer.write(data[:, r : r + BLOCK_ROWS])
        t_close = time.perf_counter()
    done = time.perf_counter()
    return {"total_s": done - t, "close_s": done - t_close, "staging_cpu_s": writer.staging_s,
            "in_memory": writer.staged_in_memory}


def same_pixels(a: Path, b: Path) -> bool:
    """Every level of the two COGs holds the same pixels (NaN where the other has NaN)."""
    import rasterio

    with rasterio.open(a) as src:
        levels = [None, *range(len(src.overviews(1)))]
    for level in levels:
        kw = {} if level is None else {"overview_level": level}
        with rasterio.open(a, **kw) as x, rasterio.open(b, **kw) as y:
            if not np.array_equal(x.read(), y.read(), equal_nan=True):
                return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench_cog_stage_"))
    work.mkdir(parents=True, exist_ok=True)
    data = chain_like(args.size)
    levels = [data.shape[1:], *overview_shapes(*data.shape[1:])]  # as CogWriter counts its budget
    staged_mb = sum(h * w for h, w in levels) * data.shape[0] * data.itemsize / 1e6
    modes = {f"{encoder}_{stage}": (budget, encoder == "tiles")
             for encoder in ("gdal", "tiles") for stage, budget in (("disk", 0.0), ("memory", 1e9))}
    for budget, tiles in modes.values():  # numba's overview kernel loaded, GDAL's drivers registered
        write(data, work / "warm.tif", budget, tiles)
    runs: dict[str, list[dict]] = {mode: [] for mode in modes}
    for _ in range(args.rounds):
        for mode, (budget, tiles) in modes.items():
            runs[mode].append(write(data, work / f"{mode}.tif", budget, tiles))
    same_bytes = {encoder: (work / f"{encoder}_disk.tif").read_bytes() == (work / f"{encoder}_memory.tif").read_bytes()
                  for encoder in ("gdal", "tiles")}
    result = {"benchmark": "cog_writer_staging", "size_px": args.size, "bands": 4, "staged_mb": round(staged_mb, 1),
              "output_mb": {encoder: round((work / f"{encoder}_memory.tif").stat().st_size / 1e6, 1)
                            for encoder in ("gdal", "tiles")},
              "identical_bytes_disk_memory": same_bytes,
              "identical_pixels_gdal_tiles": same_pixels(work / "gdal_memory.tif", work / "tiles_memory.tif"),
              "rounds": args.rounds, "host_reference_s": host_reference_s()}
    for mode, mode_runs in runs.items():
        best = min(mode_runs, key=lambda r: r["total_s"])
        result[mode] = {"total_s": round(best["total_s"], 3), "close_s": round(best["close_s"], 3),
                        "staging_cpu_s": round(best["staging_cpu_s"], 3),
                        "total_s_runs": [round(r["total_s"], 3) for r in mode_runs],
                        "close_s_runs": [round(r["close_s"], 3) for r in mode_runs]}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
