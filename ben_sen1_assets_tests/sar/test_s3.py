"""Reading a zipped SAFE from S3 (moto server on 127.0.0.1) through fsspec, without extracting it."""

from __future__ import annotations

import numpy as np
import pytest
from rasterio.windows import Window

from ben_sen1_assets.sar import MissingFileError, open_safe
from ben_sen1_assets.sar.radiometry import RadiometryParams, calibrate, calibration_window, noise_window

from .conftest import S1A_2021_DESC, S1B_2021_ROME, S1B_ZIP_WINDOW, ZIP_8255, safe_path


@pytest.fixture(scope="module")
def s3(s1b_zip):
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="test",
                          aws_secret_access_key="test", region_name="us-east-1")
    client.create_bucket(Bucket="products")
    client.upload_file(str(ZIP_8255), "products", ZIP_8255.name)
    client.upload_file(str(s1b_zip[0]), "products", s1b_zip[0].name)
    options = {"key": "test", "secret": "test", "client_kwargs": {"endpoint_url": endpoint, "region_name": "us-east-1"}}
    yield options
    server.stop()


def test_open_zip_on_s3(s3):
    product = open_safe(f"s3://products/{ZIP_8255.name}", storage_options=s3)
    local = open_safe(safe_path(S1A_2021_DESC))
    assert product.name == S1A_2021_DESC
    assert product.available_polarisations == ("VV", "VH")
    np.testing.assert_array_equal(product.calibration("VH").sigma_nought, local.calibration("VH").sigma_nought)
    assert product.annotation("VV").geolocation_grid.shape == (10, 21)
    with pytest.raises(MissingFileError, match="measurement/s1a-iw-grd-vv"):
        product.read_measurement("VV", Window(0, 0, 4, 4))
    with pytest.raises(MissingFileError, match="no such product"):
        open_safe("s3://products/S1A_missing.zip", storage_options=s3)


def test_measurement_window_on_s3(s3, s1b_zip):
    zpath, values = s1b_zip
    product = open_safe(f"s3://products/{zpath.name}", storage_options=s3)
    assert not product.measurement_path("VV").startswith("/vsi")  # read through the fsspec opener
    assert not product.measurements_read_by_gdal and open_safe(zpath).measurements_read_by_gdal
    dn = product.read_measurement("VV", S1B_ZIP_WINDOW)
    np.testing.assert_array_equal(dn, values)
    a = calibration_window(product.calibration("VV"), S1B_ZIP_WINDOW)
    n = noise_window(product.noise("VV"), S1B_ZIP_WINDOW)
    out = calibrate(dn, a, n, RadiometryParams(negative="nan"))
    expected = (values.astype(np.float64) ** 2 - n) / a.astype(np.float64) ** 2
    np.testing.assert_allclose(out[expected > 0], expected[expected > 0], rtol=1e-5)
