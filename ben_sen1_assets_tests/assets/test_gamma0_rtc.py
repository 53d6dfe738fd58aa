"""The whole flow with terrain flattening: `sar_processing` calibration gamma0_rtc, Rome tile."""

from __future__ import annotations

import json

import numpy as np
import xarray as xr


def test_gamma0_rtc_runs_the_whole_flow(e2e, tmp_path):
    """tile_footprints → … → patches for 33TTG with ``calibration="gamma0_rtc"`` (own storage):
    the COGs say γ0_T, the patch store carries it with the local incidence angle and the mask,
    and on the Rome hills γ0_T is flatter than σ0 (the default run's patches): terrain-induced
    brightness removed."""
    import dagster as dg

    from ben_sen1_assets.definitions import ASSETS, RESOURCES, storage_resources
    from ben_sen1_assets.resources.processing import SarProcessingResource

    key = "33TTG_20211223"
    default = RESOURCES["sar_processing"]
    fields = {name: getattr(default, name) for name in SarProcessingResource.model_fields}
    resources = {**RESOURCES, **storage_resources(str(tmp_path / "storage"), {}),
                 "sar_processing": SarProcessingResource(**{**fields, "calibration": "gamma0_rtc"})}
    tile_assets = [a for a in ASSETS if a.key.to_user_string() in
                   ("tile_footprints", "s1_product_selection", "raw_s1_safe", "preprocessed_s1", "mosaics", "patches")]
    result = dg.materialize(tile_assets, partition_key=key, resources=resources, instance=e2e.instance,
                            raise_on_error=True)
    assert result.success
    meta = result.asset_materializations_for_node("preprocessed_s1")[0].metadata
    assert json.loads(json.dumps(meta["processing"].value))["calibration"] == "gamma0_rtc"
    path = result.asset_materializations_for_node("patches")[0].metadata["path"].value
    rtc = xr.open_zarr(path).load()
    sigma0 = xr.open_zarr(e2e.metadata(key, "patches")["path"].value).load()
    assert set(rtc.data_vars) >= {"backscatter", "local_incidence_angle", "mask"}
    assert np.isfinite(rtc["backscatter"].values).mean() > 0.99
    # per pixel over the Rome DEM's hills, dB: γ0_T − σ0 = −10·log10(A·cos θ_e)… its spread over
    # the terrain is much smaller for γ0_T vs the local incidence angle (slopes flattened)
    vv_rtc = rtc["backscatter"].sel(band="VV").values
    vv_sigma = sigma0["backscatter"].sel(band="VV").values
    lia = rtc["local_incidence_angle"].values
    ok = np.isfinite(vv_rtc) & np.isfinite(vv_sigma) & (rtc["mask"].values == 0)
    slope_corr_sigma = np.corrcoef(vv_sigma[ok], lia[ok])[0, 1]
    slope_corr_rtc = np.corrcoef(vv_rtc[ok], lia[ok])[0, 1]
    assert slope_corr_sigma < -0.3 and abs(slope_corr_rtc) < abs(slope_corr_sigma) / 2, (slope_corr_sigma, slope_corr_rtc)
