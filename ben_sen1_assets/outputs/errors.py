"""The error raised for bad inputs to the output builders."""

from __future__ import annotations


class OutputError(ValueError):
    """A bad input to a mosaic / patch / mapping / export builder (file and field named)."""
