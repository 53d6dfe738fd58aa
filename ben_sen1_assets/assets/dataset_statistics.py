"""dataset_statistics: per-band mean/std/min/max (dB) of the exported patches, for normalisation."""

import dagster as dg

from ben_sen1_assets.assets.metadata import OWNERS, table
from ben_sen1_assets.types import PatchStores

STATISTICS_COLUMNS = [
    ("scope", "string", "all exported patches, or one split"),
    ("band", "string", "polarisation"),
    ("n_patches", "int", "patches"),
    ("n_pixels", "int", "finite pixels"),
    ("mean_db", "float", "mean (dB)"),
    ("std_db", "float", "population standard deviation (dB)"),
    ("min_db", "float", "minimum (dB)"),
    ("max_db", "float", "maximum (dB)"),
]


@dg.asset(
    group_name="datasets",
    kinds={"json"},
    owners=OWNERS,
    tags={"stage": "datasets"},
    deps=["bigearthnet_export"],
    ins={"patches": dg.AssetIn(metadata={"allow_missing_partitions": True})},
    code_version="1",
)
def dataset_statistics(context: dg.AssetExecutionContext, patches: PatchStores) -> dg.MaterializeResult:
    """Per band (VV, VH) mean, standard deviation, min and max in dB over the patches the export
    holds (both metadata tables), for all of them and per split: the numbers an ML loader
    normalises with (use the train row). Written to `<storage>/exports/band_statistics.json`."""
    import pandas as pd

    from ben_sen1_assets.assets.bigearthnet_export import export_root
    from ben_sen1_assets.outputs.bigearthnet_layout import METADATA, METADATA_FLAGGED
    from ben_sen1_assets.outputs.statistics import STATISTICS_FILE, band_statistics, write_band_statistics

    root = export_root()
    frames = []
    for name in (METADATA, METADATA_FLAGGED):
        with (root / name).open("rb") as f:
            frames.append(pd.read_parquet(f, columns=["s1_name", "split"]))
    meta = pd.concat(frames, ignore_index=True)
    stats = band_statistics([patches[k] for k in sorted(patches)], dict(zip(meta["s1_name"], meta["split"])))
    write_band_statistics(stats, root / STATISTICS_FILE)
    rows = [
        {k: (round(float(v), 3) if k.endswith("_db") else (int(v) if k.startswith("n_") else v)) for k, v in r.items()}
        for r in stats.to_dict("records")
    ]
    all_rows = stats[stats["scope"] == "all"].set_index("band")
    context.log.info(f"band statistics of {len(meta)} exported patches in {root / STATISTICS_FILE}")
    return dg.MaterializeResult(metadata={
        "statistics": table(rows, STATISTICS_COLUMNS),
        "n_patches": int(all_rows["n_patches"].max()) if len(all_rows) else 0,
        **{f"{b.lower()}_mean_db": round(float(all_rows.loc[b, "mean_db"]), 3) for b in all_rows.index},
        **{f"{b.lower()}_std_db": round(float(all_rows.loc[b, "std_db"]), 3) for b in all_rows.index},
        "path": dg.MetadataValue.path(str(root / STATISTICS_FILE)),
    })
