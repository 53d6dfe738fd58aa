"""Checks of `preprocessed_s1`: each product's COG lies on the tile grid (blocking), serves the
patches chosen for it, and holds plausible backscatter."""

import dagster as dg

from ben_sen1_assets.assets.metadata import table
from ben_sen1_assets.assets.preprocessed_s1 import preprocessed_s1
from ben_sen1_assets.partitions import tile_partitions
from ben_sen1_assets.resources.tile_catalog import TileCatalogResource
from ben_sen1_assets.types import GeoDataFrame, TileRasterCollection

# a product must supply this share of the pixels of every patch chosen for it (the rest: a few
# pixels at a slice edge the footprint margin did not exclude)
MIN_PATCH_VALID_FRACTION = 0.99
# BigEarthNet-S1 v1.0 patches span VV −24.8 … +6.7 dB, VH −37.3 … −6.4 dB; real scenes reach the
# noise floor (−50 dB) and bright targets (+30 dB), no further
PLAUSIBLE_DB = (-50.0, 30.0)
MAX_LOW_PERCENT = 5.0  # noise-dominated pixels below the range (dark water, radar shadow)
OVERVIEW_PX = 1024  # the dB check reads each COG at most this size (its overviews)


def _grid_problems(name: str, src, tile, window) -> list[str]:
    """Why the raster ``src`` is not the tile grid's ``window`` (empty if it is)."""
    problems = []
    if src.crs is None or src.crs.to_epsg() != tile.epsg:
        problems.append(f"{name}: CRS {src.crs} is not EPSG:{tile.epsg}")
    t = src.transform
    if (t.a, t.b, t.d, t.e) != (10.0, 0.0, 0.0, -10.0):
        problems.append(f"{name}: pixel {t.a} × {t.e} m, rotation {t.b}, {t.d}; expected 10 × −10 m, none")
    col, row = (t.c - tile.ulx) / 10.0, (tile.uly - t.f) / 10.0
    if (col, row) != (window.col_off, window.row_off) or (src.width, src.height) != (window.width, window.height):
        problems.append(
            f"{name}: covers tile px col {col:g}, row {row:g}, {src.width} × {src.height}; expected the "
            f"window of the patches in scope: col {window.col_off}, row {window.row_off}, "
            f"{window.width} × {window.height}"
        )
    bands = list(src.descriptions)
    if not {"VV", "VH"} <= set(bands):
        problems.append(f"{name}: bands {bands}; expected VV and VH")
    return problems


@dg.asset_check(asset=preprocessed_s1, blocking=True, partitions_def=tile_partitions)
def preprocessed_on_tile_grid(
    context: dg.AssetCheckExecutionContext, preprocessed_s1: TileRasterCollection,
    tile_catalog: TileCatalogResource,
) -> dg.AssetCheckResult:
    """Every product's COG is georeferenced exactly on the S2 tile grid: the tile's UTM CRS,
    10 m pixels, and the window of the patches in scope (so its pixels align with the S2 ones)."""
    import rasterio

    from ben_sen1_assets.formats.cog import open_raster
    from ben_sen1_assets.sar.chain import tile_window

    entry = tile_catalog.entry(context.partition_key)
    window = tile_window(entry)
    problems: list[str] = []
    with rasterio.Env():
        for name, path in sorted(preprocessed_s1.items()):
            with open_raster(path) as src:
                problems += _grid_problems(name, src, entry.tile, window)
    return dg.AssetCheckResult(
        passed=not problems and bool(preprocessed_s1),
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "n_products": len(preprocessed_s1),
            "tile_epsg": entry.tile.epsg,
            "window (px)": f"col {window.col_off}, row {window.row_off}, {window.width} × {window.height}",
            "problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in problems) or "none"),
        },
    )


