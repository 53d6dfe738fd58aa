"""The code location loads, under each catalog setting, as Dagster's own tools load it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

ROOT = Path(__file__).resolve().parents[1]


def test_definitions_load() -> None:
    from ben_sen1_assets.definitions import defs

    dg.Definitions.validate_loadable(defs)
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert "tile_footprints" in keys


# what the code location must not import when it loads (assets import them where they use them)
SCIENCE = ("numpy", "pandas", "pyarrow", "rasterio", "pyproj", "shapely", "geopandas", "xarray", "zarr", "numba",
           "scipy", "PIL", "pystac", "lmdb", "safetensors", "torch", "torchgeo")


def test_code_location_loads_without_the_science() -> None:
    code = (
        "import json, sys; import ben_sen1_assets.definitions;"
        f"print(json.dumps(sorted(m for m in {SCIENCE!r} if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def _partition_count(catalog: str) -> int:
    code = (
        "import json; from ben_sen1_assets.definitions import defs;"
        "pd = defs.resolve_assets_def('tile_footprints').partitions_def;"
        "print(json.dumps(list(pd.get_partition_keys())))"
    )
    env = {**os.environ, "BEN_SEN1_CATALOG": catalog}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    return len(json.loads(out.stdout.strip().splitlines()[-1]))


def test_bigearthnet_catalog_gives_125_partitions() -> None:
    assert _partition_count("bigearthnet") == 125


def test_bad_catalog_file_fails_at_load_with_row_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "tiles.csv"
    bad.write_text("mgrs,sensing_time\n33UUP,2017-06-13T10:00:00\n3XUUP,2017-06-14T10:00:00\n")
    env = {**os.environ, "BEN_SEN1_CATALOG": str(bad)}
    out = subprocess.run(
        [sys.executable, "-c", "import ben_sen1_assets.definitions"], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode != 0
    assert "tiles.csv" in out.stderr and "row 2" in out.stderr and "mgrs" in out.stderr


def test_dagster_cli_validates_workspace(tmp_path: Path) -> None:
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    out = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        env=env, cwd=ROOT, capture_output=True, text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr
