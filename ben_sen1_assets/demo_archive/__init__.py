"""Demo archive: real-format Sentinel-1 IW GRDH products with simulated pixels on real metadata (no Dagster)."""
