"""A Cloud-Optimized GeoTIFF written once, from row blocks, with its overview pyramid.

GDAL's COG driver can only copy a finished dataset, and given a source without overviews it
computes them itself in a second full pass (CUBIC by default: ≈ 8 s of CPU for a 10980² × 2
float32 tile, more than all the encoding). :class:`CogWriter` takes the image in row blocks, in
order, as a producer computes them, and, in a thread of its own while the producer computes the
next block (the codecs, GDAL's writes and the overview kernel release the GIL):

1. computes every overview level from each block as it arrives: the NaN-aware mean of each 2 × 2
   cell of the level below (GDAL's ``AVERAGE``; the last row/column of an odd-sized level averages
   the pixels it has);
2. several float bands (the chain's output: VV, VH, incidence angle, mask): encodes each 512 × 512
   tile of each band, at every level, as soon as its rows exist (:mod:`.cog_tiles`: ZSTD level 1
   with the floating-point predictor, as GDAL encodes them, on as many threads as CPUs), and on
   :meth:`close` assembles the band-interleaved COG GDAL's GTiff driver writes with
   :data:`COG_BAND_OPTIONS` around the encoded tiles (each band's tiles apart, which GDAL 3.10's
   COG driver cannot write). Nothing is left to encode once the last block is in: on a whole tile
   of the chain (4 bands, fast host, same hour), GDAL's encoding of the staged image after the
   chain took 3.7–8.1 s (the chain 14.7–21.1 s in four runs), the last tiles and the file's
   assembly 0.5–0.6 s (the chain 11.5–14.5 s in four runs), the same pixels;
3. one band, or integer bands: stages the image uncompressed (a plain copy) with the overview
   levels as external overview files GDAL reads as its overviews (``stage.tif.ovr`` holds level 1,
   ``stage.tif.ovr.ovr`` level 2, …), and on :meth:`close` has GDAL's COG driver
   (:data:`COG_OPTIONS`) encode them once.

The COG is published at the final path atomically (local path or fsspec URL). Levels are added
while the largest side of the last level exceeds the block size (512), as the COG driver does.
Memory: the block being handled (:meth:`CogWriter.write` waits for the previous one before
handing over the next; the thread lets go of a block once its full resolution is encoded or
staged, :meth:`CogWriter.wait`), plus a row of tiles per overview level (encoded) or two rows
per level (staged). What is staged (encoded tiles, or the uncompressed image, ≈ 4/3 of it) stays
in the process's memory when the uncompressed image with its overviews is at most
``memory_stage_mb`` (:data:`MEMORY_STAGE_MB`), else goes to a private local folder: in memory a
2048² output of 4 bands (88.1 MB uncompressed) is written in 0.134 s instead of 0.164 s on disk
(GDAL's encoding: 0.223 and 0.251 s), the same bytes (``benchmarks/bench_cog_stage.py``). A
whole tile is staged on disk.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ben_sen1_assets.formats.atomic import atomic_file
from ben_sen1_assets.formats.staging import new_dir

BLOCKSIZE = 512
# GDAL COG driver creation options. ZSTD level 1 + predictor: as small as DEFLATE with the float
# predictor here (496 vs 503 MB for a full float32 VV+VH tile) at a fifth of its CPU time.
COG_OPTIONS = {
    "COMPRESS": "ZSTD",
    "LEVEL": "1",
    "PREDICTOR": "YES",  # floating-point predictor for float bands, horizontal for integer ones
    "BLOCKSIZE": str(BLOCKSIZE),
    "OVERVIEWS": "AUTO",  # use the overviews of the source (ours): no second pass over the image
    "RESAMPLING": "AVERAGE",  # only if a source without overviews is converted
    "BIGTIFF": "IF_SAFER",
    "NUM_THREADS": "ALL_CPUS",
}
# Several float bands (VV, VH, incidence angle, mask): band-interleaved, with GDAL's GTiff driver
# copying the staged overviews (the layout the COG driver writes, IFDs and overviews before the
# data; rio-cogeo validates it). Against the COG driver's pixel interleave: 25–26 % smaller (the
# float predictor works along one band, not across four; a whole tile of the chain 542 MB against
# 727 MB), encoded in 10–28 % less time on a 2048² output (on a whole tile, 45 % of it outside the
# swath, in the same time), and a reader of one band fetches only its tiles. What it lacks is
# GDAL's "ghost" header (IMAGE_STRUCTURE LAYOUT=COG, read hints for GDAL only), which GDAL 3.10
# writes for pixel interleave only.
COG_BAND_OPTIONS = {
    "TILED": "YES",
    "BLOCKXSIZE": str(BLOCKSIZE),
    "BLOCKYSIZE": str(BLOCKSIZE),
    "COPY_SRC_OVERVIEWS": "YES",
    "INTERLEAVE": "BAND",
    "COMPRESS": "ZSTD",
    "ZSTD_LEVEL": "1",
    "PREDICTOR": "3",  # floating point
    "BIGTIFF": "IF_SAFER",
    "NUM_THREADS": "ALL_CPUS",
}
GDAL_CACHE_MB = 256  # GDAL's block cache during the encoding (its default is 5 % of RAM)
MEMORY_STAGE_MB = 256  # stage in memory when the staged image (all levels, uncompressed) fits


def overview_shapes(height: int, width: int, blocksize: int = BLOCKSIZE) -> list[tuple[int, int]]:
    """Shapes of the overview levels of a ``height`` × ``width`` image (each half the previous,
    rounded up), while the largest side of the previous level exceeds ``blocksize``."""
    shapes = []
    h, w = height, width
    while max(h, w) > blocksize:
        h, w = (h + 1) // 2, (w + 1) // 2
        shapes.append((h, w))
    return shapes


class _Level:
    """One staged raster (full resolution or an overview level), filled top to bottom."""

    def __init__(self, path: str, profile: dict, shape: tuple[int, int]) -> None:
        import rasterio

        self.shape = shape
        self.row = 0
        self.pending: np.ndarray | None = None  # an odd last row waiting for its pair
        profile = {**profile, "height": shape[0], "width": shape[1]}
        if max(shape) > BLOCKSIZE:
            profile.update(tiled=True, blockxsize=BLOCKSIZE, blockysize=BLOCKSIZE)
        self.dataset = rasterio.open(path, "w", **profile)

    def write(self, rows: np.ndarray) -> None:
        from rasterio.windows import Window

        n = rows.shape[1]
        if self.row + n > self.shape[0]:
            raise ValueError(f"{self.dataset.name}: rows {self.row}..{self.row + n} past the height {self.shape[0]}")
        self.dataset.write(rows, window=Window(0, self.row, self.shape[1], n))
        self.row += n


class CogWriter:
    """Write a COG from row blocks: ``with CogWriter(path, ...) as w: w.write(block)``, blocks of
    shape (bands, rows, width) in order from the top; the COG is published when the ``with`` block
    ends without an exception (nothing is published otherwise). ``categorical``: 0-based bands
    holding codes or bit masks in a float file, whose overviews take a pixel instead of a mean.
    ``tags`` may be extended until then (``writer.tags[...] = ...``). A block handed to
    :meth:`write` is encoded or staged in the writer's thread: do not modify it afterwards.
    :attr:`staging_s`: CPU seconds of the writer's threads (overlapping the producer's).
    ``memory_stage_mb``: the largest image (all levels, uncompressed, in MB) whose encoded tiles
    or staged copy are kept in memory instead of a local folder (:attr:`staged_in_memory`); 0
    stages on disk always. ``encode_tiles``: the tiles encoded as they come (:mod:`.cog_tiles`;
    several float bands only) or the image staged for GDAL to encode at the end; by default the
    former wherever it applies (:attr:`encodes_tiles`)."""

    def __init__(self, path, height: int, width: int, count: int, dtype, crs, transform,
                 band_names: Sequence[str] = (), nodata: float | None = float("nan"),
                 tags: Mapping[str, str] | None = None, gdal_cache_mb: int = GDAL_CACHE_MB,
                 categorical: Sequence[int] = (), memory_stage_mb: float = MEMORY_STAGE_MB,
                 encode_tiles: bool | None = None) -> None:
        from rasterio.crs import CRS

        self.path = path
        self.shape = (int(height), int(width))
        self.count = int(count)
        self.dtype = np.dtype(dtype)
        self.band_names = tuple(band_names)
        if self.band_names and len(self.band_names) != self.count:
            raise ValueError(f"{len(self.band_names)} band names for {self.count} bands: {self.band_names}")
        self.tags = dict(tags or {})
        self.gdal_cache_mb = int(gdal_cache_mb)
        self.categorical = tuple(int(b) for b in categorical)  # 0-based bands of codes/bits
        self._averaged = np.issubdtype(self.dtype, np.floating)
        shapes = [self.shape] + (overview_shapes(*self.shape) if self._averaged else [])
        staged_bytes = sum(h * w for h, w in shapes) * self.count * self.dtype.itemsize
        self.staged_in_memory = staged_bytes <= memory_stage_mb * 1e6
        #: several float bands: tiles encoded as they come (:mod:`.cog_tiles`), else GDAL encodes
        self.encodes_tiles = self._averaged and self.count > 1 if encode_tiles is None else bool(encode_tiles)
        if self.encodes_tiles and not (self._averaged and self.count > 1):
            raise ValueError(f"{path}: tiles are encoded as they come for several float bands only, "
                             f"not {self.count} band(s) of {self.dtype.name}")
        self._memory = None  # the /vsimem/ folder of an image staged in memory (its MemoryFile)
        self._stage: Path | None = None  # the local folder of an image staged on disk
        if self.encodes_tiles:
            self._stage = None if self.staged_in_memory else new_dir("ben_sen1_cog_")
            self._stage_name = ""
        elif self.staged_in_memory:
            import uuid

            from rasterio.io import MemoryFile

            self._memory = MemoryFile(dirname=f"ben_sen1_cog_{uuid.uuid4().hex}", filename="stage.tif")
            self._stage_name = self._memory.name  # freed with the process: nothing to sweep
        else:
            self._stage = new_dir("ben_sen1_cog_")  # named after this process: swept if it is killed
            self._stage_name = str(self._stage / "stage.tif")
        self._profile = dict(driver="GTiff", count=self.count, dtype=self.dtype.name,
                             crs=crs if isinstance(crs, CRS) else CRS.from_user_input(crs), transform=transform,
                             nodata=nodata, interleave="band", BIGTIFF="IF_SAFER")
        self._levels: list = []
        self._rows = 0  # rows handed over (the thread stages them in order)
        self._pool: ThreadPoolExecutor | None = None
        self._encoders: ThreadPoolExecutor | None = None
        self._pending: Future | None = None
        self._released = threading.Event()  # set when the writer's thread lets go of its block
        self.staging_s = 0.0
        try:
            if self.encodes_tiles:
                from ben_sen1_assets.formats.cog_tiles import EncodedLevel

                for index, shape in enumerate(shapes):
                    self._levels.append(EncodedLevel(shape, self.count, BLOCKSIZE, self._stage, f"level{index}"))
                return
            name = self._stage_name
            for shape in shapes:
                self._levels.append(_Level(name, self._profile, shape))
                name += ".ovr"  # GDAL's external overviews, level after level
        except BaseException:
            self._cleanup()
            raise

    @property
    def rows_written(self) -> int:
        """Rows handed over so far (staged or being staged)."""
        return self._rows

    def write(self, block: np.ndarray) -> None:
        """Append ``block`` (bands, rows, width) below the rows written so far; returns once the
        previous block is done (raising its error, if any) and this one is handed over."""
        block = np.asarray(block)
        if block.ndim == 2:
            block = block[np.newaxis]
        if block.shape[0] != self.count or block.shape[2] != self.shape[1]:
            raise ValueError(f"block of shape {block.shape}: expected ({self.count}, rows, {self.shape[1]})")
        if self._rows + block.shape[1] > self.shape[0]:
            raise ValueError(f"{self.path}: rows {self._rows}..{self._rows + block.shape[1]} past the height "
                             f"{self.shape[0]}")
        block = block.astype(self.dtype, copy=False)
        self._wait()
        self._rows += block.shape[1]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cog-writer")
        self._released = threading.Event()
        # in a list the thread empties: the block is freed as soon as it is done with it, not
        # when the task ends (the executor holds a task's arguments until then)
        self._pending = self._pool.submit(self._stage_block, [block], self._rows == self.shape[0], self._released)

    def wait(self) -> None:
        """Wait until the writer's thread has released the block handed over last (its full
        resolution encoded or staged; its overview rows, a quarter of its size, may still be in
        progress): a producer bounds its memory so. Raises the block's error, if any."""
        if self._pending is None:
            return
        self._released.wait()
        if self._pending.done():
            self._wait()

    def _wait(self) -> None:
        """Wait for the block being staged; re-raise its error."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def _stage_block(self, holder: list[np.ndarray], last: bool, released: threading.Event) -> None:
        """Stage (or encode) the block in ``holder`` at full resolution and in every overview level
        (the writer's thread): the overview rows first (they need the full resolution), then the
        full resolution, then the block is released (``released`` set) and the overview rows are
        staged."""
        from ben_sen1_assets.formats.overview_kernels import halve_rows

        t = time.thread_time()
        try:
            block = holder.pop()
            if self.encodes_tiles:
                write = lambda level, rows: level.write(rows, self._encode)  # noqa: E731
            else:
                write = lambda level, rows: level.write(rows)  # noqa: E731
            overviews = []
            rows = block
            averaged = np.array([b not in self.categorical for b in range(self.count)], np.bool_)
            for level in self._levels[1:]:
                if level.pending is not None:
                    rows = np.concatenate([level.pending, rows], axis=1)
                    level.pending = None
                if rows.shape[1] % 2 and not last:
                    level.pending = rows[:, -1:].copy()
                    rows = rows[:, :-1]
                if rows.shape[1] == 0:
                    break
                # NaN-aware 2 × 2 means (GDAL's AVERAGE); codes and bit masks take the top-left pixel
                halved = np.empty((rows.shape[0], (rows.shape[1] + 1) // 2, (rows.shape[2] + 1) // 2), rows.dtype)
                halve_rows(np.ascontiguousarray(rows), averaged, halved)
                rows = halved
                overviews.append((level, rows))
            del rows
            write(self._levels[0], block)
            del block
        finally:
            released.set()
        for level, rows in overviews:
            write(level, rows)
        self.staging_s += time.thread_time() - t

    def _encode(self, tiles: list[np.ndarray]) -> list[bytes]:
        """The tiles encoded by the encoder threads (as many as CPUs: the codec releases the GIL),
        their CPU time added to :attr:`staging_s`."""
        from ben_sen1_assets.formats.cog_tiles import encode_tile

        def timed(tile: np.ndarray) -> tuple[bytes, float]:
            t = time.thread_time()
            data = encode_tile(tile)
            return data, time.thread_time() - t

        if self._encoders is None:
            self._encoders = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="cog-encoder")
        done = list(self._encoders.map(timed, tiles))
        self.staging_s += sum(cpu for _, cpu in done)
        return [data for data, _ in done]

    def close(self) -> None:
        """Assemble the COG around its encoded tiles (or have GDAL encode the staged image) and
        publish it at ``path``; the staging folder is removed (once the COG is published, by a
        thread of its own: freeing hundreds of megabytes of files takes a while, and the
        interpreter waits for it at exit)."""
        import rasterio
        import rasterio.shutil
        from upath import UPath

        published = False
        try:
            self._wait()
            if self.rows_written != self.shape[0]:
                raise ValueError(f"{self.path}: {self.rows_written} of {self.shape[0]} rows written")
            path = self.path if isinstance(self.path, UPath) else UPath(str(self.path))
            if self.encodes_tiles:
                from ben_sen1_assets.formats.cog_tiles import assemble, gdal_tags

                extra = gdal_tags(self.count, self._profile["crs"], self._profile["transform"],
                                  self._profile["nodata"], self.band_names, self.tags)
                with atomic_file(path, suffix=".tif") as tmp, open(tmp, "wb") as out:
                    assemble(out, self._levels, extra)
                published = True
                return
            first = self._levels[0].dataset
            for index, name in enumerate(self.band_names, start=1):
                first.set_band_description(index, name)
            if self.tags:
                first.update_tags(**self.tags)
            for level in self._levels:
                level.dataset.close()
            if self._averaged and self.count > 1:
                driver, options = "GTiff", COG_BAND_OPTIONS
            else:  # integer bands (masks, classes) get no averaged overviews: GDAL picks the nearest pixel
                driver, options = "COG", (COG_OPTIONS if self._averaged else {**COG_OPTIONS, "RESAMPLING": "NEAREST"})
            with atomic_file(path, suffix=".tif") as tmp, rasterio.Env(GDAL_CACHEMAX=self.gdal_cache_mb):
                rasterio.shutil.copy(self._stage_name, tmp, driver=driver, **options)
            published = True
        finally:
            self._cleanup(background=published)

    def abort(self) -> None:
        self._cleanup()

    def _cleanup(self, background: bool = False) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:  # let the block being staged finish (its error no longer matters)
            pool.shutdown(wait=True)
        encoders, self._encoders = self._encoders, None
        if encoders is not None:
            encoders.shutdown(wait=True)
        self._pending = None
        for level in self._levels:
            if self.encodes_tiles:
                level.close()
            elif not level.dataset.closed:
                level.dataset.close()
        memory, self._memory = self._memory, None
        if memory is not None:  # the whole /vsimem/ folder, at once
            memory.close()
            return
        if self._stage is None:
            return
        if background:
            pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cog-writer-cleanup")
            pool.submit(shutil.rmtree, self._stage, ignore_errors=True)
            pool.shutdown(wait=False)  # joined at interpreter exit (concurrent.futures)
        else:
            shutil.rmtree(self._stage, ignore_errors=True)

    def __enter__(self) -> "CogWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
