"""The checks' tests use the demo materialized once for the session (see ../assets/conftest.py)."""

from ben_sen1_assets_tests.assets.conftest import DEMO_KEYS, e2e  # noqa: F401