@dg.asset_check(
    asset=preprocessed_s1, partitions_def=tile_partitions,
    additional_ins={"s1_product_selection": dg.AssetIn("s1_product_selection")},
)
def preprocessed_serve_their_patches(
    context: dg.AssetCheckExecutionContext, preprocessed_s1: TileRasterCollection,
    s1_product_selection: GeoDataFrame, tile_catalog: TileCatalogResource,
) -> dg.AssetCheckResult:
    """Each product has VV and VH on at least 99 % of the pixels of every patch the selection
    chose it for (the table lists each product's worst patch)."""
    import numpy as np
    import rasterio
    from rasterio.windows import Window

    from ben_sen1_assets.formats.cog import open_raster
    from ben_sen1_assets.grid.patches import PATCH_SIZE_PX
    from ben_sen1_assets.sar.chain import tile_window

    window = tile_window(tile_catalog.entry(context.partition_key))
    rows, short = [], []
    with rasterio.Env():
        for _, selected in s1_product_selection.iterrows():
            name = selected["name"]
            patches = [tuple(int(v) for v in p.split("_")) for p in str(selected["patches"]).split(";") if p]
            if name not in preprocessed_s1:
                short += [f"{name}: no COG (skipped: it touches no pixel in scope)"] if patches else []
                rows.append({"product": name, "n_patches": len(patches), "worst_patch": "", "worst_valid_percent": 0.0})
                continue
            worst = ("", 1.0)
            with open_raster(preprocessed_s1[name]) as src:
                bands = [list(src.descriptions).index(b) + 1 for b in ("VV", "VH")]
                for x, y in patches:
                    block = src.read(bands, window=Window(x * PATCH_SIZE_PX - window.col_off,
                                                          y * PATCH_SIZE_PX - window.row_off,
                                                          PATCH_SIZE_PX, PATCH_SIZE_PX))
                    valid = float(np.isfinite(block).all(axis=0).mean())
                    if valid < worst[1]:
                        worst = (f"{x}_{y}", valid)
                    if valid < MIN_PATCH_VALID_FRACTION:
                        short.append(f"{name}: patch {x}_{y} {100 * valid:.1f} % valid")
            rows.append({"product": name, "n_patches": len(patches), "worst_patch": worst[0],
                         "worst_valid_percent": round(100.0 * worst[1], 2)})
    return dg.AssetCheckResult(
        passed=not short,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "min_valid_percent": 100.0 * MIN_PATCH_VALID_FRACTION,
            "products": table(rows, [
                ("product", "string", "S1 product name"), ("n_patches", "int", "patches chosen for it"),
                ("worst_patch", "string", "its patch with the fewest valid pixels"),
                ("worst_valid_percent", "float", "valid pixels of that patch (%)"),
            ]),
            "short_patches": dg.MetadataValue.md("\n".join(f"- {p}" for p in short[:200]) or "none"),
        },
    )


@dg.asset_check(asset=preprocessed_s1, partitions_def=tile_partitions)
def preprocessed_plausible_db(preprocessed_s1: TileRasterCollection) -> dg.AssetCheckResult:
    """Each product's backscatter is plausible (read from the COGs' overviews, in dB): nothing
    above +30 dB, at most 5 % of the finite pixels below −50 dB or at or below zero power (the
    noise-removed linear values of dark, noise-dominated areas stay unclipped, so a few are
    expected), and the VV median above the VH median."""
    import numpy as np
    import rasterio
    from rasterio.enums import Resampling

    from ben_sen1_assets.formats.cog import open_raster

    rows, problems = [], []
    with rasterio.Env():
        for name, path in sorted(preprocessed_s1.items()):
            with open_raster(path) as src:
                scale = max(1.0, max(src.width, src.height) / OVERVIEW_PX)
                shape = (max(1, round(src.height / scale)), max(1, round(src.width / scale)))
                bands = [list(src.descriptions).index(b) + 1 for b in ("VV", "VH")]
                vv, vh = src.read(bands, out_shape=(2, *shape), resampling=Resampling.nearest).astype(np.float64)
                linear = src.tags().get("units", "dB") == "linear"
            if linear:
                n_dark = int(((vv <= 0) | (vh <= 0)).sum())  # before log: NaN would hide them
                with np.errstate(divide="ignore", invalid="ignore"):
                    vv, vh = 10 * np.log10(vv), 10 * np.log10(vh)
            else:
                n_dark = 0
            finite = np.concatenate([vv[np.isfinite(vv)], vh[np.isfinite(vh)]])
            n_low = int((finite < PLAUSIBLE_DB[0]).sum()) + n_dark
            n_high = int((finite > PLAUSIBLE_DB[1]).sum())
            low_percent = 100.0 * n_low / max(1, finite.size + n_dark)
            med = [float(np.median(a[np.isfinite(a)])) if np.isfinite(a).any() else float("nan") for a in (vv, vh)]
            if not finite.size:
                problems.append(f"{name}: no finite value")
            if n_high:
                problems.append(f"{name}: {n_high} values above {PLAUSIBLE_DB[1]} dB")
            if low_percent > MAX_LOW_PERCENT:
                problems.append(f"{name}: {low_percent:.1f} % of the pixels below {PLAUSIBLE_DB[0]} dB or at zero power")
            if not med[0] > med[1]:
                problems.append(f"{name}: VV median {med[0]:.1f} dB not above VH median {med[1]:.1f} dB")
            rows.append({"product": name, "median_vv_db": round(med[0], 2), "median_vh_db": round(med[1], 2),
                         "low_percent": round(low_percent, 2), "n_above_range": n_high})
    return dg.AssetCheckResult(
        passed=not problems,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "range_db": f"{PLAUSIBLE_DB[0]} … {PLAUSIBLE_DB[1]}",
            "max_low_percent": MAX_LOW_PERCENT,
            "products": table(rows, [
                ("product", "string", "S1 product name"), ("median_vv_db", "float", "VV median (dB)"),
                ("median_vh_db", "float", "VH median (dB)"),
                ("low_percent", "float", f"pixels below {PLAUSIBLE_DB[0]} dB or at zero power (%)"),
                ("n_above_range", "int", f"values above {PLAUSIBLE_DB[1]} dB"),
            ]),
            "problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in problems) or "none"),
        },
    )
