"""Pictures for people: maps, quicklooks, thumbnails and histograms small enough to be shown inline.

No Dagster here: the assets turn these into metadata (``ben_sen1_assets/assets/metadata.py``).
"""
