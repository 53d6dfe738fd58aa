"""How products are processed: the processing parameters as one resource, shown and set in the UI.

Every field maps onto ``ben_sen1_assets.sar.config.ProcessingConfig`` (the one parameter object of
the chain); its JSON and fingerprint are recorded with every preprocessed raster.
"""

import dagster as dg
from pydantic import Field


class SarProcessingResource(dg.ConfigurableResource):
    """The Sentinel-1 GRD processing chain and its parameters."""

    processor: str = Field(default="own", description="own (the project's numpy chain) or snap (SNAP gpt)")
    calibration: str = Field(
        default="sigma0",
        description="sigma0, beta0, gamma0 (ellipsoid) or gamma0_rtc (terrain-flattened γ0_T on the DEM)",
    )
    thermal_noise_removal: bool = True
    border_noise_removal: str = Field(default="auto", description="auto, zero_only or edge_trim")
    speckle_filter: str = Field(default="refined_lee", description="refined_lee, lee_sigma, boxcar or none")
    speckle_window: int = Field(default=7, description="filter window (px)")
    resampling: str = Field(default="bilinear", description="bilinear or nearest")
    output_scale: str = Field(
        default="linear",
        description="scale of the per-product COGs: linear (default: unclipped, so mosaics average dark "
        "areas without bias; mosaics and patches convert to dB) or db",
    )
    dem_kind: str = Field(
        default="glo30",
        description="glo30 (Copernicus GLO-30), local, constant, or demo (the terrain the demo "
        "products were simulated on: the shipped Rome SRTM sample, flat elsewhere)",
    )
    dem_path: str | None = Field(default=None, description="GeoTIFF/VRT for dem_kind=local")
    dem_vertical_datum: str | None = Field(default=None, description="EGM96, EGM2008 or ellipsoid")
    dem_height: float | None = Field(default=None, description="metres, for dem_kind=constant")
    dem_fill: str = Field(default="error", description="DEM gaps: error, nearest or constant:<m>")
    dem_store: str = Field(default="", description="folder caching downloaded DEM tiles")
    block_rows: int = Field(default=1024, description="tile rows processed per block (memory bound)")

    def config(self):
        """The parameters as the chain's ``ProcessingConfig``."""
        from ben_sen1_assets.sar.config import DemConfig, ProcessingConfig
        from ben_sen1_assets.sar.speckle import SpeckleFilter

        if self.dem_kind == "demo":
            from ben_sen1_assets.demo_archive.dem import demo_dem_config

            dem = demo_dem_config()
        else:
            dem = DemConfig(
                kind=self.dem_kind, path=self.dem_path, height=self.dem_height,
                vertical_datum=self.dem_vertical_datum, fill=self.dem_fill,
            )
        return ProcessingConfig(
            calibration=self.calibration,
            thermal_noise_removal=self.thermal_noise_removal,
            border_noise_removal=self.border_noise_removal,
            speckle_filter=SpeckleFilter(kind=self.speckle_filter, window=self.speckle_window),
            resampling=self.resampling,
            output_scale=self.output_scale,
            dem=dem,
        )

    def processor_fn(self):
        """`process_scene_to_tile` of the chosen backend (same signature, same result)."""
        if self.processor == "snap":
            from ben_sen1_assets.sar.snap import SnapProcessor

            return SnapProcessor().process_scene_to_tile
        from ben_sen1_assets.sar.chain import process_scene_to_tile

        return process_scene_to_tile
