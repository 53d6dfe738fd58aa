"""The DEM the embedded default processes the demo products with: the terrain they were simulated on.

Rome: the shipped SRTM 1″ sample (EGM96 heights; the chain applies PROJ's EGM96 grid). Elsewhere
(the France demo tile, which has no DEM): the simulator's flat terrain, expressed as a DEM-gap
fill in the DEM's own datum, EGM96 (used only where a block has no DEM height at all): the flat ellipsoidal height minus the EGM96 undulation at
the France scene (PROJ egm96_15.gtx), so both sides place it at the same ellipsoidal height.
"""

from __future__ import annotations

from importlib.resources import files

import numpy as np

from ben_sen1_assets.sar.config import DemConfig


def demo_dem_config() -> DemConfig:
    from ben_sen1_assets.sar.geoid import geoid_undulation

    from .scenes import FRANCE_FLAT_HEIGHT_M, FRANCE_LAKE

    lon, lat = FRANCE_LAKE[0], FRANCE_LAKE[1]
    undulation = float(geoid_undulation(np.array([lon]), np.array([lat]), "EGM96")[0])
    fill = round(FRANCE_FLAT_HEIGHT_M - undulation, 2)
    path = files("ben_sen1_assets") / "data" / "dem" / "Rome-30m-DEM.tif"
    # Rome: the few target pixels past the DEM's last cell take the nearest DEM height
    return DemConfig(kind="local", path=str(path), vertical_datum="EGM96", fill=f"nearest_else_constant:{fill}")
